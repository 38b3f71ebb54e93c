// ICMP errors about handed-off flows, into the stack's sequence space.
//
// The stack sends a handed-off flow's segments from the VIP (direct server
// return), so a router that cannot forward one (too big with DF set: type 3
// code 4 with the next-hop MTU; or TTL exceeded, unreachable, parameter
// problem) sends its error to the VIP; the director forwards it here (its
// icmp.ts). Its quote is the segment as the client's side saw it, VIP:vport
// → client:cport with seq in the director's space, but the stack looks the
// quote up in its own (Linux's tcp_v4_err drops an error whose quoted seq is
// outside SND.UNA..SND.NXT, RFC 5927 section 4.1). So the quoted seq moves
// back into the stack's space: the inverse of translate_to_client, seq +
// V_ISN_DELTA. The quoted IP and TCP checksums stay as they are (a quote is a
// copy, and RFC 1812 section 4.3.2.3 lets a router quote a datagram it has
// already changed or cut); the ICMP checksum is updated for the changed
// bytes (RFC 1624); L2 dst = the stack's MAC. The stack then lowers that
// connection's MSS (path-MTU discovery) or reports the error to it. The
// quoted ack, SACK blocks and TSecr are in the client's space, which the
// stack shares (client → server sequence numbers are not translated); the
// quoted TSval and window are the director's, and no stack reads them.
//
// From the fabric, to a VIP a hand-off named (is_known_vip): an error with
// a bad checksum, or a quote that is not an IPv4 header and 8 bytes of TCP
// from that VIP, is dropped and counted (as burst.ts drops whatever it cannot
// parse that claims such a VIP); one quoting no handed-off flow is dropped
// and counted, or the stack would take it for a connection of its own on
// the VIP; one quoting a flow still being adopted is dropped (the stack has
// not sent the client anything yet). Errors quoting another protocol, and
// other ICMP, pass untouched as before.
//
// From the stack, ICMP passes untouched (burst.ts): an error the stack
// sends about a client → VIP segment quotes the client's own seq, which is
// not translated, and seq is all a client's TCP checks in a quote; the
// quoted ack is in the stack's space, but no receiver reads it.
//
// Per packet: no allocation, never throws; the flow is not kept alive by an
// ICMP error (flow_touch is for its segments).

import { checksum_update32, icmp_checksum_ok } from "../checksum.ts";
import { is_icmp_error, QUOTE_NOT_TCP, quoted_tcp_header } from "../icmp_quote.ts";
import { flow_lookup } from "../flow_table.ts";
import {
  DST_IP,
  IPV4_DST,
  IPV4_SRC,
  L3_OFFSET,
  L4_LENGTH,
  L4_OFFSET,
  read_u16,
  read_u32,
  TCP_SEQ,
  write_mac_words,
  write_u32,
} from "../packet.ts";
import {
  type AgentState,
  C,
  STATE_CLOSING,
  STATE_ESTABLISHED,
  V_ISN_DELTA,
  V_STATE,
  VALUES_PER_FLOW,
} from "./state.ts";

const ICMP_CHECKSUM = 2;

/**
 * An ICMP message from the fabric to a known VIP (parse_out holds it). True:
 * on to the stack (translated, or untouched), counted; false: dropped, counted.
 */
export function icmp_to_stack(state: AgentState, bytes: Uint8Array, o: number): boolean {
  const c = state.counters;
  const out = state.parse_out;
  const icmp = out[L4_OFFSET];
  if (!is_icmp_error(bytes[icmp])) {
    c[C.passed_to_server]++;
    return true;
  }
  if (!icmp_checksum_ok(bytes, out[L3_OFFSET])) {
    c[C.dropped_icmp_bad_checksum]++;
    return false;
  }
  const quote = quoted_tcp_header(bytes, icmp, out[L4_LENGTH], out[DST_IP]);
  if (quote === QUOTE_NOT_TCP) {
    c[C.passed_to_server]++; // not about a flow the agent translates
    return true;
  }
  if (quote < 0) {
    c[C.dropped_icmp_malformed]++;
    return false;
  }
  const tcp = quote + ((bytes[quote] & 0x0f) << 2);
  // the quoted segment went VIP → client: the flow is keyed client → VIP
  const table = state.table;
  const index = flow_lookup(
    table,
    read_u32(bytes, quote + IPV4_DST),
    read_u32(bytes, quote + IPV4_SRC),
    read_u16(bytes, tcp + 2),
    read_u16(bytes, tcp),
  );
  if (index < 0) {
    c[C.dropped_icmp_unknown_flow]++;
    return false;
  }
  const v = index * VALUES_PER_FLOW;
  const flow_state = table.values[v + V_STATE];
  if (flow_state !== STATE_ESTABLISHED && flow_state !== STATE_CLOSING) {
    c[C.dropped_while_adopting]++;
    return false;
  }
  // the quoted seq sits at an even offset into the ICMP message (8 + IHL + 4),
  // so the 32-bit update applies to its checksum as it is
  const seq = read_u32(bytes, tcp + TCP_SEQ);
  const stack_seq = (seq + table.values[v + V_ISN_DELTA]) >>> 0;
  write_u32(bytes, tcp + TCP_SEQ, stack_seq);
  checksum_update32(bytes, icmp + ICMP_CHECKSUM, seq, stack_seq);
  write_mac_words(bytes, o, state.server_mac_hi, state.server_mac_lo);
  c[C.icmp_errors_translated]++;
  return true;
}
