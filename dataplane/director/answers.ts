// What the agents send the director, read in the poll loop's burst: a
// UDP frame to the director's fabric address and hand-off port. It is read
// only from a server's agent (its address and port, before any HMAC), only
// under that agent's key, only if it names that agent and is fresh
// (handoff_frame.ts, as decode_message rules). Then, matched against the
// flow it names (epoch ours, an id issued, the hand-off in flight to that
// very server):
//
// - HANDOFF_ACK: the flow is forwarded to the server (its latency counted);
//   a duplicate is ignored; an ACK of a hand-off given up on (late) is
//   answered with a CANCEL, written into the ACK's own mbuf.
// - HANDOFF_NACK: that server failed; the next one is tried (or, if the
//   client already took the server's bytes, the flow stays there).
// - FLOW_END: the forwarded flow ends if it names the hand-off that made it;
//   the FLOW_END_ACK goes back in the same mbuf (also for a repeat of one
//   whose flow is gone, so the agent stops retransmitting).
//
// Every datagram ends in exactly one counter; nothing here throws or
// allocates.

import {
  datagram_agent,
  datagram_client_ip,
  datagram_epoch,
  datagram_fields,
  datagram_id,
  datagram_ports,
  datagram_reason,
  datagram_signed_bytes,
  datagram_signed_length,
  datagram_structure,
  datagram_type,
  datagram_vip,
  decode_failure_code,
  DECODE_OK,
  DF_DATAGRAM,
  FA_DST_IP,
  FA_DST_MAC_HI,
  FA_DST_MAC_LO,
  FA_DST_PORT,
  FA_SRC_IP,
  FA_SRC_MAC_HI,
  FA_SRC_MAC_LO,
  FA_SRC_PORT,
  FLOW_KEY_BYTES,
  seal_datagram_frame,
  TYPE_FLOW_END,
  TYPE_FLOW_END_ACK,
  TYPE_FLOW_OWNER,
  TYPE_HANDOFF_ACK,
  TYPE_HANDOFF_CANCEL,
  TYPE_HANDOFF_NACK,
  wire_clock,
  write_datagram_frame,
} from "../wire/mod.ts";
import { flow_lookup } from "../flow_table.ts";
import { mac_hi, mac_lo, PAYLOAD_LENGTH, PAYLOAD_OFFSET, SRC_IP, SRC_PORT } from "../packet.ts";
import { SELECTION_SERVER_AGENT_ID, SELECTION_SERVER_KEY_SLOT } from "../selection_table.ts";
import { find_agent_server, server_word } from "./agents.ts";
import {
  C,
  D_FLAGS,
  D_HANDOFF_ID,
  D_SERVER,
  D_STATE,
  type DirectorState,
  F_COMMITTED,
  remove_flow,
  STATE_FORWARDING,
  STATE_HANDING,
  VALUES_PER_FLOW,
} from "./state.ts";
import { forward_to_tried_server, next_server, server_failed } from "./handoff.ts";
import { recover_flow } from "./carry.ts";
import { ACCESS_NACK, log_outcome } from "./access_log.ts";

const BAD_MAC = decode_failure_code("bad_mac");

/** A datagram from an agent (parsed, in the burst). True: its mbuf goes back out, as an answer. */
export function agent_datagram(
  state: DirectorState,
  bytes: Uint8Array,
  d: number,
  desc: Int32Array,
  now: number,
): boolean {
  const c = state.counters;
  const out = state.parse_out;
  const server = find_agent_server(state.selection, out[SRC_IP] >>> 0, out[SRC_PORT]);
  if (server < 0) {
    c[C.handoff_rx_unknown_source]++; // not a server's agent: not worth an HMAC
    return false;
  }
  const at = out[PAYLOAD_OFFSET];
  let code = datagram_structure(bytes, at, out[PAYLOAD_LENGTH], state.config.max_datagram);
  if (code === DECODE_OK) {
    const signed = datagram_signed_bytes(bytes, at);
    const slot = server_word(state.selection, server, SELECTION_SERVER_KEY_SLOT);
    code = state.io.verify(slot, at, signed, at + signed) === 1
      ? datagram_fields(
        bytes,
        at,
        state.io.wall_clock(),
        state.config.freshness_ms,
        server_word(state.selection, server, SELECTION_SERVER_AGENT_ID),
      )
      : BAD_MAC;
  }
  if (code !== DECODE_OK) {
    c[C.handoff_rx_truncated + code - 1]++; // the handoff_rx_ counters follow DECODE_FAILURES
    return false;
  }
  c[C.handoff_rx_ok]++;
  const type = datagram_type(bytes, at);
  if (type === TYPE_HANDOFF_ACK || type === TYPE_HANDOFF_NACK) {
    return on_answer(state, bytes, d, desc, server, now);
  }
  if (type === TYPE_FLOW_END) return on_flow_end(state, bytes, d, desc, server);
  if (type === TYPE_FLOW_OWNER) {
    on_owner(state, bytes, server, now);
    c[C.handoff_answers_taken]++;
    return false;
  }
  c[C.unexpected_messages]++;
  c[C.handoff_answers_taken]++;
  return false;
}

