// FIN and RST: when a handed-off flow closes, and which of the client's
// segments may say so (RFC 5961).
//
// The stack is authoritative for its own side: its FIN counts and its RST
// ends the flow. The client's side is the internet's: the director forwards
// whatever arrives on the 4-tuple, so a blind attacker who guesses one can
// send RSTs, SYNs and FINs with any sequence number. The server's stack
// accepts only the ones RFC 5961 (and RFC 793's window test) lets through;
// the agent must not accept more, or it would drop a flow the stack keeps
// and the client's download would die at the agent. So a client RST, SYN
// or FIN changes the agent's state only when the stack will act on it too;
// any other is still translated and passed to the stack, which answers
// with a challenge ACK that the agent translates back like any segment.
//
// The stack's receive position and window are what it last announced
// (translate.ts: note_stack_ack). The stack may be ahead of its last ACK
// (a delayed ACK): an RST at its true RCV.NXT then ends the stack's socket
// but not the agent's flow, which ends with the stack's RST to the next
// client segment, or at the idle timeout (RSTs both ways, service.ts).
// The agent errs on the side of keeping a flow.
//
// Called per frame from the bursts; allocates nothing and never throws.

import { FLOW_END_CLIENT_RESET, FLOW_END_FIN, FLOW_END_SERVER_RESET } from "../wire/mod.ts";
import { tcp_checksum_ok } from "../checksum.ts";
import {
  L3_OFFSET,
  L4_OFFSET,
  PAYLOAD_LENGTH,
  read_u32,
  TCP_FLAG_FIN,
  TCP_FLAG_RST,
  TCP_FLAG_SYN,
  TCP_FLAGS,
} from "../packet.ts";
import { seq_between } from "../seq.ts";
import {
  type AgentState,
  C,
  F_FIN_FROM_CLIENT,
  F_FIN_FROM_SERVER,
  STATE_CLOSING,
  V_DEADLINE,
  V_END_REASON,
  V_FLAGS,
  V_STACK_ACK,
  V_STACK_WINDOW,
  V_STATE,
  VALUES_PER_FLOW,
} from "./state.ts";

/**
 * A client segment of the flow at `index`, already translated (parse_out
 * holds it; translation leaves its seq alone). Closes the flow if it is an
 * RST or FIN the stack accepts; false (counted) for an RST, SYN or FIN the
 * stack will not act on, which must then change nothing here.
 */
export function client_segment_accepted(
  state: AgentState,
  bytes: Uint8Array,
  index: number,
  now: number,
): boolean {
  const out = state.parse_out;
  const flags = out[TCP_FLAGS];
  if ((flags & (TCP_FLAG_SYN | TCP_FLAG_FIN | TCP_FLAG_RST)) === 0) return true;
  const c = state.counters;
  const values = state.table.values;
  const v = index * VALUES_PER_FLOW;
  const seq = read_u32(bytes, out[L4_OFFSET] + 4);
  const stack_ack = values[v + V_STACK_ACK] >>> 0;
  if ((flags & TCP_FLAG_RST) !== 0) {
    // RFC 5961 section 3.2: the stack resets only when seq is exactly its
    // RCV.NXT; inside its window it sends a challenge ACK, outside it drops
    // the RST. Once it has the client's FIN, Linux also takes RCV.NXT − 1
    // (the FIN's own number: tcp_reset_check). A checksum that fails means
    // the stack drops it too.
    const exact = seq === stack_ack ||
      ((values[v + V_FLAGS] & F_FIN_FROM_CLIENT) !== 0 && seq === ((stack_ack - 1) >>> 0));
    if (!exact || !tcp_checksum_ok(bytes, out[L3_OFFSET])) {
      c[C.rst_passed_unaccepted]++;
      return false;
    }
    close_flow(state, v, FLOW_END_CLIENT_RESET, now);
    return true;
  }
  if ((flags & TCP_FLAG_SYN) !== 0) {
    // RFC 5961 section 4.2: a SYN on a synchronized connection draws a
    // challenge ACK whatever its sequence number, and changes nothing
    c[C.syn_passed_unaccepted]++;
    return false;
  }
  // a FIN sits after the segment's data; the stack takes it only inside the
  // window it announced (RFC 9293 section 3.10.7.4, the acceptability test)
  const fin_seq = (seq + out[PAYLOAD_LENGTH]) >>> 0;
  if (
    !seq_between(fin_seq, stack_ack, stack_ack + values[v + V_STACK_WINDOW]) ||
    !tcp_checksum_ok(bytes, out[L3_OFFSET])
  ) {
    c[C.fin_passed_unaccepted]++;
    return false;
  }
  note_fin(state, v, F_FIN_FROM_CLIENT, now);
  return true;
}

/** A segment from the stack: its FIN counts, its RST ends the flow. */
export function track_server_close(
  state: AgentState,
  index: number,
  flags: number,
  now: number,
): void {
  if ((flags & (TCP_FLAG_FIN | TCP_FLAG_RST)) === 0) return;
  const v = index * VALUES_PER_FLOW;
  if ((flags & TCP_FLAG_RST) !== 0) close_flow(state, v, FLOW_END_SERVER_RESET, now);
  else note_fin(state, v, F_FIN_FROM_SERVER, now);
}

// a FIN each way closes the flow
function note_fin(state: AgentState, v: number, side: number, now: number): void {
  const values = state.table.values;
  values[v + V_FLAGS] |= side;
  const both = F_FIN_FROM_CLIENT | F_FIN_FROM_SERVER;
  if ((values[v + V_FLAGS] & both) === both) close_flow(state, v, FLOW_END_FIN, now);
}

// closed flows are still translated (late segments) until the linger ends; the first reason wins
function close_flow(state: AgentState, v: number, reason: number, now: number): void {
  const values = state.table.values;
  if (values[v + V_STATE] === STATE_CLOSING) return;
  values[v + V_END_REASON] = reason;
  values[v + V_STATE] = STATE_CLOSING;
  values[v + V_DEADLINE] = (now + state.config.linger_ms) | 0;
}
