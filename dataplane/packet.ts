// Packet views over one byte region shared by all packets: header constants,
// parse_frame (fast path, fills an Int32Array out record, never throws),
// big-endian field access and MAC helpers. The builders of whole frames
// (frame_build.ts) and describe_frame (frame_describe.ts) are not for the
// fast path and live apart.
//
// Offsets in the parse out record are absolute positions in `bytes`.

// ------------------------------------------------------------------ constants

export const ETH_HEADER_LENGTH = 14;
export const ETH_ADDRESS_LENGTH = 6;
export const VLAN_TAG_LENGTH = 4;
/** Smallest Ethernet frame without FCS; NICs pad shorter frames to this. */
export const ETH_MIN_FRAME_LENGTH = 60;
// Header-relative positions of Ethernet fields.
export const ETH_DST = 0;
export const ETH_SRC = 6;
export const ETH_TYPE = 12;

export const ETHERTYPE_IPV4 = 0x0800;
export const ETHERTYPE_ARP = 0x0806;
export const ETHERTYPE_VLAN = 0x8100;
export const ETHERTYPE_QINQ = 0x88a8;
export const ETHERTYPE_IPV6 = 0x86dd;

export const IP_PROTOCOL_ICMP = 1;
export const IP_PROTOCOL_TCP = 6;
export const IP_PROTOCOL_UDP = 17;

export const IPV4_HEADER_MIN_LENGTH = 20;
// Header-relative positions of IPv4 fields.
export const IPV4_VERSION_IHL = 0;
export const IPV4_TOS = 1;
export const IPV4_TOTAL_LENGTH = 2;
export const IPV4_ID = 4;
export const IPV4_FRAGMENT = 6;
export const IPV4_TTL = 8;
export const IPV4_PROTOCOL = 9;
export const IPV4_CHECKSUM = 10;
export const IPV4_SRC = 12;
export const IPV4_DST = 16;
export const IPV4_FLAG_DF = 0x4000;
export const IPV4_FLAG_MF = 0x2000;
export const IPV4_FRAGMENT_OFFSET_MASK = 0x1fff;

export const TCP_HEADER_MIN_LENGTH = 20;
// Header-relative positions of TCP fields.
export const TCP_SRC_PORT = 0;
export const TCP_DST_PORT = 2;
export const TCP_SEQ = 4;
export const TCP_ACK = 8;
export const TCP_DATA_OFFSET = 12;
export const TCP_FLAGS_BYTE = 13;
export const TCP_WINDOW = 14;
export const TCP_CHECKSUM = 16;
export const TCP_URGENT = 18;
export const TCP_FLAG_FIN = 0x01;
export const TCP_FLAG_SYN = 0x02;
export const TCP_FLAG_RST = 0x04;
export const TCP_FLAG_PSH = 0x08;
export const TCP_FLAG_ACK = 0x10;
export const TCP_FLAG_URG = 0x20;
export const TCP_FLAG_ECE = 0x40;
export const TCP_FLAG_CWR = 0x80;

export const UDP_HEADER_LENGTH = 8;
export const UDP_SRC_PORT = 0;
export const UDP_DST_PORT = 2;
export const UDP_LENGTH = 4;
export const UDP_CHECKSUM = 6;

export const ICMP_HEADER_LENGTH = 8;
export const ICMP_ECHO_REPLY = 0;
export const ICMP_ECHO_REQUEST = 8;

export const ARP_LENGTH = 28;
export const ARP_REQUEST = 1;
export const ARP_REPLY = 2;
// Header-relative positions of ARP (Ethernet/IPv4) fields.
export const ARP_OPERATION_AT = 6;
export const ARP_SENDER_MAC = 8;
export const ARP_SENDER_IP = 14;
export const ARP_TARGET_MAC = 18;
export const ARP_TARGET_IP = 24;

// ------------------------------------------------------ parse out record

