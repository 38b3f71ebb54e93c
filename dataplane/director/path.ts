// The director's dataplane, on its one fabric port. It owns the VIPs:
// answers ARP and ICMP echo for them, completes TCP handshakes with SYN
// cookies (no state until a valid ACK), reads each connection's HTTP
// request head and ACKs exactly those bytes, hands the request to its
// control Worker (which picks the server and sends the hand-off), and from
// then on forwards the client's frames to that server with only the
// Ethernet header rewritten. The response never comes back this way.
// Anything else is counted and dropped; nothing is reflected.
//
// Announced TCP options (policy): the director offers back what the client
// offered, because the agent translates all of them: MSS = fabric MTU − 40,
// SACK-permitted, timestamps, and window scale 7 (what Linux servers pick
// for ordinary buffers, so rescaling is rarely needed).
//
// Replies that answer a frame (ARP, echo, SYN/ACK, ACKs) are written in place
// into that frame's mbuf. HTTP error responses and timer-driven frames are
// built in director_service (the slow path).

import { DESC_WORDS, DROP } from "../../native/mod.ts";
import { deadline_passed, seq_sub } from "../seq.ts";
import {
  DIRECTOR_EVENT_WORDS,
  EVENT_FLOW_GONE,
  find_header_end,
  GONE_CLIENT_RESET,
  GONE_IDLE,
  GONE_TIMEOUT,
  R_CLIENT_IP,
  R_CLIENT_ISN,
  R_CLIENT_MAC,
  R_CLIENT_MSS,
  R_CLIENT_PORT,
  R_CLIENT_TSVAL,
  R_CLIENT_WINDOW,
  R_CLIENT_WSCALE,
  R_DIRECTOR_NEXT,
  R_DIRECTOR_TSVAL,
  R_DIRECTOR_WSCALE,
  R_EPOCH,
  R_FLAGS,
  R_ID,
  R_REQUEST,
  R_REQUEST_LENGTH,
  R_VIP,
  R_VIP_PORT,
  RECORD_FLAG_SACK,
  RECORD_FLAG_TIMESTAMPS,
  VERDICT_FORGET,
  VERDICT_FORWARD,
  VERDICT_RESPOND,
  VERDICT_TRY,
  VERDICT_WORDS,
} from "../wire/mod.ts";
import { icmp_checksum_set, ipv4_checksum_set, tcp_checksum_set } from "../checksum.ts";
import {
  create_flow_table,
  flow_insert,
  flow_key,
  flow_lookup,
  flow_remove_at,
  flow_touch,
  type FlowTable,
} from "../flow_table.ts";
import {
  build_tcp,
  bytes_to_mac,
  create_parse_out,
  DST_IP,
  DST_PORT,
  ETHERTYPE,
  ETHERTYPE_ARP,
  ETHERTYPE_IPV4,
  IP_PROTOCOL,
  IP_PROTOCOL_ICMP,
  IP_PROTOCOL_TCP,
  L3_OFFSET,
  L4_OFFSET,
  mac_hi,
  mac_lo,
  parse_frame,
  PARSE_OK,
  PAYLOAD_LENGTH,
  PAYLOAD_OFFSET,
  read_u16,
  read_u32,
  SRC_IP,
  SRC_PORT,
  TCP_FLAG_ACK,
  TCP_FLAG_FIN,
  TCP_FLAG_PSH,
  TCP_FLAG_RST,
  TCP_FLAG_SYN,
  TCP_FLAGS,
  TCP_OPTIONS_LENGTH,
  TCP_OPTIONS_OFFSET,
  u32_to_ip,
  VLAN_TCI,
  write_mac_words,
  write_u16,
  write_u32,
} from "../packet.ts";
import {
  OPT_MSS,
  OPT_SACK_PERMITTED_OFFSET,
  OPT_TIMESTAMP_OFFSET,
  OPT_WSCALE,
  OPTIONS_OK,
  parse_tcp_options,
  TCP_OPTION_FIELDS,
} from "../tcp_options.ts";
import {
  cookie_check,
  cookie_info,
  cookie_info_mss,
  cookie_info_sack,
  cookie_info_ts,
  cookie_info_wscale,
  cookie_make,
  COOKIE_WSCALE_NONE,
  type CookieKey,
} from "./syn_cookie.ts";

// ---------------------------------------------------------------- flow words

const D_STATE = 0;
const D_FLAGS = 1;
const D_CLIENT_ISN = 2;
const D_DIRECTOR_ISN = 3;
const D_CLIENT_MAC_HI = 4;
const D_CLIENT_MAC_LO = 5;
const D_SERVER_MAC_HI = 6;
const D_SERVER_MAC_LO = 7;
const D_CLIENT_TSVAL = 8;
const D_CLIENT_WINDOW = 9;
const D_CLIENT_MSS = 10;
const D_CLIENT_WSCALE = 11;
const D_REQUEST_SLOT = 12;
/** Request bytes received in order so far. */
const D_REQUEST_LENGTH = 13;
/** int32 ms, wrap-safe: request time-out, response retransmission, hand-off limit. */
const D_DEADLINE = 14;
const D_STATUS = 15;
const D_RETRIES = 16;
const D_DIRECTOR_TSVAL = 17;
const VALUES_PER_FLOW = 18;

