// What the agent tells the director, written by the dataplane itself:
// HANDOFF_ACK when a flow is adopted, HANDOFF_NACK (a reasons.ts code)
// when a hand-off is refused, FLOW_END (with the flow's packet counts)
// when a handed-off flow ends, retransmitted until its FLOW_END_ACK
// (flow_ends.ts). Each is an Ethernet/IPv4/UDP frame written in place in a
// fresh mbuf (state.io.claim), from the server's MAC, the server's fabric
// address and the hand-off port, to where the HANDOFF came from (the
// director's address and port, and the MAC its frame came from: the
// director's, or the router's on an L3 fabric), stored with the flow at
// adoption. Every copy is stamped with the wall clock when it is written,
// signed under this agent's key (state.io.sign, HMAC-SHA256 in the shim)
// and sealed (checksums).
//
// A hand-off that is refused or whose flow ends is finished: a copy of its
// HANDOFF from then on is a replay (replay_cache.ts).
//
// Called from the bursts, adoption and the service call; allocates nothing
// and never throws: a frame that cannot be made is counted (answers_lost:
// no mbuf; answers_without_director: a flow installed without a hand-off).

import {
  datagram_client_ip,
  datagram_epoch,
  datagram_frame_length,
  datagram_id,
  datagram_ports,
  datagram_signed_length,
  datagram_vip,
  DF_DATAGRAM,
  FA_DST_IP,
  FA_DST_MAC_HI,
  FA_DST_MAC_LO,
  FA_DST_PORT,
  FA_SRC_IP,
  FA_SRC_MAC_HI,
  FA_SRC_MAC_LO,
  FA_SRC_PORT,
  FLOW_END_BODY_BYTES,
  FLOW_KEY_BYTES,
  R_CLIENT_IP,
  R_CLIENT_PORT,
  R_EPOCH,
  R_ID,
  R_VIP,
  R_VIP_PORT,
  seal_datagram_frame,
  TYPE_FLOW_END,
  TYPE_FLOW_OWNER,
  TYPE_HANDOFF_ACK,
  TYPE_HANDOFF_NACK,
  wire_clock,
  write_datagram_frame,
  write_datagram_key,
  write_flow_end_counts,
} from "../wire/mod.ts";
import { read_u16, read_u32 } from "../packet.ts";
import {
  type AgentState,
  C,
  note_ended,
  V_DIRECTOR_IP,
  V_DIRECTOR_MAC_HI,
  V_DIRECTOR_MAC_LO,
  V_DIRECTOR_PORT,
  V_EPOCH,
  V_ID,
  V_TO_CLIENT,
  V_TO_SERVER,
  VALUES_PER_FLOW,
} from "./state.ts";
import { replay_finished } from "./replay_cache.ts";
import {
  FE_CLIENT_IP,
  FE_DIRECTOR_IP,
  FE_DIRECTOR_MAC_HI,
  FE_DIRECTOR_MAC_LO,
  FE_DIRECTOR_PORT,
  FE_PORTS,
  FE_REASON,
  FE_TO_CLIENT,
  FE_TO_SERVER,
  FE_VIP,
  FE_WORDS,
  FLOW_END_GIVEN_UP,
  flow_end_next,
  flow_end_track,
  flow_ends_due,
  flow_ends_pending,
} from "./flow_ends.ts";

/** The flow at `index` is adopted: HANDOFF_ACK to its director. */
export function answer_adopted(state: AgentState, index: number): void {
  if (!director_of_flow(state, index)) return;
  const table = state.table;
  const v = index * VALUES_PER_FLOW;
  const values = table.values;
  if (
    send_datagram(
      state,
      TYPE_HANDOFF_ACK,
      values[v + V_EPOCH],
      values[v + V_ID],
      0,
      table.src_ip[index],
      table.dst_ip[index],
      table.ports[index],
      0,
      0,
    )
  ) {
    state.counters[C.acks_sent]++;
  }
}

/**
 * The hand-off of the flow at `index` is refused (call before the flow is
 * removed): it is finished, and its director hears HANDOFF_NACK(reason).
 */
export function answer_refused(state: AgentState, index: number, reason: number): void {
  const table = state.table;
  const v = index * VALUES_PER_FLOW;
  const values = table.values;
  replay_finished(state.replays, values[v + V_EPOCH], values[v + V_ID], state.now, reason);
  if (!director_of_flow(state, index)) return;
  if (
    send_datagram(
      state,
      TYPE_HANDOFF_NACK,
      values[v + V_EPOCH],
      values[v + V_ID],
      reason,
      table.src_ip[index],
      table.dst_ip[index],
      table.ports[index],
      0,
      0,
    )
  ) {
    state.counters[C.nacks_sent]++;
  }
}

/**
 * The flow at `index` ends (call before it is removed): its hand-off is
 * finished, and its director hears FLOW_END(reason) now and again until it
 * acknowledges it.
 */
