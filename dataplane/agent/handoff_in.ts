// Hand-off datagrams arriving on the fabric, read in the fabric burst. The
// agent takes every IPv4 UDP frame (not a fragment) to its server's own
// fabric address (config `address`) at the hand-off port: such a frame is
// the agent's, never the server's, and is consumed here, whatever it holds
// (its mbuf is freed: an answer is written into a fresh one, answers.ts,
// because most answers come later than the frame, after the stack's
// handshake). Every other frame to the server passes as before.
//
// A datagram is read only from a configured director (the sender filter,
// before any HMAC, so a flood from elsewhere costs a few compares), then
// checked in decode_message's order (wire/handoff_frame.ts): structure,
// the tag (HMAC-SHA256 under this agent's key, computed by the shim over
// the mbuf: state.io.verify), freshness by the wall clock, this agent's
// id, consistency. Each consumed frame counts exactly one handoff_rx_*
// result (ok, unknown_source, bad_frame: IP options or lengths that lie,
// and one per DecodeFailure); nothing is answered to a bad datagram. Then,
// by type:
//   HANDOFF: a hand-off this agent has finished with is a replay (dropped,
//     its NACK repeated if it was refused: replay_cache.ts); one too old
//     for the replay cache to tell (or of a director epoch it has no room
//     for) is dropped unless its flow is live here; one it must
//     not take (admission.ts) or too large for a request buffer is refused
//     with NACK bad_request; the rest are adopted in this same pass
//     (agent_adopt: the SYN goes to the stack at this round's service call).
//   HANDOFF_CANCEL: the stack's half is reset, the flow forgotten, and the
//     hand-off finished (agent_cancel).
//   FLOW_END_ACK: stops that FLOW_END's retransmission (flow_ends.ts).
//   FLOW_QUERY: a director that does not know the flow asks who holds it;
//     FLOW_OWNER if this agent does (answers.ts answer_owner).
//   anything else: counted (unexpected_messages).
//
// Allocates nothing and never throws; positional helpers are the hot-path
// exception of wire/handoff_frame.ts.

import {
  datagram_client_ip,
  datagram_epoch,
  datagram_fields,
  datagram_id,
  datagram_ports,
  datagram_request_length,
  datagram_signed_bytes,
  datagram_structure,
  datagram_type,
  datagram_vip,
  DECODE_OK,
  DF_DATAGRAM,
  DF_IP,
  DF_UDP,
  FA_SRC_IP,
  FA_SRC_MAC_HI,
  FA_SRC_MAC_LO,
  FA_SRC_PORT,
  handoff_to_record,
  NACK_BAD_REQUEST,
  TYPE_FLOW_END_ACK,
  TYPE_FLOW_QUERY,
  TYPE_HANDOFF,
  TYPE_HANDOFF_CANCEL,
} from "../wire/mod.ts";
import { flow_lookup } from "../flow_table.ts";
import { mac_hi, mac_lo, read_u16, read_u32 } from "../packet.ts";
import {
  type AgentState,
  C,
  STATE_CLOSING,
  STATE_ESTABLISHED,
  V_EPOCH,
  V_ID,
  V_STATE,
  VALUES_PER_FLOW,
} from "./state.ts";
import { ADMIT_BAD_CLIENT, admit_handoff, ADMIT_OK, source_allowed } from "./admission.ts";
import {
  EPOCHS_FULL,
  NOT_FINISHED,
  replay_finished,
  replay_seen,
  TOO_OLD,
} from "./replay_cache.ts";
import { flow_end_acked } from "./flow_ends.ts";
import { answer_owner, nack_datagram } from "./answers.ts";
import { agent_adopt, agent_cancel } from "./adoption.ts";

const UDP = 17;

/**
 * True when the frame at o (len bytes, untagged) is a hand-off datagram
 * for this agent: IPv4, UDP, not a fragment, to the server's fabric address
 * and the hand-off port. Reads a few bytes; the burst asks it of every
 * frame it keeps.
 */
