// The bursts: every frame from either side of the bump in the wire, one
// burst at a time. Frames of flows that are not handed off pass untouched;
// frames of handed-off flows are translated (translate.ts); the stack's
// handshake answers during adoption are consumed (adoption.ts).
//
// Burst functions allocate nothing and never throw: every frame ends up
// with an action (a port, or DROP) and a counter. Frames the agent makes
// for the stack (SYN, ACK + request, RST) are built in agent_service,
// outside bursts; its answers to the director are written in place into
// fresh mbufs wherever they arise (answers.ts), bursts included.
//
// A frame the parser rejects (truncated headers, lengths that lie, IP
// fragments) passes untouched unless it claims a VIP the agent translates
// for (as destination from the fabric, as source from the stack): such a
// frame is dropped and counted, never handed on untranslated, because the
// stack would see the director's sequence space or the client the stack's.
// The agent does not reassemble fragments (README: no IP fragments).
//
// The stack's common segments (untagged IPv4/TCP, no options or NOP NOP TS,
// of an established flow) take a fast path through a DataView of the region
// (translate.ts: translate_stack_segments); any other frame from the stack
// is parsed in full and takes the general path, which decides.
//
// Hand-off datagrams (UDP to the server's own fabric address at the hand-off
// port) are the agent's: the fabric burst reads each one where it finds it
// (handoff_in.ts, which adopts in the same pass) and consumes the frame.
//
// ICMP errors from the fabric to a VIP quote a handed-off flow's segment in
// the director's space: icmp.ts moves the quote into the stack's (path-MTU
// discovery) and drops those that quote no flow. ICMP from the stack passes.

import { DESC_WORDS, DROP } from "../../native/mod.ts";
import { dropped_in_burst } from "../burst_tally.ts";
import { flow_lookup, flow_touch } from "../flow_table.ts";
import {
  DST_IP,
  DST_PORT,
  ETHERTYPE,
  ETHERTYPE_IPV4,
  IP_PROTOCOL,
  IP_PROTOCOL_ICMP,
  IP_PROTOCOL_TCP,
  IPV4_DST,
  IPV4_HEADER_MIN_LENGTH,
  IPV4_SRC,
  L3_OFFSET,
  L4_OFFSET,
  mac_hi,
  mac_is_multicast,
  mac_lo,
  parse_frame,
  PARSE_IP_FRAGMENT,
  PARSE_OK,
  PAYLOAD_LENGTH,
  read_u32,
  SRC_IP,
  SRC_PORT,
  TCP_FLAG_ACK,
  TCP_FLAG_FIN,
  TCP_FLAG_RST,
  TCP_FLAG_SYN,
  TCP_FLAGS,
} from "../packet.ts";
import {
  type AgentState,
  C,
  ENDED_MEMORY_MS,
  is_known_vip,
  ORPHAN_CAPACITY,
  ORPHAN_GRACE_MS,
  ORPHAN_WORDS,
  STATE_REFUSING,
  STATE_REQUEST_SENT,
  STATE_SYN_SENT,
  V_STATE,
  V_TO_CLIENT,
  V_TO_SERVER,
  VALUES_PER_FLOW,
} from "./state.ts";
import { consume_syn_ack, stack_acknowledged } from "./adoption.ts";
import { translate_stack_segments, translate_to_client, translate_to_server } from "./translate.ts";
import { region_view } from "./translate_parse.ts";
import { client_segment_accepted, track_server_close } from "./close.ts";
import { icmp_to_stack } from "./icmp.ts";
import { handoff_in, is_handoff_frame } from "./handoff_in.ts";

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
  state.now = now;
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
    if (is_handoff_frame(state, bytes, o, len)) {
      // the agent's own: read (and adopted from) here, never the server's
      desc[d + 2] = DROP;
      handoff_in(state, bytes, o, len, now);
      continue;
    }
    desc[d + 2] = server_port;
    const status = parse_frame(bytes, o, len, out);
    if (status !== PARSE_OK) {
      if (claims_known_vip(state, bytes, o + len, IPV4_DST)) {
        desc[d + 2] = DROP;
        c[status === PARSE_IP_FRAGMENT ? C.dropped_fragment : C.dropped_malformed]++;
      } else {
        c[C.passed_to_server]++;
      }
      continue;
    }
    if (out[ETHERTYPE] !== ETHERTYPE_IPV4 || out[IP_PROTOCOL] !== IP_PROTOCOL_TCP) {
      if (out[IP_PROTOCOL] === IP_PROTOCOL_ICMP && is_known_vip(state, out[DST_IP])) {
        // an error about a handed-off flow, into the stack's space (icmp.ts)
        if (!icmp_to_stack(state, bytes, o)) desc[d + 2] = DROP;
        continue;
      }
      c[C.passed_to_server]++;
      continue;
    }
    const index = flow_lookup(table, out[SRC_IP], out[DST_IP], out[SRC_PORT], out[DST_PORT]);
    if (index < 0) {
      if (is_known_vip(state, out[DST_IP])) {
        // the stack would answer with a RST: a director forwards before the
        // adoption is confirmed, and the client retransmits what matters
        desc[d + 2] = DROP;
        if (now < (state.config.orphans_until ?? 0) && note_orphan(state, bytes, o, now)) {
          c[C.dropped_orphan]++; // reset both ways unless its hand-off comes (service.ts)
        } else {
          c[C.dropped_unknown_vip_flow]++;
        }
      } else {
        c[C.passed_to_server]++;
      }
      continue;
    }
    const v = index * VALUES_PER_FLOW;
    const flow_state = values[v + V_STATE];
    if (
      flow_state === STATE_SYN_SENT || flow_state === STATE_REQUEST_SENT ||
      flow_state === STATE_REFUSING
    ) {
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
    c[C.translated_to_server]++;
    // an RST, SYN or FIN the stack will not accept goes to it (for its
    // challenge ACK) but neither closes nor keeps alive the flow here
    if (!client_segment_accepted(state, bytes, index, now)) continue;
    values[v + V_TO_SERVER]++;
    flow_touch(table, index, now);
  }
  c[C.frames_dropped] += dropped_in_burst(desc, n);
}