export function answer_flow_end(state: AgentState, index: number, reason: number): void {
  const c = state.counters;
  const table = state.table;
  const v = index * VALUES_PER_FLOW;
  const values = table.values;
  const epoch = values[v + V_EPOCH];
  const id = values[v + V_ID];
  replay_finished(state.replays, epoch, id, state.now, 0);
  if (!director_of_flow(state, index)) return;
  if (
    send_datagram(
      state,
      TYPE_FLOW_END,
      epoch,
      id,
      reason,
      table.src_ip[index],
      table.dst_ip[index],
      table.ports[index],
      values[v + V_TO_SERVER],
      values[v + V_TO_CLIENT],
    )
  ) {
    c[C.flow_ends_sent]++;
  }
  // kept even when this first copy could not be sent: the retransmission may be
  const fe = state.flow_ends;
  const at = flow_end_track(fe, epoch, id, state.now);
  if (at < 0) {
    c[C.flow_ends_untracked]++; // sent once only
    return;
  }
  const words = fe.table.values;
  words[at + FE_CLIENT_IP] = table.src_ip[index];
  words[at + FE_VIP] = table.dst_ip[index];
  words[at + FE_PORTS] = table.ports[index];
  words[at + FE_REASON] = reason;
  words[at + FE_TO_SERVER] = values[v + V_TO_SERVER];
  words[at + FE_TO_CLIENT] = values[v + V_TO_CLIENT];
  words[at + FE_DIRECTOR_IP] = values[v + V_DIRECTOR_IP];
  words[at + FE_DIRECTOR_PORT] = values[v + V_DIRECTOR_PORT];
  words[at + FE_DIRECTOR_MAC_HI] = values[v + V_DIRECTOR_MAC_HI];
  words[at + FE_DIRECTOR_MAC_LO] = values[v + V_DIRECTOR_MAC_LO];
  c[C.flow_ends_pending] = flow_ends_pending(fe);
}

/** FLOW_ENDs whose retransmission is due: each copy freshly stamped. */
export function resend_flow_ends(state: AgentState, now: number): void {
  const c = state.counters;
  const fe = state.flow_ends;
  const due = flow_ends_due(fe, now);
  if (due === 0) return;
  const words = fe.table.values;
  for (let k = 0; k < due; k++) {
    const at = flow_end_next(fe, k, now);
    if (at < 0) {
      if (at === FLOW_END_GIVEN_UP) c[C.flow_ends_unanswered]++;
      continue;
    }
    const a = state.answer_address;
    a[FA_DST_IP] = words[at + FE_DIRECTOR_IP];
    a[FA_DST_PORT] = words[at + FE_DIRECTOR_PORT];
    a[FA_DST_MAC_HI] = words[at + FE_DIRECTOR_MAC_HI];
    a[FA_DST_MAC_LO] = words[at + FE_DIRECTOR_MAC_LO];
    const index = at / FE_WORDS;
    if (
      send_datagram(
        state,
        TYPE_FLOW_END,
        fe.table.src_ip[index],
        fe.table.dst_ip[index],
        words[at + FE_REASON],
        words[at + FE_CLIENT_IP],
        words[at + FE_VIP],
        words[at + FE_PORTS],
        words[at + FE_TO_SERVER],
        words[at + FE_TO_CLIENT],
      )
    ) {
      c[C.flow_end_retransmits]++;
    }
  }
  c[C.flow_ends_pending] = flow_ends_pending(fe);
}

/**
 * A hand-off refused before it had a flow (its adoption record, made from
 * the datagram being read): finished, and HANDOFF_NACK(reason) to where the
 * datagram came from (state.answer_address, set by handoff_in.ts).
 */
export function refuse_record(state: AgentState, record: Uint8Array, reason: number): void {
  const client_ip = read_u32(record, R_CLIENT_IP) | 0;
  const vip = read_u32(record, R_VIP) | 0;
  const ports = (read_u16(record, R_CLIENT_PORT) << 16) | read_u16(record, R_VIP_PORT);
  if (state.config.orphans_until) {
    // the director fails over: this agent's segments of it are not orphans
    note_ended(state, client_ip, vip, ports);
  }
  const epoch = read_u32(record, R_EPOCH) | 0;
  const id = read_u32(record, R_ID) | 0;
  replay_finished(state.replays, epoch, id, state.now, reason);
  director_of_datagram(state);
  if (send_datagram(state, TYPE_HANDOFF_NACK, epoch, id, reason, client_ip, vip, ports, 0, 0)) {
    state.counters[C.nacks_sent]++;
  }
}

/**
 * HANDOFF_NACK(reason) for the datagram being read (the HANDOFF at d), to
 * where it came from: a refusal before adoption, or a refused hand-off's
 * replay getting its NACK again. Does not mark anything finished.
 */
