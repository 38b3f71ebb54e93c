// The agent's dataplane: a bump in the wire in front of one server's kernel
// TCP stack. Frames of flows that are not handed off pass untouched; frames
// of handed-off flows are translated between the director's connection
// state (what the client sees) and the stack's (patent US9253289B2):
//
//   server → client: seq − ISN_s + ISN_d, TSval + Δts, window rescaled
//                    from the stack's wscale to the director's, L2 dst = client's next hop
//   client → server: ack − ISN_d + ISN_s, SACK edges likewise, TSecr − Δts,
//                    L2 dst = the stack's MAC
//
// Adoption (slow path): a hand-off makes the agent send the stack a SYN as
// the client (client ISN and the options the client negotiated with the
// director), consume the stack's SYN/ACK, ACK it and deliver the request
// bytes until the stack acknowledges them; then the flow is ESTABLISHED.
//
// Burst functions allocate nothing and never throw: every frame ends up
// with an action (a port, or DROP) and a counter. Frames the agent makes
// (SYN, ACK + request, RST) are built in agent_service, outside bursts.

import { DESC_WORDS, DROP } from "../../native/mod.ts";
import { deadline_passed } from "../seq.ts";
import {
  EVENT_ADOPTED,
  EVENT_FLOW_END,
  EVENT_REFUSED,
  EVENT_WORDS,
  FLOW_END_CLIENT_RESET,
  FLOW_END_FIN,
  FLOW_END_IDLE_TIMEOUT,
  FLOW_END_SERVER_RESET,
  NACK_BAD_REQUEST,
  NACK_STACK_RESET,
  NACK_STACK_TIMEOUT,
  NACK_TABLE_FULL,
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
  RECORD_FLAG_CANCEL,
  RECORD_FLAG_SACK,
  RECORD_FLAG_TIMESTAMPS,
} from "../wire/mod.ts";
import { checksum_update16, checksum_update32 } from "../checksum.ts";
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
  ETHERTYPE_IPV4,
  IP_PROTOCOL,
  IP_PROTOCOL_TCP,
  L4_OFFSET,
  mac_hi,
  mac_is_multicast,
  mac_lo,
  parse_frame,
  PARSE_OK,
  PAYLOAD_LENGTH,
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
  write_mac_words,
  write_u16,
  write_u32,
} from "../packet.ts";
import {
  OPT_MSS,
  OPT_SACK_BLOCKS,
  OPT_SACK_OFFSET,
  OPT_TIMESTAMP_OFFSET,
  OPT_WSCALE,
  OPTIONS_OK,
  parse_tcp_options,
  rewrite_sack_blocks,
  rewrite_timestamp,
  TCP_OPTION_FIELDS,
  type TcpOption,
} from "../tcp_options.ts";

// ---------------------------------------------------------------- flow words

const V_STATE = 0;
const V_FLAGS = 1;
/** ISN_s + 1 − director_next_seq: server space minus director space. */
const V_ISN_DELTA = 2;
/** director clock − stack clock, for TSval/TSecr. */
const V_TS_DELTA = 3;
const V_SERVER_WSCALE = 4;
const V_DIRECTOR_WSCALE = 5;
const V_CLIENT_MAC_HI = 6;
const V_CLIENT_MAC_LO = 7;
const V_CLIENT_ISN = 8;
const V_DIRECTOR_NEXT = 9;
const V_EPOCH = 10;
const V_ID = 11;
/** ms (int32, wrap-safe) when the adoption timer or the linger ends. */
const V_DEADLINE = 12;
const V_REQUEST_SLOT = 13;
const V_RETRIES = 14;
const V_TO_SERVER = 15;
const V_TO_CLIENT = 16;
const V_SERVER_ISN = 17;
const V_CLIENT_TSVAL = 18;
const V_SERVER_TSVAL = 19;
const V_CLIENT_WINDOW = 20;
const V_CLIENT_MSS = 21;
const V_CLIENT_WSCALE = 22;
const V_SERVER_MSS = 23;
const V_REQUEST_LENGTH = 24;
const V_END_REASON = 25;
const VALUES_PER_FLOW = 26;

export const STATE_SYN_SENT = 1;
export const STATE_REQUEST_SENT = 2;
export const STATE_ESTABLISHED = 3;
/** Closed (FIN both ways, or RST): still translated until the linger ends. */
export const STATE_CLOSING = 4;

// the first two flag bits are the hand-off record's, so adoption copies them
const F_SACK = RECORD_FLAG_SACK;
const F_TIMESTAMPS = RECORD_FLAG_TIMESTAMPS;
const F_FIN_FROM_CLIENT = 4;
const F_FIN_FROM_SERVER = 8;
const F_WSCALE = 16;

const EVENT_CAPACITY = 1024;

// ----------------------------------------------------------------- counters

export const AGENT_COUNTER_NAMES = [
  "fabric_rx",
  "server_rx",
  "translated_to_server",
  "translated_to_client",
  "passed_to_server",
  "passed_to_fabric",
  "dropped_not_ours",
  "dropped_malformed",
  "dropped_while_adopting",
  "dropped_unknown_vip_flow",
  "synack_consumed",
  "stack_ack_consumed",
  "handoffs_received",
  "handoffs_duplicate",
  "cancelled",
  "adopted",
  "refused_table_full",
  "refused_stack_reset",
  "refused_stack_timeout",
  "refused_bad_request",
  "syn_sent",
  "syn_retransmits",
  "request_sent",
  "request_retransmits",
  "ended_fin",
  "ended_client_reset",
  "ended_server_reset",
  "ended_idle",
  "events_lost",
  "flows",
] as const;
export type AgentCounterName = typeof AGENT_COUNTER_NAMES[number];
const C = Object.fromEntries(AGENT_COUNTER_NAMES.map((name, i) => [name, i])) as Record<
  AgentCounterName,
  number
