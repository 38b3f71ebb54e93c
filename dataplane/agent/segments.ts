// The TCP segments the agent makes itself, each written in place into a
// fresh mbuf (state.io.claim) through the one TcpFrameFields scratch
// (state.frame, frame_write.ts), from the flow's words: MACs as the (hi, lo)
// words the table keeps, addresses as u32, options and checksums written by
// frame_write.ts. To the stack, as the client: the SYN with the options the
// client negotiated with the director, the ACK and the request segments
// (and their retransmissions), the RST of a refused, cancelled, timed-out
// or idle flow, and an orphan's RST and probe (orphans.ts). To the client,
// as the stack: the RST of an idle flow.
//
// Per connection: nothing here allocates or throws. A frame no mbuf is free
// for is counted (tx_no_mbuf) and not sent: the adoption timers send SYNs
// and requests again; a reset is best effort (the other end's own timers,
// or its next segment, close it as they would after a lost RST).

import { clear_tcp_options, tcp_frame_length, write_tcp_frame } from "../frame_write.ts";
import { TCP_FLAG_ACK, TCP_FLAG_PSH, TCP_FLAG_RST, TCP_FLAG_SYN } from "../packet.ts";
import {
  type AgentState,
  C,
  F_SACK,
  F_STACK_UNSCALED,
  F_TIMESTAMPS,
  F_WSCALE,
  V_CLIENT_ISN,
  V_CLIENT_MAC_HI,
  V_CLIENT_MAC_LO,
  V_CLIENT_MSS,
  V_CLIENT_TSVAL,
  V_CLIENT_WINDOW,
  V_CLIENT_WSCALE,
  V_FLAGS,
  V_REQUEST_LENGTH,
  V_REQUEST_SLOT,
  V_SERVER_ISN,
  V_SERVER_MSS,
  V_SERVER_TSVAL,
  V_STACK_ACK,
  V_STACK_NEXT,
  VALUES_PER_FLOW,
} from "./state.ts";

/** A payload of none. */
const NO_PAYLOAD = new Uint8Array(0);

/** The SYN to the stack, as the client: its ISN and the options it negotiated with the director. */
export function send_syn(state: AgentState, index: number): void {
  const values = state.table.values;
  const v = index * VALUES_PER_FLOW;
  towards_stack(state, index, TCP_FLAG_SYN, values[v + V_CLIENT_ISN] >>> 0, 0);
  const f = state.frame;
  const flow_flags = values[v + V_FLAGS];
  // the stack gets exactly what the client negotiated with the director
  f.mss = values[v + V_CLIENT_MSS] || 536;
  f.sack_permitted = (flow_flags & F_SACK) !== 0;
  f.wscale = (flow_flags & F_WSCALE) !== 0 ? values[v + V_CLIENT_WSCALE] & 0xff : -1;
  if ((flow_flags & F_TIMESTAMPS) !== 0) {
    f.timestamps = true;
    f.tsval = values[v + V_CLIENT_TSVAL] >>> 0;
    f.tsecr = 0;
  }
  f.window = client_window_for_stack(values, v, true);
  send_frame(state, state.config.server_port, NO_PAYLOAD, 0, 0);
}

/**
 * The ACK of the stack's SYN/ACK and the request after it, in segments of
 * the smaller MSS (bounded to 64..1460); a bare ACK when there is no
 * request (an L4 hand-off).
 */
export function send_request(state: AgentState, index: number): void {
  const values = state.table.values;
  const v = index * VALUES_PER_FLOW;
  const length = values[v + V_REQUEST_LENGTH];
  const segment = Math.max(
    64,
    Math.min(values[v + V_SERVER_MSS], values[v + V_CLIENT_MSS] || 1460, 1460),
  );
  if (length === 0) {
    request_segment(state, index, TCP_FLAG_ACK, 0, 0, 0);
    return;
  }
  const base = values[v + V_REQUEST_SLOT] * state.config.max_request;
  for (let sent = 0; sent < length; sent += segment) {
    const end = Math.min(length, sent + segment);
    request_segment(state, index, TCP_FLAG_ACK | TCP_FLAG_PSH, sent, base + sent, end - sent);
  }
}

/** One segment after the handshake: request bytes from state.requests at `from`. */
function request_segment(
  state: AgentState,
  index: number,
  flags: number,
  request_offset: number,
  from: number,
  length: number,
): void {
  const values = state.table.values;
  const v = index * VALUES_PER_FLOW;
  towards_stack(
    state,
    index,
    flags,
    (values[v + V_CLIENT_ISN] + 1 + request_offset) >>> 0,
    (values[v + V_SERVER_ISN] + 1) >>> 0,
  );
  const f = state.frame;
  if ((values[v + V_FLAGS] & F_TIMESTAMPS) !== 0) {
    f.timestamps = true;
    f.tsval = values[v + V_CLIENT_TSVAL] >>> 0;
    f.tsecr = values[v + V_SERVER_TSVAL] >>> 0;
  }
  f.window = client_window_for_stack(values, v, false);
  send_frame(state, state.config.server_port, state.requests, from, length);
}

