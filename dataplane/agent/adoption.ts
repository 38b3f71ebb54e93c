// Adoption: taking a handed-off connection into the server's own stack.
// A hand-off makes the agent send the stack a SYN as the client (client ISN
// and the options the client negotiated with the director), consume the
// stack's SYN/ACK, ACK it and deliver the request bytes until the stack
// acknowledges them; then the flow is ESTABLISHED and the director hears
// ADOPTED. A refusal (table full, bad record, stack reset, an option the
// stack declined that cannot be translated) is an event too.
//
// The stack's SYN/ACK shows which of the client's options it took. Window
// scaling and SACK it may decline: the agent translates (its windows are
// bytes, the client's are rescaled for it; the client's SACK blocks are
// stripped). Timestamps it may not: the hand-off is refused.
//
// agent_adopt runs once per hand-off, from the fabric burst (handoff_in.ts)
// in the pass that verified the datagram; it allocates nothing and never
// throws, nor do consume_syn_ack and stack_acknowledged, which run inside
// agent_server_burst. The frames adoption sends the stack are written in
// place by segments.ts (the SYN and the request from the service call's
// timers, a cancel's RST at once). agent_install_flow skips adoption
// (restored state, fixtures, benchmarks).

import {
  FA_SRC_IP,
  FA_SRC_MAC_HI,
  FA_SRC_MAC_LO,
  FA_SRC_PORT,
  NACK_BAD_REQUEST,
  NACK_STACK_OPTIONS,
  NACK_STACK_RESET,
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
  R_TS_ROUTE,
  R_VIP,
  R_VIP_PORT,
  RECORD_FLAG_SACK,
  RECORD_FLAG_TIMESTAMPS,
  RECORD_FLAG_TS_ROUTE,
} from "../wire/mod.ts";
import { TS_ROUTE_HEADROOM } from "../ts_route.ts";
import { flow_insert, flow_lookup } from "../flow_table.ts";
import {
  L4_OFFSET,
  mac_hi,
  mac_lo,
  read_u16,
  read_u32,
  TCP_FLAG_ACK,
  TCP_FLAG_RST,
  TCP_FLAG_SYN,
  TCP_OPTIONS_LENGTH,
  TCP_OPTIONS_OFFSET,
} from "../packet.ts";
import {
  OPT_MSS,
  OPT_SACK_PERMITTED_OFFSET,
  OPT_TIMESTAMP_OFFSET,
  OPT_WSCALE,
  OPTIONS_OK,
  parse_tcp_options,
} from "../tcp_options.ts";
import {
  type AgentState,
  C,
  F_SACK,
  F_STACK_NO_SACK,
  F_STACK_UNSCALED,
  F_TIMESTAMPS,
  F_WSCALE,
  learn_vip,
  release_request,
  remove_flow,
  STATE_CLOSING,
  STATE_ESTABLISHED,
  STATE_REFUSING,
  STATE_REQUEST_SENT,
  STATE_SYN_SENT,
  TS_ROUTED,
  V_CLIENT_ISN,
  V_CLIENT_MAC_HI,
  V_CLIENT_MAC_LO,
  V_CLIENT_MSS,
  V_CLIENT_TSVAL,
  V_CLIENT_WINDOW,
  V_CLIENT_WSCALE,
  V_DEADLINE,
  V_DIRECTOR_IP,
  V_DIRECTOR_MAC_HI,
  V_DIRECTOR_MAC_LO,
  V_DIRECTOR_NEXT,
  V_DIRECTOR_PORT,
  V_DIRECTOR_WSCALE,
  V_END_REASON,
  V_EPOCH,
  V_FLAGS,
  V_ID,
  V_ISN_DELTA,
  V_REQUEST_LENGTH,
  V_REQUEST_SLOT,
  V_RETRIES,
  V_SERVER_ISN,
  V_SERVER_MSS,
  V_SERVER_TSVAL,
  V_SERVER_WSCALE,
  V_STACK_ACK,
  V_STACK_NEXT,
  V_STACK_WINDOW,
  V_STATE,
  V_TS_DELTA,
  V_TS_ROUTE,
  VALUES_PER_FLOW,
} from "./state.ts";
import { answer_adopted, answer_refused, refuse_record, take_director } from "./answers.ts";
import { send_stack_reset } from "./segments.ts";
import { note_stack_ack } from "./translate.ts";

/**
 * Starts adopting a handed-off connection: `record` holds its adoption
 * record (length bytes, wire/handoff_record.ts), state.sender where its
 * HANDOFF came from. Once per hand-off, in the fabric burst.
 */
