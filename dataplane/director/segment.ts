// The director's own bare segments (SYN/ACK, ACKs of request bytes, the
// final ACK of a RESPONDING flow, FIN+ACK of a CLOSING one, RFC 5961's
// challenge ACKs and their budget), written in place over the client's
// frame with full checksums; what the director notes from the client's
// segments for them (window, TSval); and where both sides of a connection it
// terminates stand (client_next, director_next). The ACKs go through one
// SegmentFields scratch (ack_fields fills it, the caller may adjust it,
// write_segment consumes it at once); the SYN/ACK fills the same scratch, so
// no segment allocates.

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
  C,
  D_CLIENT_ISN,
  D_CLIENT_TSVAL,
  D_CLIENT_WINDOW,
  D_DIRECTOR_ISN,
  D_DIRECTOR_TSVAL,
  D_FLAGS,
  D_REQUEST_LENGTH,
  D_RETRIES,
  D_SERVER_MAC_HI,
  D_SERVER_MAC_LO,
  D_STATE,
  D_STATUS,
  DIRECTOR_WINDOW,
  DIRECTOR_WSCALE,
  type DirectorState,
  F_TIMESTAMPS,
  F_WSCALE,
  STATE_CLOSING,
  STATE_RESPONDING,
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

/**
 * The receive window field of every segment the director sends on a flow:
 * DIRECTOR_WINDOW, in units of 2^DIRECTOR_WSCALE once scaling is on. Never 0,
 * not even while it answers itself: a client holds its FIN behind a zero
 * window, and the FIN is what lets the director forget the flow.
 */
export function director_window(values: Int32Array, v: number): number {
  return (values[v + D_FLAGS] & F_WSCALE) !== 0
    ? DIRECTOR_WINDOW >> DIRECTOR_WSCALE
    : DIRECTOR_WINDOW;
}

/** The receive window in bytes that director_window announces (RFC 5961's RCV.WND). */
export function director_window_bytes(values: Int32Array, v: number): number {
  return (values[v + D_FLAGS] & F_WSCALE) !== 0
    ? (DIRECTOR_WINDOW >> DIRECTOR_WSCALE) << DIRECTOR_WSCALE
    : DIRECTOR_WINDOW;
}

/**
 * The client's next sequence number as the director knows it, on a flow it
 * terminates (RFC 793's RCV.NXT): ISN + 1 + the request bytes taken, + 1 for
 * the client's FIN once CLOSING.
 */
export function client_next(values: Int32Array, v: number): number {
  const fin = values[v + D_STATE] === STATE_CLOSING ? 1 : 0;
  return (values[v + D_CLIENT_ISN] + 1 + values[v + D_REQUEST_LENGTH] + fin) >>> 0;
}

/**
 * The director's next sequence number (SND.NXT): ISN + 1 until it sends
 * anything; after its response and FIN once RESPONDING has sent them; after
 * its FIN once CLOSING.
 */
export function director_next(state: DirectorState, values: Int32Array, v: number): number {
  const isn = values[v + D_DIRECTOR_ISN];
  const s = values[v + D_STATE];
  if (s === STATE_CLOSING) return (isn + 2) >>> 0;
  if (s === STATE_RESPONDING && values[v + D_RETRIES] > 0) {
    const response = state.responses.get(values[v + D_STATUS]);
    return (isn + 1 + (response === undefined ? 0 : response.length) + 1) >>> 0;
  }
  return (isn + 1) >>> 0;
}

/** The client's frame goes to the flow's server: only the Ethernet header changes. */
export function to_server(state: DirectorState, bytes: Uint8Array, o: number, v: number): void {
  const values = state.table.values;
  write_mac_words(bytes, o, values[v + D_SERVER_MAC_HI], values[v + D_SERVER_MAC_LO]);
  write_mac_words(bytes, o + 6, state.director_mac_hi, state.director_mac_lo);
}

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

/** Takes one challenge ACK from this second's budget; false when it is spent. */
export function challenge_allowed(state: DirectorState, now: number): boolean {
  const second = Math.floor(now / 1000);
  if (second !== state.challenge_second) {
    const limit = state.challenge_ack_limit;
    state.challenge_second = second;
    // Linux's tcp_send_challenge_ack: half the limit plus a random part of it
    state.challenge_budget = ((limit + 1) >> 1) + Math.floor(Math.random() * limit);
  }
  if (state.challenge_budget <= 0) return false;
  state.challenge_budget--;
  return true;
}

/**
 * Rewrites the client's segment into a challenge ACK (RFC 5961 section 3.2:
 * <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK>), counted in `counter`; over the
 * budget the segment is dropped, counted in challenge_acks_limited.
 */
export function challenge_ack(
  state: DirectorState,
  bytes: Uint8Array,
  o: number,
  d: number,
  desc: Int32Array,
  v: number,
  counter: number,
  now: number,
): boolean {
  if (!challenge_allowed(state, now)) {
    state.counters[C.challenge_acks_limited]++;
    return false;
  }
  state.counters[counter]++;
  const values = state.table.values;
  // nothing noted from this segment: it is unverified, and may be forged
  const f = ack_fields(values, v, client_next(values, v), director_window(values, v));
  f.seq = director_next(state, values, v);
  desc[d + 1] = write_segment(state, bytes, o, f);
  return true;
}