export const STATE_READING = 1;
export const STATE_HANDING = 2;
export const STATE_FORWARDING = 3;
/** The director answered itself (400, 408, 431, 503) and is closing. */
export const STATE_RESPONDING = 4;

const F_SACK = RECORD_FLAG_SACK;
const F_TIMESTAMPS = RECORD_FLAG_TIMESTAMPS;
const F_WSCALE = 4;
/** HANDING with a server being tried: its MAC is in D_SERVER_MAC. */
const F_TRYING = 8;
/** An L4 VIP's connection: its first data segment is carried, not parsed. */
const F_L4 = 16;

/**
 * How long an L4 connection may stay silent before it is handed off empty
 * (protocols where the server speaks first). The client's first segment is
 * carried in the hand-off instead: handing off on the bare handshake ACK
 * loses that segment to the adoption and costs the client an RTO.
 */
const L4_FIRST_DATA_WAIT_MS = 50;

/** Window scale the director announces when the client offers one. */
export const DIRECTOR_WSCALE = 7;
/** Receive window the director advertises while it reads a request. */
const DIRECTOR_WINDOW = 65535;

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
] as const;
export type DirectorCounterName = typeof DIRECTOR_COUNTER_NAMES[number];
const C = Object.fromEntries(DIRECTOR_COUNTER_NAMES.map((name, i) => [name, i])) as Record<
  DirectorCounterName,
  number
>;
export const DIRECTOR_COUNTER_WORDS = DIRECTOR_COUNTER_NAMES.length;

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
  request_timeout_ms: number;
  idle_timeout_ms: number;
  /** How long a hand-off may stay unanswered by the control Worker. */
  handoff_timeout_ms: number;
  flow_capacity: number;
  /** Connections reading a request at once (each holds a buffer of max_header). */
  max_reading: number;
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
  buffers: Uint8Array;
  free_buffers: Int32Array;
  free_buffer_count: number;
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
  const free_buffers = new Int32Array(config.max_reading);
  for (let i = 0; i < config.max_reading; i++) free_buffers[i] = config.max_reading - 1 - i;
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
    // one spare byte per buffer beyond max_header tells "over the limit"
    buffers: new Uint8Array(config.max_reading * (config.max_header + 1)),
    free_buffers,
    free_buffer_count: config.max_reading,
    record: new Uint8Array(R_REQUEST + config.max_header),
    verdict,
    verdict_bytes: new Uint8Array(verdict.buffer),
    event,
    event_bytes: new Uint8Array(event.buffer),
    director_mac_hi: mac_hi(config.director_mac, 0),
    director_mac_lo: mac_lo(config.director_mac, 0),
    ts_offset: (Math.random() * 0x7fffffff) | 0,
    key_scratch: new Float64Array(4),
    responses: options.responses,
    enqueue: options.enqueue,
  };
}

/** Index of (ip, port) among the served VIP ports; −2 if the IP is a VIP but the port is not; −1 otherwise. */
function find_vip(state: DirectorState, ip: number, port: number): number {
  let is_vip = false;
  for (let i = 0; i < state.vip_ips.length; i++) {
    if (state.vip_ips[i] === (ip | 0)) {
      if (state.vip_ports[i] === port) return i;
      is_vip = true;
    }
  }
  return is_vip ? -2 : -1;
}

function is_vip_ip(state: DirectorState, ip: number): boolean {
  for (let i = 0; i < state.vip_ips.length; i++) if (state.vip_ips[i] === (ip | 0)) return true;
  return false;
}

// ------------------------------------------------------------------- burst

/** A burst from the fabric port: every frame gets an action and a counter. */
export function director_burst(
  state: DirectorState,
  bytes: Uint8Array,
  desc: Int32Array,
  n: number,
  now: number,
): void {
  const c = state.counters;
  const out = state.parse_out;
  const port = state.config.port;
  c[C.rx] += n;
  for (let i = 0; i < n; i++) {
    const d = i * DESC_WORDS;
    const o = desc[d];
    desc[d + 2] = DROP;
    if (parse_frame(bytes, o, desc[d + 1], out) !== PARSE_OK) {
      c[C.dropped_malformed]++;
      continue;
    }
    if (out[VLAN_TCI] >= 0) {
      c[C.dropped_vlan]++;
      continue;
    }
    const ethertype = out[ETHERTYPE];
    if (ethertype === ETHERTYPE_ARP) {
      if (arp_reply_in_place(state, bytes, o, d, desc)) desc[d + 2] = port;
      continue;
    }
    if (ethertype !== ETHERTYPE_IPV4 || !is_vip_ip(state, out[DST_IP])) {
      c[C.dropped_not_vip]++;
      continue;
    }
    const protocol = out[IP_PROTOCOL];
    if (protocol === IP_PROTOCOL_ICMP) {
      if (echo_reply_in_place(state, bytes, o)) desc[d + 2] = port;
      continue;
    }
    if (protocol !== IP_PROTOCOL_TCP) {
      c[C.dropped_other]++;
      continue;
    }
    if (tcp_frame(state, bytes, o, d, desc, now)) desc[d + 2] = port;
  }
}