/**
 * Frames from the server's stack: handed-off flows are translated into the
 * director's state. The common segments go through the fast path
 * (translate_stack_segments) up to the first frame it does not take, which
 * stack_frame does here; then the fast path goes on, so frames keep their
 * order.
 */
export function agent_server_burst(
  state: AgentState,
  bytes: Uint8Array,
  desc: Int32Array,
  n: number,
  now: number,
): void {
  const c = state.counters;
  c[C.server_rx] += n;
  state.now = now;
  const view = region_view(bytes);
  let general = 0;
  for (let i = 0; i < n; i++) {
    i = translate_stack_segments(state, view, desc, i, n, now);
    if (i < n) {
      stack_frame(state, bytes, desc, i * DESC_WORDS, now);
      general++;
    }
  }
  // the fast path drops nothing
  if (general > 0) c[C.frames_dropped] += dropped_in_burst(desc, n);
}

/**
 * One frame from the stack (its descriptor at d), parsed in full
 * (parse_frame): the general path, for every frame the fast path does not
 * take. Exported for the fast path's equivalence test
 * (tests/dataplane/agent/translate_test.ts).
 */
export function stack_frame(
  state: AgentState,
  bytes: Uint8Array,
  desc: Int32Array,
  d: number,
  now: number,
): void {
  const c = state.counters;
  const out = state.parse_out;
  const table = state.table;
  const values = table.values;
  const o = desc[d];
  const len = desc[d + 1];
  desc[d + 2] = state.config.fabric_port;
  const status = parse_frame(bytes, o, len, out);
  if (status !== PARSE_OK) {
    if (claims_known_vip(state, bytes, o + len, IPV4_SRC)) {
      desc[d + 2] = DROP;
      c[status === PARSE_IP_FRAGMENT ? C.dropped_fragment : C.dropped_malformed]++;
    } else {
      c[C.passed_to_fabric]++;
    }
    return;
  }
  if (out[ETHERTYPE] !== ETHERTYPE_IPV4 || out[IP_PROTOCOL] !== IP_PROTOCOL_TCP) {
    c[C.passed_to_fabric]++;
    return;
  }
  // the stack answers client ← VIP: the flow key is (dst, src)
  const index = flow_lookup(table, out[DST_IP], out[SRC_IP], out[DST_PORT], out[SRC_PORT]);
  if (index < 0) {
    c[C.passed_to_fabric]++;
    return;
  }
  const v = index * VALUES_PER_FLOW;
  const flags = out[TCP_FLAGS];
  const flow_state = values[v + V_STATE];
  if (flow_state === STATE_REFUSING) {
    desc[d + 2] = DROP; // its stack half is reset at the next service call
    c[C.dropped_while_adopting]++;
    return;
  }
  if (flow_state === STATE_SYN_SENT) {
    desc[d + 2] = DROP; // the client never sees the stack's handshake
    consume_syn_ack(state, bytes, index, flags, now);
    return;
  }
  if (flow_state === STATE_REQUEST_SENT) {
    if (!stack_acknowledged(state, bytes, index, flags, now)) {
      desc[d + 2] = DROP;
      return;
    }
    // the stack took the request: from here this segment is an ordinary one
    if (out[PAYLOAD_LENGTH] === 0 && (flags & (TCP_FLAG_FIN | TCP_FLAG_RST)) === 0) {
      desc[d + 2] = DROP;
      c[C.stack_ack_consumed]++;
      return;
    }
  }
  if (!translate_to_client(state, bytes, o, v)) {
    desc[d + 2] = DROP;
    c[C.dropped_malformed]++;
    return;
  }
  values[v + V_TO_CLIENT]++;
  flow_touch(table, index, now);
  track_server_close(state, index, flags, now);
  c[C.translated_to_client]++;
}

