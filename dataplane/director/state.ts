// The director's flow state and what every part of its dataplane shares:
// the words each flow keeps in the flow table (D_*), its states and flags,
// the counters, the configuration, the VIP lookup, the request buffers, and
// the two ways a flow ends. A flow exists only once a valid cookie ACK
// arrived; it is READING its request head, HANDING it to the control Worker,
// FORWARDING to a server, RESPONDING itself, or CLOSING (the client closed
// before sending a request). Only a READING flow that has received request
// bytes holds one of the max_reading request buffers (pool.ts); every way
// out of READING gives it back. Nothing here allocates per packet or throws.

import {
  DIRECTOR_EVENT_WORDS,
  EVENT_FLOW_GONE,
  GONE_CLIENT_RESET,
  GONE_IDLE,
  R_REQUEST,
  RECORD_FLAG_SACK,
  RECORD_FLAG_TIMESTAMPS,
  VERDICT_WORDS,
  write_director_event,
} from "../wire/mod.ts";
import { create_flow_table, flow_remove_at, type FlowTable } from "../flow_table.ts";
import { create_parse_out, mac_hi, mac_lo } from "../packet.ts";
import { TCP_OPTION_FIELDS } from "../tcp_options.ts";
import type { CookieKey } from "./syn_cookie.ts";
import {
  create_reading_pool,
  default_reading_share,
  pool_give,
  POOL_SOURCE_LIMIT,
  pool_take,
  type ReadingPool,
} from "./pool.ts";

// ---------------------------------------------------------------- flow words

export const D_STATE = 0;
export const D_FLAGS = 1;
export const D_CLIENT_ISN = 2;
export const D_DIRECTOR_ISN = 3;
export const D_CLIENT_MAC_HI = 4;
export const D_CLIENT_MAC_LO = 5;
export const D_SERVER_MAC_HI = 6;
export const D_SERVER_MAC_LO = 7;
export const D_CLIENT_TSVAL = 8;
export const D_CLIENT_WINDOW = 9;
export const D_CLIENT_MSS = 10;
export const D_CLIENT_WSCALE = 11;
/** The flow's request buffer (pool.ts), −1 while it holds none. */
export const D_REQUEST_SLOT = 12;
/** Request bytes received in order and ACKed so far (the client's FIN not included). */
export const D_REQUEST_LENGTH = 13;
/** int32 ms, wrap-safe: request time-out, response retransmission, hand-off limit. */
export const D_DEADLINE = 14;
export const D_STATUS = 15;
export const D_RETRIES = 16;
export const D_DIRECTOR_TSVAL = 17;
/** F_REUSE_SYN: the ISN of the new SYN answered with a cookie on this closing 4-tuple. */
export const D_REUSE_ISN = 18;
export const VALUES_PER_FLOW = 19;

export const STATE_READING = 1;
export const STATE_HANDING = 2;
export const STATE_FORWARDING = 3;
/** The director answered itself (400, 408, 431, 503) and is closing. */
export const STATE_RESPONDING = 4;
/**
 * The client sent FIN before a request: the director answered FIN+ACK and
 * waits for the client's last ACK, resending its FIN on a timer.
 */
export const STATE_CLOSING = 5;

export const F_SACK = RECORD_FLAG_SACK;
export const F_TIMESTAMPS = RECORD_FLAG_TIMESTAMPS;
export const F_WSCALE = 4;
/** HANDING with a server being tried: its MAC is in D_SERVER_MAC. */
export const F_TRYING = 8;
/** An L4 VIP's connection: its first data segment is carried, not parsed. */
export const F_L4 = 16;
/** FORWARDING: the client sent FIN or RST, so a new SYN on the 4-tuple is a new connection. */
export const F_CLIENT_CLOSING = 32;
/** A closing flow whose 4-tuple got a new SYN (D_REUSE_ISN): its cookie ACK replaces the flow. */
export const F_REUSE_SYN = 64;
/**
 * HANDING, and the client acknowledged bytes the server being tried sent:
 * this server has the connection, whatever its agent's answer or silence.
 */
export const F_COMMITTED = 128;

/**
 * How long an L4 connection may stay silent before it is handed off empty
 * (protocols where the server speaks first). The client's first segment is
 * carried in the hand-off instead: handing off on the bare handshake ACK
 * loses that segment to the adoption and costs the client an RTO.
 */
export const L4_FIRST_DATA_WAIT_MS = 50;