>;
export const AGENT_COUNTER_WORDS = AGENT_COUNTER_NAMES.length;

// ------------------------------------------------------------ configuration

export interface AgentConfig {
  fabric_port: number;
  server_port: number;
  /** The server stack's MAC: where client→server frames go. */
  server_mac: Uint8Array;
  /** The agent's own fabric MAC (frames to it are accepted too). */
  agent_mac: Uint8Array;
  /** Flow table slots (power of two); 75% of them may hold flows. */
  flow_capacity: number;
  /** Largest request (header block) a hand-off may carry. */
  max_request: number;
  /** Concurrent adoptions (each holds a request buffer). */
  max_adopting: number;
  /** First retransmission time for the SYN and the request; doubles each time. */
  rto_ms: number;
  /** Give up an adoption after this long (NACK stack_timeout). */
  adopt_timeout_ms: number;
  /** Keep translating this long after a flow closed (late segments). */
  linger_ms: number;
  /** Forget a flow silent for this long. */
  idle_timeout_ms: number;
}

export const DEFAULT_AGENT_TIMERS = {
  flow_capacity: 65536,
  max_request: 65535,
  max_adopting: 256,
  rto_ms: 200,
  adopt_timeout_ms: 3000,
  linger_ms: 2000,
  idle_timeout_ms: 300_000,
};

export interface AgentState {
  config: AgentConfig;
  table: FlowTable;
  /** AGENT_COUNTER_WORDS counters (may live in a SharedArrayBuffer). */
  counters: Float64Array;
  parse_out: Int32Array;
  options_out: Int32Array;
  /** Keys of flows being adopted: client_ip, vip, ports (client << 16 | vip). */
  adopting: Int32Array;
  adopting_count: number;
  /** Request bytes awaiting the stack's ACK, max_adopting buffers of max_request. */
  requests: Uint8Array;
  free_requests: Int32Array;
  free_request_count: number;
  /** EVENT_WORDS per event, a FIFO. */
  events: Int32Array;
  event_head: number;
  event_count: number;
  key_scratch: Float64Array;
  /** VIPs seen in hand-offs: a frame to one of them without a flow never reaches the stack. */
  vips: Int32Array;
  vip_count: number;
  server_mac_hi: number;
  agent_mac_hi: number;
  agent_mac_lo: number;
  server_mac_lo: number;
}

export function create_agent_state(
  config: AgentConfig,
  options: { counters?: Float64Array } = {},
): AgentState {
  const requests = new Uint8Array(config.max_adopting * config.max_request);
  const free_requests = new Int32Array(config.max_adopting);
  for (let i = 0; i < config.max_adopting; i++) free_requests[i] = config.max_adopting - 1 - i;
  return {
    config,
    table: create_flow_table({ capacity: config.flow_capacity, values_per_flow: VALUES_PER_FLOW }),
    counters: options.counters ?? new Float64Array(AGENT_COUNTER_WORDS),
    parse_out: create_parse_out(),
    options_out: new Int32Array(TCP_OPTION_FIELDS),
    adopting: new Int32Array(config.max_adopting * 3),
    adopting_count: 0,
    requests,
    free_requests,
    free_request_count: config.max_adopting,
    events: new Int32Array(EVENT_CAPACITY * EVENT_WORDS),
    event_head: 0,
    event_count: 0,
    key_scratch: new Float64Array(4),
    vips: new Int32Array(64),
    vip_count: 0,
    server_mac_hi: mac_hi(config.server_mac, 0),
    agent_mac_hi: mac_hi(config.agent_mac, 0),
    agent_mac_lo: mac_lo(config.agent_mac, 0),
    server_mac_lo: mac_lo(config.server_mac, 0),
  };
}

/** Wrap-safe "deadline has passed" on int32 milliseconds. */

// ------------------------------------------------------------------- events

/** Where the next event goes in the FIFO, or −1 (counted) when it is full. */
function claim_event(state: AgentState): number {
  if (state.event_count >= EVENT_CAPACITY) {
    state.counters[C.events_lost]++;
    return -1;
  }
  const at = ((state.event_head + state.event_count) % EVENT_CAPACITY) * EVENT_WORDS;
  state.event_count++;
  return at;
}

function push_event(
  state: AgentState,
  type: number,
  reason: number,
  index: number,
): void {
  const at = claim_event(state);
  if (at < 0) return;
  const table = state.table;
  const v = index * VALUES_PER_FLOW;
  const e = state.events;
  e[at] = type;
  e[at + 1] = reason;
  e[at + 2] = table.values[v + V_EPOCH];
  e[at + 3] = table.values[v + V_ID];
  e[at + 4] = table.src_ip[index];
  e[at + 5] = table.dst_ip[index];
  e[at + 6] = table.ports[index];
  e[at + 7] = table.values[v + V_TO_SERVER];
  e[at + 8] = table.values[v + V_TO_CLIENT];
}

