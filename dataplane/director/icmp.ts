// ICMP errors about handed-off flows, on their way to the flow's server.
//
// After a hand-off the server answers the client with src = VIP (direct
// server return), so a router on the way to the client that cannot forward
// one of those segments (too big with DF set: type 3 code 4 with the
// next-hop MTU; or TTL exceeded, unreachable, parameter problem) sends its
// error to the VIP, which is us. Path-MTU discovery works only if that error
// reaches the stack that sent the segment: for an error whose quoted
// datagram is a TCP segment VIP:vport → client:cport of a flow the director
// forwards (FORWARDING, or HANDING with a server being tried), the frame goes
// to that flow's server with only its Ethernet header rewritten, as the
// client's frames do (segment.ts to_server). The agent in front of the
// server moves the quoted sequence number into the stack's space; the quote
// is in the director's space here, and the director leaves it alone.
//
// Everything else is dropped and counted, one reason each: a bad ICMP
// checksum; a quote that is not an IPv4 header plus the first 8 bytes of a
// TCP header from the VIP the error was sent to (truncated, IHL beyond the
// quote, another protocol, a later fragment, another source); a flow that
// does not exist; a flow the director terminates itself or has no server
// for yet (its own segments are small and it keeps no path MTU). The
// director never answers an ICMP error (RFC 1122 section 3.2.2), forwards no
// other ICMP type (redirects stay here: a server must not reroute on one),
// and does not keep a flow alive for an ICMP error (flow_touch is the
// client's). Per packet: no allocation, never throws.

import { icmp_checksum_ok } from "../checksum.ts";
import { quoted_tcp_header } from "../icmp_quote.ts";

export { is_icmp_error } from "../icmp_quote.ts";
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
} from "../packet.ts";
import {
  C,
  D_FLAGS,
  D_STATE,
  type DirectorState,
  F_TRYING,
  STATE_FORWARDING,
  STATE_HANDING,
  VALUES_PER_FLOW,
} from "./state.ts";
import { to_server } from "./segment.ts";

/**
 * An ICMP error to a VIP (parse_out holds the frame). True: it goes to the
 * quoted flow's server, Ethernet header rewritten; false: dropped, counted.
 */
export function icmp_error_to_server(state: DirectorState, bytes: Uint8Array, o: number): boolean {
  const c = state.counters;
  const out = state.parse_out;
  if (!icmp_checksum_ok(bytes, out[L3_OFFSET])) {
    c[C.dropped_icmp_bad_checksum]++;
    return false;
  }
  const quote = quoted_tcp_header(bytes, out[L4_OFFSET], out[L4_LENGTH], out[DST_IP]);
  if (quote < 0) {
    c[C.dropped_icmp_malformed]++;
    return false;
  }
  const tcp = quote + ((bytes[quote] & 0x0f) << 2);
  // the quoted segment went VIP → client: the flow is keyed client → VIP
  const index = flow_lookup(
    state.table,
    read_u32(bytes, quote + IPV4_DST),
    read_u32(bytes, quote + IPV4_SRC),
    read_u16(bytes, tcp + 2),
    read_u16(bytes, tcp),
  );
  if (index < 0) {
    c[C.dropped_icmp_unknown_flow]++;
    return false;
  }
  const values = state.table.values;
  const v = index * VALUES_PER_FLOW;
  const flow_state = values[v + D_STATE];
  if (
    flow_state !== STATE_FORWARDING &&
    !(flow_state === STATE_HANDING && (values[v + D_FLAGS] & F_TRYING) !== 0)
  ) {
    c[C.dropped_icmp_not_forwarded]++;
    return false;
  }
  to_server(state, bytes, o, v);
  c[C.icmp_errors_forwarded]++;
  return true;
}
