// describe_frame: a frame decoded into a plain object (addresses, ports,
// flags, options, checksums and whether they verify), for test assertions
// and debugging. Not for the fast path: it allocates.

import {
  icmp_checksum_ok,
  ipv4_checksum_ok,
  tcp_checksum_ok,
  udp_checksum_ok,
} from "./checksum.ts";
import { decode_tcp_options, type TcpOption } from "./tcp_options.ts";
import {
  ARP_OPERATION,
  ARP_REQUEST,
  ARP_SENDER_IP,
  ARP_SENDER_MAC,
  ARP_TARGET_IP,
  ARP_TARGET_MAC,
  bytes_to_mac,
  create_parse_out,
  DST_IP,
  DST_PORT,
  ETH_DST,
  ETH_SRC,
  ETHERTYPE,
  IP_HEADER_LENGTH,
  IP_PROTOCOL,
  IP_PROTOCOL_ICMP,
  IP_PROTOCOL_TCP,
  IP_PROTOCOL_UDP,
  IP_TOTAL_LENGTH,
  IPV4_CHECKSUM,
  IPV4_FRAGMENT,
  IPV4_ID,
  IPV4_TOS,
  IPV4_TTL,
  L3_OFFSET,
  L4_OFFSET,
  OUTER_VLAN_TCI,
  parse_frame,
  PARSE_OK,
  PARSE_STATUS_NAMES,
  PAYLOAD_LENGTH,
  PAYLOAD_OFFSET,
  read_u16,
  read_u32,
  SRC_IP,
  SRC_PORT,
  TCP_ACK,
  TCP_CHECKSUM,
  TCP_FLAGS,
  TCP_HEADER_LENGTH,
  TCP_OPTIONS_LENGTH,
  TCP_OPTIONS_OFFSET,
  TCP_SEQ,
  TCP_URGENT,
  TCP_WINDOW,
  u32_to_ip,
  UDP_CHECKSUM,
  UDP_LENGTH,
  VLAN_TCI,
} from "./packet.ts";

export interface FrameDescription {
  status: string;
  dst_mac?: string;
  src_mac?: string;
  ethertype?: number;
  vlan?: number;
  outer_vlan?: number;
  arp?: {
    operation: number;
    sender_mac: string;
    sender_ip: string;
    target_mac: string;
    target_ip: string;
  };
  ipv4?: {
    header_length: number;
    total_length: number;
    id: number;
    fragment: number;
    ttl: number;
    tos: number;
    protocol: number;
    src_ip: string;
    dst_ip: string;
    checksum: number;
    checksum_ok: boolean;
  };
  tcp?: {
    src_port: number;
    dst_port: number;
    seq: number;
    ack: number;
    header_length: number;
    flags: number;
    flag_names: string;
    window: number;
    checksum: number;
    checksum_ok: boolean;
    urgent: number;
    /** null when the options are malformed. */
    options: TcpOption[] | null;
  };
  udp?: {
    src_port: number;
    dst_port: number;
    length: number;
    checksum: number;
    checksum_ok: boolean;
  };
  icmp?: { type: number; code: number; checksum: number; checksum_ok: boolean };
  payload?: Uint8Array;
}

const FLAG_NAMES = ["FIN", "SYN", "RST", "PSH", "ACK", "URG", "ECE", "CWR"];

/** "SYN|ACK" style names of TCP flag bits. */
export function tcp_flag_names(flags: number): string {
  return FLAG_NAMES.filter((_, bit) => (flags & (1 << bit)) !== 0).join("|");
}

export interface DescribeOptions {
  offset?: number;
  length?: number;
}