/**
 * A frame parse_frame rejected: true when its IPv4 header (as far as it is
 * there) names a VIP of a hand-off at `address_at` (IPV4_DST from the
 * fabric, IPV4_SRC from the stack).
 */
function claims_known_vip(
  state: AgentState,
  bytes: Uint8Array,
  frame_end: number,
  address_at: number,
): boolean {
  const out = state.parse_out;
  const l3 = out[L3_OFFSET];
  if (out[ETHERTYPE] !== ETHERTYPE_IPV4 || l3 < 0 || l3 + IPV4_HEADER_MIN_LENGTH > frame_end) {
    return false;
  }
  return is_known_vip(state, read_u32(bytes, l3 + address_at));
}

/**
 * A client segment (with ACK, not SYN or RST) of a flow this agent does not
 * know, while it may be one handed off before a restart: remembered, so the
 * service call can reset both ends if no hand-off claims the 4-tuple in
 * time. False when it is no such segment or the FIFO is full.
 */
function note_orphan(state: AgentState, bytes: Uint8Array, o: number, now: number): boolean {
  const out = state.parse_out;
  const flags = out[TCP_FLAGS];
  if ((flags & (TCP_FLAG_SYN | TCP_FLAG_RST)) !== 0 || (flags & TCP_FLAG_ACK) === 0) return false;
  if (state.orphan_count >= ORPHAN_CAPACITY) return false;
  // a flow of this run that ended (or was refused) lately, or possibly one forgotten: not an orphan
  if (now - state.ended_full_at < ENDED_MEMORY_MS) return false;
  if (flow_lookup(state.ended, out[SRC_IP], out[DST_IP], out[SRC_PORT], out[DST_PORT]) >= 0) {
    return false;
  }
  const at = ((state.orphan_head + state.orphan_count++) % ORPHAN_CAPACITY) * ORPHAN_WORDS;
  const w = state.orphans;
  const tcp = out[L4_OFFSET];
  w[at] = out[SRC_IP];
  w[at + 1] = out[DST_IP];
  w[at + 2] = (out[SRC_PORT] << 16) | out[DST_PORT];
  w[at + 3] = mac_hi(bytes, o + 6);
  w[at + 4] = mac_lo(bytes, o + 6);
  w[at + 5] = read_u32(bytes, tcp + 4) | 0;
  w[at + 6] = read_u32(bytes, tcp + 8) | 0;
  w[at + 7] = (now + ORPHAN_GRACE_MS) | 0;
  return true;
}
