// The director's own bare segments (SYN/ACK, ACKs of request bytes, the
// final ACK of a RESPONDING flow), written in place over the client's frame
// with full checksums, and what the director notes from the client's
// segments for them (window, TSval). The ACKs go through one SegmentFields
// scratch (ack_fields fills it, the caller may adjust it, write_segment
// consumes it at once); the SYN/ACK passes its fields as a literal.

import { ipv4_checksum_set, tcp_checksum_set } from "../checksum.ts";
import {
  IP_PROTOCOL_TCP,
  L3_OFFSET,
  L4_OFFSET,
  read_u16,
  read_u32,
  TCP_FLAG_ACK,
  TCP_OPTIONS_LENGTH,
  TCP_OPTIONS_OFFSET,
  write_mac_words,
  write_u16,
  write_u32,
} from "../packet.ts";
import { OPT_TIMESTAMP_OFFSET, OPTIONS_OK, parse_tcp_options } from "../tcp_options.ts";
import {
  D_CLIENT_TSVAL,
  D_CLIENT_WINDOW,
  D_DIRECTOR_ISN,
  D_DIRECTOR_TSVAL,
  D_FLAGS,
  DIRECTOR_WSCALE,
  type DirectorState,
  F_TIMESTAMPS,
} from "./state.ts";

export interface SegmentFields {
  seq: number;
  ack: number;
  flags: number;
  window: number;
  /** SYN/ACK options: MSS, SACK-permitted, window scale. */
  syn_options: boolean;
  sack: boolean;
  ts: boolean;
  tsval: number;
  tsecr: number;
  wscale: boolean;
}

export const segment_scratch: SegmentFields = {
  seq: 0,
  ack: 0,
  flags: 0,
  window: 0,
  syn_options: false,
  sack: false,
  ts: false,
  tsval: 0,
  tsecr: 0,
  wscale: false,
};

/** A bare ACK from the director (seq after its SYN), with our TSval and the client's echoed. */
export function ack_fields(
  values: Int32Array,
  v: number,
  ack: number,
  window: number,
): SegmentFields {
  const f = segment_scratch;
  f.seq = (values[v + D_DIRECTOR_ISN] + 1) >>> 0;
  f.ack = ack;
  f.flags = TCP_FLAG_ACK;
  f.window = window;
  f.syn_options = false;
  f.sack = false;
  f.ts = (values[v + D_FLAGS] & F_TIMESTAMPS) !== 0;
  f.tsval = values[v + D_DIRECTOR_TSVAL] >>> 0;
  f.tsecr = values[v + D_CLIENT_TSVAL] >>> 0;
  f.wscale = false;
  return f;
}

/**
 * Rewrites the client's frame at o, in place, into a segment from the VIP
 * back to the client (no payload), with full checksums: a new header is
 * written, so nothing incremental applies. Returns the frame length.
 */
export function write_segment(
  state: DirectorState,
  bytes: Uint8Array,
  o: number,
  f: SegmentFields,
): number {
  const out = state.parse_out;
  const old_ip = out[L3_OFFSET];
  const old_tcp = out[L4_OFFSET];
  const client_ip = read_u32(bytes, old_ip + 12);
  const vip = read_u32(bytes, old_ip + 16);
  const client_port = read_u16(bytes, old_tcp);
  const vip_port = read_u16(bytes, old_tcp + 2);
  // Ethernet: back to the sender, from the director
  for (let k = 0; k < 6; k++) bytes[o + k] = bytes[o + 6 + k];
  write_mac_words(bytes, o + 6, state.director_mac_hi, state.director_mac_lo);
  bytes[o + 12] = 0x08;
  bytes[o + 13] = 0x00;
  const ip = o + 14;
  const tcp = ip + 20;
  let p = tcp + 20;
  if (f.syn_options) {
    bytes[p] = 2;
    bytes[p + 1] = 4;
    write_u16(bytes, p + 2, state.config.mss);
    p += 4;
    if (f.sack) {
      bytes[p] = f.ts ? 4 : 1;
      bytes[p + 1] = f.ts ? 2 : 1;
      if (!f.ts) {
        bytes[p + 2] = 4;
        bytes[p + 3] = 2;
        p += 4;
      } else {
        p += 2;
      }
    }
  }
  if (f.ts) {
    if (!(f.syn_options && f.sack)) {
      bytes[p] = 1;
      bytes[p + 1] = 1;
      p += 2;
    }
    bytes[p] = 8;
    bytes[p + 1] = 10;
    write_u32(bytes, p + 2, f.tsval);
    write_u32(bytes, p + 6, f.tsecr);
    p += 10;
  }
  if (f.syn_options && f.wscale) {
    bytes[p] = 1;
    bytes[p + 1] = 3;
    bytes[p + 2] = 3;
    bytes[p + 3] = DIRECTOR_WSCALE;
    p += 4;
  }
  const tcp_length = p - tcp;
  bytes[ip] = 0x45;
  bytes[ip + 1] = 0;
  write_u16(bytes, ip + 2, 20 + tcp_length);
  write_u16(bytes, ip + 4, 0);
  write_u16(bytes, ip + 6, 0x4000);
  bytes[ip + 8] = 64;
  bytes[ip + 9] = IP_PROTOCOL_TCP;
  write_u32(bytes, ip + 12, vip);
  write_u32(bytes, ip + 16, client_ip);
  write_u16(bytes, tcp, vip_port);
  write_u16(bytes, tcp + 2, client_port);
  write_u32(bytes, tcp + 4, f.seq);
  write_u32(bytes, tcp + 8, f.ack);
  bytes[tcp + 12] = (tcp_length >> 2) << 4;
  bytes[tcp + 13] = f.flags;
  write_u16(bytes, tcp + 14, f.window);
  write_u16(bytes, tcp + 18, 0);
  ipv4_checksum_set(bytes, ip);
  tcp_checksum_set(bytes, ip);
  return p - o;
}

/** Remembers the client's latest TSval and window (for the ACK we send and the hand-off). */
export function note_client_segment(state: DirectorState, bytes: Uint8Array, v: number): void {
  const out = state.parse_out;
  const values = state.table.values;
  const tcp = out[L4_OFFSET];
  values[v + D_CLIENT_WINDOW] = read_u16(bytes, tcp + 14);
  if ((values[v + D_FLAGS] & F_TIMESTAMPS) !== 0 && out[TCP_OPTIONS_LENGTH] > 0) {
    const opts = state.options_out;
    if (
      parse_tcp_options(bytes, out[TCP_OPTIONS_OFFSET], out[TCP_OPTIONS_LENGTH], opts) ===
        OPTIONS_OK && opts[OPT_TIMESTAMP_OFFSET] >= 0
    ) {
      values[v + D_CLIENT_TSVAL] = read_u32(bytes, opts[OPT_TIMESTAMP_OFFSET] + 2) | 0;
    }
  }
}