/** Copies the oldest event into out (EVENT_WORDS int32); false when there is none. */
export function next_agent_event(state: AgentState, out: Int32Array): boolean {
  if (state.event_count === 0) return false;
  const at = state.event_head * EVENT_WORDS;
  for (let k = 0; k < EVENT_WORDS; k++) out[k] = state.events[at + k];
  state.event_head = (state.event_head + 1) % EVENT_CAPACITY;
  state.event_count--;
  return true;
}

// ---------------------------------------------------------------- adoption

/** Starts adopting a handed-off connection (slow path: once per hand-off). */
export function agent_adopt(
  state: AgentState,
  request: Uint8Array,
  now: number,
  emit: EmitFrame,
): void {
  const c = state.counters;
  const table = state.table;
  c[C.handoffs_received]++;
  if (request.length < R_REQUEST) {
    c[C.refused_bad_request]++;
    return;
  }
  const client_ip = read_u32(request, R_CLIENT_IP);
  const vip = read_u32(request, R_VIP);
  const client_port = read_u16(request, R_CLIENT_PORT);
  const vip_port = read_u16(request, R_VIP_PORT);
  const epoch = read_u32(request, R_EPOCH) | 0;
  const id = read_u32(request, R_ID) | 0;
  const request_length = read_u16(request, R_REQUEST_LENGTH);
  if ((request[R_FLAGS] & RECORD_FLAG_CANCEL) !== 0) {
    const index = flow_lookup(table, client_ip, vip, client_port, vip_port);
    agent_cancel(state, index, { epoch, id, emit });
    return;
  }
  learn_vip(state, vip);

  let index = flow_lookup(table, client_ip, vip, client_port, vip_port);
  if (index >= 0) {
    const v = index * VALUES_PER_FLOW;
    const same = table.values[v + V_EPOCH] === epoch && table.values[v + V_ID] === id;
    const state_now = table.values[v + V_STATE];
    if (same) {
      // A retransmitted HANDOFF: answer again once adopted; never adopt twice.
      c[C.handoffs_duplicate]++;
      if (state_now === STATE_ESTABLISHED || state_now === STATE_CLOSING) {
        push_event(state, EVENT_ADOPTED, 0, index);
      }
      return;
    }
    if (state_now !== STATE_CLOSING) {
      // the 4-tuple is live under another hand-off: refuse rather than hijack it
      c[C.refused_bad_request]++;
      push_refusal(state, request, NACK_BAD_REQUEST);
      return;
    }
    // the port was reused after the old flow closed: the new hand-off wins
    remove_flow(state, index);
  }
  if (
    request.length !== R_REQUEST + request_length || request_length > state.config.max_request
  ) {
    c[C.refused_bad_request]++;
    push_refusal(state, request, NACK_BAD_REQUEST);
    return;
  }
  if (state.adopting_count >= state.config.max_adopting || state.free_request_count === 0) {
    c[C.refused_table_full]++;
    push_refusal(state, request, NACK_TABLE_FULL);
    return;
  }
  index = flow_insert(table, client_ip, vip, client_port, vip_port, now);
  if (index < 0) {
    c[C.refused_table_full]++;
    push_refusal(state, request, NACK_TABLE_FULL);
    return;
  }
  const slot = state.free_requests[--state.free_request_count];
  state.requests.set(
    request.subarray(R_REQUEST, R_REQUEST + request_length),
    slot * state.config.max_request,
  );
  const v = index * VALUES_PER_FLOW;
  const values = table.values;
  const wscale_negotiated = request[R_CLIENT_WSCALE] !== 255 && request[R_DIRECTOR_WSCALE] !== 255;
  values[v + V_STATE] = STATE_SYN_SENT;
  values[v + V_FLAGS] = (request[R_FLAGS] & (RECORD_FLAG_SACK | RECORD_FLAG_TIMESTAMPS)) |
    (wscale_negotiated ? F_WSCALE : 0);
  values[v + V_CLIENT_MAC_HI] = mac_hi(request, R_CLIENT_MAC);
  values[v + V_CLIENT_MAC_LO] = mac_lo(request, R_CLIENT_MAC);
  values[v + V_CLIENT_ISN] = read_u32(request, R_CLIENT_ISN) | 0;
  values[v + V_DIRECTOR_NEXT] = read_u32(request, R_DIRECTOR_NEXT) | 0;
  values[v + V_EPOCH] = epoch;
  values[v + V_ID] = id;
  values[v + V_CLIENT_TSVAL] = read_u32(request, R_CLIENT_TSVAL) | 0;
  // Δts is fixed when the stack's SYN/ACK shows its clock; park the director's TSval here until then
  values[v + V_TS_DELTA] = read_u32(request, R_DIRECTOR_TSVAL) | 0;
  values[v + V_CLIENT_WINDOW] = read_u16(request, R_CLIENT_WINDOW);
  values[v + V_CLIENT_MSS] = read_u16(request, R_CLIENT_MSS);
  values[v + V_CLIENT_WSCALE] = wscale_negotiated ? request[R_CLIENT_WSCALE] : 255;
  values[v + V_DIRECTOR_WSCALE] = wscale_negotiated ? request[R_DIRECTOR_WSCALE] : 0;
  values[v + V_REQUEST_SLOT] = slot;
  values[v + V_REQUEST_LENGTH] = request_length;
  values[v + V_RETRIES] = 0;
  values[v + V_DEADLINE] = now | 0; // send the SYN at the next service call
  const a = state.adopting_count++ * 3;
  state.adopting[a] = client_ip | 0;
  state.adopting[a + 1] = vip | 0;
  state.adopting[a + 2] = (client_port << 16) | vip_port;
  state.counters[C.flows] = table.count;
}