/** An ARP request for a VIP becomes the reply; anything else is dropped. */
function arp_reply_in_place(
  state: DirectorState,
  bytes: Uint8Array,
  o: number,
  d: number,
  desc: Int32Array,
): boolean {
  const a = state.parse_out[L3_OFFSET];
  // request, Ethernet/IPv4, for one of our VIPs
  if (
    desc[d + 1] < a + 28 - o || read_u16(bytes, a + 6) !== 1 ||
    !is_vip_ip(state, read_u32(bytes, a + 24))
  ) {
    state.counters[C.dropped_not_vip]++;
    return false;
  }
  // target ← sender, sender ← (director MAC, VIP); Ethernet back to the asker
  const vip = read_u32(bytes, a + 24);
  for (let k = 0; k < 10; k++) bytes[a + 18 + k] = bytes[a + 8 + k];
  write_mac_words(bytes, a + 8, state.director_mac_hi, state.director_mac_lo);
  write_u32(bytes, a + 14, vip);
  write_u16(bytes, a + 6, 2);
  for (let k = 0; k < 6; k++) bytes[o + k] = bytes[a + 18 + k];
  write_mac_words(bytes, o + 6, state.director_mac_hi, state.director_mac_lo);
  state.counters[C.arp_replies]++;
  return true;
}

/** An ICMP echo request to a VIP becomes the echo reply. */
function echo_reply_in_place(state: DirectorState, bytes: Uint8Array, o: number): boolean {
  const out = state.parse_out;
  const ip = out[L3_OFFSET];
  const icmp = out[L4_OFFSET];
  if (bytes[icmp] !== 8) {
    state.counters[C.dropped_other]++;
    return false;
  }
  swap_l2_l3(state, bytes, o, ip);
  bytes[icmp] = 0;
  icmp_checksum_set(bytes, ip);
  state.counters[C.echo_replies]++;
  return true;
}

/** Back towards the sender: Ethernet to its MAC from ours, IPv4 addresses swapped (checksum unchanged). */
function swap_l2_l3(state: DirectorState, bytes: Uint8Array, o: number, ip: number): void {
  for (let k = 0; k < 6; k++) bytes[o + k] = bytes[o + 6 + k];
  write_mac_words(bytes, o + 6, state.director_mac_hi, state.director_mac_lo);
  const src = read_u32(bytes, ip + 12);
  write_u32(bytes, ip + 12, read_u32(bytes, ip + 16));
  write_u32(bytes, ip + 16, src);
  bytes[ip + 8] = 64;
  ipv4_checksum_set(bytes, ip);
}

/** A TCP frame to a VIP. True: the (rewritten) frame goes out of the port. */
function tcp_frame(
  state: DirectorState,
  bytes: Uint8Array,
  o: number,
  d: number,
  desc: Int32Array,
  now: number,
): boolean {
  const c = state.counters;
  const out = state.parse_out;
  const client_ip = out[SRC_IP];
  const vip = out[DST_IP];
  const client_port = out[SRC_PORT];
  const vip_port = out[DST_PORT];
  const flags = out[TCP_FLAGS];
  const index = flow_lookup(state.table, client_ip, vip, client_port, vip_port);
  if (index >= 0) return established_frame(state, bytes, o, d, desc, index, now);
  const vip_index = find_vip(state, vip, vip_port);
  if (vip_index < 0) {
    c[C.dropped_port_closed]++;
    return false;
  }
  if ((flags & (TCP_FLAG_SYN | TCP_FLAG_ACK | TCP_FLAG_RST | TCP_FLAG_FIN)) === TCP_FLAG_SYN) {
    return syn_ack_in_place(state, bytes, o, d, desc, now);
  }
  if ((flags & (TCP_FLAG_SYN | TCP_FLAG_RST | TCP_FLAG_ACK)) === TCP_FLAG_ACK) {
    return cookie_ack(state, bytes, o, d, desc, vip_index, now);
  }
  c[C.dropped_no_flow]++;
  return false;
}

/** SYN → SYN/ACK whose ISN is a cookie holding the client's options; nothing is stored. */
function syn_ack_in_place(
  state: DirectorState,
  bytes: Uint8Array,
  o: number,
  d: number,
  desc: Int32Array,
  now: number,
): boolean {
  const out = state.parse_out;
  const opts = state.options_out;
  const tcp = out[L4_OFFSET];
  let mss = 536, wscale = COOKIE_WSCALE_NONE, sack = false, ts = false, tsval = 0;
  if (out[TCP_OPTIONS_LENGTH] > 0) {
    if (
      parse_tcp_options(bytes, out[TCP_OPTIONS_OFFSET], out[TCP_OPTIONS_LENGTH], opts) !==
        OPTIONS_OK
    ) {
      state.counters[C.dropped_malformed]++;
      return false;
    }
    if (opts[OPT_MSS] > 0) mss = opts[OPT_MSS];
    if (opts[OPT_WSCALE] >= 0) wscale = opts[OPT_WSCALE];
    sack = opts[OPT_SACK_PERMITTED_OFFSET] >= 0;
    if (opts[OPT_TIMESTAMP_OFFSET] >= 0) {
      ts = true;
      tsval = read_u32(bytes, opts[OPT_TIMESTAMP_OFFSET] + 2);
    }
  }
  const client_isn = read_u32(bytes, tcp + 4);
  const info = cookie_info(mss, wscale, sack, ts);
  const cookie = cookie_make(
    state.config.cookie_key,
    out[SRC_IP],
    out[DST_IP],
    out[SRC_PORT],
    out[DST_PORT],
    client_isn,
    now / 1000,
    info,
  );
  const our_tsval = ((now | 0) + state.ts_offset) >>> 0;
  const length = write_segment(state, bytes, o, {
    seq: cookie,
    ack: (client_isn + 1) >>> 0,
    flags: TCP_FLAG_SYN | TCP_FLAG_ACK,
    window: DIRECTOR_WINDOW,
    syn_options: true,
    sack,
    ts,
    tsval: our_tsval,
    tsecr: tsval,
    wscale: wscale !== COOKIE_WSCALE_NONE,
  });
  desc[d + 1] = length;
  state.counters[C.syn_cookies_sent]++;
  return true;
}

