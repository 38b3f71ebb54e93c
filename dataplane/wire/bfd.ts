// The BFD control packet (RFC 5880 section 4.1, the 24-byte mandatory
// section), read and written in place in a frame, and the whole
// Ethernet/IPv4/UDP frame a single-hop session sends it in (RFC 5881). The
// reader checks what RFC 5880 section 6.8.6 says a receiver must check before
// it looks at any session (version, lengths, multiplier, multipoint, the
// sender's discriminator, authentication) and maps every failure to one
// code; the session layer (director/bfd.ts) does the rest. Nothing here
// allocates or throws: fields travel in a Float64Array the caller keeps
// (discriminators are u32, intervals u32 microseconds, both exact in a
// double).
//
// No authentication is implemented: a packet with the A bit is refused
// (RFC 5880: "If the A bit is set and no authentication is in use ... the
// packet MUST be discarded"). Single hop keeps the fabric's safety in GTSM
// (TTL 255 both ways), which the session layer checks.

import { ipv4_checksum_set, udp_checksum_set } from "../checksum.ts";
import { read_u32, write_mac_words, write_u16, write_u32 } from "../packet.ts";
import {
  FA_DST_IP,
  FA_DST_MAC_HI,
  FA_DST_MAC_LO,
  FA_SRC_IP,
  FA_SRC_MAC_HI,
  FA_SRC_MAC_LO,
  FA_SRC_PORT,
} from "./handoff_frame.ts";

/** UDP destination port of single-hop BFD control packets (RFC 5881 section 4). */
export const BFD_PORT = 3784;
/** The source port range RFC 5881 section 4 requires. */
export const BFD_SOURCE_PORT_MIN = 49152;
export const BFD_SOURCE_PORT_MAX = 65535;
/** TTL every single-hop packet is sent with and the only one accepted (GTSM, RFC 5881 section 5). */
export const BFD_TTL = 255;
export const BFD_VERSION_1 = 1;
/** The mandatory section; no authentication section follows in what baton sends. */
export const BFD_PACKET_LENGTH = 24;
/** Ethernet 14 + IPv4 20 + UDP 8 + BFD 24. */
export const BFD_FRAME_LENGTH = 66;
/** Where the BFD packet starts in a frame written by write_bfd_frame. */
export const BFD_FRAME_PACKET = 42;

// Session states (RFC 5880 section 4.1, "Sta").
export const BFD_ADMIN_DOWN = 0;
export const BFD_DOWN = 1;
export const BFD_INIT = 2;
export const BFD_UP = 3;
export const BFD_STATE_NAMES = ["AdminDown", "Down", "Init", "Up"] as const;

// Diagnostic codes (RFC 5880 section 4.1, "Diag").
export const BFD_DIAG_NONE = 0;
export const BFD_DIAG_DETECTION_EXPIRED = 1;
export const BFD_DIAG_NEIGHBOR_DOWN = 3;
export const BFD_DIAG_ADMIN_DOWN = 7;

// Flag bits of the second byte, below the state.
export const BFD_FLAG_POLL = 0x20;
export const BFD_FLAG_FINAL = 0x10;
export const BFD_FLAG_CPI = 0x08;
export const BFD_FLAG_AUTH = 0x04;
export const BFD_FLAG_DEMAND = 0x02;
export const BFD_FLAG_MULTIPOINT = 0x01;

// The fields of one packet, as words of a Float64Array (create_bfd_fields).
export const BF_VERSION = 0;
export const BF_DIAG = 1;
export const BF_STATE = 2;
/** The six flag bits (BFD_FLAG_*). */
export const BF_FLAGS = 3;
export const BF_DETECT_MULT = 4;
export const BF_LENGTH = 5;
export const BF_MY_DISCR = 6;
export const BF_YOUR_DISCR = 7;
/** Microseconds, as on the wire. */
export const BF_DESIRED_MIN_TX = 8;
export const BF_REQUIRED_MIN_RX = 9;
export const BF_REQUIRED_MIN_ECHO_RX = 10;
export const BFD_FIELDS = 11;

export function create_bfd_fields(): Float64Array {
  return new Float64Array(BFD_FIELDS);
}

// What bfd_read says about a packet: BFD_READ_OK or one reason it is refused.
export const BFD_READ_OK = 0;
/** Fewer than 24 bytes of UDP payload. */
export const BFD_TRUNCATED = 1;
export const BFD_BAD_VERSION = 2;
/** Length field under 24, or beyond the UDP payload. */
export const BFD_BAD_LENGTH = 3;
export const BFD_ZERO_MULTIPLIER = 4;
export const BFD_MULTIPOINT = 5;
/** My Discriminator is zero. */
export const BFD_ZERO_DISCRIMINATOR = 6;
/** The A bit: authentication, which baton does not run. */
export const BFD_AUTHENTICATED = 7;
export const BFD_READ_FAILURES = [
  "truncated",
  "bad_version",
  "bad_length",
  "zero_multiplier",
  "multipoint",
  "zero_discriminator",
  "authenticated",
] as const;