/**
 * The director gave up on this hand-off (it went to another server): the
 * stack's half of the connection is reset and the flow forgotten, so no
 * late segment from this server can reach the client.
 */
function agent_cancel(
  state: AgentState,
  index: number,
  ids: { epoch: number; id: number; emit: EmitFrame },
): void {
  if (index < 0) return;
  const values = state.table.values;
  const v = index * VALUES_PER_FLOW;
  if (values[v + V_EPOCH] !== ids.epoch || values[v + V_ID] !== ids.id) return;
  ids.emit(
    stack_frame(state, index, TCP_FLAG_RST, values[v + V_REQUEST_LENGTH]),
    state.config.server_port,
  );
  remove_flow(state, index);
  state.counters[C.cancelled]++;
}

function push_refusal(state: AgentState, request: Uint8Array, reason: number): void {
  const at = claim_event(state);
  if (at < 0) return;
  const e = state.events;
  e[at] = EVENT_REFUSED;
  e[at + 1] = reason;
  e[at + 2] = read_u32(request, R_EPOCH) | 0;
  e[at + 3] = read_u32(request, R_ID) | 0;
  e[at + 4] = read_u32(request, R_CLIENT_IP) | 0;
  e[at + 5] = read_u32(request, R_VIP) | 0;
  e[at + 6] = (read_u16(request, R_CLIENT_PORT) << 16) | read_u16(request, R_VIP_PORT);
  e[at + 7] = 0;
  e[at + 8] = 0;
}

function release_request(state: AgentState, v: number): void {
  const slot = state.table.values[v + V_REQUEST_SLOT];
  if (slot >= 0) {
    state.free_requests[state.free_request_count++] = slot;
    state.table.values[v + V_REQUEST_SLOT] = -1;
  }
}

function remove_flow(state: AgentState, index: number): void {
  const v = index * VALUES_PER_FLOW;
  const values = state.table.values;
  if (values[v + V_STATE] === STATE_SYN_SENT || values[v + V_STATE] === STATE_REQUEST_SENT) {
    release_request(state, v);
  }
  flow_remove_at(state.table, index);
  state.counters[C.flows] = state.table.count;
}

// ------------------------------------------------------------------ bursts

/**
 * Frames from the fabric (the client's side): handed-off flows are
 * translated into the stack's state; everything else for this server
 * passes untouched; unicast frames for other MACs are dropped.
 */
export function agent_fabric_burst(
  state: AgentState,
  bytes: Uint8Array,
  desc: Int32Array,
  n: number,
  now: number,
): void {
  const c = state.counters;
  const out = state.parse_out;
  const table = state.table;
  const values = table.values;
  const server_port = state.config.server_port;
  c[C.fabric_rx] += n;
  for (let i = 0; i < n; i++) {
    const d = i * DESC_WORDS;
    const o = desc[d];
    const len = desc[d + 1];
    if (len < 14) {
      desc[d + 2] = DROP;
      c[C.dropped_malformed]++;
      continue;
    }
    // a bridge floods unknown unicast: frames for other hosts are not ours
    if (
      !mac_is_multicast(bytes, o) &&
      !(mac_hi(bytes, o) === state.server_mac_hi && mac_lo(bytes, o) === state.server_mac_lo) &&
      !(mac_hi(bytes, o) === state.agent_mac_hi && mac_lo(bytes, o) === state.agent_mac_lo)
    ) {
      desc[d + 2] = DROP;
      c[C.dropped_not_ours]++;
      continue;
    }
    desc[d + 2] = server_port;
    if (
      parse_frame(bytes, o, len, out) !== PARSE_OK || out[ETHERTYPE] !== ETHERTYPE_IPV4 ||
      out[IP_PROTOCOL] !== IP_PROTOCOL_TCP
    ) {
      c[C.passed_to_server]++;
      continue;
    }
    const index = flow_lookup(table, out[SRC_IP], out[DST_IP], out[SRC_PORT], out[DST_PORT]);
    if (index < 0) {
      if (is_known_vip(state, out[DST_IP])) {
        // the stack would answer with a RST: a director forwards before the
        // adoption is confirmed, and the client retransmits what matters
        desc[d + 2] = DROP;
        c[C.dropped_unknown_vip_flow]++;
      } else {
        c[C.passed_to_server]++;
      }
      continue;
    }
    const v = index * VALUES_PER_FLOW;
    const flow_state = values[v + V_STATE];
    if (flow_state === STATE_SYN_SENT || flow_state === STATE_REQUEST_SENT) {
      // the stack is not ready for the client yet; TCP will retransmit
      desc[d + 2] = DROP;
      c[C.dropped_while_adopting]++;
      continue;
    }
    if (!translate_to_server(state, bytes, o, v)) {
      desc[d + 2] = DROP;
      c[C.dropped_malformed]++;
      continue;
    }
    values[v + V_TO_SERVER]++;
    flow_touch(table, index, now);
    track_close(state, index, out[TCP_FLAGS], true, now);
    c[C.translated_to_server]++;
  }
}

function is_known_vip(state: AgentState, ip: number): boolean {
  for (let k = 0; k < state.vip_count; k++) if (state.vips[k] === (ip | 0)) return true;
  return false;
}

function learn_vip(state: AgentState, ip: number): void {
  if (is_known_vip(state, ip) || state.vip_count >= state.vips.length) return;
  state.vips[state.vip_count++] = ip | 0;
}

