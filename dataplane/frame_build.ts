// Builders of whole frames (Ethernet, optional VLAN tags, IPv4 with TCP,
// UDP or ICMP echo; ARP) with full checksums: for tests, fixtures, the
// generator and the slow-path frames the roles emit. Not for the fast path:
// every call allocates its frame.

import {
  icmp_checksum_set,
  ipv4_checksum_set,
  tcp_checksum_set,
  udp_checksum_set,
} from "./checksum.ts";
import { encode_tcp_options, type TcpOption } from "./tcp_options.ts";
import {
  ARP_LENGTH,
  ARP_OPERATION_AT,
  ARP_REPLY,
  ARP_REQUEST,
  ARP_SENDER_IP,
  ARP_SENDER_MAC,
  ARP_TARGET_IP,
  ARP_TARGET_MAC,
  ETH_ADDRESS_LENGTH,
  ETH_DST,
  ETH_HEADER_LENGTH,
  ETH_SRC,
  ETH_TYPE,
  ETHERTYPE_ARP,
  ETHERTYPE_IPV4,
  ETHERTYPE_QINQ,
  ETHERTYPE_VLAN,
  ICMP_ECHO_REPLY,
  ICMP_ECHO_REQUEST,
  ICMP_HEADER_LENGTH,
  IP_PROTOCOL_ICMP,
  IP_PROTOCOL_TCP,
  IP_PROTOCOL_UDP,
  ip_to_u32,
  IPV4_DST,
  IPV4_FLAG_DF,
  IPV4_FRAGMENT,
  IPV4_HEADER_MIN_LENGTH,
  IPV4_ID,
  IPV4_PROTOCOL,
  IPV4_SRC,
  IPV4_TOS,
  IPV4_TOTAL_LENGTH,
  IPV4_TTL,
  IPV4_VERSION_IHL,
  mac_to_bytes,
  TCP_ACK,
  TCP_DATA_OFFSET,
  TCP_DST_PORT,
  TCP_FLAG_ACK,
  TCP_FLAGS_BYTE,
  TCP_HEADER_MIN_LENGTH,
  TCP_SEQ,
  TCP_SRC_PORT,
  TCP_URGENT,
  TCP_WINDOW,
  UDP_DST_PORT,
  UDP_HEADER_LENGTH,
  UDP_LENGTH,
  UDP_SRC_PORT,
  VLAN_TAG_LENGTH,
  write_u16,
  write_u32,
} from "./packet.ts";

export const BROADCAST_MAC = "ff:ff:ff:ff:ff:ff";

/** Payload as bytes, text (UTF-8), or a length filled with a repeating pattern. */
export type PayloadSpec = Uint8Array | string | number;

/** Fields common to every IPv4 frame a builder makes. */
export interface Ipv4FrameSpec {
  src_mac?: string;
  dst_mac?: string;
  src_ip: string;
  dst_ip: string;
  /** 802.1Q VID (or whole TCI) of a single tag. */
  vlan?: number;
  /** Outer 802.1ad (0x88a8) tag; with `vlan` it makes a QinQ frame. */
  outer_vlan?: number;
  ip_id?: number;
  ttl?: number;
  tos?: number;
  /** IPv4 flags + fragment offset word; default DF. */
  fragment?: number;
  /** IPv4 options, padded with EOL to a multiple of 4. */
  ip_options?: Uint8Array;
  /** Pad the frame with zeros to this length (e.g. ETH_MIN_FRAME_LENGTH). */
  pad_to?: number;
}

export interface TcpSpec extends Ipv4FrameSpec {
  src_port: number;
  dst_port: number;
  seq?: number;
  ack?: number;
  /** TCP_FLAG_* bits; default ACK. */
  flags?: number;
  window?: number;
  options?: readonly TcpOption[];
  payload?: PayloadSpec;
  urgent?: number;
}

export interface UdpSpec extends Ipv4FrameSpec {
  src_port: number;
  dst_port: number;
  payload?: PayloadSpec;
}

export interface IcmpEchoSpec extends Ipv4FrameSpec {
  reply?: boolean;
  id?: number;
  sequence?: number;
  payload?: PayloadSpec;
}

