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
  create_frame_address,
  create_handoff_fields,
  LATENCY_BUCKET_NAMES,
  SERVER_STAT_WORDS,
  SS_ACTIVE_FLOWS,
} from "../wire/mod.ts";
import { create_head_scan_out } from "../wire/mod.ts";
import {
  create_selection_scratch,
  type SelectionScratch,
  type SelectionTable,
} from "../selection_table.ts";
import { create_vip_set } from "./vips.ts";
// the VIP lookups every part uses live with the VIP set (vips.ts)
export { bad_source_address, find_vip, is_own_ip, is_vip_ip, sync_vips } from "./vips.ts";
import type { AccessLogWriter } from "./access_log.ts";
import type { BfdSessions } from "./bfd.ts";
import { create_flow_table, flow_remove_at, type FlowTable } from "../flow_table.ts";
import { create_timer_wheel, type TimerWheel } from "../timer_wheel.ts";
import { cancel_deadline, TIMER_WORDS, TIMERS_PER_CALL } from "./timers.ts";
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
/** HANDING, FORWARDING: the server (selection table index) the hand-off went to. */
export const D_SERVER = 19;
/** HANDING, FORWARDING: the id of the HANDOFF that went to D_SERVER (this director's epoch). */
export const D_HANDOFF_ID = 20;
/** HANDING: the selection's VIP, the request's selection-key hash and which rank is being tried. */
export const D_SELECTION_VIP = 21;
export const D_KEY_STATE = 22;
export const D_RANK = 23;
/** HANDING: when the first HANDOFF of this request went out (ms), for the latency. */
export const D_HANDOFF_START = 24;
/** The flow's deadline on the timer wheel: its entry and serial (serial 0: none). */
export const D_TIMER_ENTRY = 25;
export const D_TIMER_SERIAL = 26;
export const VALUES_PER_FLOW = 27;

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

/** The client negotiated SACK / timestamps (the hand-off datagram's flag bits, handoff.ts). */
export const F_SACK = 1;
export const F_TIMESTAMPS = 2;
export const F_WSCALE = 4;
/** HANDING with a server being tried: its MAC is in D_SERVER_MAC. */
export const F_TRYING = 8;
/** An L4 VIP's connection: its first data segment is carried, not parsed. */
export const F_L4 = 16;
/**
 * FORWARDING (or HANDING with a server being tried): the client sent FIN or
 * RST, so a new SYN on the 4-tuple is a new connection.
 */
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
/** Slots of the "asked lately" table of FLOW_QUERYs (carry.ts; direct-mapped by the flow's hash). */
export const QUERY_RECENT_SLOTS = 4096;
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
  // the hand-off in the dataplane (handoff.ts, answers.ts)
  "handoffs_sent",
  "handoff_retransmits",
  "handoffs_acked",
  "handoffs_nacked",
  // NACKs by reason, in the order of reasons.ts (1..7)
  "nack_table_full",
  "nack_stack_reset",
  "nack_stack_timeout",
  "nack_bad_request",
  "nack_draining",
  "nack_internal",
  "nack_stack_options",
  "handoff_timeouts",
  "fallbacks",
  "cancels_sent",
  "late_acks",
  "answers_unmatched",
  "flow_ends",
  "flow_end_repeats",
  "flow_ends_unmatched",
  "refused_draining",
  "fail_open",
  "unexpected_messages",
  "tx_no_mbuf",
  "flows_forwarding",
  "handoff_answers_taken",
  // the timer wheel: deadlines that came (and were still the flow's), or had changed or gone
  "timers_fired",
  "timers_stale",
  "timers_full",
  // answers from agents by what became of them (handoff_frame.ts decode failures)
  "handoff_rx_ok",
  "handoff_rx_unknown_source",
  "handoff_rx_truncated",
  "handoff_rx_oversized",
  "handoff_rx_bad_magic",
  "handoff_rx_bad_version",
  "handoff_rx_bad_type",
  "handoff_rx_bad_length",
  "handoff_rx_bad_mac",
  "handoff_rx_stale",
  "handoff_rx_wrong_agent",
  "handoff_rx_inconsistent",
  // hand-off latency (first HANDOFF → its ACK), per bucket of LATENCY_BOUNDS_MS, +Inf last
  ...LATENCY_BUCKET_NAMES,
  "latency_sum_ms",
  // connections this director does not know, carried on (carry.ts)
  "carried_by_tsval",
  "dropped_asked_owner",
  "dropped_query_limited",
  "queries_sent",
  "flows_recovered",
  "owner_repeats",
  "flow_ends_foreign",
  // BFD on the director's address (bfd.ts): accepted, sent, refused by reason, the sessions Up
  "bfd_rx",
  "bfd_tx",
  "dropped_bfd_malformed",
  "dropped_bfd_ttl",
  "dropped_bfd_no_session",
  "bfd_state_changes",
  "bfd_sessions_up",
] as const;
export type DirectorCounterName = typeof DIRECTOR_COUNTER_NAMES[number];

/**
 * The counters that say why a frame was not sent: each dropped frame counts
 * exactly one of them, so together they add up to frames_dropped.
 */
