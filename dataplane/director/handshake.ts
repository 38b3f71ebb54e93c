// The director's side of the TCP handshake, stateless until it completes: a
// SYN gets a SYN/ACK whose ISN is a SYN cookie carrying the client's
// options, and nothing is stored; an ACK without a flow creates one only if
// it carries a valid cookie (and a table slot is free). The flow takes no
// request buffer yet: that comes with its first request bytes (pool.ts), so
// handshakes that never send a request cost a flow entry for at most
// request_timeout_ms and nothing else. The cookie ACK of a new connection on
// a closing 4-tuple replaces the old flow (guard.ts). Announced options
// follow the policy in mod.ts.
//
// What the cookie carries where (syn_cookie.ts has it bit by bit): the ISN
// holds the slot, the MSS index and the MAC; with timestamps the SYN/ACK's
// TSval holds the window scale and SACK-permitted in its low 6 bits, and the
// client's ACK brings them back in TSecr. Every TSval the director sends on
// the flow afterwards (its ACKs while reading, its answers, the hand-off
// record's director_tsval, which the agent continues from) is its clock when
// the cookie ACK came, with the same low bits (cookie_tsval): at or after
// the SYN/ACK's, and a segment that echoes any of them still carries the
// options, should the flow be forgotten and made again from a cookie.

import { flow_insert } from "../flow_table.ts";
import {
  DST_IP,
  DST_PORT,
  L4_OFFSET,
  mac_hi,
  mac_lo,
  PAYLOAD_LENGTH,
  read_u32,
  SRC_IP,
  SRC_PORT,
  TCP_FLAG_ACK,
  TCP_FLAG_SYN,
  TCP_OPTIONS_LENGTH,
  TCP_OPTIONS_OFFSET,
} from "../packet.ts";
import {
  OPT_MSS,
  OPT_SACK_PERMITTED_OFFSET,
  OPT_TIMESTAMP_OFFSET,
  OPT_WSCALE,
  OPTIONS_OK,
  parse_tcp_options,
} from "../tcp_options.ts";
import {
  cookie_check,
  cookie_info,
  cookie_info_mss,
  cookie_info_sack,
  cookie_info_ts,
  cookie_info_wscale,
  cookie_make,
  COOKIE_NO_TSECR,
  cookie_tsval,
  COOKIE_WSCALE_NONE,
} from "./syn_cookie.ts";
import {
  C,
  D_CLIENT_ISN,
  D_CLIENT_MAC_HI,
  D_CLIENT_MAC_LO,
  D_CLIENT_MSS,
  D_CLIENT_WSCALE,
  D_DIRECTOR_ISN,
  D_DIRECTOR_TSVAL,
  D_FLAGS,
  D_REQUEST_LENGTH,
  D_REQUEST_SLOT,
  D_STATE,
  DIRECTOR_WINDOW,
  type DirectorState,
  F_L4,
  F_SACK,
  F_TIMESTAMPS,
  F_WSCALE,
  find_vip,
  L4_FIRST_DATA_WAIT_MS,
  remove_flow,
  STATE_READING,
  VALUES_PER_FLOW,
} from "./state.ts";
import { set_deadline } from "./timers.ts";
import { note_client_segment, segment_scratch, write_segment } from "./segment.ts";
import { reading_frame } from "./request.ts";

/**
 * SYN → SYN/ACK whose ISN (and TSval, with timestamps) is a cookie holding
 * the client's options; nothing is stored. Without timestamps the cookie
 * cannot carry window scale and SACK-permitted (cookie_info drops them), so
 * the SYN/ACK announces only MSS: an option the director does not announce
 * is not in effect on either side (RFC 7323 section 2.2, RFC 2018).
 */