// Indices into the Int32Array that parse_frame fills. -1 means "not present".
export const ETHERTYPE = 0;
/** 802.1Q tag control (PCP, DEI, VID) of the (inner) tag, or -1. */
export const VLAN_TCI = 1;
/** Outer tag control of a QinQ frame, or -1. */
export const OUTER_VLAN_TCI = 2;
export const L3_OFFSET = 3;
export const IP_HEADER_LENGTH = 4;
export const IP_TOTAL_LENGTH = 5;
export const IP_PROTOCOL = 6;
/** IPv4 (or ARP sender) address as int32 bits: use `out[SRC_IP] >>> 0` for the u32. */
export const SRC_IP = 7;
/** IPv4 (or ARP target) address as int32 bits. */
export const DST_IP = 8;
export const L4_OFFSET = 9;
export const L4_LENGTH = 10;
export const SRC_PORT = 11;
export const DST_PORT = 12;
export const TCP_HEADER_LENGTH = 13;
/** TCP flags byte (FIN..CWR). */
export const TCP_FLAGS = 14;
export const TCP_OPTIONS_OFFSET = 15;
export const TCP_OPTIONS_LENGTH = 16;
export const PAYLOAD_OFFSET = 17;
export const PAYLOAD_LENGTH = 18;
/** ICMP type << 8 | code, or -1. */
export const ICMP_TYPE_CODE = 19;
export const ARP_OPERATION = 20;
/** Number of int32 words an out record for parse_frame needs. */
export const PARSE_FIELDS = 21;

// ------------------------------------------------------ parse status codes

export const PARSE_OK = 0;
/** offset/length do not lie inside bytes. */
export const PARSE_OUT_OF_BOUNDS = 1;
/** Shorter than an Ethernet header. */
export const PARSE_ETH_TOO_SHORT = 2;
/** A VLAN tag announced but cut off. */
export const PARSE_VLAN_TOO_SHORT = 3;
export const PARSE_ARP_TOO_SHORT = 4;
/** ARP that is not Ethernet/IPv4 (hardware 1, protocol 0x0800, lengths 6 and 4). */
export const PARSE_ARP_UNSUPPORTED = 5;
/** Fewer than 20 bytes after the L2 header of an IPv4 frame. */
export const PARSE_IP_TOO_SHORT = 6;
export const PARSE_IP_BAD_VERSION = 7;
/** IHL below 5 or the header running past the frame. */
export const PARSE_IP_BAD_IHL = 8;
/** Total length below the header length or beyond the frame. */
export const PARSE_IP_BAD_TOTAL_LENGTH = 9;
/** MF set or a non-zero fragment offset; L3 fields are filled, L4 is not. */
export const PARSE_IP_FRAGMENT = 10;
export const PARSE_TCP_TOO_SHORT = 11;
/** Data offset below 5 or the TCP header running past the IP payload. */
export const PARSE_TCP_BAD_DATA_OFFSET = 12;
export const PARSE_UDP_TOO_SHORT = 13;
/** UDP length below 8 or beyond the IP payload. */
export const PARSE_UDP_BAD_LENGTH = 14;
export const PARSE_ICMP_TOO_SHORT = 15;

export const PARSE_STATUS_NAMES: readonly string[] = [
  "ok",
  "out_of_bounds",
  "eth_too_short",
  "vlan_too_short",
  "arp_too_short",
  "arp_unsupported",
  "ip_too_short",
  "ip_bad_version",
  "ip_bad_ihl",
  "ip_bad_total_length",
  "ip_fragment",
  "tcp_too_short",
  "tcp_bad_data_offset",
  "udp_too_short",
  "udp_bad_length",
  "icmp_too_short",
];

// ------------------------------------------------------------- field access

export function read_u16(bytes: Uint8Array, offset: number): number {
  return (bytes[offset] << 8) | bytes[offset + 1];
}

/** Big-endian u32 as a non-negative number. */
export function read_u32(bytes: Uint8Array, offset: number): number {
  return ((bytes[offset] << 24) | (bytes[offset + 1] << 16) | (bytes[offset + 2] << 8) |
    bytes[offset + 3]) >>> 0;
}

export function write_u16(bytes: Uint8Array, offset: number, value: number): void {
  bytes[offset] = value >>> 8;
  bytes[offset + 1] = value & 0xff;
}

export function write_u32(bytes: Uint8Array, offset: number, value: number): void {
  bytes[offset] = value >>> 24;
  bytes[offset + 1] = (value >>> 16) & 0xff;
  bytes[offset + 2] = (value >>> 8) & 0xff;
  bytes[offset + 3] = value & 0xff;
}