/**
 * Reads the BFD packet at bytes[at, at + length) (the UDP payload) into
 * out; BFD_READ_OK, or the first check of RFC 5880 section 6.8.6 it fails.
 * The fields are in out either way as far as they could be read.
 */
export function bfd_read(bytes: Uint8Array, at: number, length: number, out: Float64Array): number {
  if (at < 0 || length < BFD_PACKET_LENGTH || at + BFD_PACKET_LENGTH > bytes.length) {
    return BFD_TRUNCATED;
  }
  const first = bytes[at];
  const second = bytes[at + 1];
  out[BF_VERSION] = first >>> 5;
  out[BF_DIAG] = first & 0x1f;
  out[BF_STATE] = second >>> 6;
  out[BF_FLAGS] = second & 0x3f;
  out[BF_DETECT_MULT] = bytes[at + 2];
  out[BF_LENGTH] = bytes[at + 3];
  out[BF_MY_DISCR] = read_u32(bytes, at + 4);
  out[BF_YOUR_DISCR] = read_u32(bytes, at + 8);
  out[BF_DESIRED_MIN_TX] = read_u32(bytes, at + 12);
  out[BF_REQUIRED_MIN_RX] = read_u32(bytes, at + 16);
  out[BF_REQUIRED_MIN_ECHO_RX] = read_u32(bytes, at + 20);
  if (out[BF_VERSION] !== BFD_VERSION_1) return BFD_BAD_VERSION;
  if (out[BF_LENGTH] < BFD_PACKET_LENGTH || out[BF_LENGTH] > length) return BFD_BAD_LENGTH;
  if (out[BF_DETECT_MULT] === 0) return BFD_ZERO_MULTIPLIER;
  if ((second & BFD_FLAG_MULTIPOINT) !== 0) return BFD_MULTIPOINT;
  if (out[BF_MY_DISCR] === 0) return BFD_ZERO_DISCRIMINATOR;
  if ((second & BFD_FLAG_AUTH) !== 0) return BFD_AUTHENTICATED;
  return BFD_READ_OK;
}

/** Writes the 24-byte packet of `fields` at bytes[at]: version 1, length 24, no authentication. */
export function bfd_write(bytes: Uint8Array, at: number, fields: Float64Array): void {
  bytes[at] = (BFD_VERSION_1 << 5) | (fields[BF_DIAG] & 0x1f);
  bytes[at + 1] = ((fields[BF_STATE] & 3) << 6) | (fields[BF_FLAGS] & 0x3f & ~BFD_FLAG_AUTH);
  bytes[at + 2] = fields[BF_DETECT_MULT] & 0xff;
  bytes[at + 3] = BFD_PACKET_LENGTH;
  write_u32(bytes, at + 4, fields[BF_MY_DISCR] >>> 0);
  write_u32(bytes, at + 8, fields[BF_YOUR_DISCR] >>> 0);
  write_u32(bytes, at + 12, fields[BF_DESIRED_MIN_TX] >>> 0);
  write_u32(bytes, at + 16, fields[BF_REQUIRED_MIN_RX] >>> 0);
  write_u32(bytes, at + 20, fields[BF_REQUIRED_MIN_ECHO_RX] >>> 0);
}

/**
 * A whole single-hop BFD frame at bytes[o]: Ethernet, IPv4 (TTL 255 for
 * GTSM, DSCP CS6 as routers send their control traffic, DF), UDP from
 * address[FA_SRC_PORT] to 3784 with its checksum, and the packet. Returns
 * its length (BFD_FRAME_LENGTH). address: the words of create_frame_address.
 */
export function write_bfd_frame(
  bytes: Uint8Array,
  o: number,
  address: Int32Array,
  fields: Float64Array,
): number {
  write_mac_words(bytes, o, address[FA_DST_MAC_HI], address[FA_DST_MAC_LO]);
  write_mac_words(bytes, o + 6, address[FA_SRC_MAC_HI], address[FA_SRC_MAC_LO]);
  write_u16(bytes, o + 12, 0x0800);
  const ip = o + 14;
  bytes[ip] = 0x45;
  bytes[ip + 1] = 0xc0;
  write_u16(bytes, ip + 2, 20 + 8 + BFD_PACKET_LENGTH);
  write_u16(bytes, ip + 4, 0);
  write_u16(bytes, ip + 6, 0x4000);
  bytes[ip + 8] = BFD_TTL;
  bytes[ip + 9] = 17;
  write_u16(bytes, ip + 10, 0);
  write_u32(bytes, ip + 12, address[FA_SRC_IP] >>> 0);
  write_u32(bytes, ip + 16, address[FA_DST_IP] >>> 0);
  const udp = ip + 20;
  write_u16(bytes, udp, address[FA_SRC_PORT] & 0xffff);
  write_u16(bytes, udp + 2, BFD_PORT);
  write_u16(bytes, udp + 4, 8 + BFD_PACKET_LENGTH);
  write_u16(bytes, udp + 6, 0);
  bfd_write(bytes, o + BFD_FRAME_PACKET, fields);
  ipv4_checksum_set(bytes, ip);
  udp_checksum_set(bytes, ip);
  return BFD_FRAME_LENGTH;
}
