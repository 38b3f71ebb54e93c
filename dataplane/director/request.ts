// Reading a connection's request: the in-order bytes of a READING flow are
// collected until the end of the HTTP head (an L4 VIP's first segment is
// taken whole); the head and the bytes after it that came in the same
// segments are ACKed and handed off (handoff.ts: HANDING). When the
// director answers itself (400, 408, 431, 503) the flow is RESPONDING until
// the client's FIN gets the final ACK; when the client closes first it is
// CLOSING until its last ACK. A request buffer is taken with the first
// request bytes and kept until the hand-off is answered (a retransmitted
// HANDOFF carries it again) or the director answers itself.

import { find_header_end } from "../wire/mod.ts";
import { start_handoff } from "./handoff.ts";
import { seq_sub } from "../seq.ts";
import {
  L4_OFFSET,
  PAYLOAD_LENGTH,
  PAYLOAD_OFFSET,
  read_u32,
  TCP_FLAG_ACK,
  TCP_FLAG_FIN,
  TCP_FLAGS,
} from "../packet.ts";
import {
  C,
  D_CLIENT_ISN,
  D_DIRECTOR_ISN,
  D_FLAGS,
  D_REQUEST_LENGTH,
  D_REQUEST_SLOT,
  D_RETRIES,
  D_STATE,
  D_STATUS,
  type DirectorState,
  F_L4,
  F_TRYING,
  FIN_RTO_MS,
  release_buffer,
  remove_flow,
  STATE_CLOSING,
  STATE_HANDING,
  STATE_RESPONDING,
  take_buffer,
  VALUES_PER_FLOW,
} from "./state.ts";
import { set_deadline } from "./timers.ts";
import { log_outcome } from "./access_log.ts";
import {
  ack_fields,
  challenge_ack,
  client_next,
  director_window,
  director_window_bytes,
  note_client_segment,
  write_segment,
} from "./segment.ts";

/**
 * READING: collect in-order bytes until the end of the request head, then
 * hand off the head and the bytes after it that came with it; ACK exactly
 * what is taken. The first new bytes take the flow's request buffer.
 */
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
  const fin = (out[TCP_FLAGS] & TCP_FLAG_FIN) !== 0;
  const payload_length = out[PAYLOAD_LENGTH];
  if (payload_length === 0 && !fin) {
    c[C.acks_absorbed]++; // a bare ACK: nothing to do
    return false;
  }
  // RFC 5961 section 5: we have sent nothing but the SYN/ACK, so the one
  // acceptable ACK value is our ISN + 1. A blind attacker who means to
  // inject request bytes (or close the flow) must guess it too, not only
  // the client's sequence number; a real client resynchronises from the
  // challenge ACK.
  if (
    (out[TCP_FLAGS] & TCP_FLAG_ACK) === 0 ||
    read_u32(bytes, tcp + 8) !== ((values[v + D_DIRECTOR_ISN] + 1) >>> 0)
  ) {
    return challenge_ack(state, bytes, o, d, desc, v, C.ack_challenged, now);
  }
  const have = values[v + D_REQUEST_LENGTH];
  const expected = (values[v + D_CLIENT_ISN] + 1 + have) >>> 0;
  // bytes of this segment we already hold (a retransmission, whole or in part)
  const already = seq_sub(expected, read_u32(bytes, tcp + 4));
  if (already < 0 || (payload_length === 0 && already > 0)) {
    c[C.out_of_order_dropped]++; // a gap before it: the client retransmits in order
    return false;
  }
  if (already >= payload_length) {
    note_client_segment(state, bytes, v);
    // the client closes before its request is complete: the FIN is next in sequence
    if (fin && already === payload_length) {
      return close_reading(state, bytes, o, d, desc, index, now);
    }
    // all old: our ACK was lost, so say again what we have
    c[C.request_duplicates]++;
    return ack_client(state, bytes, o, d, desc, v, have);
  }
  if (values[v + D_REQUEST_SLOT] < 0 && !take_buffer(state, index)) return false;
  note_client_segment(state, bytes, v);
  c[C.request_segments]++;
  const max = state.config.max_header;
  const capacity = state.request_capacity;
  const base = values[v + D_REQUEST_SLOT] * state.pool.stride;
  const l4 = (values[v + D_FLAGS] & F_L4) !== 0;
  // an L4 connection's first bytes are carried whole (up to the limit; the
  // client resends the rest, which is forwarded): no head to look for
  const take = Math.min(payload_length - already, capacity + (l4 ? 0 : 1) - have);
  const buffer = state.pool.buffers;
  const from = out[PAYLOAD_OFFSET] + already;
  for (let k = 0; k < take; k++) buffer[base + have + k] = bytes[from + k];
  const total = have + take;
  if (l4) {
    values[v + D_REQUEST_LENGTH] = total;
    const sent = ack_client(state, bytes, o, d, desc, v, total);
    start_handoff(state, index, total, now);
    return sent;
  }
  // CRLFCRLF may straddle segments: search from 3 bytes back
  const found = find_header_end(buffer, base + Math.max(0, have - 3), base + total);
  const head_end = found < 0 ? -1 : found - base;
  if (head_end < 0) {
    if (total > max) {
      c[C.dropped_head_too_large]++; // the 431 goes out from the service call
      respond(state, index, 431, now);
      return false;
    }
    values[v + D_REQUEST_LENGTH] = total;
    // a half-close with the head incomplete: it can never complete, so close
    if (fin && take === payload_length - already) {
      return close_reading(state, bytes, o, d, desc, index, now);
    }
    return ack_client(state, bytes, o, d, desc, v, total);
  }
  if (head_end > max) {
    c[C.dropped_head_too_large]++; // the 431 goes out from the service call
    respond(state, index, 431, now);
    return false;
  }
  // The head and what came after it in the same segments (a body, a
  // pipelined request) go to the server in the record, up to what a record
  // carries; only that is ACKed, so the client resends the rest, which is
  // forwarded once the flow is. Waiting for more is not worth it: a client
  // sending Expect: 100-continue waits for the server's 100.
  const carried = Math.min(total, capacity);
  values[v + D_REQUEST_LENGTH] = carried;
  c[C.requests_complete]++;
  const sent = ack_client(state, bytes, o, d, desc, v, carried);
  start_handoff(state, index, carried, now);
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
  const ack = (values[v + D_CLIENT_ISN] + 1 + acked) >>> 0;
  desc[d + 1] = write_segment(
    state,
    bytes,
    o,
    ack_fields(values, v, ack, director_window(values, v)),
  );
  return true;
}