/** Frames from the server's stack: handed-off flows are translated into the director's state. */
export function agent_server_burst(
  state: AgentState,
  bytes: Uint8Array,
  desc: Int32Array,
  n: number,
  now: number,
): void {
  const c = state.counters;
  const out = state.parse_out;
  const table = state.table;
  const values = table.values;
  const fabric_port = state.config.fabric_port;
  c[C.server_rx] += n;
  for (let i = 0; i < n; i++) {
    const d = i * DESC_WORDS;
    const o = desc[d];
    const len = desc[d + 1];
    desc[d + 2] = fabric_port;
    if (
      len < 14 || parse_frame(bytes, o, len, out) !== PARSE_OK ||
      out[ETHERTYPE] !== ETHERTYPE_IPV4 || out[IP_PROTOCOL] !== IP_PROTOCOL_TCP
    ) {
      c[C.passed_to_fabric]++;
      continue;
    }
    // the stack answers client ← VIP: the flow key is (dst, src)
    const index = flow_lookup(table, out[DST_IP], out[SRC_IP], out[DST_PORT], out[SRC_PORT]);
    if (index < 0) {
      c[C.passed_to_fabric]++;
      continue;
    }
    const v = index * VALUES_PER_FLOW;
    const flags = out[TCP_FLAGS];
    const flow_state = values[v + V_STATE];
    if (flow_state === STATE_SYN_SENT) {
      desc[d + 2] = DROP; // the client never sees the stack's handshake
      consume_syn_ack(state, bytes, index, flags, now);
      continue;
    }
    if (flow_state === STATE_REQUEST_SENT) {
      if (!stack_acknowledged(state, bytes, index, flags, now)) {
        desc[d + 2] = DROP;
        continue;
      }
      // the stack took the request: from here this segment is an ordinary one
      if (out[PAYLOAD_LENGTH] === 0 && (flags & (TCP_FLAG_FIN | TCP_FLAG_RST)) === 0) {
        desc[d + 2] = DROP;
        c[C.stack_ack_consumed]++;
        continue;
      }
    }
    if (!translate_to_client(state, bytes, o, v)) {
      desc[d + 2] = DROP;
      c[C.dropped_malformed]++;
      continue;
    }
    values[v + V_TO_CLIENT]++;
    flow_touch(table, index, now);
    track_close(state, index, flags, false, now);
    c[C.translated_to_client]++;
  }
}

/** client → server, in place. False if the TCP options are malformed. */
function translate_to_server(state: AgentState, bytes: Uint8Array, o: number, v: number): boolean {
  const out = state.parse_out;
  const values = state.table.values;
  const tcp = out[L4_OFFSET];
  const isn_delta = values[v + V_ISN_DELTA];
  if (out[TCP_OPTIONS_LENGTH] > 0) {
    const opts = state.options_out;
    if (
      parse_tcp_options(bytes, out[TCP_OPTIONS_OFFSET], out[TCP_OPTIONS_LENGTH], opts) !==
        OPTIONS_OK
    ) return false;
    if (opts[OPT_SACK_OFFSET] >= 0) {
      rewrite_sack_blocks(bytes, tcp, opts[OPT_SACK_OFFSET], opts[OPT_SACK_BLOCKS], isn_delta);
    }
    if (opts[OPT_TIMESTAMP_OFFSET] >= 0) {
      rewrite_timestamp(bytes, tcp, opts[OPT_TIMESTAMP_OFFSET], 0, -values[v + V_TS_DELTA]);
    }
  }
  if ((out[TCP_FLAGS] & TCP_FLAG_ACK) !== 0) {
    const ack = read_u32(bytes, tcp + 8);
    const new_ack = (ack + isn_delta) >>> 0;
    write_u32(bytes, tcp + 8, new_ack);
    checksum_update32(bytes, tcp + 16, ack, new_ack);
  }
  write_mac_words(bytes, o, state.server_mac_hi, state.server_mac_lo);
  return true;
}

/** server → client, in place. False if the TCP options are malformed. */
function translate_to_client(state: AgentState, bytes: Uint8Array, o: number, v: number): boolean {
  const out = state.parse_out;
  const values = state.table.values;
  const tcp = out[L4_OFFSET];
  if (out[TCP_OPTIONS_LENGTH] > 0) {
    const opts = state.options_out;
    if (
      parse_tcp_options(bytes, out[TCP_OPTIONS_OFFSET], out[TCP_OPTIONS_LENGTH], opts) !==
        OPTIONS_OK
    ) return false;
    if (opts[OPT_TIMESTAMP_OFFSET] >= 0) {
      rewrite_timestamp(bytes, tcp, opts[OPT_TIMESTAMP_OFFSET], values[v + V_TS_DELTA], 0);
    }
  }
  const seq = read_u32(bytes, tcp + 4);
  const new_seq = (seq - values[v + V_ISN_DELTA]) >>> 0;
  write_u32(bytes, tcp + 4, new_seq);
  checksum_update32(bytes, tcp + 16, seq, new_seq);
  const server_wscale = values[v + V_SERVER_WSCALE];
  const director_wscale = values[v + V_DIRECTOR_WSCALE];
  if (server_wscale !== director_wscale) {
    // the client reads the window with the director's scale
    const window = read_u16(bytes, tcp + 14);
    const bytes_open = window * (1 << server_wscale);
    const scaled = Math.min(0xffff, Math.floor(bytes_open / (1 << director_wscale)));
    write_u16(bytes, tcp + 14, scaled);
    checksum_update16(bytes, tcp + 16, window, scaled);
  }
  write_mac_words(bytes, o, values[v + V_CLIENT_MAC_HI], values[v + V_CLIENT_MAC_LO]);
  return true;
}

