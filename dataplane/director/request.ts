// Reading a connection's request: the in-order bytes of a READING flow are
// collected until the end of the HTTP head (an L4 VIP's first segment is
// taken whole) and exactly those bytes are ACKed; then the request record
// goes to the control Worker (HANDING). When the director answers itself
// (400, 408, 431, 503) the flow is RESPONDING until the client's FIN gets
// the final ACK. A request buffer is given back as soon as the flow leaves
// READING; the ring being full is a 503, never an exception.

import {
  find_header_end,
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
} from "../wire/mod.ts";
import { seq_sub } from "../seq.ts";
import {
  L4_OFFSET,
  PAYLOAD_LENGTH,
  PAYLOAD_OFFSET,
  read_u32,
  TCP_FLAG_FIN,
  TCP_FLAGS,
  write_mac_words,
  write_u16,
  write_u32,
} from "../packet.ts";
import {
  C,
  D_CLIENT_ISN,
  D_CLIENT_MAC_HI,
  D_CLIENT_MAC_LO,
  D_CLIENT_MSS,
  D_CLIENT_TSVAL,
  D_CLIENT_WINDOW,
  D_CLIENT_WSCALE,
  D_DEADLINE,
  D_DIRECTOR_ISN,
  D_DIRECTOR_TSVAL,
  D_FLAGS,
  D_REQUEST_LENGTH,
  D_REQUEST_SLOT,
  D_RETRIES,
  D_STATE,
  D_STATUS,
  DIRECTOR_WINDOW,
  DIRECTOR_WSCALE,
  type DirectorState,
  F_L4,
  F_SACK,
  F_TIMESTAMPS,
  F_WSCALE,
  remove_flow,
  STATE_HANDING,
  STATE_RESPONDING,
  VALUES_PER_FLOW,
} from "./state.ts";
import { ack_fields, note_client_segment, write_segment } from "./segment.ts";

/** READING: collect in-order bytes until the end of the request head; ACK only those. */
export function reading_frame(
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
export function hand_off(
  state: DirectorState,
  index: number,
  request_length: number,
  now: number,
): void {
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
export function respond(state: DirectorState, index: number, status: number, now: number): void {
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
export function responding_frame(
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