export const DIRECTOR_DROP_REASONS: readonly DirectorCounterName[] = [
  ...DIRECTOR_COUNTER_NAMES.filter((name) =>
    name.startsWith("dropped_") || (name.startsWith("handoff_rx_") && name !== "handoff_rx_ok")
  ),
  // an agent's authentic datagram, acted on and not answered in its own mbuf
  "handoff_answers_taken",
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
  // a BFD packet a session took (bfd.ts): consumed, never sent on
  "bfd_rx",
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
  /**
   * The key of the flows' TSval routing codes (ts_route.ts); every director
   * of a site has the same, so each reads the codes the others gave.
   */
  route_key: CookieKey;
  /**
   * Added to the poll loop's clock (performance.now(), which starts at the
   * process's start) for the cookies' time and TSval: Date.now() −
   * performance.now() at start, so every director's clock is the same wall
   * clock and a cookie or a TSval from one is good at another. Default 0.
   */
  clock_offset_ms?: number;
  /** Added to the wall clock's milliseconds for TSval (the same at every director). */
  ts_offset?: number;
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
  /** The director's own fabric address (hand-offs go out from it; it answers ARP for it). */
  address: number;
  handoff_port: number;
  /** L3 fabric: the router's MAC (hi, lo words) hand-offs go to; 0, 0: each server's own MAC. */
  gateway_mac_hi: number;
  gateway_mac_lo: number;
  /** This run's epoch (random): every HANDOFF carries it; answers of another are not ours. */
  epoch: number;
  /** First retransmission of a HANDOFF after this long, then twice as long each time. */
  handoff_rto_ms: number;
  /** HANDOFF sends per server before it counts as failed and the next server is tried. */
  handoff_tries: number;
  /** How far an agent's datagram's timestamp may be from our clock. */
  freshness_ms: number;
  max_datagram: number;
  flow_capacity: number;
  /** Connections reading a request at once (each holds a buffer of max_request). */
  max_reading: number;
  /** Most request buffers one client /24 may hold; default max(4, max_reading / 16). */
  reading_share?: number;
  /** Challenge ACKs per second, all flows together; default CHALLENGE_ACK_LIMIT. */
  challenge_ack_limit?: number;
}

/**
 * What the director's hand-off needs from its host (the shim, or a test):
 * a fresh mbuf for a frame it builds, HMAC-SHA256 over region bytes under a
 * server's key slot, and the wall clock datagrams are stamped with.
 */
export interface DirectorIo {
  /** A fresh mbuf of `length` bytes queued for `port`: its region offset, or −1 (pool empty). */
  claim: (length: number, port: number) => number;
  /** Writes the tag of region [offset, offset + length) at tag_offset; 0, or −1. */
  sign: (key_slot: number, offset: number, length: number, tag_offset: number) => number;
  /** 1 when the tag at tag_offset is that of [offset, offset + length); 0 if not, −1 bad args. */
  verify: (key_slot: number, offset: number, length: number, tag_offset: number) => number;
  /** ms since 1970. */
  wall_clock: () => number;
}

export interface DirectorState {
  config: DirectorConfig;
  table: FlowTable;
  counters: Float64Array;
  parse_out: Int32Array;
  options_out: Int32Array;
  /**
   * VIP ip → served ports, as (ip, port) pairs for a short linear scan: the
   * first vip_count entries. From the config at start; once the control
   * Worker publishes ports in the selection table (a reload may change them),
   * copied from there whenever its version changes (sync_vips), into the
   * spare arrays and then swapped in, so a reader never sees half a set.
   */
  vip_ips: Int32Array;
  vip_ports: Int32Array;
  vip_l4: Uint8Array;
  vip_count: number;
  /** The selection version the VIP set was last checked against (−1: never). */
  vip_version: number;
  vip_spare: { ips: Int32Array; ports: Int32Array; l4: Uint8Array; version: Int32Array };
  /** Where hand-off outcomes are logged (access_log.ts); null: the access log is off. */
  access_log: AccessLogWriter | null;
  /** The BFD sessions on the director's address (bfd.ts); null: BFD is off. */
  bfd: BfdSessions | null;
  /** The request buffers (one per READING flow that has request bytes). */
  pool: ReadingPool;
  /** Most request bytes one hand-off carries (config.max_request, at least max_header). */
  request_capacity: number;
  /** Servers, weights, health and VIPs as the control Worker publishes them. */
  selection: SelectionTable;
  selection_scratch: SelectionScratch;
  /** Per server (selection index): SERVER_STAT_WORDS the control side reads. */
  server_stats: Float64Array;
  io: DirectorIo;
  /** Every packet's bytes (the mbuf region): where the frames the director builds are written. */
  region: Uint8Array;
  /** The next HANDOFF id (u32, from 1); after 2^32 − 1 of them every id has been used. */
  next_id: number;
  ids_wrapped: boolean;
  head_scan: Int32Array;
  frame_address: Int32Array;
  handoff_fields: Int32Array;
  /** Where the latency buckets start among the counters. */
  latency_at: number;
  /** Every deadline a flow is given, by flow key (set_deadline); fired by the service call. */
  timers: TimerWheel;
  timer_out: Int32Array;
  director_mac_hi: number;
  director_mac_lo: number;
  /** Added to the millisecond clock for TSval, so it does not start at 0. */
  ts_offset: number;
  /** DirectorConfig.clock_offset_ms: poll-loop clock + this = the wall clock. */
  clock_offset_ms: number;
  /** Flows asked about lately (carry.ts): per slot, the flow's hash and when. */
  query_recent: Int32Array;
  /** The second query_budget is for, and the FLOW_QUERYs it has left. */
  query_second: number;
  query_budget: number;
  key_scratch: Float64Array;
  /** The configured challenge ACKs per second, the second they were counted for, and what is left. */
  challenge_ack_limit: number;
  challenge_second: number;
  challenge_budget: number;
  /** HTTP responses the director sends itself, by status. */
  responses: Map<number, Uint8Array>;
}