/**
 * The client sent FIN before a complete request (RFC 793 section 3.5: it
 * closes, we close too): FIN+ACK at once, then CLOSING until its last ACK.
 * Its buffer goes back now; the flow holds only its entry, resending our FIN
 * at most FIN_SENDS times (service.ts).
 */
function close_reading(
  state: DirectorState,
  bytes: Uint8Array,
  o: number,
  d: number,
  desc: Int32Array,
  index: number,
  now: number,
): boolean {
  const values = state.table.values;
  const v = index * VALUES_PER_FLOW;
  release_buffer(state, index);
  values[v + D_STATE] = STATE_CLOSING;
  values[v + D_RETRIES] = 1;
  set_deadline(state, index, now + FIN_RTO_MS);
  state.counters[C.closed_before_request]++;
  return fin_ack(state, bytes, o, d, desc, v);
}

/** Our FIN (seq ISN + 1) with the ACK of the client's FIN, in place. */
function fin_ack(
  state: DirectorState,
  bytes: Uint8Array,
  o: number,
  d: number,
  desc: Int32Array,
  v: number,
): boolean {
  const values = state.table.values;
  const f = ack_fields(values, v, client_next(values, v), director_window(values, v));
  f.flags = TCP_FLAG_FIN | TCP_FLAG_ACK;
  desc[d + 1] = write_segment(state, bytes, o, f);
  return true;
}

/**
 * CLOSING: the client's last ACK (of our FIN) ends the flow; its FIN again
 * (our FIN+ACK was lost) gets the same answer and never a new flow.
 */
export function closing_frame(
  state: DirectorState,
  bytes: Uint8Array,
  o: number,
  d: number,
  desc: Int32Array,
  index: number,
): boolean {
  const c = state.counters;
  const out = state.parse_out;
  const values = state.table.values;
  const v = index * VALUES_PER_FLOW;
  const tcp = out[L4_OFFSET];
  const flags = out[TCP_FLAGS];
  if ((flags & TCP_FLAG_FIN) !== 0) {
    const fin_seq = (read_u32(bytes, tcp + 4) + out[PAYLOAD_LENGTH]) >>> 0;
    if (((fin_seq + 1) >>> 0) === client_next(values, v)) {
      note_client_segment(state, bytes, v);
      c[C.fin_repeats]++;
      return fin_ack(state, bytes, o, d, desc, v);
    }
  } else if (
    (flags & TCP_FLAG_ACK) !== 0 &&
    read_u32(bytes, tcp + 8) === ((values[v + D_DIRECTOR_ISN] + 2) >>> 0)
  ) {
    c[C.closed_clean]++; // both FINs acknowledged: nothing is left to say
    remove_flow(state, index);
    return false;
  }
  c[C.dropped_closing]++;
  return false;
}

/** The director answers the client itself and closes: 400, 408, 431, 503. */
export function respond(state: DirectorState, index: number, status: number, now: number): void {
  const values = state.table.values;
  const v = index * VALUES_PER_FLOW;
  log_outcome(state, index, status, now); // before the buffer goes: it holds Host and path
  if (values[v + D_STATE] === STATE_HANDING) state.counters[C.handoffs_pending]--;
  values[v + D_FLAGS] &= ~F_TRYING;
  release_buffer(state, index);
  values[v + D_STATE] = STATE_RESPONDING;
  values[v + D_STATUS] = status;
  values[v + D_RETRIES] = 0;
  set_deadline(state, index, now); // sent by the next service call
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
  const fin_seq = (read_u32(bytes, out[L4_OFFSET] + 4) + out[PAYLOAD_LENGTH]) >>> 0;
  if (
    (out[TCP_FLAGS] & TCP_FLAG_FIN) === 0 ||
    // a FIN outside the window is not the client's (RFC 793 section 3.3): a
    // blind one would end the flow before the client has our response
    ((fin_seq - client_next(values, v)) >>> 0) >= director_window_bytes(values, v)
  ) {
    state.counters[C.dropped_closing]++; // we have said all we will: only its FIN matters
    return false;
  }
  note_client_segment(state, bytes, v); // our final ACK echoes the FIN's TSval (RFC 7323)
  const response = state.responses.get(values[v + D_STATUS]);
  const f = ack_fields(values, v, (fin_seq + 1) >>> 0, director_window(values, v));
  // after the response and our FIN
  f.seq = (values[v + D_DIRECTOR_ISN] + 1 + (response?.length ?? 0) + 1) >>> 0;
  desc[d + 1] = write_segment(state, bytes, o, f);
  remove_flow(state, index);
  return true;
}