export function syn_ack_in_place(
  state: DirectorState,
  bytes: Uint8Array,
  o: number,
  d: number,
  desc: Int32Array,
  now: number,
): boolean {
  const out = state.parse_out;
  const opts = state.options_out;
  const tcp = out[L4_OFFSET];
  let mss = 536, wscale = COOKIE_WSCALE_NONE, sack = false, ts = false, tsval = 0;
  if (out[TCP_OPTIONS_LENGTH] > 0) {
    if (
      parse_tcp_options(bytes, out[TCP_OPTIONS_OFFSET], out[TCP_OPTIONS_LENGTH], opts) !==
        OPTIONS_OK
    ) {
      state.counters[C.dropped_malformed]++;
      return false;
    }
    if (opts[OPT_MSS] > 0) mss = opts[OPT_MSS];
    if (opts[OPT_WSCALE] >= 0) wscale = opts[OPT_WSCALE];
    sack = opts[OPT_SACK_PERMITTED_OFFSET] >= 0;
    if (opts[OPT_TIMESTAMP_OFFSET] >= 0) {
      ts = true;
      tsval = read_u32(bytes, opts[OPT_TIMESTAMP_OFFSET] + 2);
    }
  }
  const client_isn = read_u32(bytes, tcp + 4);
  const info = cookie_info(mss, wscale, sack, ts);
  const cookie = cookie_make(
    state.config.cookie_key,
    out[SRC_IP],
    out[DST_IP],
    out[SRC_PORT],
    out[DST_PORT],
    client_isn,
    wall_ms(state, now) / 1000,
    info,
  );
  // the one scratch segment, as for every other frame the director writes:
  // no object per SYN under a SYN flood
  const f = segment_scratch;
  f.seq = cookie;
  f.ack = (client_isn + 1) >>> 0;
  f.flags = TCP_FLAG_SYN | TCP_FLAG_ACK;
  f.window = DIRECTOR_WINDOW;
  f.syn_options = true;
  f.sack = cookie_info_sack(info);
  f.ts = ts;
  // the option bits ride in the low bits of our TSval and come back as TSecr
  f.tsval = cookie_tsval((wall_ms(state, now) | 0) + state.ts_offset, info);
  f.tsecr = tsval;
  f.wscale = cookie_info_wscale(info) !== COOKIE_WSCALE_NONE;
  desc[d + 1] = write_segment(state, bytes, o, f);
  state.counters[C.syn_cookies_sent]++;
  return true;
}

/**
 * The poll loop's clock as the wall clock (ms), which every director of a
 * site shares: the cookies' time slots and TSval are read from it, so a
 * cookie or a TSval of one director is good at another.
 */
function wall_ms(state: DirectorState, now: number): number {
  return now + state.clock_offset_ms;
}

/** checked_cookie: the ACK's options cannot be read (counted in dropped_malformed). */
export const COOKIE_MALFORMED = -2;

/**
 * The cookie an ACK answers (its ISN and, with a timestamp option, TSecr),
 * checked: its option info, −1 when it is not a cookie of ours (not
 * counted: it may be a packet of a connection another director handed
 * off, carry.ts), or COOKIE_MALFORMED (counted).
 */
function checked_cookie(state: DirectorState, bytes: Uint8Array, now: number): number {
  const out = state.parse_out;
  const tcp = out[L4_OFFSET];
  let tsecr = COOKIE_NO_TSECR;
  if (out[TCP_OPTIONS_LENGTH] > 0) {
    const opts = state.options_out;
    if (
      parse_tcp_options(bytes, out[TCP_OPTIONS_OFFSET], out[TCP_OPTIONS_LENGTH], opts) !==
        OPTIONS_OK
    ) {
      state.counters[C.dropped_malformed]++;
      return COOKIE_MALFORMED;
    }
    if (opts[OPT_TIMESTAMP_OFFSET] >= 0) tsecr = read_u32(bytes, opts[OPT_TIMESTAMP_OFFSET] + 6);
  }
  const info = cookie_check(
    state.config.cookie_key,
    out[SRC_IP],
    out[DST_IP],
    out[SRC_PORT],
    out[DST_PORT],
    (read_u32(bytes, tcp + 4) - 1) >>> 0,
    (read_u32(bytes, tcp + 8) - 1) >>> 0,
    tsecr,
    wall_ms(state, now) / 1000,
  );
  return info;
}

/** cookie_ack: the ACK is no cookie of ours (nothing counted: carry.ts takes it on). */
export const NOT_A_COOKIE = -1;

/**
 * An ACK without a flow: a valid cookie completes the handshake and
 * creates the flow (1: the frame goes out, 0: it does not); NOT_A_COOKIE
 * when it answers no cookie of ours.
 */
export function cookie_ack(
  state: DirectorState,
  bytes: Uint8Array,
  o: number,
  d: number,
  desc: Int32Array,
  vip_index: number,
  now: number,
): number {
  const info = checked_cookie(state, bytes, now);
  if (info === COOKIE_MALFORMED) return 0;
  if (info < 0) return NOT_A_COOKIE;
  return create_flow(state, bytes, o, d, desc, vip_index, info, now) ? 1 : 0;
}