export function is_handoff_frame(
  state: AgentState,
  bytes: Uint8Array,
  o: number,
  len: number,
): boolean {
  const ip = o + DF_IP;
  if (len < DF_UDP + 8 || bytes[o + 12] !== 0x08 || bytes[o + 13] !== 0) return false;
  if ((bytes[ip] >>> 4) !== 4 || bytes[ip + 9] !== UDP) return false;
  if (read_u32(bytes, ip + 16) !== state.address || state.address === 0) return false;
  if ((read_u16(bytes, ip + 6) & 0x3fff) !== 0) return false; // MF or an offset: a fragment
  const udp = ip + (bytes[ip] & 0x0f) * 4;
  return udp + 4 <= o + len && read_u16(bytes, udp + 2) === state.handoff_port;
}

/** Reads the hand-off datagram in the frame at o (is_handoff_frame said so); the frame is consumed. */
export function handoff_in(
  state: AgentState,
  bytes: Uint8Array,
  o: number,
  len: number,
  now: number,
): void {
  const c = state.counters;
  const ip = o + DF_IP;
  const udp_length = read_u16(bytes, o + DF_UDP + 4);
  if (
    bytes[ip] !== 0x45 || udp_length < 8 || read_u16(bytes, ip + 2) !== 20 + udp_length ||
    DF_UDP + udp_length > len
  ) {
    c[C.handoff_rx_bad_frame]++; // IP options, or lengths that lie: no director sends these
    return;
  }
  const src_ip = read_u32(bytes, ip + 12);
  const src_port = read_u16(bytes, o + DF_UDP);
  if (!source_allowed(state.sources, src_ip, src_port)) {
    c[C.handoff_rx_unknown_source]++; // not a configured director: not worth an HMAC
    return;
  }
  const d = o + DF_DATAGRAM;
  const structure = datagram_structure(bytes, d, udp_length - 8, state.max_datagram);
  if (structure !== DECODE_OK) {
    c[state.decode_counter[structure]]++;
    return;
  }
  const signed = datagram_signed_bytes(bytes, d);
  if (state.io.verify(d, signed, d + signed) !== 1) {
    c[C.handoff_rx_bad_mac]++; // a missing key (-1) cannot authenticate anything either
    return;
  }
  const fields = datagram_fields(
    bytes,
    d,
    state.io.wall_clock(),
    state.freshness_ms,
    state.agent_id,
  );
  if (fields !== DECODE_OK) {
    c[state.decode_counter[fields]]++;
    return;
  }
  c[C.handoff_rx_ok]++;
  state.now = now;
  // where the answers go: the frame's source (the director, or its router), its IP and port
  const from = state.sender;
  from[FA_SRC_MAC_HI] = mac_hi(bytes, o + 6);
  from[FA_SRC_MAC_LO] = mac_lo(bytes, o + 6);
  from[FA_SRC_IP] = src_ip | 0;
  from[FA_SRC_PORT] = src_port;
  const type = datagram_type(bytes, d);
  if (type === TYPE_HANDOFF) handoff(state, bytes, d, now);
  else if (type === TYPE_HANDOFF_CANCEL) cancel(state, bytes, d, now);
  else if (type === TYPE_FLOW_END_ACK) {
    const acked = flow_end_acked(
      state.flow_ends,
      datagram_epoch(bytes, d),
      datagram_id(bytes, d),
      datagram_client_ip(bytes, d),
      datagram_vip(bytes, d),
      datagram_ports(bytes, d),
    );
    c[acked ? C.flow_ends_acked : C.flow_end_acks_unmatched]++;
    c[C.flow_ends_pending] = state.flow_ends.table.count;
  } else if (type === TYPE_FLOW_QUERY) {
    query(state, bytes, d);
  } else {
    c[C.unexpected_messages]++; // an ACK, NACK or FLOW_END has no business here
  }
}

