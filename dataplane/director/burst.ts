// The director's fast path: every frame of a burst from the fabric port gets
// an action (sent back out of the port, rewritten in place, or dropped) and
// a counter. ARP and ICMP echo for the VIPs are answered here, ICMP errors
// about handed-off flows go to their servers (icmp.ts); TCP goes to
// the handshake (no flow yet) or to the flow's state. A FORWARDING flow's
// frames change only their Ethernet header. Replies that answer a frame are
// written into that frame's mbuf; nothing is reflected, nothing allocated.

import { DESC_WORDS, DROP } from "../../native/mod.ts";
import { dropped_in_burst } from "../burst_tally.ts";
import { icmp_checksum_set, ipv4_checksum_set } from "../checksum.ts";
import { flow_lookup } from "../flow_table.ts";
import {
  DST_IP,
  DST_PORT,
  ETHERTYPE,
  ETHERTYPE_ARP,
  ETHERTYPE_IPV4,
  IP_PROTOCOL,
  IP_PROTOCOL_ICMP,
  IP_PROTOCOL_TCP,
  IP_PROTOCOL_UDP,
  L3_OFFSET,
  L4_OFFSET,
  mac_hi,
  mac_is_multicast,
  mac_lo,
  parse_frame,
  PARSE_OK,
  PAYLOAD_LENGTH,
  read_u16,
  read_u32,
  SRC_IP,
  SRC_PORT,
  TCP_FLAG_ACK,
  TCP_FLAG_FIN,
  TCP_FLAG_RST,
  TCP_FLAG_SYN,
  TCP_FLAGS,
  VLAN_TCI,
  write_mac_words,
  write_u16,
  write_u32,
} from "../packet.ts";
import {
  bad_source_address,
  C,
  D_DIRECTOR_ISN,
  D_FLAGS,
  D_STATE,
  type DirectorState,
  F_CLIENT_CLOSING,
  F_COMMITTED,
  F_TRYING,
  find_vip,
  is_own_ip,
  is_vip_ip,
  STATE_CLOSING,
  STATE_FORWARDING,
  STATE_READING,
  STATE_RESPONDING,
  sync_vips,
  VALUES_PER_FLOW,
} from "./state.ts";
import { agent_datagram } from "./answers.ts";
import { seq_sub } from "../seq.ts";
import { cookie_ack, NOT_A_COOKIE, replace_flow, syn_ack_in_place } from "./handshake.ts";
import { carried_frame } from "./carry.ts";
import { closing_frame, reading_frame, responding_frame } from "./request.ts";
import { forwarding_frame, is_reuse_ack, rst_on_flow, syn_on_flow } from "./guard.ts";
import { to_server } from "./segment.ts";
import { icmp_error_to_server, is_icmp_error } from "./icmp.ts";
import { BFD_PORT, bfd_receive } from "./bfd.ts";

/** A burst from the fabric port: every frame gets an action and a counter. */
export function director_burst(
  state: DirectorState,
  bytes: Uint8Array,
  desc: Int32Array,
  n: number,
  now: number,
): void {
  const c = state.counters;
  const out = state.parse_out;
  const port = state.config.port;
  c[C.rx] += n;
  sync_vips(state); // a reload's VIPs, once per burst
  for (let i = 0; i < n; i++) {
    const d = i * DESC_WORDS;
    const o = desc[d];
    desc[d + 2] = DROP;
    // unicast for another MAC (a switch flooding what it has not learned): not ours to answer
    if (
      desc[d + 1] >= 14 && !mac_is_multicast(bytes, o) &&
      !(mac_hi(bytes, o) === state.director_mac_hi && mac_lo(bytes, o) === state.director_mac_lo)
    ) {
      c[C.dropped_not_ours]++;
      continue;
    }
    if (parse_frame(bytes, o, desc[d + 1], out) !== PARSE_OK) {
      c[C.dropped_malformed]++;
      continue;
    }
    if (out[VLAN_TCI] >= 0) {
      c[C.dropped_vlan]++;
      continue;
    }
    const ethertype = out[ETHERTYPE];
    if (ethertype === ETHERTYPE_ARP) {
      if (arp_reply_in_place(state, bytes, o, d, desc)) desc[d + 2] = port;
      continue;
    }
    if (
      state.bfd !== null && ethertype === ETHERTYPE_IPV4 && out[IP_PROTOCOL] === IP_PROTOCOL_UDP &&
      out[DST_IP] === (state.config.address | 0) && out[DST_PORT] === BFD_PORT
    ) {
      bfd_receive(state.bfd, bytes, o, now); // the routing daemon's BFD (bfd.ts): consumed
      continue;
    }
    if (
      ethertype === ETHERTYPE_IPV4 && out[IP_PROTOCOL] === IP_PROTOCOL_UDP &&
      out[DST_IP] === (state.config.address | 0) && out[DST_PORT] === state.config.handoff_port
    ) {
      // an agent's answer; in its own mbuf when the director answers back (answers.ts)
      agent_datagram(state, bytes, d, desc, now);
      continue;
    }
    if (ethertype !== ETHERTYPE_IPV4 || !is_vip_ip(state, out[DST_IP])) {
      c[C.dropped_not_vip]++;
      continue;
    }
    const protocol = out[IP_PROTOCOL];
    if (protocol === IP_PROTOCOL_ICMP) {
      // an error about a handed-off flow goes to its server (icmp.ts); echo is answered here
      const sent = is_icmp_error(bytes[out[L4_OFFSET]])
        ? icmp_error_to_server(state, bytes, o)
        : echo_reply_in_place(state, bytes, o);
      if (sent) desc[d + 2] = port;
      continue;
    }
    if (protocol !== IP_PROTOCOL_TCP) {
      c[C.dropped_other]++;
      continue;
    }
    if (tcp_frame(state, bytes, o, d, desc, now)) desc[d + 2] = port;
  }
  c[C.frames_dropped] += dropped_in_burst(desc, n);
}