interface SegmentFields {
  seq: number;
  ack: number;
  flags: number;
  window: number;
  /** SYN/ACK options: MSS, SACK-permitted, window scale. */
  syn_options: boolean;
  sack: boolean;
  ts: boolean;
  tsval: number;
  tsecr: number;
  wscale: boolean;
}

const segment_scratch: SegmentFields = {
  seq: 0,
  ack: 0,
  flags: 0,
  window: 0,
  syn_options: false,
  sack: false,
  ts: false,
  tsval: 0,
  tsecr: 0,
  wscale: false,
};

/** A bare ACK from the director (seq after its SYN), with our TSval and the client's echoed. */
function ack_fields(values: Int32Array, v: number, ack: number, window: number): SegmentFields {
  const f = segment_scratch;
  f.seq = (values[v + D_DIRECTOR_ISN] + 1) >>> 0;
  f.ack = ack;
  f.flags = TCP_FLAG_ACK;
  f.window = window;
  f.syn_options = false;
  f.sack = false;
  f.ts = (values[v + D_FLAGS] & F_TIMESTAMPS) !== 0;
  f.tsval = values[v + D_DIRECTOR_TSVAL] >>> 0;
  f.tsecr = values[v + D_CLIENT_TSVAL] >>> 0;
  f.wscale = false;
  return f;
}

/**
 * Rewrites the client's frame at o, in place, into a segment from the VIP
 * back to the client (no payload), with full checksums: a new header is
 * written, so nothing incremental applies. Returns the frame length.
 */
function write_segment(
  state: DirectorState,
  bytes: Uint8Array,
  o: number,
  f: SegmentFields,
): number {
  const out = state.parse_out;
  const old_ip = out[L3_OFFSET];
  const old_tcp = out[L4_OFFSET];
  const client_ip = read_u32(bytes, old_ip + 12);
  const vip = read_u32(bytes, old_ip + 16);
  const client_port = read_u16(bytes, old_tcp);
  const vip_port = read_u16(bytes, old_tcp + 2);
  // Ethernet: back to the sender, from the director
  for (let k = 0; k < 6; k++) bytes[o + k] = bytes[o + 6 + k];
  write_mac_words(bytes, o + 6, state.director_mac_hi, state.director_mac_lo);
  bytes[o + 12] = 0x08;
  bytes[o + 13] = 0x00;
  const ip = o + 14;
  const tcp = ip + 20;
  let p = tcp + 20;
  if (f.syn_options) {
    bytes[p] = 2;
    bytes[p + 1] = 4;
    write_u16(bytes, p + 2, state.config.mss);
    p += 4;
    if (f.sack) {
      bytes[p] = f.ts ? 4 : 1;
      bytes[p + 1] = f.ts ? 2 : 1;
      if (!f.ts) {
        bytes[p + 2] = 4;
        bytes[p + 3] = 2;
        p += 4;
      } else {
        p += 2;
      }
    }
  }
  if (f.ts) {
    if (!(f.syn_options && f.sack)) {
      bytes[p] = 1;
      bytes[p + 1] = 1;
      p += 2;
    }
    bytes[p] = 8;
    bytes[p + 1] = 10;
    write_u32(bytes, p + 2, f.tsval);
    write_u32(bytes, p + 6, f.tsecr);
    p += 10;
  }
  if (f.syn_options && f.wscale) {
    bytes[p] = 1;
    bytes[p + 1] = 3;
    bytes[p + 2] = 3;
    bytes[p + 3] = DIRECTOR_WSCALE;
    p += 4;
  }
  const tcp_length = p - tcp;
  bytes[ip] = 0x45;
  bytes[ip + 1] = 0;
  write_u16(bytes, ip + 2, 20 + tcp_length);
  write_u16(bytes, ip + 4, 0);
  write_u16(bytes, ip + 6, 0x4000);
  bytes[ip + 8] = 64;
  bytes[ip + 9] = IP_PROTOCOL_TCP;
  write_u32(bytes, ip + 12, vip);
  write_u32(bytes, ip + 16, client_ip);
  write_u16(bytes, tcp, vip_port);
  write_u16(bytes, tcp + 2, client_port);
  write_u32(bytes, tcp + 4, f.seq);
  write_u32(bytes, tcp + 8, f.ack);
  bytes[tcp + 12] = (tcp_length >> 2) << 4;
  bytes[tcp + 13] = f.flags;
  write_u16(bytes, tcp + 14, f.window);
  write_u16(bytes, tcp + 18, 0);
  ipv4_checksum_set(bytes, ip);
  tcp_checksum_set(bytes, ip);
  return p - o;
}