/** Window scale the director announces when the client offers one. */
export const DIRECTOR_WSCALE = 7;
/** Receive window the director advertises while it terminates a connection. */
export const DIRECTOR_WINDOW = 65535;
/**
 * The director's own FIN (with RESPONDING's response, or CLOSING's FIN+ACK)
 * is sent at most FIN_SENDS times, resent after FIN_RTO_MS and then twice as
 * long each time, until the client's FIN or last ACK; then the flow is gone.
 */
export const FIN_SENDS = 3;
export const FIN_RTO_MS = 300;
/** Challenge ACKs per second, all flows together, unless configured (RFC 5961 section 7). */
export const CHALLENGE_ACK_LIMIT = 1000;

// ----------------------------------------------------------------- counters

export const DIRECTOR_COUNTER_NAMES = [
  "rx",
  "arp_replies",
  "echo_replies",
  "syn_cookies_sent",
  "handshakes_completed",
  "bad_cookies",
  "requests_complete",
  "request_segments",
  "request_duplicates",
  "out_of_order_dropped",
  "handoffs_pending",
  "forwarded",
  "forwarded_while_handing",
  "responses_400",
  "responses_408",
  "responses_431",
  "responses_503",
  "response_retransmits",
  "dropped_not_vip",
  "dropped_port_closed",
  "dropped_no_flow",
  "dropped_while_handing",
  "dropped_malformed",
  "dropped_vlan",
  "dropped_other",
  "reading_full",
  "table_full",
  "ended_client_reset",
  "ended_agent",
  "ended_idle",
  "ring_full",
  "flows",
  // hostile traffic (issue 10); the gauges among them: reading_buffers, reading_buffers_high
  "dropped_bad_source",
  "dropped_bad_port",
  "rst_accepted",
  "rst_challenged",
  "rst_dropped",
  "rst_forwarded",
  "syn_challenged",
  "challenge_acks_limited",
  "closed_before_request",
  "fin_repeats",
  "closing_retransmits",
  "closed_clean",
  "closing_timeouts",
  "dropped_closing",
  "reading_source_limit",
  "reading_buffers",
  "reading_buffers_high",
  "silent_expired",
  "flows_replaced",
  "ack_challenged",
  // every frame not sent has exactly one reason among the counters above;
  // these two make that checkable (burst_tally.ts)
  "acks_absorbed",
  "dropped_head_too_large",
  "dropped_not_ours",
  "handoffs_committed",
  "committed_kept",
  "frames_dropped",
  // ICMP errors to a VIP (icmp.ts): forwarded to the quoted flow's server, or dropped
  "icmp_errors_forwarded",
  "dropped_icmp_unknown_flow",
  "dropped_icmp_not_forwarded",
  "dropped_icmp_malformed",
  "dropped_icmp_bad_checksum",
] as const;
export type DirectorCounterName = typeof DIRECTOR_COUNTER_NAMES[number];

/**
 * The counters that say why a frame was not sent: each dropped frame counts
 * exactly one of them, so together they add up to frames_dropped.
 */
export const DIRECTOR_DROP_REASONS: readonly DirectorCounterName[] = [
  ...DIRECTOR_COUNTER_NAMES.filter((name) => name.startsWith("dropped_")),
  "bad_cookies",
  "reading_full",
  "reading_source_limit",
  "table_full",
  "out_of_order_dropped",
  "rst_accepted",
  "rst_dropped",
  "closed_clean",
  "acks_absorbed",
  "challenge_acks_limited",
];
/** Counter name → its word in DirectorState.counters. */
export const C = Object.fromEntries(DIRECTOR_COUNTER_NAMES.map((name, i) => [name, i])) as Record<
  DirectorCounterName,
  number
>;
export const DIRECTOR_COUNTER_WORDS = DIRECTOR_COUNTER_NAMES.length;

/** Counters as a name → value record. */
export function director_counters(state: DirectorState): Record<DirectorCounterName, number> {
  return Object.fromEntries(
    DIRECTOR_COUNTER_NAMES.map((name, i) => [name, state.counters[i]]),
  ) as Record<DirectorCounterName, number>;
}

// ------------------------------------------------------------ configuration

export interface DirectorVip {
  ip: number;
  ports: number[];
  /** L4 policy: no request head is read; the first data segment is carried unparsed. */
  l4: boolean;
}