/** An ARP request for a VIP or the director's address becomes the reply; anything else is dropped. */
function arp_reply_in_place(
  state: DirectorState,
  bytes: Uint8Array,
  o: number,
  d: number,
  desc: Int32Array,
): boolean {
  const a = state.parse_out[L3_OFFSET];
  // request, Ethernet/IPv4, for one of our VIPs
  if (
    desc[d + 1] < a + 28 - o || read_u16(bytes, a + 6) !== 1 ||
    !is_own_ip(state, read_u32(bytes, a + 24))
  ) {
    state.counters[C.dropped_not_vip]++;
    return false;
  }
  // target ← sender, sender ← (director MAC, the address asked for); Ethernet back to the asker
  const vip = read_u32(bytes, a + 24);
  for (let k = 0; k < 10; k++) bytes[a + 18 + k] = bytes[a + 8 + k];
  write_mac_words(bytes, a + 8, state.director_mac_hi, state.director_mac_lo);
  write_u32(bytes, a + 14, vip);
  write_u16(bytes, a + 6, 2);
  for (let k = 0; k < 6; k++) bytes[o + k] = bytes[a + 18 + k];
  write_mac_words(bytes, o + 6, state.director_mac_hi, state.director_mac_lo);
  state.counters[C.arp_replies]++;
  return true;
}

/** An ICMP echo request to a VIP becomes the echo reply. */
function echo_reply_in_place(state: DirectorState, bytes: Uint8Array, o: number): boolean {
  const out = state.parse_out;
  const ip = out[L3_OFFSET];
  const icmp = out[L4_OFFSET];
  if (bytes[icmp] !== 8) {
    state.counters[C.dropped_other]++;
    return false;
  }
  if (bad_source_address(state, out[SRC_IP])) {
    state.counters[C.dropped_bad_source]++; // the reply would go to a group, or to ourselves
    return false;
  }
  swap_l2_l3(state, bytes, o, ip);
  bytes[icmp] = 0;
  icmp_checksum_set(bytes, ip);
  state.counters[C.echo_replies]++;
  return true;
}

/** Back towards the sender: Ethernet to its MAC from ours, IPv4 addresses swapped (checksum unchanged). */
function swap_l2_l3(state: DirectorState, bytes: Uint8Array, o: number, ip: number): void {
  for (let k = 0; k < 6; k++) bytes[o + k] = bytes[o + 6 + k];
  write_mac_words(bytes, o + 6, state.director_mac_hi, state.director_mac_lo);
  const src = read_u32(bytes, ip + 12);
  write_u32(bytes, ip + 12, read_u32(bytes, ip + 16));
  write_u32(bytes, ip + 16, src);
  bytes[ip + 8] = 64;
  ipv4_checksum_set(bytes, ip);
}