/** Decodes a frame into a plain object, for test assertions and debugging. */
export function describe_frame(bytes: Uint8Array, options: DescribeOptions = {}): FrameDescription {
  const offset = options.offset ?? 0;
  const length = options.length ?? bytes.length - offset;
  const out = create_parse_out();
  const status = parse_frame(bytes, offset, length, out);
  const description: FrameDescription = {
    status: PARSE_STATUS_NAMES[status] ?? `status_${status}`,
  };
  if (out[ETHERTYPE] === -1) return description;
  description.dst_mac = bytes_to_mac(bytes, offset + ETH_DST);
  description.src_mac = bytes_to_mac(bytes, offset + ETH_SRC);
  description.ethertype = out[ETHERTYPE];
  if (out[VLAN_TCI] !== -1) description.vlan = out[VLAN_TCI];
  if (out[OUTER_VLAN_TCI] !== -1) description.outer_vlan = out[OUTER_VLAN_TCI];
  const l3 = out[L3_OFFSET];
  if (out[ARP_OPERATION] !== -1) {
    description.arp = {
      operation: out[ARP_OPERATION],
      sender_mac: bytes_to_mac(bytes, l3 + ARP_SENDER_MAC),
      sender_ip: u32_to_ip(read_u32(bytes, l3 + ARP_SENDER_IP)),
      target_mac: bytes_to_mac(bytes, l3 + ARP_TARGET_MAC),
      target_ip: u32_to_ip(read_u32(bytes, l3 + ARP_TARGET_IP)),
    };
    return description;
  }
  if (out[IP_HEADER_LENGTH] === -1) return description;
  description.ipv4 = {
    header_length: out[IP_HEADER_LENGTH],
    total_length: out[IP_TOTAL_LENGTH],
    id: read_u16(bytes, l3 + IPV4_ID),
    fragment: read_u16(bytes, l3 + IPV4_FRAGMENT),
    ttl: bytes[l3 + IPV4_TTL],
    tos: bytes[l3 + IPV4_TOS],
    protocol: out[IP_PROTOCOL],
    src_ip: u32_to_ip(out[SRC_IP]),
    dst_ip: u32_to_ip(out[DST_IP]),
    checksum: read_u16(bytes, l3 + IPV4_CHECKSUM),
    checksum_ok: ipv4_checksum_ok(bytes, l3),
  };
  if (status !== PARSE_OK) return description;
  const l4 = out[L4_OFFSET];
  if (out[IP_PROTOCOL] === IP_PROTOCOL_TCP) {
    description.tcp = {
      src_port: out[SRC_PORT],
      dst_port: out[DST_PORT],
      seq: read_u32(bytes, l4 + TCP_SEQ),
      ack: read_u32(bytes, l4 + TCP_ACK),
      header_length: out[TCP_HEADER_LENGTH],
      flags: out[TCP_FLAGS],
      flag_names: tcp_flag_names(out[TCP_FLAGS]),
      window: read_u16(bytes, l4 + TCP_WINDOW),
      checksum: read_u16(bytes, l4 + TCP_CHECKSUM),
      checksum_ok: tcp_checksum_ok(bytes, l3),
      urgent: read_u16(bytes, l4 + TCP_URGENT),
      options: decode_tcp_options(bytes, out[TCP_OPTIONS_OFFSET], out[TCP_OPTIONS_LENGTH]),
    };
  } else if (out[IP_PROTOCOL] === IP_PROTOCOL_UDP) {
    description.udp = {
      src_port: out[SRC_PORT],
      dst_port: out[DST_PORT],
      length: read_u16(bytes, l4 + UDP_LENGTH),
      checksum: read_u16(bytes, l4 + UDP_CHECKSUM),
      checksum_ok: udp_checksum_ok(bytes, l3),
    };
  } else if (out[IP_PROTOCOL] === IP_PROTOCOL_ICMP) {
    description.icmp = {
      type: bytes[l4],
      code: bytes[l4 + 1],
      checksum: read_u16(bytes, l4 + 2),
      checksum_ok: icmp_checksum_ok(bytes, l3),
    };
  }
  description.payload = bytes.slice(out[PAYLOAD_OFFSET], out[PAYLOAD_OFFSET] + out[PAYLOAD_LENGTH]);
  return description;
}

/** One line, tcpdump-like: for logs and failing-test messages. */
export function format_frame(bytes: Uint8Array, options: DescribeOptions = {}): string {
  const d = describe_frame(bytes, options);
  const vlan = d.vlan === undefined ? "" : ` vlan ${d.vlan & 0x0fff}`;
  const l2 = `${d.src_mac ?? "?"} > ${d.dst_mac ?? "?"}${vlan}`;
  if (d.arp) {
    const what = d.arp.operation === ARP_REQUEST
      ? `who-has ${d.arp.target_ip} tell ${d.arp.sender_ip}`
      : `${d.arp.sender_ip} is-at ${d.arp.sender_mac}`;
    return `${l2} ARP ${what}`;
  }
  if (!d.ipv4) return `${l2} ethertype 0x${(d.ethertype ?? 0).toString(16)} ${d.status}`;
  const ip = d.ipv4;
  const bad = d.status === "ok" ? "" : ` [${d.status}]`;
  if (d.tcp) {
    const t = d.tcp;
    return `${l2} ${ip.src_ip}:${t.src_port} > ${ip.dst_ip}:${t.dst_port} TCP [${t.flag_names}]` +
      ` seq ${t.seq} ack ${t.ack} win ${t.window} len ${d.payload?.length ?? 0}` +
      (t.checksum_ok ? "" : " [bad tcp csum]") + (ip.checksum_ok ? "" : " [bad ip csum]");
  }
  if (d.udp) {
    return `${l2} ${ip.src_ip}:${d.udp.src_port} > ${ip.dst_ip}:${d.udp.dst_port} UDP` +
      ` len ${d.payload?.length ?? 0}` + (d.udp.checksum_ok ? "" : " [bad udp csum]");
  }
  if (d.icmp) {
    return `${l2} ${ip.src_ip} > ${ip.dst_ip} ICMP type ${d.icmp.type} code ${d.icmp.code}`;
  }
  return `${l2} ${ip.src_ip} > ${ip.dst_ip} proto ${ip.protocol}${bad}`;
}