export function agent_adopt(
  state: AgentState,
  record: Uint8Array,
  length: number,
  now: number,
): void {
  state.now = now;
  const c = state.counters;
  const table = state.table;
  c[C.handoffs_received]++;
  if (length < R_REQUEST) {
    c[C.refused_bad_request]++;
    return;
  }
  const client_ip = read_u32(record, R_CLIENT_IP);
  const vip = read_u32(record, R_VIP);
  const client_port = read_u16(record, R_CLIENT_PORT);
  const vip_port = read_u16(record, R_VIP_PORT);
  const epoch = read_u32(record, R_EPOCH) | 0;
  const id = read_u32(record, R_ID) | 0;
  const request_length = read_u16(record, R_REQUEST_LENGTH);
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
        answer_adopted(state, index);
      }
      return;
    }
    if (
      table.values[v + V_CLIENT_ISN] === (read_u32(record, R_CLIENT_ISN) | 0) &&
      table.values[v + V_DIRECTOR_NEXT] === (read_u32(record, R_DIRECTOR_NEXT) | 0)
    ) {
      // The same connection, handed off again by another director: the one
      // that handed it off died before the client heard, and the client's
      // request reached another, which read it again. It stays here; the
      // new director hears so and carries it from now on.
      if (state_now === STATE_ESTABLISHED || state_now === STATE_CLOSING) {
        c[C.handoffs_taken_over]++;
        take_director(state, index, epoch, id);
        answer_adopted(state, index);
      } else {
        c[C.handoffs_duplicate]++; // still adopting: the new director's resend is answered
      }
      return;
    }
    if (state_now !== STATE_CLOSING) {
      // the 4-tuple is live under another hand-off: refuse rather than hijack it
      c[C.refused_bad_request]++;
      refuse_record(state, record, NACK_BAD_REQUEST);
      return;
    }
    // the port was reused after the old flow closed: the new hand-off wins
    remove_flow(state, index);
  }
  if (length !== R_REQUEST + request_length || request_length > state.config.max_request) {
    c[C.refused_bad_request]++;
    refuse_record(state, record, NACK_BAD_REQUEST);
    return;
  }
  if (state.adopting_count >= state.config.max_adopting || state.free_request_count === 0) {
    c[C.refused_table_full]++;
    refuse_record(state, record, NACK_TABLE_FULL);
    return;
  }
  index = flow_insert(table, client_ip, vip, client_port, vip_port, now);
  if (index < 0) {
    c[C.refused_table_full]++;
    refuse_record(state, record, NACK_TABLE_FULL);
    return;
  }
  const slot = state.free_requests[--state.free_request_count];
  const requests = state.requests;
  const base = slot * state.config.max_request;
  for (let k = 0; k < request_length; k++) requests[base + k] = record[R_REQUEST + k];
  const v = index * VALUES_PER_FLOW;
  const values = table.values;
  const wscale_negotiated = record[R_CLIENT_WSCALE] !== 255 && record[R_DIRECTOR_WSCALE] !== 255;
  values[v + V_STATE] = STATE_SYN_SENT;
  values[v + V_FLAGS] = (record[R_FLAGS] & (RECORD_FLAG_SACK | RECORD_FLAG_TIMESTAMPS)) |
    (wscale_negotiated ? F_WSCALE : 0);
  values[v + V_CLIENT_MAC_HI] = mac_hi(record, R_CLIENT_MAC);
  values[v + V_CLIENT_MAC_LO] = mac_lo(record, R_CLIENT_MAC);
  values[v + V_CLIENT_ISN] = read_u32(record, R_CLIENT_ISN) | 0;
  values[v + V_DIRECTOR_NEXT] = read_u32(record, R_DIRECTOR_NEXT) | 0;
  // what the stack will expect first, and where its first byte lands for the client
  values[v + V_STACK_ACK] = (read_u32(record, R_CLIENT_ISN) + 1) | 0;
  values[v + V_STACK_NEXT] = values[v + V_DIRECTOR_NEXT];
  values[v + V_EPOCH] = epoch;
  values[v + V_ID] = id;
  values[v + V_CLIENT_TSVAL] = read_u32(record, R_CLIENT_TSVAL) | 0;
  values[v + V_TS_ROUTE] = (record[R_FLAGS] & RECORD_FLAG_TS_ROUTE) !== 0 &&
      (record[R_FLAGS] & RECORD_FLAG_TIMESTAMPS) !== 0
    ? TS_ROUTED | record[R_TS_ROUTE]
    : 0;
  // Δts is fixed when the stack's SYN/ACK shows its clock; park the director's TSval here until then
  values[v + V_TS_DELTA] = read_u32(record, R_DIRECTOR_TSVAL) | 0;
  values[v + V_CLIENT_WINDOW] = read_u16(record, R_CLIENT_WINDOW);
  values[v + V_CLIENT_MSS] = read_u16(record, R_CLIENT_MSS);
  values[v + V_CLIENT_WSCALE] = wscale_negotiated ? record[R_CLIENT_WSCALE] : 255;
  values[v + V_DIRECTOR_WSCALE] = wscale_negotiated ? record[R_DIRECTOR_WSCALE] : 0;
  values[v + V_REQUEST_SLOT] = slot;
  values[v + V_REQUEST_LENGTH] = request_length;
  values[v + V_RETRIES] = 0;
  values[v + V_DEADLINE] = now | 0; // send the SYN at the next service call
  // its answers go back where the HANDOFF came from
  const from = state.sender;
  values[v + V_DIRECTOR_IP] = from[FA_SRC_IP];
  values[v + V_DIRECTOR_PORT] = from[FA_SRC_PORT];
  values[v + V_DIRECTOR_MAC_HI] = from[FA_SRC_MAC_HI];
  values[v + V_DIRECTOR_MAC_LO] = from[FA_SRC_MAC_LO];
  const a = state.adopting_count++ * 3;
  state.adopting[a] = client_ip | 0;
  state.adopting[a + 1] = vip | 0;
  state.adopting[a + 2] = (client_port << 16) | vip_port;
  state.counters[C.flows] = table.count;
}