/** The flow the datagram at `at` names (its key), or −1. */
function datagram_flow(state: DirectorState, bytes: Uint8Array, at: number): number {
  const ports = datagram_ports(bytes, at);
  return flow_lookup(
    state.table,
    datagram_client_ip(bytes, at),
    datagram_vip(bytes, at),
    ports >>> 16,
    ports & 0xffff,
  );
}

/** Ids 1 .. next_id − 1 of this epoch have been sent (all of them after a wrap). */
function issued(state: DirectorState, epoch: number, id: number): boolean {
  if (epoch !== (state.config.epoch >>> 0)) return false;
  return state.ids_wrapped || (id >= 1 && id < state.next_id);
}

function on_answer(
  state: DirectorState,
  bytes: Uint8Array,
  d: number,
  desc: Int32Array,
  server: number,
  now: number,
): boolean {
  const c = state.counters;
  const at = state.parse_out[PAYLOAD_OFFSET];
  const id = datagram_id(bytes, at);
  const ack = datagram_type(bytes, at) === TYPE_HANDOFF_ACK;
  if (!issued(state, datagram_epoch(bytes, at), id)) {
    c[C.answers_unmatched]++; // another epoch (a director before a restart), or an id never issued
    c[C.handoff_answers_taken]++;
    return false;
  }
  const index = datagram_flow(state, bytes, at);
  const values = state.table.values;
  const v = index * VALUES_PER_FLOW;
  const same = index >= 0 && values[v + D_HANDOFF_ID] === (id | 0);
  if (same && values[v + D_STATE] === STATE_HANDING) {
    c[C.handoff_answers_taken]++;
    if (values[v + D_SERVER] !== server) {
      c[C.answers_unmatched]++; // the hand-off went to another agent
    } else if (ack) {
      c[C.handoffs_acked]++;
      forward_to_tried_server(state, index, now, true);
    } else {
      c[C.handoffs_nacked]++;
      const reason = datagram_reason(bytes, at);
      c[C.nack_table_full + reason - 1]++; // reasons 1..7, checked by datagram_fields
      if ((values[v + D_FLAGS] & F_COMMITTED) !== 0) {
        // the client already took this server's bytes: no other server can answer it now
        c[C.committed_kept]++;
        forward_to_tried_server(state, index, now, false);
      } else {
        log_outcome(state, index, ACCESS_NACK, now);
        server_failed(state, server);
        next_server(state, index, now);
      }
    }
    return false;
  }
  if (same && values[v + D_STATE] === STATE_FORWARDING && values[v + D_SERVER] === server) {
    c[C.handoff_answers_taken]++; // again the answer that made this flow: nothing to do
    return false;
  }
  if (!ack) {
    c[C.handoff_answers_taken]++; // a refusal of something we gave up on already
    return false;
  }
  // an ACK for a hand-off we gave up on: that agent must forget it
  c[C.late_acks]++;
  c[C.cancels_sent]++;
  answer_in_place(state, bytes, d, desc, server, TYPE_HANDOFF_CANCEL);
  return true;
}