/** Copies a MAC address (6 bytes); the two views may be the same region. */
export function mac_copy(
  dst_bytes: Uint8Array,
  dst_offset: number,
  src_bytes: Uint8Array,
  src_offset: number,
): void {
  dst_bytes[dst_offset] = src_bytes[src_offset];
  dst_bytes[dst_offset + 1] = src_bytes[src_offset + 1];
  dst_bytes[dst_offset + 2] = src_bytes[src_offset + 2];
  dst_bytes[dst_offset + 3] = src_bytes[src_offset + 3];
  dst_bytes[dst_offset + 4] = src_bytes[src_offset + 4];
  dst_bytes[dst_offset + 5] = src_bytes[src_offset + 5];
}

export function mac_equal(
  a_bytes: Uint8Array,
  a_offset: number,
  b_bytes: Uint8Array,
  b_offset: number,
): boolean {
  return a_bytes[a_offset] === b_bytes[b_offset] &&
    a_bytes[a_offset + 1] === b_bytes[b_offset + 1] &&
    a_bytes[a_offset + 2] === b_bytes[b_offset + 2] &&
    a_bytes[a_offset + 3] === b_bytes[b_offset + 3] &&
    a_bytes[a_offset + 4] === b_bytes[b_offset + 4] &&
    a_bytes[a_offset + 5] === b_bytes[b_offset + 5];
}

/** Swaps Ethernet source and destination in place (frame starts at eth_offset). */
export function mac_swap(bytes: Uint8Array, eth_offset: number): void {
  for (let i = 0; i < ETH_ADDRESS_LENGTH; i++) {
    const a = bytes[eth_offset + i];
    bytes[eth_offset + i] = bytes[eth_offset + ETH_SRC + i];
    bytes[eth_offset + ETH_SRC + i] = a;
  }
}

/** Group bit set: broadcast or multicast. */
export function mac_is_multicast(bytes: Uint8Array, offset: number): boolean {
  return (bytes[offset] & 1) === 1;
}

// ------------------------------------------------------------------ parsing

/**
 * Parses the frame at bytes[offset, offset + length) and fills `out` (PARSE_FIELDS
 * words, unset fields -1). Returns PARSE_OK or a PARSE_* malformation code. Frames
 * that are neither IPv4 nor ARP are OK with only the L2 fields set. Never throws,
 * allocates nothing; checksums are not verified here.
 */