export interface DirectorConfig {
  port: number;
  director_mac: Uint8Array;
  vips: DirectorVip[];
  cookie_key: CookieKey;
  /** Announced MSS: fabric MTU − 40. */
  mss: number;
  /** Largest request head; a larger one gets 431. */
  max_header: number;
  /**
   * Most request bytes one record carries: the head and the bytes after it
   * that came in the same segments. Default (and at least) max_header; at
   * most what one HANDOFF datagram holds.
   */
  max_request?: number;
  request_timeout_ms: number;
  idle_timeout_ms: number;
  /** How long a hand-off may stay unanswered by the control Worker. */
  handoff_timeout_ms: number;
  flow_capacity: number;
  /** Connections reading a request at once (each holds a buffer of max_request). */
  max_reading: number;
  /** Most request buffers one client /24 may hold; default max(4, max_reading / 16). */
  reading_share?: number;
  /** Challenge ACKs per second, all flows together; default CHALLENGE_ACK_LIMIT. */
  challenge_ack_limit?: number;
  request_ring: number;
  verdict_ring: number;
  event_ring: number;
}

export interface DirectorState {
  config: DirectorConfig;
  table: FlowTable;
  counters: Float64Array;
  parse_out: Int32Array;
  options_out: Int32Array;
  /** VIP ip → served ports, as (ip, port) pairs for a short linear scan. */
  vip_ips: Int32Array;
  vip_ports: Int32Array;
  vip_l4: Uint8Array;
  /** The request buffers (one per READING flow that has request bytes). */
  pool: ReadingPool;
  /** Most request bytes one record carries (config.max_request, at least max_header). */
  request_capacity: number;
  record: Uint8Array;
  verdict: Int32Array;
  verdict_bytes: Uint8Array;
  event: Int32Array;
  event_bytes: Uint8Array;
  director_mac_hi: number;
  director_mac_lo: number;
  /** Added to the millisecond clock for TSval, so it does not start at 0. */
  ts_offset: number;
  key_scratch: Float64Array;
  /** The configured challenge ACKs per second, the second they were counted for, and what is left. */
  challenge_ack_limit: number;
  challenge_second: number;
  challenge_budget: number;
  /** HTTP responses the director sends itself, by status. */
  responses: Map<number, Uint8Array>;
  /** Puts a message on a ring to the control Worker (the shim's ring_enqueue). */
  enqueue: (ring: number, message: Uint8Array) => boolean;
}

export function create_director_state(
  config: DirectorConfig,
  options: {
    counters?: Float64Array;
    responses: Map<number, Uint8Array>;
    enqueue: (ring: number, message: Uint8Array) => boolean;
  },
): DirectorState {
  const pairs: number[][] = [];
  for (const vip of config.vips) {
    for (const port of vip.ports) pairs.push([vip.ip, port, vip.l4 ? 1 : 0]);
  }
  const request_capacity = Math.max(config.max_header, config.max_request ?? 0);
  const share = config.reading_share ?? default_reading_share(config.max_reading);
  const verdict = new Int32Array(VERDICT_WORDS);
  const event = new Int32Array(DIRECTOR_EVENT_WORDS);
  return {
    config,
    table: create_flow_table({ capacity: config.flow_capacity, values_per_flow: VALUES_PER_FLOW }),
    counters: options.counters ?? new Float64Array(DIRECTOR_COUNTER_WORDS),
    parse_out: create_parse_out(),
    options_out: new Int32Array(TCP_OPTION_FIELDS),
    vip_ips: Int32Array.from(pairs.map((p) => p[0] | 0)),
    vip_ports: Int32Array.from(pairs.map((p) => p[1])),
    vip_l4: Uint8Array.from(pairs.map((p) => p[2])),
    // one spare byte per buffer beyond the capacity tells "over the limit"
    pool: create_reading_pool(config.max_reading, request_capacity + 1, share),
    request_capacity,
    record: new Uint8Array(R_REQUEST + request_capacity),
    verdict,
    verdict_bytes: new Uint8Array(verdict.buffer),
    event,
    event_bytes: new Uint8Array(event.buffer),
    director_mac_hi: mac_hi(config.director_mac, 0),
    director_mac_lo: mac_lo(config.director_mac, 0),
    ts_offset: (Math.random() * 0x7fffffff) | 0,
    key_scratch: new Float64Array(4),
    challenge_ack_limit: config.challenge_ack_limit ?? CHALLENGE_ACK_LIMIT,
    challenge_second: -1,
    challenge_budget: 0,
    responses: options.responses,
    enqueue: options.enqueue,
  };
}