/**
 * The cookie ACK of a new connection on a closing flow's 4-tuple (guard.ts
 * reuse_syn answered its SYN): the old flow goes and the new one starts, to be handed off afresh.
 */
export function replace_flow(
  state: DirectorState,
  bytes: Uint8Array,
  o: number,
  d: number,
  desc: Int32Array,
  index: number,
  now: number,
): boolean {
  const out = state.parse_out;
  const info = checked_cookie(state, bytes, now);
  if (info < 0) {
    // a forged ACK in the new connection's place: not the old flow's either
    if (info !== COOKIE_MALFORMED) state.counters[C.bad_cookies]++;
    return false;
  }
  const vip_index = find_vip(state, out[DST_IP], out[DST_PORT]);
  remove_flow(state, index);
  state.counters[C.flows_replaced]++;
  if (vip_index < 0) {
    state.counters[C.dropped_port_closed]++; // the VIP stopped serving the port meanwhile
    return false;
  }
  return create_flow(state, bytes, o, d, desc, vip_index, info, now);
}

/** A completed handshake: the flow starts READING, without a request buffer. */
function create_flow(
  state: DirectorState,
  bytes: Uint8Array,
  o: number,
  d: number,
  desc: Int32Array,
  vip_index: number,
  info: number,
  now: number,
): boolean {
  const c = state.counters;
  const out = state.parse_out;
  const tcp = out[L4_OFFSET];
  const client_isn = (read_u32(bytes, tcp + 4) - 1) >>> 0;
  const cookie = (read_u32(bytes, tcp + 8) - 1) >>> 0;
  const l4 = state.vip_l4[vip_index] === 1;
  const index = flow_insert(
    state.table,
    out[SRC_IP],
    out[DST_IP],
    out[SRC_PORT],
    out[DST_PORT],
    now,
  );
  if (index < 0) {
    c[C.table_full]++;
    return false;
  }
  c[C.handshakes_completed]++;
  c[C.flows] = state.table.count;
  const values = state.table.values;
  const v = index * VALUES_PER_FLOW;
  const wscale = cookie_info_wscale(info);
  values[v + D_FLAGS] = (cookie_info_sack(info) ? F_SACK : 0) |
    (cookie_info_ts(info) ? F_TIMESTAMPS : 0) | (wscale !== COOKIE_WSCALE_NONE ? F_WSCALE : 0) |
    (l4 ? F_L4 : 0);
  values[v + D_CLIENT_ISN] = client_isn | 0;
  values[v + D_DIRECTOR_ISN] = cookie | 0;
  values[v + D_CLIENT_MAC_HI] = mac_hi(bytes, o + 6);
  values[v + D_CLIENT_MAC_LO] = mac_lo(bytes, o + 6);
  values[v + D_CLIENT_MSS] = cookie_info_mss(info);
  values[v + D_CLIENT_WSCALE] = wscale;
  values[v + D_REQUEST_LENGTH] = 0;
  values[v + D_REQUEST_SLOT] = -1; // taken with the first request bytes (reading_frame)
  // the clock now, with the cookie's option bits like the SYN/ACK's TSval (see the header)
  let director_tsval = cookie_tsval((wall_ms(state, now) | 0) + state.ts_offset, info) |
    0;
  if (cookie_info_ts(info)) {
    // The SYN/ACK may have come from another director whose clock runs a
    // little ahead: the client's PAWS would drop a TSval below its echo.
    const tsecr = read_u32(bytes, state.options_out[OPT_TIMESTAMP_OFFSET] + 6) | 0;
    if (((tsecr - director_tsval) | 0) > 0) director_tsval = tsecr;
  }
  values[v + D_DIRECTOR_TSVAL] = director_tsval;
  note_client_segment(state, bytes, v);
  values[v + D_STATE] = STATE_READING;
  // a silent handshake is forgotten at this deadline too (service.ts): it pins nothing longer
  set_deadline(state, index, now + (l4 ? L4_FIRST_DATA_WAIT_MS : state.config.request_timeout_ms));
  if (out[PAYLOAD_LENGTH] > 0) return reading_frame(state, bytes, o, d, desc, index, now);
  c[C.acks_absorbed]++; // the handshake's own ACK: the flow exists now, nothing to answer
  return false;
}