export function nack_datagram(
  state: AgentState,
  bytes: Uint8Array,
  d: number,
  reason: number,
): void {
  director_of_datagram(state);
  if (
    send_datagram(
      state,
      TYPE_HANDOFF_NACK,
      datagram_epoch(bytes, d) | 0,
      datagram_id(bytes, d) | 0,
      reason,
      datagram_client_ip(bytes, d) | 0,
      datagram_vip(bytes, d) | 0,
      datagram_ports(bytes, d),
      0,
      0,
    )
  ) {
    state.counters[C.nacks_sent]++;
  }
}

/**
 * FLOW_QUERY for the flow at `index`, which this agent holds: the querying
 * director carries the flow now, so the flow's answers go there from now
 * on, under the query's epoch and id (its FLOW_END then matches the entry
 * that director makes), and it hears FLOW_OWNER.
 */
export function answer_owner(state: AgentState, bytes: Uint8Array, d: number, index: number): void {
  const epoch = datagram_epoch(bytes, d) | 0;
  const id = datagram_id(bytes, d) | 0;
  take_director(state, index, epoch, id);
  director_of_datagram(state);
  const table = state.table;
  if (
    send_datagram(
      state,
      TYPE_FLOW_OWNER,
      epoch,
      id,
      0,
      table.src_ip[index],
      table.dst_ip[index],
      table.ports[index],
      0,
      0,
    )
  ) {
    state.counters[C.queries_answered]++;
  }
}

/**
 * The director the datagram being read came from (state.sender) carries
 * the flow at `index` from now on: its answers and FLOW_END go there, under
 * that director's (epoch, id). (Positional: once per answer on the poll loop.)
 */
export function take_director(state: AgentState, index: number, epoch: number, id: number): void {
  const values = state.table.values;
  const v = index * VALUES_PER_FLOW;
  const from = state.sender;
  values[v + V_DIRECTOR_IP] = from[FA_SRC_IP];
  values[v + V_DIRECTOR_PORT] = from[FA_SRC_PORT];
  values[v + V_DIRECTOR_MAC_HI] = from[FA_SRC_MAC_HI];
  values[v + V_DIRECTOR_MAC_LO] = from[FA_SRC_MAC_LO];
  values[v + V_EPOCH] = epoch;
  values[v + V_ID] = id;
}

/** The flow's director into state.answer_address; false (counted) when it has none. */
function director_of_flow(state: AgentState, index: number): boolean {
  const v = index * VALUES_PER_FLOW;
  const values = state.table.values;
  if (values[v + V_DIRECTOR_IP] === 0) {
    state.counters[C.answers_without_director]++;
    return false;
  }
  const a = state.answer_address;
  a[FA_DST_IP] = values[v + V_DIRECTOR_IP];
  a[FA_DST_PORT] = values[v + V_DIRECTOR_PORT];
  a[FA_DST_MAC_HI] = values[v + V_DIRECTOR_MAC_HI];
  a[FA_DST_MAC_LO] = values[v + V_DIRECTOR_MAC_LO];
  return true;
}

/** Where the datagram being read came from (state.sender) into state.answer_address. */
function director_of_datagram(state: AgentState): void {
  const a = state.answer_address;
  const from = state.sender;
  a[FA_DST_IP] = from[FA_SRC_IP];
  a[FA_DST_PORT] = from[FA_SRC_PORT];
  a[FA_DST_MAC_HI] = from[FA_SRC_MAC_HI];
  a[FA_DST_MAC_LO] = from[FA_SRC_MAC_LO];
}

/**
 * Writes, signs, seals and queues one datagram frame to state.answer_address
 * (its source words are the agent's, set once in create_agent_state).
 * Positional (style exception): once per answer on the poll loop.
 */
function send_datagram(
  state: AgentState,
  type: number,
  epoch: number,
  id: number,
  reason: number,
  client_ip: number,
  vip: number,
  ports: number,
  to_server: number,
  to_client: number,
): boolean {
  const io = state.io;
  const body_length = type === TYPE_FLOW_END ? FLOW_END_BODY_BYTES : FLOW_KEY_BYTES;
  const o = io.claim(datagram_frame_length(body_length), state.config.fabric_port);
  if (o < 0) {
    state.counters[C.answers_lost]++; // the pool is empty; the director retransmits (FLOW_END: we do)
    return false;
  }
  const bytes = io.bytes;
  write_datagram_frame(
    bytes,
    o,
    state.answer_address,
    type,
    epoch,
    id,
    body_length,
    reason,
    state.agent_id,
    wire_clock(io.wall_clock()),
  );
  write_datagram_key(bytes, o, client_ip, vip, ports);
  if (type === TYPE_FLOW_END) write_flow_end_counts(bytes, o, to_server, to_client);
  const d = o + DF_DATAGRAM;
  const signed = datagram_signed_length(body_length);
  if (io.sign(d, signed, d + signed) !== 0) {
    // no key in the slot: a set-up error; the frame must not leave unsigned
    io.discard();
    state.counters[C.answers_unsigned]++;
    return false;
  }
  seal_datagram_frame(bytes, o);
  return true;
}