/**
 * FLOW_QUERY: a director that does not know the flow asks who holds it.
 * Answered only for a flow past its adoption (established or closing):
 * one still being adopted answers its own director first, under its
 * hand-off's id.
 */
function query(state: AgentState, bytes: Uint8Array, d: number): void {
  const index = datagram_flow(state, bytes, d);
  const flow_state = index < 0 ? 0 : state.table.values[index * VALUES_PER_FLOW + V_STATE];
  if (flow_state !== STATE_ESTABLISHED && flow_state !== STATE_CLOSING) {
    state.counters[C.queries_not_here]++;
    return;
  }
  answer_owner(state, bytes, d, index);
}

function handoff(state: AgentState, bytes: Uint8Array, d: number, now: number): void {
  const c = state.counters;
  const epoch = datagram_epoch(bytes, d) | 0;
  const id = datagram_id(bytes, d) | 0;
  const seen = replay_seen(state.replays, epoch, id, now);
  if (seen === TOO_OLD || seen === EPOCHS_FULL) {
    // the cache cannot say it has not finished: never adopted, but a live
    // flow's retransmission still goes on to agent_adopt (answered again)
    if (!live_here(state, bytes, d, epoch, id)) {
      c[seen === TOO_OLD ? C.handoffs_too_old : C.handoffs_epochs_full]++;
      return;
    }
  } else if (seen !== NOT_FINISHED) {
    // finished here already: never adopted twice; a refusal is repeated (its NACK may be lost)
    c[C.handoffs_replayed]++;
    if (seen > 0) nack_datagram(state, bytes, d, seen);
    return;
  }
  const admission = admit_handoff(
    state.admission,
    datagram_client_ip(bytes, d),
    datagram_vip(bytes, d),
    datagram_ports(bytes, d),
  );
  if (admission !== ADMIT_OK) {
    c[admission === ADMIT_BAD_CLIENT ? C.refused_bad_client : C.refused_wrong_vip]++;
    refuse(state, bytes, d, epoch, id, now);
    return;
  }
  if (datagram_request_length(bytes, d) > state.config.max_request) {
    c[C.refused_too_large]++;
    refuse(state, bytes, d, epoch, id, now);
    return;
  }
  const length = handoff_to_record(bytes, d, state.record);
  agent_adopt(state, state.record, length, now);
}

/** True when the HANDOFF at d is that of a flow the agent holds (adopting or adopted). */
function live_here(
  state: AgentState,
  bytes: Uint8Array,
  d: number,
  epoch: number,
  id: number,
): boolean {
  const index = datagram_flow(state, bytes, d);
  if (index < 0) return false;
  const v = index * VALUES_PER_FLOW;
  return state.table.values[v + V_EPOCH] === epoch && state.table.values[v + V_ID] === id;
}

/** A HANDOFF refused before adoption: finished, NACK bad_request (its copies get it again). */
function refuse(
  state: AgentState,
  bytes: Uint8Array,
  d: number,
  epoch: number,
  id: number,
  now: number,
): void {
  replay_finished(state.replays, epoch, id, now, NACK_BAD_REQUEST);
  nack_datagram(state, bytes, d, NACK_BAD_REQUEST);
}

function cancel(state: AgentState, bytes: Uint8Array, d: number, now: number): void {
  state.counters[C.cancels_received]++;
  const epoch = datagram_epoch(bytes, d) | 0;
  const id = datagram_id(bytes, d) | 0;
  // a late copy of the HANDOFF is a replay from now on
  replay_finished(state.replays, epoch, id, now, 0);
  const index = datagram_flow(state, bytes, d);
  agent_cancel(state, index, epoch, id);
}

/** The flow the datagram at d names (its key), or −1. */
function datagram_flow(state: AgentState, bytes: Uint8Array, d: number): number {
  const ports = datagram_ports(bytes, d);
  return flow_lookup(
    state.table,
    datagram_client_ip(bytes, d),
    datagram_vip(bytes, d),
    ports >>> 16,
    ports & 0xffff,
  );
}