export interface ArpSpec {
  operation: "request" | "reply";
  sender_mac: string;
  sender_ip: string;
  /** Zero for a request unless given. */
  target_mac?: string;
  target_ip: string;
  /** Ethernet source; default sender_mac. */
  src_mac?: string;
  /** Ethernet destination; default broadcast for a request, target_mac for a reply. */
  dst_mac?: string;
  vlan?: number;
  pad_to?: number;
}

const DEFAULT_SRC_MAC = "02:00:00:00:00:01";
const DEFAULT_DST_MAC = "02:00:00:00:00:02";

export function payload_bytes(payload: PayloadSpec | undefined): Uint8Array {
  if (payload === undefined) return new Uint8Array(0);
  if (typeof payload === "string") return new TextEncoder().encode(payload);
  if (typeof payload === "number") {
    const bytes = new Uint8Array(payload);
    for (let i = 0; i < payload; i++) bytes[i] = 0x61 + (i % 26); // "abc…z", easy to eyeball
    return bytes;
  }
  return payload;
}

// Ethernet (+ tags) header for the given inner ethertype.
function l2_header(
  spec: { src_mac?: string; dst_mac?: string; vlan?: number; outer_vlan?: number },
  ethertype: number,
): Uint8Array {
  const tags = (spec.vlan === undefined ? 0 : 1) + (spec.outer_vlan === undefined ? 0 : 1);
  const header = new Uint8Array(ETH_HEADER_LENGTH + tags * VLAN_TAG_LENGTH);
  header.set(mac_to_bytes(spec.dst_mac ?? DEFAULT_DST_MAC), ETH_DST);
  header.set(mac_to_bytes(spec.src_mac ?? DEFAULT_SRC_MAC), ETH_SRC);
  let p = ETH_TYPE;
  if (spec.outer_vlan !== undefined) {
    write_u16(header, p, ETHERTYPE_QINQ);
    write_u16(header, p + 2, spec.outer_vlan);
    p += VLAN_TAG_LENGTH;
  }
  if (spec.vlan !== undefined) {
    write_u16(header, p, ETHERTYPE_VLAN);
    write_u16(header, p + 2, spec.vlan);
    p += VLAN_TAG_LENGTH;
  }
  write_u16(header, p, ethertype);
  return header;
}

// Assembles L2 + IPv4 + l4 bytes; returns the frame and where IPv4 starts.
function ipv4_frame(spec: Ipv4FrameSpec, protocol: number, l4: Uint8Array) {
  const l2 = l2_header(spec, ETHERTYPE_IPV4);
  const raw_options = spec.ip_options ?? new Uint8Array(0);
  const options_length = Math.ceil(raw_options.length / 4) * 4;
  if (options_length > 40) throw new RangeError("IPv4 options exceed 40 bytes");
  const ihl = IPV4_HEADER_MIN_LENGTH + options_length;
  const total = ihl + l4.length;
  if (total > 0xffff) throw new RangeError(`IPv4 packet of ${total} bytes`);
  const frame_length = Math.max(l2.length + total, spec.pad_to ?? 0);
  const frame = new Uint8Array(frame_length);
  frame.set(l2, 0);
  const l3 = l2.length;
  frame[l3 + IPV4_VERSION_IHL] = 0x40 | (ihl >> 2);
  frame[l3 + IPV4_TOS] = spec.tos ?? 0;
  write_u16(frame, l3 + IPV4_TOTAL_LENGTH, total);
  write_u16(frame, l3 + IPV4_ID, spec.ip_id ?? 0);
  write_u16(frame, l3 + IPV4_FRAGMENT, spec.fragment ?? IPV4_FLAG_DF);
  frame[l3 + IPV4_TTL] = spec.ttl ?? 64;
  frame[l3 + IPV4_PROTOCOL] = protocol;
  write_u32(frame, l3 + IPV4_SRC, ip_to_u32(spec.src_ip));
  write_u32(frame, l3 + IPV4_DST, ip_to_u32(spec.dst_ip));
  frame.set(raw_options, l3 + IPV4_HEADER_MIN_LENGTH);
  frame.set(l4, l3 + ihl);
  ipv4_checksum_set(frame, l3);
  return { frame, l3 };
}