/** FIN and RST in either direction: a flow closes, lingers, then ends. */
function track_close(
  state: AgentState,
  index: number,
  flags: number,
  from_client: boolean,
  now: number,
): void {
  if ((flags & (TCP_FLAG_FIN | TCP_FLAG_RST)) === 0) return;
  const values = state.table.values;
  const v = index * VALUES_PER_FLOW;
  if ((flags & TCP_FLAG_RST) !== 0) {
    if (values[v + V_STATE] !== STATE_CLOSING) {
      values[v + V_END_REASON] = from_client ? FLOW_END_CLIENT_RESET : FLOW_END_SERVER_RESET;
    }
  } else {
    values[v + V_FLAGS] |= from_client ? F_FIN_FROM_CLIENT : F_FIN_FROM_SERVER;
    const both = F_FIN_FROM_CLIENT | F_FIN_FROM_SERVER;
    if ((values[v + V_FLAGS] & both) !== both) return;
    if (values[v + V_STATE] !== STATE_CLOSING) values[v + V_END_REASON] = FLOW_END_FIN;
  }
  if (values[v + V_STATE] !== STATE_CLOSING) {
    values[v + V_STATE] = STATE_CLOSING;
    values[v + V_DEADLINE] = (now + state.config.linger_ms) | 0;
  }
}

/** The stack's answer to our SYN: learn ISN_s, its options and clock. */
function consume_syn_ack(
  state: AgentState,
  bytes: Uint8Array,
  index: number,
  flags: number,
  now: number,
): void {
  const c = state.counters;
  const out = state.parse_out;
  const values = state.table.values;
  const v = index * VALUES_PER_FLOW;
  const tcp = out[L4_OFFSET];
  if ((flags & TCP_FLAG_RST) !== 0) {
    c[C.refused_stack_reset]++;
    push_event(state, EVENT_REFUSED, NACK_STACK_RESET, index);
    remove_flow(state, index);
    return;
  }
  const expected_ack = (values[v + V_CLIENT_ISN] + 1) >>> 0;
  if (
    (flags & (TCP_FLAG_SYN | TCP_FLAG_ACK)) !== (TCP_FLAG_SYN | TCP_FLAG_ACK) ||
    read_u32(bytes, tcp + 8) !== expected_ack
  ) {
    return; // not the answer to our SYN (a stale segment): ignore it
  }
  c[C.synack_consumed]++;
  const server_isn = read_u32(bytes, tcp + 4);
  let server_wscale = 0;
  let server_mss = 536;
  let server_tsval = 0;
  const opts = state.options_out;
  if (
    out[TCP_OPTIONS_LENGTH] > 0 &&
    parse_tcp_options(bytes, out[TCP_OPTIONS_OFFSET], out[TCP_OPTIONS_LENGTH], opts) === OPTIONS_OK
  ) {
    if (opts[OPT_WSCALE] >= 0) server_wscale = Math.min(14, opts[OPT_WSCALE]);
    if (opts[OPT_MSS] > 0) server_mss = opts[OPT_MSS];
    if (opts[OPT_TIMESTAMP_OFFSET] >= 0) {
      server_tsval = read_u32(bytes, opts[OPT_TIMESTAMP_OFFSET] + 2);
    }
  }
  const director_tsval = values[v + V_TS_DELTA] >>> 0;
  values[v + V_SERVER_ISN] = server_isn | 0;
  values[v + V_ISN_DELTA] = ((server_isn + 1) - values[v + V_DIRECTOR_NEXT]) | 0;
  values[v + V_TS_DELTA] = (director_tsval - server_tsval) | 0;
  values[v + V_SERVER_TSVAL] = server_tsval | 0;
  values[v + V_SERVER_WSCALE] = (values[v + V_FLAGS] & F_WSCALE) !== 0 ? server_wscale : 0;
  values[v + V_SERVER_MSS] = server_mss;
  values[v + V_STATE] = STATE_REQUEST_SENT;
  values[v + V_RETRIES] = 0;
  values[v + V_DEADLINE] = now | 0; // deliver the request at the next service call
}

/** During REQUEST_SENT: true once the stack has acknowledged the whole request. */
function stack_acknowledged(
  state: AgentState,
  bytes: Uint8Array,
  index: number,
  flags: number,
  now: number,
): boolean {
  const c = state.counters;
  const values = state.table.values;
  const v = index * VALUES_PER_FLOW;
  const tcp = state.parse_out[L4_OFFSET];
  if ((flags & TCP_FLAG_RST) !== 0) {
    c[C.refused_stack_reset]++;
    push_event(state, EVENT_REFUSED, NACK_STACK_RESET, index);
    remove_flow(state, index);
    return false;
  }
  if ((flags & TCP_FLAG_SYN) !== 0) {
    values[v + V_DEADLINE] = now | 0; // our ACK got lost: send ACK + request again
    return false;
  }
  if ((flags & TCP_FLAG_ACK) === 0) return false;
  const request_end = (values[v + V_CLIENT_ISN] + 1 + values[v + V_REQUEST_LENGTH]) | 0;
  if (((read_u32(bytes, tcp + 8) | 0) - request_end | 0) < 0) return false;
  release_request(state, v);
  values[v + V_STATE] = STATE_ESTABLISHED;
  c[C.adopted]++;
  push_event(state, EVENT_ADOPTED, 0, index);
  return true;
}