/** An ACK without a flow: a valid cookie completes the handshake and creates the flow. */
function cookie_ack(
  state: DirectorState,
  bytes: Uint8Array,
  o: number,
  d: number,
  desc: Int32Array,
  vip_index: number,
  now: number,
): boolean {
  const c = state.counters;
  const out = state.parse_out;
  const tcp = out[L4_OFFSET];
  const client_isn = (read_u32(bytes, tcp + 4) - 1) >>> 0;
  const cookie = (read_u32(bytes, tcp + 8) - 1) >>> 0;
  const info = cookie_check(
    state.config.cookie_key,
    out[SRC_IP],
    out[DST_IP],
    out[SRC_PORT],
    out[DST_PORT],
    client_isn,
    cookie,
    now / 1000,
  );
  if (info < 0) {
    c[C.bad_cookies]++;
    return false;
  }
  const l4 = state.vip_l4[vip_index] === 1;
  if (state.free_buffer_count === 0) {
    c[C.reading_full]++; // the client retransmits its ACK/data; a buffer may be free then
    return false;
  }
  const index = flow_insert(
    state.table,
    out[SRC_IP],
    out[DST_IP],
    out[SRC_PORT],
    out[DST_PORT],
    now,
  );
  if (index < 0) {
    c[C.table_full]++;
    return false;
  }
  c[C.handshakes_completed]++;
  c[C.flows] = state.table.count;
  const values = state.table.values;
  const v = index * VALUES_PER_FLOW;
  const wscale = cookie_info_wscale(info);
  values[v + D_FLAGS] = (cookie_info_sack(info) ? F_SACK : 0) |
    (cookie_info_ts(info) ? F_TIMESTAMPS : 0) | (wscale !== COOKIE_WSCALE_NONE ? F_WSCALE : 0) |
    (l4 ? F_L4 : 0);
  values[v + D_CLIENT_ISN] = client_isn | 0;
  values[v + D_DIRECTOR_ISN] = cookie | 0;
  values[v + D_CLIENT_MAC_HI] = mac_hi(bytes, o + 6);
  values[v + D_CLIENT_MAC_LO] = mac_lo(bytes, o + 6);
  values[v + D_CLIENT_MSS] = cookie_info_mss(info);
  values[v + D_CLIENT_WSCALE] = wscale;
  values[v + D_REQUEST_LENGTH] = 0;
  values[v + D_REQUEST_SLOT] = -1;
  values[v + D_DIRECTOR_TSVAL] = ((now | 0) + state.ts_offset) | 0;
  note_client_segment(state, bytes, v);
  values[v + D_STATE] = STATE_READING;
  values[v + D_REQUEST_SLOT] = state.free_buffers[--state.free_buffer_count];
  values[v + D_DEADLINE] = (now + (l4 ? L4_FIRST_DATA_WAIT_MS : state.config.request_timeout_ms)) |
    0;
  if (out[PAYLOAD_LENGTH] > 0) return reading_frame(state, bytes, o, d, desc, index, now);
  return false;
}

/** Remembers the client's latest TSval and window (for the ACK we send and the hand-off). */
function note_client_segment(state: DirectorState, bytes: Uint8Array, v: number): void {
  const out = state.parse_out;
  const values = state.table.values;
  const tcp = out[L4_OFFSET];
  values[v + D_CLIENT_WINDOW] = read_u16(bytes, tcp + 14);
  if ((values[v + D_FLAGS] & F_TIMESTAMPS) !== 0 && out[TCP_OPTIONS_LENGTH] > 0) {
    const opts = state.options_out;
    if (
      parse_tcp_options(bytes, out[TCP_OPTIONS_OFFSET], out[TCP_OPTIONS_LENGTH], opts) ===
        OPTIONS_OK && opts[OPT_TIMESTAMP_OFFSET] >= 0
    ) {
      values[v + D_CLIENT_TSVAL] = read_u32(bytes, opts[OPT_TIMESTAMP_OFFSET] + 2) | 0;
    }
  }
}

function established_frame(
  state: DirectorState,
  bytes: Uint8Array,
  o: number,
  d: number,
  desc: Int32Array,
  index: number,
  now: number,
): boolean {
  const c = state.counters;
  const values = state.table.values;
  const v = index * VALUES_PER_FLOW;
  const flags = state.parse_out[TCP_FLAGS];
  const flow_state = values[v + D_STATE];
  if (flow_state === STATE_FORWARDING) {
    // only the Ethernet header changes: to the server, from the director
    write_mac_words(bytes, o, values[v + D_SERVER_MAC_HI], values[v + D_SERVER_MAC_LO]);
    write_mac_words(bytes, o + 6, state.director_mac_hi, state.director_mac_lo);
    flow_touch(state.table, index, now);
    c[C.forwarded]++;
    if ((flags & TCP_FLAG_RST) !== 0) end_flow(state, index, GONE_CLIENT_RESET);
    return true;
  }
  if ((flags & TCP_FLAG_RST) !== 0) {
    if (flow_state === STATE_HANDING) {
      end_flow(state, index, GONE_CLIENT_RESET);
    } else {
      c[C.ended_client_reset]++;
      remove_flow(state, index);
    }
    return false;
  }
  if (flow_state === STATE_READING) return reading_frame(state, bytes, o, d, desc, index, now);
  if (flow_state === STATE_RESPONDING) return responding_frame(state, bytes, o, d, desc, index);
  if ((values[v + D_FLAGS] & F_TRYING) !== 0) {
    // The server may answer before its agent's ACK reaches us: the client's
    // ACKs of that answer go to the server being tried (its agent drops them
    // if it refuses the hand-off).
    write_mac_words(bytes, o, values[v + D_SERVER_MAC_HI], values[v + D_SERVER_MAC_LO]);
    write_mac_words(bytes, o + 6, state.director_mac_hi, state.director_mac_lo);
    c[C.forwarded_while_handing]++;
    return true;
  }
  c[C.dropped_while_handing]++; // the client retransmits once the flow is forwarded
  return false;
}