export function parse_frame(
  bytes: Uint8Array,
  offset: number,
  length: number,
  out: Int32Array,
): number {
  for (let i = 0; i < PARSE_FIELDS; i++) out[i] = -1;
  const end = offset + length;
  if (offset < 0 || length < 0 || end > bytes.length) return PARSE_OUT_OF_BOUNDS;
  if (length < ETH_HEADER_LENGTH) return PARSE_ETH_TOO_SHORT;

  let p = offset + ETH_TYPE;
  let type = (bytes[p] << 8) | bytes[p + 1];
  p += 2;
  if (type === ETHERTYPE_VLAN || type === ETHERTYPE_QINQ) {
    if (p + VLAN_TAG_LENGTH > end) return PARSE_VLAN_TOO_SHORT;
    const first_tci = (bytes[p] << 8) | bytes[p + 1];
    const first_type = type;
    type = (bytes[p + 2] << 8) | bytes[p + 3];
    p += VLAN_TAG_LENGTH;
    if (type === ETHERTYPE_VLAN) {
      // two tags: the first is the service (outer) tag, this one the customer tag
      if (p + VLAN_TAG_LENGTH > end) return PARSE_VLAN_TOO_SHORT;
      out[OUTER_VLAN_TCI] = first_tci;
      out[VLAN_TCI] = (bytes[p] << 8) | bytes[p + 1];
      type = (bytes[p + 2] << 8) | bytes[p + 3];
      p += VLAN_TAG_LENGTH;
    } else if (first_type === ETHERTYPE_QINQ) {
      out[OUTER_VLAN_TCI] = first_tci;
    } else {
      out[VLAN_TCI] = first_tci;
    }
  }
  out[ETHERTYPE] = type;
  out[L3_OFFSET] = p;

  if (type === ETHERTYPE_ARP) {
    if (p + ARP_LENGTH > end) return PARSE_ARP_TOO_SHORT;
    if (
      ((bytes[p] << 8) | bytes[p + 1]) !== 1 ||
      ((bytes[p + 2] << 8) | bytes[p + 3]) !== ETHERTYPE_IPV4 ||
      bytes[p + 4] !== ETH_ADDRESS_LENGTH || bytes[p + 5] !== 4
    ) {
      return PARSE_ARP_UNSUPPORTED;
    }
    out[ARP_OPERATION] = (bytes[p + ARP_OPERATION_AT] << 8) | bytes[p + ARP_OPERATION_AT + 1];
    out[SRC_IP] = read_i32(bytes, p + ARP_SENDER_IP);
    out[DST_IP] = read_i32(bytes, p + ARP_TARGET_IP);
    return PARSE_OK;
  }
  if (type !== ETHERTYPE_IPV4) return PARSE_OK;

  const available = end - p;
  if (available < IPV4_HEADER_MIN_LENGTH) return PARSE_IP_TOO_SHORT;
  const version_ihl = bytes[p];
  if (version_ihl >> 4 !== 4) return PARSE_IP_BAD_VERSION;
  const ihl = (version_ihl & 0x0f) << 2;
  if (ihl < IPV4_HEADER_MIN_LENGTH || ihl > available) return PARSE_IP_BAD_IHL;
  // the frame may be longer than the IP packet (Ethernet padding), never shorter
  const total = (bytes[p + 2] << 8) | bytes[p + 3];
  if (total < ihl || total > available) return PARSE_IP_BAD_TOTAL_LENGTH;
  const protocol = bytes[p + IPV4_PROTOCOL];
  out[IP_HEADER_LENGTH] = ihl;
  out[IP_TOTAL_LENGTH] = total;
  out[IP_PROTOCOL] = protocol;
  out[SRC_IP] = read_i32(bytes, p + IPV4_SRC);
  out[DST_IP] = read_i32(bytes, p + IPV4_DST);
  const fragment = (bytes[p + IPV4_FRAGMENT] << 8) | bytes[p + IPV4_FRAGMENT + 1];
  if ((fragment & (IPV4_FLAG_MF | IPV4_FRAGMENT_OFFSET_MASK)) !== 0) return PARSE_IP_FRAGMENT;

  const l4 = p + ihl;
  const l4_length = total - ihl;
  out[L4_OFFSET] = l4;
  out[L4_LENGTH] = l4_length;

  if (protocol === IP_PROTOCOL_TCP) {
    if (l4_length < TCP_HEADER_MIN_LENGTH) return PARSE_TCP_TOO_SHORT;
    out[SRC_PORT] = (bytes[l4] << 8) | bytes[l4 + 1];
    out[DST_PORT] = (bytes[l4 + 2] << 8) | bytes[l4 + 3];
    const tcp_length = (bytes[l4 + TCP_DATA_OFFSET] >> 4) << 2;
    if (tcp_length < TCP_HEADER_MIN_LENGTH || tcp_length > l4_length) {
      return PARSE_TCP_BAD_DATA_OFFSET;
    }
    out[TCP_HEADER_LENGTH] = tcp_length;
    out[TCP_FLAGS] = bytes[l4 + TCP_FLAGS_BYTE];
    out[TCP_OPTIONS_OFFSET] = l4 + TCP_HEADER_MIN_LENGTH;
    out[TCP_OPTIONS_LENGTH] = tcp_length - TCP_HEADER_MIN_LENGTH;
    out[PAYLOAD_OFFSET] = l4 + tcp_length;
    out[PAYLOAD_LENGTH] = l4_length - tcp_length;
    return PARSE_OK;
  }
  if (protocol === IP_PROTOCOL_UDP) {
    if (l4_length < UDP_HEADER_LENGTH) return PARSE_UDP_TOO_SHORT;
    out[SRC_PORT] = (bytes[l4] << 8) | bytes[l4 + 1];
    out[DST_PORT] = (bytes[l4 + 2] << 8) | bytes[l4 + 3];
    const udp_length = (bytes[l4 + UDP_LENGTH] << 8) | bytes[l4 + UDP_LENGTH + 1];
    if (udp_length < UDP_HEADER_LENGTH || udp_length > l4_length) return PARSE_UDP_BAD_LENGTH;
    out[PAYLOAD_OFFSET] = l4 + UDP_HEADER_LENGTH;
    out[PAYLOAD_LENGTH] = udp_length - UDP_HEADER_LENGTH;
    return PARSE_OK;
  }
  if (protocol === IP_PROTOCOL_ICMP) {
    if (l4_length < ICMP_HEADER_LENGTH) return PARSE_ICMP_TOO_SHORT;
    out[ICMP_TYPE_CODE] = (bytes[l4] << 8) | bytes[l4 + 1];
    out[PAYLOAD_OFFSET] = l4 + ICMP_HEADER_LENGTH;
    out[PAYLOAD_LENGTH] = l4_length - ICMP_HEADER_LENGTH;
    return PARSE_OK;
  }
  out[PAYLOAD_OFFSET] = l4;
  out[PAYLOAD_LENGTH] = l4_length;
  return PARSE_OK;
}