// ----------------------------------------------------------------- service

/** Builds and sends a frame the agent makes (slow path). */
export type EmitFrame = (frame: Uint8Array, port: number) => void;

/**
 * Timers and frames the agent makes: SYNs and requests (and their
 * retransmissions), adoption time-outs, the end of lingering and idle
 * flows. Called after each round of bursts; does bounded work.
 */
export function agent_service(state: AgentState, now: number, emit: EmitFrame): void {
  const now_ms = now | 0;
  // adoptions: few at a time, each checked every call
  for (let a = 0; a < state.adopting_count;) {
    const base = a * 3;
    const ports = state.adopting[base + 2];
    const index = flow_lookup(
      state.table,
      state.adopting[base],
      state.adopting[base + 1],
      ports >>> 16,
      ports & 0xffff,
    );
    const v = index * VALUES_PER_FLOW;
    const flow_state = index >= 0 ? state.table.values[v + V_STATE] : 0;
    if (flow_state !== STATE_SYN_SENT && flow_state !== STATE_REQUEST_SENT) {
      // adopted or gone: drop it from the list (swap with the last)
      const last = --state.adopting_count * 3;
      state.adopting[base] = state.adopting[last];
      state.adopting[base + 1] = state.adopting[last + 1];
      state.adopting[base + 2] = state.adopting[last + 2];
      continue;
    }
    if (deadline_passed(state.table.values[v + V_DEADLINE], now_ms)) {
      adoption_timer(state, index, now, emit);
    }
    a++;
  }
  sweep_closed_and_idle(state, now, 64);
}

function adoption_timer(state: AgentState, index: number, now: number, emit: EmitFrame): void {
  const c = state.counters;
  const values = state.table.values;
  const v = index * VALUES_PER_FLOW;
  const retries = values[v + V_RETRIES];
  const rto = state.config.rto_ms * (1 << Math.min(retries, 10));
  const given_up = retries > 0 &&
    state.config.rto_ms * ((1 << Math.min(retries, 10)) - 1) >= state.config.adopt_timeout_ms;
  if (given_up) {
    c[C.refused_stack_timeout]++;
    if (values[v + V_STATE] === STATE_REQUEST_SENT) {
      emit(stack_frame(state, index, TCP_FLAG_RST, 0), state.config.server_port);
    }
    push_event(state, EVENT_REFUSED, NACK_STACK_TIMEOUT, index);
    remove_flow(state, index);
    return;
  }
  if (values[v + V_STATE] === STATE_SYN_SENT) {
    c[retries === 0 ? C.syn_sent : C.syn_retransmits]++;
    emit(stack_frame(state, index, TCP_FLAG_SYN, 0), state.config.server_port);
  } else {
    c[retries === 0 ? C.request_sent : C.request_retransmits]++;
    send_request(state, index, emit);
    if (values[v + V_REQUEST_LENGTH] === 0) {
      // nothing to deliver (an L4 hand-off): the handshake ACK completes the adoption
      release_request(state, v);
      values[v + V_STATE] = STATE_ESTABLISHED;
      c[C.adopted]++;
      push_event(state, EVENT_ADOPTED, 0, index);
      return;
    }
  }
  values[v + V_RETRIES] = retries + 1;
  values[v + V_DEADLINE] = (now + rto) | 0;
}

function send_request(state: AgentState, index: number, emit: EmitFrame): void {
  const values = state.table.values;
  const v = index * VALUES_PER_FLOW;
  const length = values[v + V_REQUEST_LENGTH];
  const segment = Math.max(
    64,
    Math.min(values[v + V_SERVER_MSS], values[v + V_CLIENT_MSS] || 1460, 1460),
  );
  if (length === 0) {
    emit(stack_frame(state, index, TCP_FLAG_ACK, 0), state.config.server_port);
    return;
  }
  const base = values[v + V_REQUEST_SLOT] * state.config.max_request;
  for (let sent = 0; sent < length; sent += segment) {
    const end = Math.min(length, sent + segment);
    const payload = state.requests.subarray(base + sent, base + end);
    emit(
      stack_frame(state, index, TCP_FLAG_ACK | TCP_FLAG_PSH, sent, payload),
      state.config.server_port,
    );
  }
}