/** READING: collect in-order bytes until the end of the request head; ACK only those. */
function reading_frame(
  state: DirectorState,
  bytes: Uint8Array,
  o: number,
  d: number,
  desc: Int32Array,
  index: number,
  now: number,
): boolean {
  const c = state.counters;
  const out = state.parse_out;
  const values = state.table.values;
  const v = index * VALUES_PER_FLOW;
  const tcp = out[L4_OFFSET];
  const flags = out[TCP_FLAGS];
  const payload_length = out[PAYLOAD_LENGTH];
  if ((flags & TCP_FLAG_FIN) !== 0 && payload_length === 0) {
    remove_flow(state, index); // the client gave up before finishing its request
    return false;
  }
  if (payload_length === 0) return false; // a bare ACK: nothing to do
  const have = values[v + D_REQUEST_LENGTH];
  const expected = (values[v + D_CLIENT_ISN] + 1 + have) >>> 0;
  // bytes of this segment we already hold (a retransmission, whole or in part)
  const already = seq_sub(expected, read_u32(bytes, tcp + 4));
  if (already < 0) {
    c[C.out_of_order_dropped]++; // a gap before it: the client retransmits in order
    return false;
  }
  note_client_segment(state, bytes, v);
  if (already >= payload_length) {
    // all old: our ACK was lost, so say again what we have
    c[C.request_duplicates]++;
    return ack_client(state, bytes, o, d, desc, v, have);
  }
  c[C.request_segments]++;
  const max = state.config.max_header;
  const base = values[v + D_REQUEST_SLOT] * (max + 1);
  const l4 = (values[v + D_FLAGS] & F_L4) !== 0;
  // an L4 connection's first bytes are carried whole (up to the limit; the
  // client resends the rest, which is forwarded): no head to look for
  const take = Math.min(payload_length - already, max + (l4 ? 0 : 1) - have);
  const buffer = state.buffers;
  const from = out[PAYLOAD_OFFSET] + already;
  for (let k = 0; k < take; k++) buffer[base + have + k] = bytes[from + k];
  const total = have + take;
  if (l4) {
    values[v + D_REQUEST_LENGTH] = total;
    const sent = ack_client(state, bytes, o, d, desc, v, total);
    hand_off(state, index, total, now);
    return sent;
  }
  // CRLFCRLF may straddle segments: search from 3 bytes back
  const found = find_header_end(buffer, base + Math.max(0, have - 3), base + total);
  const head_end = found < 0 ? -1 : found - base;
  if (head_end < 0) {
    if (total > max) {
      respond(state, index, 431, now);
      return false;
    }
    values[v + D_REQUEST_LENGTH] = total;
    return ack_client(state, bytes, o, d, desc, v, total);
  }
  if (head_end > max) {
    respond(state, index, 431, now);
    return false;
  }
  values[v + D_REQUEST_LENGTH] = head_end;
  c[C.requests_complete]++;
  // ACK exactly the head; a body after it is resent by the client and forwarded
  const sent = ack_client(state, bytes, o, d, desc, v, head_end);
  hand_off(state, index, head_end, now);
  return sent;
}

/** Rewrites the client's segment into our ACK of `acked` request bytes. */
function ack_client(
  state: DirectorState,
  bytes: Uint8Array,
  o: number,
  d: number,
  desc: Int32Array,
  v: number,
  acked: number,
): boolean {
  const values = state.table.values;
  const window = (values[v + D_FLAGS] & F_WSCALE) !== 0
    ? DIRECTOR_WINDOW >> DIRECTOR_WSCALE
    : DIRECTOR_WINDOW;
  const ack = (values[v + D_CLIENT_ISN] + 1 + acked) >>> 0;
  desc[d + 1] = write_segment(state, bytes, o, ack_fields(values, v, ack, window));
  return true;
}

