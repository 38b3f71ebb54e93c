// Writes a whole Ethernet/IPv4/TCP frame in place, into a fresh mbuf a role
// claimed (emitter.ts), from numbers: MACs as the (hi, lo) words the flow
// tables keep (packet.ts mac_hi / mac_lo), IPv4 addresses as u32, the TCP
// options a role sends (MSS, SACK-permitted, window scale, timestamps) from
// the fields of one reused TcpFrameFields scratch, and both checksums in
// full. For the frames a role makes on its per-connection path (the agent's
// SYN and request segments to the stack, its resets): nothing here
// allocates or throws.
//
// The frame is the one build_tcp (frame_build.ts) makes from the same
// fields, byte for byte (tests/dataplane/frame_write_test.ts): no VLAN tag,
// IPv4 without options, TOS 0, ID 0, DF, TTL 64, urgent pointer 0, options
// in the order MSS, SACK-permitted, NOP + window scale, NOP + NOP +
// timestamps, padded with EOL to a multiple of 4, no padding to 60 bytes.

import { ipv4_checksum_set, tcp_checksum_set } from "./checksum.ts";
import { IP_PROTOCOL_TCP, write_mac_words, write_u16, write_u32 } from "./packet.ts";
import {
  pad_tcp_options,
  TCP_OPTION_MSS_LENGTH,
  TCP_OPTION_SACK_PERMITTED_LENGTH,
  TCP_OPTION_TIMESTAMP_LENGTH,
  TCP_OPTION_WSCALE_LENGTH,
  write_mss_option,
  write_nop_option,
  write_sack_permitted_option,
  write_timestamp_option,
  write_wscale_option,
} from "./tcp_options.ts";

/** What a frame written by write_tcp_frame says; a scratch the caller fills and reuses. */
export interface TcpFrameFields {
  dst_mac_hi: number;
  dst_mac_lo: number;
  src_mac_hi: number;
  src_mac_lo: number;
  /** u32 (an Int32Array word will do: only its bits are written). */
  src_ip: number;
  dst_ip: number;
  src_port: number;
  dst_port: number;
  seq: number;
  ack: number;
  /** TCP_FLAG_* bits. */
  flags: number;
  window: number;
  /** The MSS option's value; −1: no MSS option. */
  mss: number;
  sack_permitted: boolean;
  /** The window scale option's shift, written after a NOP; −1: none. */
  wscale: number;
  /** A timestamps option (after two NOPs) with tsval and tsecr. */
  timestamps: boolean;
  tsval: number;
  tsecr: number;
}

export function create_tcp_frame_fields(): TcpFrameFields {
  return {
    dst_mac_hi: 0,
    dst_mac_lo: 0,
    src_mac_hi: 0,
    src_mac_lo: 0,
    src_ip: 0,
    dst_ip: 0,
    src_port: 0,
    dst_port: 0,
    seq: 0,
    ack: 0,
    flags: 0,
    window: 0,
    mss: -1,
    sack_permitted: false,
    wscale: -1,
    timestamps: false,
    tsval: 0,
    tsecr: 0,
  };
}

/** Leaves the scratch with no options (the addresses and numbers are always all written). */
export function clear_tcp_options(f: TcpFrameFields): void {
  f.mss = -1;
  f.sack_permitted = false;
  f.wscale = -1;
  f.timestamps = false;
}

/** Bytes of TCP options the fields ask for, EOL padding included. */
export function tcp_frame_options_length(f: TcpFrameFields): number {
  let length = 0;
  if (f.mss >= 0) length += TCP_OPTION_MSS_LENGTH;
  if (f.sack_permitted) length += TCP_OPTION_SACK_PERMITTED_LENGTH;
  if (f.wscale >= 0) length += 1 + TCP_OPTION_WSCALE_LENGTH;
  if (f.timestamps) length += 2 + TCP_OPTION_TIMESTAMP_LENGTH;
  return (length + 3) & ~3;
}

/** The length of the frame write_tcp_frame writes for these fields and payload. */
export function tcp_frame_length(f: TcpFrameFields, payload_length: number): number {
  return 14 + 20 + 20 + tcp_frame_options_length(f) + payload_length;
}

/**
 * Writes the frame at o (tcp_frame_length bytes, claimed by the caller) with
 * payload[payload_at, payload_at + payload_length) after its header, and
 * its IPv4 and TCP checksums. Returns the frame's length.
 */
export function write_tcp_frame(
  bytes: Uint8Array,
  o: number,
  f: TcpFrameFields,
  payload: Uint8Array,
  payload_at: number,
  payload_length: number,
): number {
  write_mac_words(bytes, o, f.dst_mac_hi, f.dst_mac_lo);
  write_mac_words(bytes, o + 6, f.src_mac_hi, f.src_mac_lo);
  bytes[o + 12] = 0x08; // IPv4
  bytes[o + 13] = 0x00;
  const ip = o + 14;
  const tcp = ip + 20;
  const options = tcp + 20;
  let p = options;
  if (f.mss >= 0) p = write_mss_option(bytes, p, f.mss);
  if (f.sack_permitted) p = write_sack_permitted_option(bytes, p);
  if (f.wscale >= 0) p = write_wscale_option(bytes, write_nop_option(bytes, p), f.wscale);
  if (f.timestamps) {
    p = write_nop_option(bytes, write_nop_option(bytes, p));
    p = write_timestamp_option(bytes, p, f.tsval, f.tsecr);
  }
  p = pad_tcp_options(bytes, options, p);
  const header_length = p - tcp;
  for (let k = 0; k < payload_length; k++) bytes[p + k] = payload[payload_at + k];
  bytes[ip] = 0x45; // version 4, no options
  bytes[ip + 1] = 0; // TOS
  write_u16(bytes, ip + 2, 20 + header_length + payload_length);
  write_u16(bytes, ip + 4, 0); // ID
  write_u16(bytes, ip + 6, 0x4000); // DF
  bytes[ip + 8] = 64; // TTL
  bytes[ip + 9] = IP_PROTOCOL_TCP;
  write_u16(bytes, ip + 10, 0);
  write_u32(bytes, ip + 12, f.src_ip);
  write_u32(bytes, ip + 16, f.dst_ip);
  write_u16(bytes, tcp, f.src_port);
  write_u16(bytes, tcp + 2, f.dst_port);
  write_u32(bytes, tcp + 4, f.seq);
  write_u32(bytes, tcp + 8, f.ack);
  bytes[tcp + 12] = (header_length >> 2) << 4;
  bytes[tcp + 13] = f.flags;
  write_u16(bytes, tcp + 14, f.window);
  write_u16(bytes, tcp + 16, 0);
  write_u16(bytes, tcp + 18, 0); // urgent pointer
  ipv4_checksum_set(bytes, ip);
  tcp_checksum_set(bytes, ip);
  return p + payload_length - o;
}