/** A segment from "the client" to the stack: SYN, ACK + request bytes, or RST. */
function stack_frame(
  state: AgentState,
  index: number,
  flags: number,
  request_offset: number,
  payload?: Uint8Array,
): Uint8Array {
  const table = state.table;
  const values = table.values;
  const v = index * VALUES_PER_FLOW;
  flow_key(table, index, state.key_scratch);
  const [client_ip, vip, client_port, vip_port] = state.key_scratch;
  const client_isn = values[v + V_CLIENT_ISN] >>> 0;
  const flow_flags = values[v + V_FLAGS];
  const options: TcpOption[] = [];
  const syn = (flags & TCP_FLAG_SYN) !== 0;
  if (syn) {
    // the stack gets exactly what the client negotiated with the director
    options.push({ kind: "mss", value: values[v + V_CLIENT_MSS] || 536 });
    if ((flow_flags & F_SACK) !== 0) options.push({ kind: "sack_permitted" });
    if ((flow_flags & F_WSCALE) !== 0) {
      options.push({ kind: "nop" }, { kind: "wscale", shift: values[v + V_CLIENT_WSCALE] });
    }
  }
  if ((flow_flags & F_TIMESTAMPS) !== 0 && (flags & TCP_FLAG_RST) === 0) {
    options.push({ kind: "nop" }, { kind: "nop" }, {
      kind: "timestamp",
      tsval: values[v + V_CLIENT_TSVAL] >>> 0,
      tsecr: syn ? 0 : values[v + V_SERVER_TSVAL] >>> 0,
    });
  }
  const client_mac = new Uint8Array(6);
  write_mac_words(client_mac, 0, values[v + V_CLIENT_MAC_HI], values[v + V_CLIENT_MAC_LO]);
  return build_tcp({
    src_mac: bytes_to_mac(client_mac),
    dst_mac: bytes_to_mac(state.config.server_mac),
    src_ip: u32_to_ip(client_ip),
    dst_ip: u32_to_ip(vip),
    src_port: client_port,
    dst_port: vip_port,
    seq: syn ? client_isn : (client_isn + 1 + request_offset) >>> 0,
    ack: syn ? 0 : (values[v + V_SERVER_ISN] + 1) >>> 0,
    flags,
    window: Math.min(0xffff, values[v + V_CLIENT_WINDOW]),
    options,
    payload,
  });
}

/** Ends flows whose linger is over and flows silent past the idle timeout. */
function sweep_closed_and_idle(state: AgentState, now: number, max_scan: number): void {
  const table = state.table;
  const values = table.values;
  const now_ms = now | 0;
  const mask = table.mask;
  let i = table.sweep_cursor;
  for (let scanned = 0; scanned < max_scan; scanned++) {
    if (table.used[i] === 1) {
      const v = i * VALUES_PER_FLOW;
      const s = values[v + V_STATE];
      let reason = 0;
      if (s === STATE_CLOSING && deadline_passed(values[v + V_DEADLINE], now_ms)) {
        reason = values[v + V_END_REASON];
      } else if (
        s === STATE_ESTABLISHED && now - table.last_seen[i] > state.config.idle_timeout_ms
      ) {
        reason = FLOW_END_IDLE_TIMEOUT;
      }
      if (reason !== 0) {
        count_end(state, reason);
        push_event(state, EVENT_FLOW_END, reason, i);
        remove_flow(state, i);
        continue; // a later flow may have shifted into slot i
      }
    }
    i = (i + 1) & mask;
  }
  table.sweep_cursor = i;
}

function count_end(state: AgentState, reason: number): void {
  const c = state.counters;
  if (reason === FLOW_END_FIN) c[C.ended_fin]++;
  else if (reason === FLOW_END_CLIENT_RESET) c[C.ended_client_reset]++;
  else if (reason === FLOW_END_SERVER_RESET) c[C.ended_server_reset]++;
  else c[C.ended_idle]++;
}

/** Counters as a name → value record (for stats, metrics, tests). */
export function agent_counters(state: AgentState): Record<AgentCounterName, number> {
  return Object.fromEntries(
    AGENT_COUNTER_NAMES.map((name, i) => [name, state.counters[i]]),
  ) as Record<
    AgentCounterName,
    number
  >;
}

// ------------------------------------------------------- restoring a flow

/** An ESTABLISHED flow's whole translation state, as adoption leaves it. */
export interface EstablishedFlow {
  client_ip: number;
  vip: number;
  client_port: number;
  vip_port: number;
  client_mac: Uint8Array;
  client_isn: number;
  server_isn: number;
  director_next_seq: number;
  /** director clock − stack clock. */
  ts_delta: number;
  /** 0 when window scaling was not negotiated. */
  server_wscale: number;
  director_wscale: number;
  sack_permitted: boolean;
  timestamps: boolean;
}

/**
 * Puts an ESTABLISHED flow into the table without an adoption: for
 * restoring state, packet fixtures and benchmarks. Returns its index, or -1
 * when the table is full.
 */
export function agent_install_flow(state: AgentState, flow: EstablishedFlow, now: number): number {
  const table = state.table;
  const index = flow_insert(table, flow.client_ip, flow.vip, flow.client_port, flow.vip_port, now);
  if (index < 0) return -1;
  const v = index * VALUES_PER_FLOW;
  const values = table.values;
  values[v + V_STATE] = STATE_ESTABLISHED;
  values[v + V_FLAGS] = (flow.sack_permitted ? F_SACK : 0) | (flow.timestamps ? F_TIMESTAMPS : 0);
  values[v + V_CLIENT_MAC_HI] = mac_hi(flow.client_mac, 0);
  values[v + V_CLIENT_MAC_LO] = mac_lo(flow.client_mac, 0);
  values[v + V_CLIENT_ISN] = flow.client_isn | 0;
  values[v + V_SERVER_ISN] = flow.server_isn | 0;
  values[v + V_DIRECTOR_NEXT] = flow.director_next_seq | 0;
  values[v + V_ISN_DELTA] = ((flow.server_isn + 1) - flow.director_next_seq) | 0;
  values[v + V_TS_DELTA] = flow.ts_delta | 0;
  values[v + V_SERVER_WSCALE] = flow.server_wscale;
  values[v + V_DIRECTOR_WSCALE] = flow.director_wscale;
  values[v + V_REQUEST_SLOT] = -1;
  state.counters[C.flows] = table.count;
  return index;
}