export function create_director_state(
  config: DirectorConfig,
  options: {
    counters?: Float64Array;
    responses: Map<number, Uint8Array>;
    selection: SelectionTable;
    server_stats: Float64Array;
    io: DirectorIo;
    region: Uint8Array;
    access_log?: AccessLogWriter;
  },
): DirectorState {
  const vips = create_vip_set(config.vips, options.selection);
  const request_capacity = Math.max(config.max_header, config.max_request ?? 0);
  const share = config.reading_share ?? default_reading_share(config.max_reading);
  return {
    config,
    table: create_flow_table({ capacity: config.flow_capacity, values_per_flow: VALUES_PER_FLOW }),
    counters: options.counters ?? new Float64Array(DIRECTOR_COUNTER_WORDS),
    parse_out: create_parse_out(),
    options_out: new Int32Array(TCP_OPTION_FIELDS),
    ...vips,
    access_log: options.access_log ?? null,
    bfd: null, // the runner sets the sessions up (they need the emitter)
    // one spare byte per buffer beyond the capacity tells "over the limit"
    pool: create_reading_pool(config.max_reading, request_capacity + 1, share),
    request_capacity,
    selection: options.selection,
    selection_scratch: create_selection_scratch(options.selection),
    server_stats: options.server_stats,
    io: options.io,
    region: options.region,
    next_id: 1,
    ids_wrapped: false,
    head_scan: create_head_scan_out(),
    frame_address: create_frame_address(),
    handoff_fields: create_handoff_fields(),
    latency_at: DIRECTOR_COUNTER_NAMES.indexOf(LATENCY_BUCKET_NAMES[0]),
    timers: create_timer_wheel({
      // a flow holds one live deadline; the others wait to be found stale
      capacity: Math.min(1 << 24, config.flow_capacity * 4),
      slots: 4096,
      tick_ms: 1,
      payload_words: TIMER_WORDS,
      now_ms: 0,
    }),
    timer_out: new Int32Array(TIMERS_PER_CALL * TIMER_WORDS),
    director_mac_hi: mac_hi(config.director_mac, 0),
    director_mac_lo: mac_lo(config.director_mac, 0),
    ts_offset: config.ts_offset ?? ((Math.random() * 0x7fffffff) | 0),
    clock_offset_ms: config.clock_offset_ms ?? 0,
    query_recent: new Int32Array(2 * QUERY_RECENT_SLOTS),
    query_second: -1,
    query_budget: 0,
    key_scratch: new Float64Array(4),
    challenge_ack_limit: config.challenge_ack_limit ?? CHALLENGE_ACK_LIMIT,
    challenge_second: -1,
    challenge_budget: 0,
    responses: options.responses,
  };
}

/** Sends a frame the director built itself (slow path) out of a port. */
export type EmitFrame = (frame: Uint8Array, port: number) => void;

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

/**
 * Removes the flow and gives back its request buffer; the gauges follow
 * its state (a hand-off pending, a flow forwarded to its server).
 */
export function remove_flow(state: DirectorState, index: number): void {
  const values = state.table.values;
  const v = index * VALUES_PER_FLOW;
  const flow_state = values[v + D_STATE];
  if (flow_state === STATE_HANDING) state.counters[C.handoffs_pending]--;
  else if (flow_state === STATE_FORWARDING) leave_forwarding(state, v);
  cancel_deadline(state, v);
  release_buffer(state, index);
  flow_remove_at(state.table, index);
  state.counters[C.flows] = state.table.count;
}

/** A flow at v stops being forwarded (removed, or replaced): its server has one flow less. */
export function leave_forwarding(state: DirectorState, v: number): void {
  state.counters[C.flows_forwarding]--;
  const server = state.table.values[v + D_SERVER];
  if (server >= 0) state.server_stats[server * SERVER_STAT_WORDS + SS_ACTIVE_FLOWS]--;
}

/** Ends a flow for a reason its counter names (client reset, idle). */
export function end_flow(state: DirectorState, index: number, counter: number): void {
  state.counters[counter]++;
  remove_flow(state, index);
}