/** The request is complete: its record goes to the control Worker, which picks a server. */
function hand_off(state: DirectorState, index: number, request_length: number, now: number): void {
  const values = state.table.values;
  const v = index * VALUES_PER_FLOW;
  const table = state.table;
  const r = state.record;
  const flags = values[v + D_FLAGS];
  write_u32(r, R_EPOCH, 0);
  write_u32(r, R_ID, 0);
  write_u32(r, R_CLIENT_IP, table.src_ip[index] >>> 0);
  write_u32(r, R_VIP, table.dst_ip[index] >>> 0);
  write_u16(r, R_CLIENT_PORT, table.ports[index] >>> 16);
  write_u16(r, R_VIP_PORT, table.ports[index] & 0xffff);
  write_mac_words(r, R_CLIENT_MAC, values[v + D_CLIENT_MAC_HI], values[v + D_CLIENT_MAC_LO]);
  r[R_FLAGS] = flags & (F_SACK | F_TIMESTAMPS);
  r[R_FLAGS + 1] = 0;
  write_u32(r, R_CLIENT_ISN, values[v + D_CLIENT_ISN] >>> 0);
  write_u32(r, R_DIRECTOR_NEXT, (values[v + D_DIRECTOR_ISN] + 1) >>> 0);
  write_u32(r, R_CLIENT_TSVAL, values[v + D_CLIENT_TSVAL] >>> 0);
  write_u32(r, R_DIRECTOR_TSVAL, values[v + D_DIRECTOR_TSVAL] >>> 0);
  write_u16(r, R_CLIENT_WINDOW, values[v + D_CLIENT_WINDOW]);
  write_u16(r, R_CLIENT_MSS, values[v + D_CLIENT_MSS]);
  r[R_CLIENT_WSCALE] = values[v + D_CLIENT_WSCALE];
  r[R_DIRECTOR_WSCALE] = (flags & F_WSCALE) !== 0 ? DIRECTOR_WSCALE : 255;
  write_u16(r, R_REQUEST_LENGTH, request_length);
  const slot = values[v + D_REQUEST_SLOT];
  if (slot >= 0) {
    const base = slot * (state.config.max_header + 1);
    r.set(state.buffers.subarray(base, base + request_length), R_REQUEST);
    state.free_buffers[state.free_buffer_count++] = slot;
    values[v + D_REQUEST_SLOT] = -1;
  }
  values[v + D_STATE] = STATE_HANDING;
  values[v + D_DEADLINE] = (now + state.config.handoff_timeout_ms) | 0;
  state.counters[C.handoffs_pending]++;
  if (!state.enqueue(state.config.request_ring, r.subarray(0, R_REQUEST + request_length))) {
    state.counters[C.ring_full]++;
    state.counters[C.handoffs_pending]--;
    respond(state, index, 503, now);
  }
}

/** The director answers the client itself and closes: 400, 408, 431, 503. */
function respond(state: DirectorState, index: number, status: number, now: number): void {
  const values = state.table.values;
  const v = index * VALUES_PER_FLOW;
  const slot = values[v + D_REQUEST_SLOT];
  if (slot >= 0) {
    state.free_buffers[state.free_buffer_count++] = slot;
    values[v + D_REQUEST_SLOT] = -1;
  }
  values[v + D_STATE] = STATE_RESPONDING;
  values[v + D_STATUS] = status;
  values[v + D_RETRIES] = 0;
  values[v + D_DEADLINE] = now | 0; // sent by the next service call
  const c = state.counters;
  if (status === 400) c[C.responses_400]++;
  else if (status === 408) c[C.responses_408]++;
  else if (status === 431) c[C.responses_431]++;
  else c[C.responses_503]++;
}

/** RESPONDING: the client's FIN gets our final ACK and the flow is gone. */
function responding_frame(
  state: DirectorState,
  bytes: Uint8Array,
  o: number,
  d: number,
  desc: Int32Array,
  index: number,
): boolean {
  const out = state.parse_out;
  const values = state.table.values;
  const v = index * VALUES_PER_FLOW;
  if ((out[TCP_FLAGS] & TCP_FLAG_FIN) === 0) return false;
  note_client_segment(state, bytes, v); // our final ACK echoes the FIN's TSval (RFC 7323)
  const response = state.responses.get(values[v + D_STATUS]);
  const fin_seq = read_u32(bytes, out[L4_OFFSET] + 4) + out[PAYLOAD_LENGTH];
  const f = ack_fields(values, v, (fin_seq + 1) >>> 0, 0);
  // after the response and our FIN
  f.seq = (values[v + D_DIRECTOR_ISN] + 1 + (response?.length ?? 0) + 1) >>> 0;
  desc[d + 1] = write_segment(state, bytes, o, f);
  remove_flow(state, index);
  return true;
}

function remove_flow(state: DirectorState, index: number): void {
  const values = state.table.values;
  const v = index * VALUES_PER_FLOW;
  const slot = values[v + D_REQUEST_SLOT];
  if (slot >= 0 && values[v + D_STATE] !== STATE_FORWARDING) {
    state.free_buffers[state.free_buffer_count++] = slot;
  }
  flow_remove_at(state.table, index);
  state.counters[C.flows] = state.table.count;
}

/** Ends a flow the control Worker knows about, and tells it. */
function end_flow(state: DirectorState, index: number, reason: number): void {
  const c = state.counters;
  if (reason === GONE_CLIENT_RESET) c[C.ended_client_reset]++;
  else if (reason === GONE_IDLE) c[C.ended_idle]++;
  const e = state.event;
  e[0] = EVENT_FLOW_GONE;
  e[1] = state.table.src_ip[index];
  e[2] = state.table.dst_ip[index];
  e[3] = state.table.ports[index];
  e[4] = reason;
  if (!state.enqueue(state.config.event_ring, state.event_bytes)) c[C.ring_full]++;
  remove_flow(state, index);
}

// ----------------------------------------------------------------- service

export type EmitFrame = (frame: Uint8Array, port: number) => void;

/**
 * The slow path, after each round of bursts: verdicts from the control
 * Worker, HTTP responses the director sends itself, and the flow sweep
 * (request time-outs, response retransmissions, idle forwarding entries).
 */
export function director_service(
  state: DirectorState,
  now: number,
  options: { dequeue: (ring: number, into: Uint8Array) => number; emit: EmitFrame },
): void {
  for (let k = 0; k < 64; k++) {
    if (options.dequeue(state.config.verdict_ring, state.verdict_bytes) < 0) break;
    apply_verdict(state, now);
  }
  sweep(state, now, options.emit, 64);
}