/**
 * The director gave up on hand-off (epoch, id) of the flow at `index` (-1:
 * none here): it went to another server. The stack's half of the
 * connection is reset and the flow forgotten, so no late segment from this
 * server can reach the client; a flow of another hand-off is left alone.
 */
export function agent_cancel(
  state: AgentState,
  index: number,
  epoch: number,
  id: number,
): void {
  if (index < 0) return;
  const values = state.table.values;
  const v = index * VALUES_PER_FLOW;
  if (values[v + V_EPOCH] !== (epoch | 0) || values[v + V_ID] !== (id | 0)) return;
  // The client is not told: the director cancels because the connection
  // lives on with another server (or the director answers it itself).
  send_stack_reset(state, index);
  state.counters[C.resets_to_stack]++;
  remove_flow(state, index);
  state.counters[C.cancelled]++;
}

// ------------------------------------------------- the stack's answers

/** The stack's answer to our SYN: learn ISN_s, its options and clock. */
export function consume_syn_ack(
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
    answer_refused(state, index, NACK_STACK_RESET);
    remove_flow(state, index);
    return;
  }
  const expected_ack = (values[v + V_CLIENT_ISN] + 1) >>> 0;
  if (
    (flags & (TCP_FLAG_SYN | TCP_FLAG_ACK)) !== (TCP_FLAG_SYN | TCP_FLAG_ACK) ||
    read_u32(bytes, tcp + 8) !== expected_ack
  ) {
    c[C.dropped_while_adopting]++; // not the answer to our SYN (a stale segment)
    return;
  }
  const opts = state.options_out;
  if (
    parse_tcp_options(bytes, out[TCP_OPTIONS_OFFSET], out[TCP_OPTIONS_LENGTH], opts) !== OPTIONS_OK
  ) {
    // options we cannot read cannot show what the stack took: wait for its
    // retransmission (the adoption timer bounds the wait)
    c[C.dropped_malformed]++;
    return;
  }
  c[C.synack_consumed]++;
  const server_isn = read_u32(bytes, tcp + 4);
  let flow_flags = values[v + V_FLAGS];
  values[v + V_SERVER_ISN] = server_isn | 0;
  // a SYN's window is never scaled (RFC 7323 section 2.2)
  values[v + V_STACK_ACK] = expected_ack | 0;
  values[v + V_STACK_WINDOW] = read_u16(bytes, tcp + 14);
  const timestamps = (flow_flags & F_TIMESTAMPS) !== 0;
  if (timestamps && opts[OPT_TIMESTAMP_OFFSET] < 0) {
    // The client negotiated timestamps with the director, so it expects a
    // TSopt on every segment and may drop those without one (RFC 7323
    // section 3.2); its PAWS and RTT measurement depend on them. The stack
    // will send none, and the agent cannot add one: 12 more bytes would push
    // the stack's full-sized segments past the MSS and the path MTU, and
    // every payload would have to move. So refuse: the stack's half is
    // reset at the next service call and the director hears NACK stack_options.
    c[C.refused_stack_options]++;
    release_request(state, v);
    values[v + V_STATE] = STATE_REFUSING;
    values[v + V_END_REASON] = NACK_STACK_OPTIONS;
    values[v + V_DEADLINE] = now | 0;
    return;
  }
  let server_wscale = 0;
  if ((flow_flags & F_WSCALE) !== 0) {
    // RFC 7323 section 2.2: scaling is in effect only if both SYNs carried
    // wscale; a stack that did not send one reads and writes windows in bytes
    if (opts[OPT_WSCALE] >= 0) server_wscale = Math.min(14, opts[OPT_WSCALE]);
    else flow_flags |= F_STACK_UNSCALED;
  }
  if ((flow_flags & F_SACK) !== 0 && opts[OPT_SACK_PERMITTED_OFFSET] < 0) {
    flow_flags |= F_STACK_NO_SACK;
  }
  const server_tsval = timestamps ? read_u32(bytes, opts[OPT_TIMESTAMP_OFFSET] + 2) : 0;
  const director_tsval = values[v + V_TS_DELTA] >>> 0;
  values[v + V_FLAGS] = flow_flags;
  values[v + V_ISN_DELTA] = ((server_isn + 1) - values[v + V_DIRECTOR_NEXT]) | 0;
  // a routed TSval loses its low bits: the headroom keeps the first one above the director's
  const headroom = values[v + V_TS_ROUTE] !== 0 ? TS_ROUTE_HEADROOM : 0;
  values[v + V_TS_DELTA] = timestamps ? (director_tsval - server_tsval + headroom) | 0 : 0;
  values[v + V_SERVER_TSVAL] = server_tsval | 0;
  values[v + V_SERVER_WSCALE] = server_wscale;
  values[v + V_SERVER_MSS] = opts[OPT_MSS] > 0 ? opts[OPT_MSS] : 536;
  values[v + V_STATE] = STATE_REQUEST_SENT;
  values[v + V_RETRIES] = 0;
  values[v + V_DEADLINE] = now | 0; // deliver the request at the next service call
}