// int32 bits of a big-endian u32: what an Int32Array out record can hold
function read_i32(bytes: Uint8Array, offset: number): number {
  return (bytes[offset] << 24) | (bytes[offset + 1] << 16) | (bytes[offset + 2] << 8) |
    bytes[offset + 3];
}

/** A fresh out record for parse_frame (allocates: create once, reuse). */
export function create_parse_out(): Int32Array {
  return new Int32Array(PARSE_FIELDS);
}

// -------------------------------------------------- addresses (non-hot)

/** "198.18.0.1" → u32. Throws on anything that is not four decimal octets. */
export function ip_to_u32(ip: string): number {
  const parts = ip.split(".");
  if (parts.length !== 4) throw new TypeError(`not an IPv4 address: ${JSON.stringify(ip)}`);
  let value = 0;
  for (const part of parts) {
    const octet = Number(part);
    if (!/^\d{1,3}$/.test(part) || octet > 255) {
      throw new TypeError(`not an IPv4 address: ${JSON.stringify(ip)}`);
    }
    value = value * 256 + octet;
  }
  return value;
}

export function u32_to_ip(value: number): string {
  const v = value >>> 0;
  return `${v >>> 24}.${(v >>> 16) & 0xff}.${(v >>> 8) & 0xff}.${v & 0xff}`;
}

/** "02:00:00:00:00:01" (or with '-') → 6 bytes. Throws when malformed. */
export function mac_to_bytes(mac: string): Uint8Array {
  const parts = mac.split(/[:-]/);
  if (parts.length !== 6 || !parts.every((part) => /^[0-9a-fA-F]{2}$/.test(part))) {
    throw new TypeError(`not a MAC address: ${JSON.stringify(mac)}`);
  }
  return new Uint8Array(parts.map((part) => parseInt(part, 16)));
}

export function bytes_to_mac(bytes: Uint8Array, offset = 0): string {
  const parts: string[] = [];
  for (let i = 0; i < ETH_ADDRESS_LENGTH; i++) {
    parts.push(bytes[offset + i].toString(16).padStart(2, "0"));
  }
  return parts.join(":");
}

// ------------------------------------------------ MACs as two numbers (hot path)
//
// Flow tables keep a MAC in two int32 words (first four bytes, last two), so
// a rewrite is two stores and a compare is two compares.

/** The first four bytes of the MAC at `at`, big-endian, as int32. */
export function mac_hi(bytes: Uint8Array, at: number): number {
  return (bytes[at] << 24) | (bytes[at + 1] << 16) | (bytes[at + 2] << 8) | bytes[at + 3];
}

/** The last two bytes of the MAC at `at`. */
export function mac_lo(bytes: Uint8Array, at: number): number {
  return (bytes[at + 4] << 8) | bytes[at + 5];
}

/** Writes a MAC given as (mac_hi, mac_lo) at `at`. */
export function write_mac_words(bytes: Uint8Array, at: number, hi: number, lo: number): void {
  bytes[at] = hi >>> 24;
  bytes[at + 1] = (hi >>> 16) & 0xff;
  bytes[at + 2] = (hi >>> 8) & 0xff;
  bytes[at + 3] = hi & 0xff;
  bytes[at + 4] = lo >>> 8;
  bytes[at + 5] = lo & 0xff;
}