function apply_verdict(state: DirectorState, now: number): void {
  const w = state.verdict;
  const index = flow_lookup(state.table, w[1], w[2], w[3] >>> 16, w[3] & 0xffff);
  if (index < 0) return; // gone meanwhile (client reset, time-out)
  const values = state.table.values;
  const v = index * VALUES_PER_FLOW;
  if (w[0] === VERDICT_FORWARD && values[v + D_STATE] === STATE_HANDING) {
    values[v + D_STATE] = STATE_FORWARDING;
    values[v + D_SERVER_MAC_HI] = w[4];
    values[v + D_SERVER_MAC_LO] = w[5];
    flow_touch(state.table, index, now);
    state.counters[C.handoffs_pending]--;
  } else if (w[0] === VERDICT_RESPOND && values[v + D_STATE] === STATE_HANDING) {
    state.counters[C.handoffs_pending]--;
    respond(state, index, w[4], now);
  } else if (w[0] === VERDICT_TRY && values[v + D_STATE] === STATE_HANDING) {
    values[v + D_FLAGS] |= F_TRYING;
    values[v + D_SERVER_MAC_HI] = w[4];
    values[v + D_SERVER_MAC_LO] = w[5];
  } else if (w[0] === VERDICT_FORGET && values[v + D_STATE] === STATE_FORWARDING) {
    state.counters[C.ended_agent]++;
    remove_flow(state, index);
  }
}

function sweep(state: DirectorState, now: number, emit: EmitFrame, max_scan: number): void {
  const table = state.table;
  const values = table.values;
  const now_ms = now | 0;
  const mask = table.mask;
  let i = table.sweep_cursor;
  for (let scanned = 0; scanned < max_scan; scanned++) {
    if (table.used[i] === 1) {
      const v = i * VALUES_PER_FLOW;
      const s = values[v + D_STATE];
      if (s === STATE_READING && deadline_passed(values[v + D_DEADLINE], now_ms)) {
        if ((values[v + D_FLAGS] & F_L4) !== 0) {
          hand_off(state, i, values[v + D_REQUEST_LENGTH], now); // the server speaks first
        } else {
          respond(state, i, 408, now); // slowloris: the head did not come in time
        }
      }
      if (
        values[v + D_STATE] === STATE_RESPONDING && deadline_passed(values[v + D_DEADLINE], now_ms)
      ) {
        if (values[v + D_RETRIES] >= 3) {
          remove_flow(state, i);
          continue; // a later flow may have shifted into slot i
        }
        send_response(state, i, emit);
        if (values[v + D_RETRIES] > 0) state.counters[C.response_retransmits]++;
        values[v + D_DEADLINE] = (now + 300 * (1 << values[v + D_RETRIES])) | 0;
        values[v + D_RETRIES]++;
      } else if (s === STATE_HANDING && deadline_passed(values[v + D_DEADLINE], now_ms)) {
        state.counters[C.handoffs_pending]--;
        end_flow(state, i, GONE_TIMEOUT);
        continue;
      } else if (
        s === STATE_FORWARDING && now - table.last_seen[i] > state.config.idle_timeout_ms
      ) {
        end_flow(state, i, GONE_IDLE);
        continue;
      }
    }
    i = (i + 1) & mask;
  }
  table.sweep_cursor = i;
}

/** The HTTP response with FIN, from the director's side of the connection (slow path). */
function send_response(state: DirectorState, index: number, emit: EmitFrame): void {
  const table = state.table;
  const values = table.values;
  const v = index * VALUES_PER_FLOW;
  flow_key(table, index, state.key_scratch);
  const [client_ip, vip, client_port, vip_port] = state.key_scratch;
  const client_mac = new Uint8Array(6);
  write_mac_words(client_mac, 0, values[v + D_CLIENT_MAC_HI], values[v + D_CLIENT_MAC_LO]);
  const ts = (values[v + D_FLAGS] & F_TIMESTAMPS) !== 0;
  emit(
    build_tcp({
      src_mac: bytes_to_mac(state.config.director_mac),
      dst_mac: bytes_to_mac(client_mac),
      src_ip: u32_to_ip(vip),
      dst_ip: u32_to_ip(client_ip),
      src_port: vip_port,
      dst_port: client_port,
      seq: (values[v + D_DIRECTOR_ISN] + 1) >>> 0,
      ack: (values[v + D_CLIENT_ISN] + 1 + values[v + D_REQUEST_LENGTH]) >>> 0,
      flags: TCP_FLAG_ACK | TCP_FLAG_PSH | TCP_FLAG_FIN,
      window: 0,
      options: ts
        ? [{ kind: "nop" }, { kind: "nop" }, {
          kind: "timestamp",
          tsval: values[v + D_DIRECTOR_TSVAL] >>> 0,
          tsecr: values[v + D_CLIENT_TSVAL] >>> 0,
        }]
        : [],
      payload: state.responses.get(values[v + D_STATUS]) ?? new Uint8Array(0),
    }),
    state.config.port,
  );
}

/** Counters as a name → value record. */
export function director_counters(state: DirectorState): Record<DirectorCounterName, number> {
  return Object.fromEntries(
    DIRECTOR_COUNTER_NAMES.map((name, i) => [name, state.counters[i]]),
  ) as Record<DirectorCounterName, number>;
}