/** A TCP frame to a VIP. True: the (rewritten) frame goes out of the port. */
function tcp_frame(
  state: DirectorState,
  bytes: Uint8Array,
  o: number,
  d: number,
  desc: Int32Array,
  now: number,
): boolean {
  const c = state.counters;
  const out = state.parse_out;
  const client_ip = out[SRC_IP];
  const vip = out[DST_IP];
  const client_port = out[SRC_PORT];
  const vip_port = out[DST_PORT];
  const flags = out[TCP_FLAGS];
  const index = flow_lookup(state.table, client_ip, vip, client_port, vip_port);
  if (index >= 0) return established_frame(state, bytes, o, d, desc, index, now);
  // no flow has such a source or port (they are refused here), so the check
  // costs nothing on the established path
  if (client_port === 0 || bad_source_address(state, client_ip)) {
    c[C.dropped_bad_source]++;
    return false;
  }
  if (vip_port === 0) {
    c[C.dropped_bad_port]++;
    return false;
  }
  const vip_index = find_vip(state, vip, vip_port);
  if (vip_index < 0) {
    c[C.dropped_port_closed]++;
    return false;
  }
  const control = flags & (TCP_FLAG_SYN | TCP_FLAG_ACK | TCP_FLAG_RST | TCP_FLAG_FIN);
  if (control === TCP_FLAG_SYN) return syn_ack_in_place(state, bytes, o, d, desc, now);
  // A bare FIN never completes a handshake: the FIN of a flow closed before
  // its request, arriving again after we forgot it, carries a valid cookie
  // and would bring the flow back. Data with a FIN may (Linux puts the FIN
  // of a shutdown() on the last unsent segment, so a lost handshake ACK can
  // leave the request and FIN as the first segment we see).
  if (
    control === TCP_FLAG_ACK ||
    (control === (TCP_FLAG_ACK | TCP_FLAG_FIN) && out[PAYLOAD_LENGTH] > 0)
  ) {
    const taken = cookie_ack(state, bytes, o, d, desc, vip_index, now);
    if (taken !== NOT_A_COOKIE) return taken === 1;
  }
  // no cookie of ours: a connection some director handed off (carry.ts)
  if ((control & TCP_FLAG_SYN) === 0) return carried_frame(state, bytes, o, now);
  c[C.dropped_no_flow]++;
  return false;
}

function established_frame(
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
  const flow_state = values[v + D_STATE];
  if (is_reuse_ack(state, bytes, v)) return replace_flow(state, bytes, o, d, desc, index, now);
  if (flow_state === STATE_FORWARDING) {
    return forwarding_frame(state, bytes, o, d, desc, index, now);
  }
  // the flows the director terminates itself: RFC 5961 (guard.ts)
  if ((flags & TCP_FLAG_SYN) !== 0) return syn_on_flow(state, bytes, o, d, desc, index, now);
  if ((flags & TCP_FLAG_RST) !== 0) return rst_on_flow(state, bytes, o, d, desc, index, now);
  if (flow_state === STATE_READING) return reading_frame(state, bytes, o, d, desc, index, now);
  if (flow_state === STATE_RESPONDING) return responding_frame(state, bytes, o, d, desc, index);
  if (flow_state === STATE_CLOSING) return closing_frame(state, bytes, o, d, desc, index);
  if ((values[v + D_FLAGS] & F_TRYING) !== 0) {
    // The server may answer before its agent's ACK reaches us: the client's
    // ACKs of that answer go to the server being tried (its agent drops them
    // if it refuses the hand-off).
    note_commitment(state, bytes, index);
    // the client may close before the agent's ACK comes (the server answered at once):
    // remembered, so a new SYN on the 4-tuple is taken for a new connection
    if ((flags & (TCP_FLAG_RST | TCP_FLAG_FIN)) !== 0) values[v + D_FLAGS] |= F_CLIENT_CLOSING;
    to_server(state, bytes, o, v);
    c[C.forwarded_while_handing]++;
    return true;
  }
  c[C.dropped_while_handing]++; // the client retransmits once the flow is forwarded
  return false;
}

/**
 * The director itself sent the client nothing but its SYN/ACK and bare ACKs
 * (seq ISN_d + 1): an ACK beyond that acknowledges bytes of the server being
 * tried. From then on that server has the connection (F_COMMITTED): no
 * time-out or answer moves it elsewhere.
 */
function note_commitment(state: DirectorState, bytes: Uint8Array, index: number): void {
  const values = state.table.values;
  const v = index * VALUES_PER_FLOW;
  if ((values[v + D_FLAGS] & F_COMMITTED) !== 0) return;
  if ((state.parse_out[TCP_FLAGS] & TCP_FLAG_ACK) === 0) return;
  const ack = read_u32(bytes, state.parse_out[L4_OFFSET] + 8);
  if (seq_sub(ack, (values[v + D_DIRECTOR_ISN] + 1) >>> 0) <= 0) return;
  values[v + D_FLAGS] |= F_COMMITTED;
  state.counters[C.handoffs_committed]++;
}