/**
 * An RST to the stack, as the client, at the receive position the stack
 * announced last: the one sequence number its RFC 5961 check accepts
 * (SYN_RECV included, where it is ISN_c + 1). No ACK bit: a request socket
 * discards an RST whose ACK it does not expect.
 */
export function send_stack_reset(state: AgentState, index: number): void {
  const seq = state.table.values[index * VALUES_PER_FLOW + V_STACK_ACK] >>> 0;
  towards_stack(state, index, TCP_FLAG_RST, seq, 0);
  send_frame(state, state.config.server_port, NO_PAYLOAD, 0, 0);
}

/**
 * An RST to the client, as the stack (from the VIP, through the fabric, to
 * the client's next hop), in the director's sequence space: at the end of
 * what the stack sent, which is the client's RCV.NXT once it all arrived.
 */
export function send_client_reset(state: AgentState, index: number): void {
  const table = state.table;
  const values = table.values;
  const v = index * VALUES_PER_FLOW;
  const f = state.frame;
  // the source MAC every translated frame of the flow carries
  f.src_mac_hi = state.server_mac_hi;
  f.src_mac_lo = state.server_mac_lo;
  f.dst_mac_hi = values[v + V_CLIENT_MAC_HI];
  f.dst_mac_lo = values[v + V_CLIENT_MAC_LO];
  f.src_ip = table.dst_ip[index];
  f.dst_ip = table.src_ip[index];
  f.src_port = table.ports[index] & 0xffff;
  f.dst_port = table.ports[index] >>> 16;
  f.seq = values[v + V_STACK_NEXT] >>> 0;
  f.ack = values[v + V_STACK_ACK] >>> 0;
  f.flags = TCP_FLAG_RST | TCP_FLAG_ACK;
  f.window = 0;
  clear_tcp_options(f);
  send_frame(state, state.config.fabric_port, NO_PAYLOAD, 0, 0);
}

/**
 * A segment of no flow the agent knows, as its client (from the MAC its
 * segment came from) to the stack: an orphan's RST, and the probe the stack
 * answers with the client's RST (orphans.ts). Window 0, no options.
 */
export function send_orphan_segment(
  state: AgentState,
  client_mac_hi: number,
  client_mac_lo: number,
  client_ip: number,
  vip: number,
  ports: number,
  seq: number,
  ack: number,
  flags: number,
): void {
  const f = state.frame;
  f.src_mac_hi = client_mac_hi;
  f.src_mac_lo = client_mac_lo;
  f.dst_mac_hi = state.server_mac_hi;
  f.dst_mac_lo = state.server_mac_lo;
  f.src_ip = client_ip;
  f.dst_ip = vip;
  f.src_port = ports >>> 16;
  f.dst_port = ports & 0xffff;
  f.seq = seq;
  f.ack = ack;
  f.flags = flags;
  f.window = 0;
  clear_tcp_options(f);
  send_frame(state, state.config.server_port, NO_PAYLOAD, 0, 0);
}

/** The scratch for a segment of the flow at index from "the client" to the stack, no options yet. */
function towards_stack(
  state: AgentState,
  index: number,
  flags: number,
  seq: number,
  ack: number,
): void {
  const table = state.table;
  const values = table.values;
  const v = index * VALUES_PER_FLOW;
  const f = state.frame;
  f.src_mac_hi = values[v + V_CLIENT_MAC_HI];
  f.src_mac_lo = values[v + V_CLIENT_MAC_LO];
  f.dst_mac_hi = state.server_mac_hi;
  f.dst_mac_lo = state.server_mac_lo;
  f.src_ip = table.src_ip[index];
  f.dst_ip = table.dst_ip[index];
  f.src_port = table.ports[index] >>> 16;
  f.dst_port = table.ports[index] & 0xffff;
  f.seq = seq;
  f.ack = ack;
  f.flags = flags;
  f.window = 0;
  clear_tcp_options(f);
}

/** Writes state.frame and the payload into a fresh mbuf for port; no mbuf: counted, not sent. */
function send_frame(
  state: AgentState,
  port: number,
  payload: Uint8Array,
  from: number,
  length: number,
): void {
  const f = state.frame;
  const o = state.io.claim(tcp_frame_length(f, length), port);
  if (o < 0) {
    state.counters[C.tx_no_mbuf]++;
    return;
  }
  write_tcp_frame(state.io.bytes, o, f, payload, from, length);
}

/**
 * The client's window (the hand-off's, as the client last sent it: in units
 * of its shift when it scales) in the units the stack reads: bytes in a SYN
 * (RFC 7323 section 2.2: a SYN's window is never scaled) and when the stack
 * declined scaling, the client's own units otherwise.
 */
function client_window_for_stack(values: Int32Array, v: number, syn: boolean): number {
  const window = values[v + V_CLIENT_WINDOW];
  const flow_flags = values[v + V_FLAGS];
  if ((flow_flags & F_WSCALE) === 0 || (!syn && (flow_flags & F_STACK_UNSCALED) === 0)) {
    return Math.min(0xffff, window);
  }
  return Math.min(0xffff, window * (1 << Math.min(14, values[v + V_CLIENT_WSCALE])));
}
