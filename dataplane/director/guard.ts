// RFC 5961 on the connections the director terminates itself (READING,
// HANDING, RESPONDING, CLOSING), where it knows the client's next sequence
// number exactly (client_next), and port reuse on a closing 4-tuple.
//
// - A RST is accepted only when its sequence number is exactly the next
//   expected one; in the receive window it gets a challenge ACK (a bare ACK
//   with our current seq and ack, so a real client answers with a RST that
//   is exact); outside it is dropped (section 3.2). A blind attacker must
//   then guess the one right number, not any of the window's.
// - A SYN on a flow gets a challenge ACK whatever its sequence number
//   (section 4), except a new SYN on a closing flow (below).
// - Challenge ACKs (segment.ts) share one budget per second for all flows
//   (section 7, as Linux's tcp_challenge_ack_limit), randomised each second
//   as Linux does since CVE-2016-5696, so an off-path attacker cannot count
//   the budget to learn whether a 4-tuple exists.
// - Request bytes are taken only with the one acceptable ACK value (section
//   5), and RESPONDING takes only a FIN in the window (request.ts).
// - A SYN with a new ISN on a 4-tuple whose flow is closing (RESPONDING,
//   CLOSING, or FORWARDING after the client's FIN or RST) is a new
//   connection reusing the port (as a stack accepts one in TIME-WAIT, RFC
//   6191): it gets a fresh cookie SYN/ACK, and its cookie ACK replaces the
//   old flow (handshake.ts replace_flow). It is never forwarded into the old
//   flow's server with the old state.
// FORWARDING flows are not judged (forwarding_frame): the director does not
// see the server's side, so the server's own stack applies RFC 5961; a
// client FIN or RST only marks the flow closing. Nothing here allocates or
// throws.

import { flow_touch } from "../flow_table.ts";
import { send_cancel } from "./handoff.ts";
import {
  L4_OFFSET,
  read_u32,
  TCP_FLAG_ACK,
  TCP_FLAG_FIN,
  TCP_FLAG_RST,
  TCP_FLAG_SYN,
  TCP_FLAGS,
} from "../packet.ts";
import {
  C,
  D_CLIENT_ISN,
  D_FLAGS,
  D_HANDOFF_ID,
  D_REUSE_ISN,
  D_SERVER,
  D_STATE,
  type DirectorState,
  end_flow,
  F_CLIENT_CLOSING,
  F_REUSE_SYN,
  STATE_CLOSING,
  STATE_FORWARDING,
  STATE_HANDING,
  STATE_RESPONDING,
  VALUES_PER_FLOW,
} from "./state.ts";
import { challenge_ack, client_next, director_window_bytes, to_server } from "./segment.ts";
import { syn_ack_in_place } from "./handshake.ts";

/** A RST on a flow the director terminates (RFC 5961 section 3.2). */
export function rst_on_flow(
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
  const next = client_next(values, v);
  const offset = (read_u32(bytes, state.parse_out[L4_OFFSET] + 4) - next) >>> 0;
  if (offset === 0) {
    c[C.rst_accepted]++;
    if (values[v + D_STATE] === STATE_HANDING && values[v + D_SERVER] >= 0) {
      // the agent being tried may adopt it: it must forget it (and a late ACK is CANCELled too)
      const table = state.table;
      send_cancel(
        state,
        values[v + D_SERVER],
        values[v + D_HANDOFF_ID],
        table.src_ip[index],
        table.dst_ip[index],
        table.ports[index],
      );
    }
    end_flow(state, index, C.ended_client_reset);
    return false;
  }
  if (offset < director_window_bytes(values, v)) {
    return challenge_ack(state, bytes, o, d, desc, v, C.rst_challenged, now);
  }
  c[C.rst_dropped]++;
  return false;
}

/** A SYN on a flow the director terminates: port reuse if the flow is closing, else a challenge ACK (section 4). */
export function syn_on_flow(
  state: DirectorState,
  bytes: Uint8Array,
  o: number,
  d: number,
  desc: Int32Array,
  index: number,
  now: number,
): boolean {
  if (reuse_syn(state, bytes, o, d, desc, index, now)) return true;
  return challenge_ack(state, bytes, o, d, desc, index * VALUES_PER_FLOW, C.syn_challenged, now);
}

/**
 * A SYN with a new ISN on a closing flow: answered with a cookie SYN/ACK and
 * remembered (D_REUSE_ISN), so its ACK can replace the flow. False (nothing
 * done) for any other segment.
 */
export function reuse_syn(
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
  const s = values[v + D_STATE];
  const closing = s === STATE_RESPONDING || s === STATE_CLOSING ||
    ((s === STATE_FORWARDING || s === STATE_HANDING) &&
      (values[v + D_FLAGS] & F_CLIENT_CLOSING) !== 0);
  const flags = state.parse_out[TCP_FLAGS];
  if (
    !closing ||
    (flags & (TCP_FLAG_SYN | TCP_FLAG_ACK | TCP_FLAG_RST | TCP_FLAG_FIN)) !== TCP_FLAG_SYN
  ) {
    return false;
  }
  const isn = read_u32(bytes, state.parse_out[L4_OFFSET] + 4) | 0;
  if (isn === values[v + D_CLIENT_ISN]) return false; // the old connection's SYN again
  values[v + D_REUSE_ISN] = isn;
  values[v + D_FLAGS] |= F_REUSE_SYN;
  return syn_ack_in_place(state, bytes, o, d, desc, now);
}

/** True when the segment is the handshake ACK of the new SYN reuse_syn answered. */
export function is_reuse_ack(state: DirectorState, bytes: Uint8Array, v: number): boolean {
  const values = state.table.values;
  if ((values[v + D_FLAGS] & F_REUSE_SYN) === 0) return false;
  const flags = state.parse_out[TCP_FLAGS];
  if ((flags & (TCP_FLAG_SYN | TCP_FLAG_ACK | TCP_FLAG_RST | TCP_FLAG_FIN)) !== TCP_FLAG_ACK) {
    return false;
  }
  const seq = read_u32(bytes, state.parse_out[L4_OFFSET] + 4);
  return seq === ((values[v + D_REUSE_ISN] + 1) >>> 0);
}

/**
 * A FORWARDING flow's frame: to its server. A client FIN or RST marks the
 * flow closing but keeps it: the server's stack judges the RST (RFC 5961),
 * and the agent's FLOW_END (VERDICT_FORGET) or the idle sweep ends the entry.
 * A SYN goes to the server too (its stack challenge-ACKs it) unless it opens
 * a new connection on a closing flow.
 */
export function forwarding_frame(
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
  if ((flags & TCP_FLAG_SYN) !== 0 && reuse_syn(state, bytes, o, d, desc, index, now)) return true;
  if ((flags & (TCP_FLAG_RST | TCP_FLAG_FIN)) !== 0) {
    values[v + D_FLAGS] |= F_CLIENT_CLOSING;
    if ((flags & TCP_FLAG_RST) !== 0) c[C.rst_forwarded]++;
  }
  to_server(state, bytes, o, v);
  flow_touch(state.table, index, now);
  c[C.forwarded]++;
  return true;
}
