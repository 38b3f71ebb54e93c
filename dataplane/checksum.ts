// Internet checksum (RFC 1071) over byte ranges, IPv4 header and TCP/UDP/ICMP
// checksums, and RFC 1624 incremental updates of a checksum field in place.
//
// Everything reads bytes with shifts: IPv4 starts 14 (or 18, 22) bytes into a
// frame, so 16/32-bit typed views would be misaligned.
//
// A checksum "sum" here is an unfolded one's complement accumulator (a plain
// non-negative number); a checksum "value" is the 16-bit complement of the
// folded sum, i.e. what goes into the header field.

const IPV4_CHECKSUM_AT = 10;
const TCP_CHECKSUM_AT = 16;
const UDP_CHECKSUM_AT = 6;
const ICMP_CHECKSUM_AT = 2;
const PROTOCOL_TCP = 6;
const PROTOCOL_UDP = 17;

/** Folds an accumulator into 16 bits with end-around carry (not complemented). */
export function checksum_fold(sum: number): number {
  // sums of ranges up to 64 KiB stay below 2^32; this guards callers that add more
  if (sum > 0xffffffff) sum = (sum % 0x10000) + Math.floor(sum / 0x10000);
  sum = (sum & 0xffff) + (sum >>> 16);
  sum = (sum & 0xffff) + (sum >>> 16);
  return sum;
}

/**
 * Adds bytes[offset, offset+length) to `initial` as big-endian 16-bit words; an odd
 * last byte is padded with zero (RFC 1071). Returns the unfolded sum.
 */
export function checksum_sum(
  bytes: Uint8Array,
  offset: number,
  length: number,
  initial: number,
): number {
  let sum = initial;
  const end = offset + length;
  let i = offset;
  for (; i + 1 < end; i += 2) sum += (bytes[i] << 8) | bytes[i + 1];
  if (i < end) sum += bytes[i] << 8;
  return sum;
}

/** RFC 1071 checksum value of a byte range (`initial` is e.g. a pseudo-header sum). */
export function internet_checksum(
  bytes: Uint8Array,
  offset: number,
  length: number,
  initial = 0,
): number {
  return ~checksum_fold(checksum_sum(bytes, offset, length, initial)) & 0xffff;
}

function read_field(bytes: Uint8Array, at: number): number {
  return (bytes[at] << 8) | bytes[at + 1];
}

function write_field(bytes: Uint8Array, at: number, value: number): void {
  bytes[at] = value >>> 8;
  bytes[at + 1] = value & 0xff;
}

// Sum of a header range that skips its own 16-bit checksum field at `field_at`.
function sum_without_field(
  bytes: Uint8Array,
  offset: number,
  length: number,
  field_at: number,
  initial: number,
): number {
  const head = checksum_sum(bytes, offset, field_at - offset, initial);
  return checksum_sum(bytes, field_at + 2, offset + length - field_at - 2, head);
}

// ---------------------------------------------------------------- IPv4 header

/** Checksum value the IPv4 header at l3_offset should carry (its field counted as zero). */
export function ipv4_header_checksum(bytes: Uint8Array, l3_offset: number): number {
  const ihl = (bytes[l3_offset] & 0x0f) << 2;
  const sum = sum_without_field(bytes, l3_offset, ihl, l3_offset + IPV4_CHECKSUM_AT, 0);
  return ~checksum_fold(sum) & 0xffff;
}

/** Computes and stores the IPv4 header checksum. */
export function ipv4_checksum_set(bytes: Uint8Array, l3_offset: number): void {
  write_field(bytes, l3_offset + IPV4_CHECKSUM_AT, ipv4_header_checksum(bytes, l3_offset));
}

/** True when the IPv4 header sums to 0xFFFF (either zero representation is accepted). */
export function ipv4_checksum_ok(bytes: Uint8Array, l3_offset: number): boolean {
  const ihl = (bytes[l3_offset] & 0x0f) << 2;
  return checksum_fold(checksum_sum(bytes, l3_offset, ihl, 0)) === 0xffff;
}

// ------------------------------------------------------- TCP / UDP over IPv4

/** Unfolded sum of the IPv4 pseudo-header: src, dst, zero+protocol, L4 length. */
export function ipv4_pseudo_header_sum(
  bytes: Uint8Array,
  l3_offset: number,
  protocol: number,
  l4_length: number,
): number {
  return checksum_sum(bytes, l3_offset + 12, 8, 0) + protocol + l4_length;
}

// L4 offset and length come from the IPv4 header (IHL, total length), so these
// work on any packet parse_frame accepted, with or without IP options.
function l4_sum(bytes: Uint8Array, l3_offset: number, protocol: number, field_rel: number): number {
  const ihl = (bytes[l3_offset] & 0x0f) << 2;
  const l4_length = read_field(bytes, l3_offset + 2) - ihl;
  const l4_offset = l3_offset + ihl;
  const pseudo = ipv4_pseudo_header_sum(bytes, l3_offset, protocol, l4_length);
  if (field_rel < 0) return checksum_sum(bytes, l4_offset, l4_length, pseudo);
  return sum_without_field(bytes, l4_offset, l4_length, l4_offset + field_rel, pseudo);
}

/** TCP checksum value for the segment after the IPv4 header at l3_offset. */
export function tcp_checksum(bytes: Uint8Array, l3_offset: number): number {
  return ~checksum_fold(l4_sum(bytes, l3_offset, PROTOCOL_TCP, TCP_CHECKSUM_AT)) & 0xffff;
}