function on_flow_end(
  state: DirectorState,
  bytes: Uint8Array,
  d: number,
  desc: Int32Array,
  server: number,
): boolean {
  const c = state.counters;
  const at = state.parse_out[PAYLOAD_OFFSET];
  const id = datagram_id(bytes, at);
  const index = datagram_flow(state, bytes, at);
  const values = state.table.values;
  const v = index * VALUES_PER_FLOW;
  if (!issued(state, datagram_epoch(bytes, at), id)) {
    if (index >= 0) {
      c[C.flow_ends_unmatched]++;
      c[C.handoff_answers_taken]++;
      return false;
    }
    // Of a hand-off by this director before a restart, or by another one
    // (the agent sends FLOW_END where the HANDOFF came from): no flow of it
    // is here, so nothing can go wrong by saying so, and the agent stops.
    c[C.flow_ends_foreign]++;
    answer_in_place(state, bytes, d, desc, server, TYPE_FLOW_END_ACK);
    return true;
  }
  if (index >= 0 && values[v + D_STATE] === STATE_FORWARDING) {
    if (values[v + D_HANDOFF_ID] !== (id | 0) || values[v + D_SERVER] !== server) {
      // a replayed FLOW_END of an older hand-off, or about a flow this agent does not have
      c[C.flow_ends_unmatched]++;
      c[C.handoff_answers_taken]++;
      return false;
    }
    c[C.flow_ends]++;
    c[C.ended_agent]++;
    remove_flow(state, index);
  } else {
    c[C.flow_end_repeats]++; // its flow is gone here already (a retransmission)
  }
  answer_in_place(state, bytes, d, desc, server, TYPE_FLOW_END_ACK);
  return true;
}

/** FLOW_OWNER: server's agent holds the flow this director asked about (carry.ts). */
function on_owner(state: DirectorState, bytes: Uint8Array, server: number, now: number): void {
  const at = state.parse_out[PAYLOAD_OFFSET];
  const id = datagram_id(bytes, at);
  if (!issued(state, datagram_epoch(bytes, at), id)) {
    state.counters[C.answers_unmatched]++;
    return;
  }
  if (datagram_flow(state, bytes, at) >= 0) {
    state.counters[C.owner_repeats]++; // another agent's answer, or a copy: the flow is here
    return;
  }
  recover_flow(
    state,
    datagram_client_ip(bytes, at),
    datagram_vip(bytes, at),
    datagram_ports(bytes, at),
    server,
    id,
    now,
  );
}

/**
 * The received datagram's mbuf becomes the answer to its sender: same
 * epoch, id and flow key (left in place), our type, stamped now, signed
 * under that agent's key.
 */
function answer_in_place(
  state: DirectorState,
  bytes: Uint8Array,
  d: number,
  desc: Int32Array,
  server: number,
  type: number,
): void {
  const o = desc[d];
  const out = state.parse_out;
  const at = out[PAYLOAD_OFFSET];
  const epoch = datagram_epoch(bytes, at);
  const id = datagram_id(bytes, at);
  const a = state.frame_address;
  a[FA_DST_MAC_HI] = mac_hi(bytes, o + 6);
  a[FA_DST_MAC_LO] = mac_lo(bytes, o + 6);
  a[FA_SRC_MAC_HI] = state.director_mac_hi;
  a[FA_SRC_MAC_LO] = state.director_mac_lo;
  a[FA_DST_IP] = out[SRC_IP];
  a[FA_SRC_IP] = state.config.address;
  a[FA_DST_PORT] = out[SRC_PORT];
  a[FA_SRC_PORT] = state.config.handoff_port;
  // an untagged frame (the burst drops VLANs), so the datagram is at o + DF_DATAGRAM
  desc[d + 1] = write_datagram_frame(
    bytes,
    o,
    a,
    type,
    epoch,
    id,
    FLOW_KEY_BYTES,
    0,
    datagram_agent(bytes, at),
    wire_clock(state.io.wall_clock()),
  );
  const dg = o + DF_DATAGRAM;
  const signed = datagram_signed_length(FLOW_KEY_BYTES);
  state.io.sign(
    server_word(state.selection, server, SELECTION_SERVER_KEY_SLOT),
    dg,
    signed,
    dg + signed,
  );
  seal_datagram_frame(bytes, o);
  desc[d + 2] = state.config.port;
}