/** During REQUEST_SENT: true once the stack has acknowledged the whole request. */
export function stack_acknowledged(
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
    answer_refused(state, index, NACK_STACK_RESET);
    remove_flow(state, index);
    return false;
  }
  if ((flags & TCP_FLAG_SYN) !== 0) {
    values[v + V_DEADLINE] = now | 0; // our ACK got lost: send ACK + request again
    c[C.dropped_while_adopting]++;
    return false;
  }
  if ((flags & TCP_FLAG_ACK) === 0) {
    c[C.dropped_while_adopting]++;
    return false;
  }
  note_stack_ack(state, bytes, v, flags);
  const request_end = (values[v + V_CLIENT_ISN] + 1 + values[v + V_REQUEST_LENGTH]) | 0;
  if (((read_u32(bytes, tcp + 8) | 0) - request_end | 0) < 0) {
    c[C.dropped_while_adopting]++; // part of the request: the rest is still owed
    return false;
  }
  release_request(state, v);
  values[v + V_STATE] = STATE_ESTABLISHED;
  c[C.adopted]++;
  answer_adopted(state, index);
  return true;
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
  /** The TSval routing code (ts_route.ts); none: TSvals keep their low bits. */
  ts_route?: number;
  /** 0 when window scaling was not negotiated. */
  server_wscale: number;
  director_wscale: number;
  sack_permitted: boolean;
  timestamps: boolean;
  /** The stack's last ACK (client space); default client_isn + 1. */
  stack_ack?: number;
  /** The window (bytes) the stack announced with it; default 65535 << server_wscale. */
  stack_window?: number;
  /** The end of what the stack sent, in the director's space; default director_next_seq. */
  stack_next?: number;
  /** The hand-off it came from (its FLOW_END names it); default 0, 0. */
  epoch?: number;
  id?: number;
  /** Where its FLOW_END goes; none: nowhere (counted as answers_without_director). */
  director?: { mac: Uint8Array; ip: number; port: number };
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
  values[v + V_TS_ROUTE] = flow.ts_route === undefined ? 0 : TS_ROUTED | (flow.ts_route & 0xff);
  values[v + V_SERVER_WSCALE] = flow.server_wscale;
  values[v + V_DIRECTOR_WSCALE] = flow.director_wscale;
  values[v + V_STACK_ACK] = (flow.stack_ack ?? flow.client_isn + 1) | 0;
  values[v + V_STACK_WINDOW] = flow.stack_window ?? 0xffff << flow.server_wscale;
  values[v + V_STACK_NEXT] = (flow.stack_next ?? flow.director_next_seq) | 0;
  values[v + V_REQUEST_SLOT] = -1;
  values[v + V_EPOCH] = (flow.epoch ?? 0) | 0;
  values[v + V_ID] = (flow.id ?? 0) | 0;
  if (flow.director) {
    values[v + V_DIRECTOR_IP] = flow.director.ip | 0;
    values[v + V_DIRECTOR_PORT] = flow.director.port;
    values[v + V_DIRECTOR_MAC_HI] = mac_hi(flow.director.mac, 0);
    values[v + V_DIRECTOR_MAC_LO] = mac_lo(flow.director.mac, 0);
  }
  learn_vip(state, flow.vip);
  state.counters[C.flows] = table.count;
  return index;
}