export function tcp_checksum_set(bytes: Uint8Array, l3_offset: number): void {
  const l4_offset = l3_offset + ((bytes[l3_offset] & 0x0f) << 2);
  write_field(bytes, l4_offset + TCP_CHECKSUM_AT, tcp_checksum(bytes, l3_offset));
}

export function tcp_checksum_ok(bytes: Uint8Array, l3_offset: number): boolean {
  return checksum_fold(l4_sum(bytes, l3_offset, PROTOCOL_TCP, -1)) === 0xffff;
}

/** UDP checksum value; a computed 0 is sent as 0xFFFF because 0 means "none" (RFC 768). */
export function udp_checksum(bytes: Uint8Array, l3_offset: number): number {
  const value = ~checksum_fold(l4_sum(bytes, l3_offset, PROTOCOL_UDP, UDP_CHECKSUM_AT)) & 0xffff;
  return value === 0 ? 0xffff : value;
}

export function udp_checksum_set(bytes: Uint8Array, l3_offset: number): void {
  const l4_offset = l3_offset + ((bytes[l3_offset] & 0x0f) << 2);
  write_field(bytes, l4_offset + UDP_CHECKSUM_AT, udp_checksum(bytes, l3_offset));
}

/** True when the UDP checksum verifies, or is 0 (the sender did not compute one). */
export function udp_checksum_ok(bytes: Uint8Array, l3_offset: number): boolean {
  const l4_offset = l3_offset + ((bytes[l3_offset] & 0x0f) << 2);
  if (read_field(bytes, l4_offset + UDP_CHECKSUM_AT) === 0) return true;
  return checksum_fold(l4_sum(bytes, l3_offset, PROTOCOL_UDP, -1)) === 0xffff;
}

/** ICMP checksum value: over the ICMP message only, no pseudo-header. */
export function icmp_checksum(bytes: Uint8Array, l3_offset: number): number {
  const ihl = (bytes[l3_offset] & 0x0f) << 2;
  const l4_length = read_field(bytes, l3_offset + 2) - ihl;
  const l4_offset = l3_offset + ihl;
  const sum = sum_without_field(bytes, l4_offset, l4_length, l4_offset + ICMP_CHECKSUM_AT, 0);
  return ~checksum_fold(sum) & 0xffff;
}

export function icmp_checksum_set(bytes: Uint8Array, l3_offset: number): void {
  const l4_offset = l3_offset + ((bytes[l3_offset] & 0x0f) << 2);
  write_field(bytes, l4_offset + ICMP_CHECKSUM_AT, icmp_checksum(bytes, l3_offset));
}

export function icmp_checksum_ok(bytes: Uint8Array, l3_offset: number): boolean {
  const ihl = (bytes[l3_offset] & 0x0f) << 2;
  const l4_length = read_field(bytes, l3_offset + 2) - ihl;
  return checksum_fold(checksum_sum(bytes, l3_offset + ihl, l4_length, 0)) === 0xffff;
}

// ------------------------------------------------- RFC 1624 incremental update
//
// HC' = ~(~HC + ~m + m') (RFC 1624 eqn. 3). Eqn. 2 (HC' = HC + m + ~m') can
// leave 0xFFFF where a full recompute gives 0x0000 (RFC 1624 section 3); eqn. 3
// matches a full recompute for any data that is not all zeros, which no IPv4,
// TCP or UDP header is. The old and new words must sit at an even offset from
// the start of the checksummed data; for a field at an odd offset pass the
// byte-swapped (16-bit) or rotated-right-by-8 (32-bit) values.

/** Updates the checksum at csum_offset after a 16-bit word changed from old16 to new16. */
export function checksum_update16(
  bytes: Uint8Array,
  csum_offset: number,
  old16: number,
  new16: number,
): void {
  const hc = (bytes[csum_offset] << 8) | bytes[csum_offset + 1];
  let sum = (~hc & 0xffff) + (~old16 & 0xffff) + (new16 & 0xffff);
  sum = (sum & 0xffff) + (sum >>> 16);
  sum = (sum & 0xffff) + (sum >>> 16);
  const value = ~sum & 0xffff;
  bytes[csum_offset] = value >>> 8;
  bytes[csum_offset + 1] = value & 0xff;
}

/** Updates the checksum at csum_offset after a 32-bit field changed from old32 to new32. */
export function checksum_update32(
  bytes: Uint8Array,
  csum_offset: number,
  old32: number,
  new32: number,
): void {
  const hc = (bytes[csum_offset] << 8) | bytes[csum_offset + 1];
  let sum = (~hc & 0xffff) + (~(old32 >>> 16) & 0xffff) + (~old32 & 0xffff) +
    ((new32 >>> 16) & 0xffff) + (new32 & 0xffff);
  sum = (sum & 0xffff) + (sum >>> 16);
  sum = (sum & 0xffff) + (sum >>> 16);
  const value = ~sum & 0xffff;
  bytes[csum_offset] = value >>> 8;
  bytes[csum_offset + 1] = value & 0xff;
}

/**
 * Updates the checksum after a region whose unfolded sum was old_sum now sums to
 * new_sum (both from checksum_sum or equivalent, aligned as in the packet).
 */
export function checksum_update_sum(
  bytes: Uint8Array,
  csum_offset: number,
  old_sum: number,
  new_sum: number,
): void {
  checksum_update16(bytes, csum_offset, checksum_fold(old_sum), checksum_fold(new_sum));
}
