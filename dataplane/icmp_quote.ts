// The quote inside an ICMP error, read the same way by the director (which
// forwards an error about a handed-off flow to its server) and the agent
// (which translates the quoted sequence number into the stack's space):
// which ICMP types quote a datagram a TCP sender acts on, and where a
// well-formed quote's IPv4 header starts. Plain numbers, no allocation,
// never throws.

import {
  ICMP_HEADER_LENGTH,
  IP_PROTOCOL_TCP,
  IPV4_FRAGMENT,
  IPV4_FRAGMENT_OFFSET_MASK,
  IPV4_HEADER_MIN_LENGTH,
  IPV4_PROTOCOL,
  IPV4_SRC,
  read_u16,
  read_u32,
} from "./packet.ts";

const ICMP_DESTINATION_UNREACHABLE = 3;
const ICMP_TIME_EXCEEDED = 11;
const ICMP_PARAMETER_PROBLEM = 12;
/** What an error must quote at least: the IPv4 header and 8 bytes of its payload (RFC 792). */
const QUOTED_L4_MIN = 8;
export const QUOTE_MALFORMED = -1;
export const QUOTE_NOT_TCP = -2;

/** The ICMP errors a TCP sender acts on (RFC 1122 section 4.2.3.9), each quoting a datagram. */
export function is_icmp_error(type: number): boolean {
  return type === ICMP_DESTINATION_UNREACHABLE || type === ICMP_TIME_EXCEEDED ||
    type === ICMP_PARAMETER_PROBLEM;
}

/**
 * Where the datagram an ICMP error quotes starts (its IPv4 header);
 * QUOTE_NOT_TCP for a well-formed quote of another protocol; QUOTE_MALFORMED
 * when it is not an IPv4 header and 8 bytes of payload (truncated, IHL
 * beyond the quote), is a later fragment (no TCP header), or is not from
 * `from_ip` (int32 bits: the address the error was sent to). The quote's own
 * checksums and total length are not judged (RFC 1812 section 4.3.2.3).
 */
export function quoted_tcp_header(
  bytes: Uint8Array,
  icmp: number,
  icmp_length: number,
  from_ip: number,
): number {
  const quote = icmp + ICMP_HEADER_LENGTH;
  const quote_length = icmp_length - ICMP_HEADER_LENGTH;
  if (quote_length < IPV4_HEADER_MIN_LENGTH + QUOTED_L4_MIN) return QUOTE_MALFORMED;
  if (bytes[quote] >> 4 !== 4) return QUOTE_MALFORMED;
  const ihl = (bytes[quote] & 0x0f) << 2;
  if (ihl < IPV4_HEADER_MIN_LENGTH || ihl + QUOTED_L4_MIN > quote_length) return QUOTE_MALFORMED;
  if ((read_u32(bytes, quote + IPV4_SRC) | 0) !== (from_ip | 0)) return QUOTE_MALFORMED;
  if (bytes[quote + IPV4_PROTOCOL] !== IP_PROTOCOL_TCP) return QUOTE_NOT_TCP;
  if ((read_u16(bytes, quote + IPV4_FRAGMENT) & IPV4_FRAGMENT_OFFSET_MASK) !== 0) {
    return QUOTE_MALFORMED;
  }
  return quote;
}