/** An Ethernet/IPv4/TCP frame with correct IPv4 and TCP checksums. */
export function build_tcp(spec: TcpSpec): Uint8Array {
  const options = encode_tcp_options(spec.options ?? []);
  const payload = payload_bytes(spec.payload);
  const header_length = TCP_HEADER_MIN_LENGTH + options.length;
  const l4 = new Uint8Array(header_length + payload.length);
  write_u16(l4, TCP_SRC_PORT, spec.src_port);
  write_u16(l4, TCP_DST_PORT, spec.dst_port);
  write_u32(l4, TCP_SEQ, spec.seq ?? 0);
  write_u32(l4, TCP_ACK, spec.ack ?? 0);
  l4[TCP_DATA_OFFSET] = (header_length >> 2) << 4;
  l4[TCP_FLAGS_BYTE] = spec.flags ?? TCP_FLAG_ACK;
  write_u16(l4, TCP_WINDOW, spec.window ?? 65535);
  write_u16(l4, TCP_URGENT, spec.urgent ?? 0);
  l4.set(options, TCP_HEADER_MIN_LENGTH);
  l4.set(payload, header_length);
  const { frame, l3 } = ipv4_frame(spec, IP_PROTOCOL_TCP, l4);
  tcp_checksum_set(frame, l3);
  return frame;
}

/** An Ethernet/IPv4/UDP frame with correct checksums. */
export function build_udp(spec: UdpSpec): Uint8Array {
  const payload = payload_bytes(spec.payload);
  const l4 = new Uint8Array(UDP_HEADER_LENGTH + payload.length);
  write_u16(l4, UDP_SRC_PORT, spec.src_port);
  write_u16(l4, UDP_DST_PORT, spec.dst_port);
  write_u16(l4, UDP_LENGTH, l4.length);
  l4.set(payload, UDP_HEADER_LENGTH);
  const { frame, l3 } = ipv4_frame(spec, IP_PROTOCOL_UDP, l4);
  udp_checksum_set(frame, l3);
  return frame;
}

/** An ICMP echo request (or reply) with correct checksums. */
export function build_icmp_echo(spec: IcmpEchoSpec): Uint8Array {
  const payload = payload_bytes(spec.payload);
  const l4 = new Uint8Array(ICMP_HEADER_LENGTH + payload.length);
  l4[0] = spec.reply ? ICMP_ECHO_REPLY : ICMP_ECHO_REQUEST;
  write_u16(l4, 4, spec.id ?? 0);
  write_u16(l4, 6, spec.sequence ?? 0);
  l4.set(payload, ICMP_HEADER_LENGTH);
  const { frame, l3 } = ipv4_frame(spec, IP_PROTOCOL_ICMP, l4);
  icmp_checksum_set(frame, l3);
  return frame;
}

/** An Ethernet ARP request or reply (IPv4 over Ethernet). */
export function build_arp(spec: ArpSpec): Uint8Array {
  const request = spec.operation === "request";
  const target_mac = spec.target_mac ?? "00:00:00:00:00:00";
  const l2 = l2_header({
    src_mac: spec.src_mac ?? spec.sender_mac,
    dst_mac: spec.dst_mac ?? (request ? BROADCAST_MAC : target_mac),
    vlan: spec.vlan,
  }, ETHERTYPE_ARP);
  const frame = new Uint8Array(Math.max(l2.length + ARP_LENGTH, spec.pad_to ?? 0));
  frame.set(l2, 0);
  const p = l2.length;
  write_u16(frame, p, 1); // hardware: Ethernet
  write_u16(frame, p + 2, ETHERTYPE_IPV4);
  frame[p + 4] = ETH_ADDRESS_LENGTH;
  frame[p + 5] = 4;
  write_u16(frame, p + ARP_OPERATION_AT, request ? ARP_REQUEST : ARP_REPLY);
  frame.set(mac_to_bytes(spec.sender_mac), p + ARP_SENDER_MAC);
  write_u32(frame, p + ARP_SENDER_IP, ip_to_u32(spec.sender_ip));
  frame.set(mac_to_bytes(target_mac), p + ARP_TARGET_MAC);
  write_u32(frame, p + ARP_TARGET_IP, ip_to_u32(spec.target_ip));
  return frame;
}