/** Sends a frame the director built itself (slow path) out of a port. */
export type EmitFrame = (frame: Uint8Array, port: number) => void;

/** Index of (ip, port) among the served VIP ports; −2 if the IP is a VIP but the port is not; −1 otherwise. */
export function find_vip(state: DirectorState, ip: number, port: number): number {
  let is_vip = false;
  for (let i = 0; i < state.vip_ips.length; i++) {
    if (state.vip_ips[i] === (ip | 0)) {
      if (state.vip_ports[i] === port) return i;
      is_vip = true;
    }
  }
  return is_vip ? -2 : -1;
}

export function is_vip_ip(state: DirectorState, ip: number): boolean {
  for (let i = 0; i < state.vip_ips.length; i++) if (state.vip_ips[i] === (ip | 0)) return true;
  return false;
}

/**
 * A source address no client can have: 0.0.0.0/8 ("this network"),
 * 127.0.0.0/8 (loopback), 224.0.0.0/4 (multicast), 240.0.0.0/4 (class E,
 * with the limited broadcast 255.255.255.255), all of which RFC 1122 section
 * 3.2.1.3 says a host must not accept as a source, or one of our own VIPs
 * (a reflection off ourselves). Answering one sends our reply to a group,
 * to ourselves, or nowhere; a connection from one (or from port 0, which the
 * hand-off codec refuses) would otherwise reach the control Worker.
 */
export function bad_source_address(state: DirectorState, ip: number): boolean {
  const top = ip >>> 24;
  return top === 0 || top === 127 || top >= 224 || is_vip_ip(state, ip);
}

// ---------------------------------------------------------- request buffers

/** Gives the flow a request buffer; false (counted) when its /24 is at its share or none is free. */
export function take_buffer(state: DirectorState, index: number): boolean {
  const c = state.counters;
  const slot = pool_take(state.pool, state.table.src_ip[index]);
  if (slot < 0) {
    // the segment is not ACKed: the client retransmits, and a buffer may be free then
    c[slot === POOL_SOURCE_LIMIT ? C.reading_source_limit : C.reading_full]++;
    return false;
  }
  state.table.values[index * VALUES_PER_FLOW + D_REQUEST_SLOT] = slot;
  c[C.reading_buffers] = state.pool.in_use;
  c[C.reading_buffers_high] = state.pool.high_water;
  return true;
}

/** Gives back the flow's request buffer, if it holds one. */
export function release_buffer(state: DirectorState, index: number): void {
  const values = state.table.values;
  const v = index * VALUES_PER_FLOW;
  const slot = values[v + D_REQUEST_SLOT];
  if (slot < 0) return;
  pool_give(state.pool, slot, state.table.src_ip[index]);
  values[v + D_REQUEST_SLOT] = -1;
  state.counters[C.reading_buffers] = state.pool.in_use;
}

// ---------------------------------------------------------------- flow ends

/** Removes the flow and gives back its request buffer; the control Worker is not told. */
export function remove_flow(state: DirectorState, index: number): void {
  release_buffer(state, index);
  flow_remove_at(state.table, index);
  state.counters[C.flows] = state.table.count;
}

/** Ends a flow the control Worker knows about, and tells it. */
export function end_flow(state: DirectorState, index: number, reason: number): void {
  const c = state.counters;
  if (reason === GONE_CLIENT_RESET) c[C.ended_client_reset]++;
  else if (reason === GONE_IDLE) c[C.ended_idle]++;
  tell_gone(state, index, reason);
  remove_flow(state, index);
}

/** Tells the control Worker that the flow is gone (the caller removes it). */
export function tell_gone(state: DirectorState, index: number, reason: number): void {
  tell_control(state, index, EVENT_FLOW_GONE, reason);
}

/** An event about the flow at index for the control Worker (a full ring is counted). */
export function tell_control(
  state: DirectorState,
  index: number,
  type: number,
  reason: number,
): void {
  const c = state.counters;
  const table = state.table;
  write_director_event(
    state.event,
    type,
    table.src_ip[index],
    table.dst_ip[index],
    table.ports[index],
    reason,
  );
  if (!state.enqueue(state.config.event_ring, state.event_bytes)) c[C.ring_full]++;
}
