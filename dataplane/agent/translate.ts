// Translation of a handed-off flow's segments, in place, between the
// director's connection state (what the client sees) and the stack's
// (patent US9253289B2):
//
//   server → client: seq − ISN_s + ISN_d, TSval + Δts (its low bits the
//                    flow's routing code when it has one: ts_route.ts), window rescaled
//                    from the stack's wscale to the director's, L2 dst = client's next hop
//   client → server: ack − ISN_d + ISN_s, SACK edges likewise, TSecr − Δts,
//                    L2 dst = the stack's MAC
//
// Options a side did not negotiate never reach it: the stack's TS or SACK
// options on a flow whose client did not negotiate them with the director,
// and the client's SACK blocks when the stack declined SACK, are overwritten
// with NOPs. On the way out the agent also notes where the stack stands
// (its ACK and window, the end of what it sent): close.ts judges the
// client's RSTs and FINs against it (RFC 5961), and the resets the agent
// makes sit there (service.ts).
//
// Called per frame from the bursts (parse_out already holds the frame):
// checksums are updated incrementally, nothing allocates and nothing
// throws; a malformed frame makes a translator return false and the burst
// drops it.
//
// The stack's common segments have a fast path, translate_stack_segments:
// untagged IPv4 without IP options (translate_parse.ts), TCP with no
// options or exactly NOP NOP TS (what a Linux stack sends), of an
// established or closing flow. It runs over a burst at a time, through one
// DataView of the region, and folds every changed field into the TCP
// checksum once; it produces the same bytes, flow words and counters as
// the general path (tests/dataplane/agent/translate_test.ts checks it) and
// hands any other frame back to the burst untouched. The client's common
// segment (options exactly NOP NOP TS) skips the option walk the same way
// inside translate_to_server.

import { checksum_update16, checksum_update32 } from "../checksum.ts";
import { DESC_WORDS } from "../../native/mod.ts";
import {
  L4_OFFSET,
  PAYLOAD_LENGTH,
  read_u16,
  read_u32,
  TCP_FLAG_ACK,
  TCP_FLAG_FIN,
  TCP_FLAG_RST,
  TCP_FLAG_SYN,
  TCP_FLAGS,
  TCP_OPTIONS_LENGTH,
  TCP_OPTIONS_OFFSET,
  write_mac_words,
  write_u16,
  write_u32,
} from "../packet.ts";
import { seq_ge, seq_gt } from "../seq.ts";
import {
  flow_cache,
  flow_cache_fill,
  flow_cache_slot,
  parse_tcp_segment,
  region_view,
  segment_client_ip,
  segment_ports,
  segment_vip,
  tcp_payload_length,
} from "./translate_parse.ts";
import { track_server_close } from "./close.ts";
import {
  OPT_SACK_BLOCKS,
  OPT_SACK_OFFSET,
  OPT_TIMESTAMP_OFFSET,
  OPTIONS_OK,
  parse_tcp_options,
  remove_option,
  rewrite_sack_blocks,
  rewrite_timestamp,
  TCP_OPTION_TIMESTAMP_LENGTH,
  TCP_SACK_BLOCK_LENGTH,
} from "../tcp_options.ts";
import {
  type AgentState,
  C,
  F_SACK,
  F_STACK_NO_SACK,
  F_STACK_UNSCALED,
  F_TIMESTAMPS,
  STATE_REFUSING,
  STATE_REQUEST_SENT,
  STATE_SYN_SENT,
  V_CLIENT_MAC_HI,
  V_CLIENT_MAC_LO,
  V_CLIENT_WSCALE,
  V_DIRECTOR_WSCALE,
  V_FLAGS,
  V_ISN_DELTA,
  V_SERVER_TSVAL,
  V_SERVER_WSCALE,
  V_STACK_ACK,
  V_STACK_NEXT,
  V_STACK_WINDOW,
  V_STATE,
  V_TO_CLIENT,
  V_TS_DELTA,
  V_TS_ROUTE,
  VALUES_PER_FLOW,
} from "./state.ts";
import { restored_tsecr, routed_tsval } from "../ts_route.ts";

/** client → server, in place. False if the TCP options are malformed. */
export function translate_to_server(
  state: AgentState,
  bytes: Uint8Array,
  o: number,
  v: number,
): boolean {
  const out = state.parse_out;
  const values = state.table.values;
  const tcp = out[L4_OFFSET];
  const isn_delta = values[v + V_ISN_DELTA];
  const flow_flags = values[v + V_FLAGS];
  if (out[TCP_OPTIONS_LENGTH] === Tcp.with_ts_length - Tcp.no_options_length) {
    const view = region_view(bytes);
    if (view.getInt32(tcp + Tcp.options) === Tcp.nop_nop_ts) {
      client_ts_segment_to_server(state, view, o, tcp, v, out[TCP_FLAGS]);
      return true;
    }
  }
  if (out[TCP_OPTIONS_LENGTH] > 0) {
    const opts = state.options_out;
    if (
      parse_tcp_options(bytes, out[TCP_OPTIONS_OFFSET], out[TCP_OPTIONS_LENGTH], opts) !==
        OPTIONS_OK
    ) return false;
    const sack_at = opts[OPT_SACK_OFFSET];
    if (sack_at >= 0) {
      if ((flow_flags & F_STACK_NO_SACK) !== 0) {
        // the stack never sent SACK-permitted, so it may not be sent SACK (RFC 2018 section 2)
        remove_option(bytes, tcp, sack_at, 2 + opts[OPT_SACK_BLOCKS] * TCP_SACK_BLOCK_LENGTH);
        state.counters[C.options_stripped]++;
      } else {
        rewrite_sack_blocks(bytes, tcp, sack_at, opts[OPT_SACK_BLOCKS], isn_delta);
      }
    }
    const ts_at = opts[OPT_TIMESTAMP_OFFSET];
    if (ts_at >= 0) {
      if (values[v + V_TS_ROUTE] !== 0) {
        // as a difference, so rewrite_timestamp keeps the checksum right at any alignment
        const tsecr = read_u32(bytes, ts_at + 6);
        const restored = restored_tsecr(tsecr, values[v + V_TS_DELTA], values[v + V_SERVER_TSVAL]);
        rewrite_timestamp(bytes, tcp, ts_at, 0, (restored - tsecr) | 0);
      } else {
        rewrite_timestamp(bytes, tcp, ts_at, 0, -values[v + V_TS_DELTA]);
      }
    }
  }
  const flags = out[TCP_FLAGS];
  if ((flags & TCP_FLAG_ACK) !== 0) {
    const ack = read_u32(bytes, tcp + 8);
    const new_ack = (ack + isn_delta) >>> 0;
    write_u32(bytes, tcp + 8, new_ack);
    checksum_update32(bytes, tcp + 16, ack, new_ack);
  }
  if ((flow_flags & F_STACK_UNSCALED) !== 0 && (flags & TCP_FLAG_SYN) === 0) {
    // the client's window is in units of its shift; the stack, not scaling, reads bytes
    const window = read_u16(bytes, tcp + 14);
    const shift = Math.min(14, values[v + V_CLIENT_WSCALE]);
    const bytes_open = Math.min(0xffff, window * (1 << shift));
    write_u16(bytes, tcp + 14, bytes_open);
    checksum_update16(bytes, tcp + 16, window, bytes_open);
  }
  write_mac_words(bytes, o, state.server_mac_hi, state.server_mac_lo);
  return true;
}

/**
 * client → server for the common client segment, options exactly NOP NOP
 * TS (parse_out holds it): what translate_to_server does to it (TSecr −
 * Δts, ack − ISN_d + ISN_s, the window in bytes for an unscaling stack, the
 * stack's MAC), without the option walk, and with every changed field
 * folded into the TCP checksum once (see translate_stack_segments).
 */
function client_ts_segment_to_server(
  state: AgentState,
  view: DataView,
  o: number,
  tcp: number,
  v: number,
  flags: number,
): void {
  const values = state.table.values;
  let sum = 0;
  const ts_delta = values[v + V_TS_DELTA];
  if (ts_delta !== 0 || values[v + V_TS_ROUTE] !== 0) {
    const tsecr = view.getInt32(tcp + Tcp.tsecr);
    const new_tsecr = values[v + V_TS_ROUTE] !== 0
      ? restored_tsecr(tsecr, ts_delta, values[v + V_SERVER_TSVAL])
      : (tsecr - ts_delta) | 0;
    view.setInt32(tcp + Tcp.tsecr, new_tsecr);
    sum += (~tsecr >>> 16) + (~tsecr & 0xffff) + (new_tsecr >>> 16) + (new_tsecr & 0xffff);
  }
  if ((flags & TCP_FLAG_ACK) !== 0) {
    const ack = view.getInt32(tcp + Tcp.ack);
    const new_ack = (ack + values[v + V_ISN_DELTA]) | 0;
    view.setInt32(tcp + Tcp.ack, new_ack);
    sum += (~ack >>> 16) + (~ack & 0xffff) + (new_ack >>> 16) + (new_ack & 0xffff);
  }
  if ((values[v + V_FLAGS] & F_STACK_UNSCALED) !== 0 && (flags & TCP_FLAG_SYN) === 0) {
    // the client's window is in units of its shift; the stack, not scaling, reads bytes
    const window = view.getUint16(tcp + Tcp.window);
    const bytes_open = Math.min(0xffff, window * (1 << Math.min(14, values[v + V_CLIENT_WSCALE])));
    view.setUint16(tcp + Tcp.window, bytes_open);
    sum += (~window & 0xffff) + bytes_open;
  }
  let folded = (~view.getUint16(tcp + Tcp.checksum) & 0xffff) + sum;
  folded = (folded & 0xffff) + (folded >>> 16);
  folded = (folded & 0xffff) + (folded >>> 16);
  view.setUint16(tcp + Tcp.checksum, ~folded & 0xffff);
  view.setInt32(o, state.server_mac_hi);
  view.setUint16(o + 4, state.server_mac_lo);
}

/** server → client, in place. False if the TCP options are malformed. */
export function translate_to_client(
  state: AgentState,
  bytes: Uint8Array,
  o: number,
  v: number,
): boolean {
  const out = state.parse_out;
  const values = state.table.values;
  const tcp = out[L4_OFFSET];
  const flow_flags = values[v + V_FLAGS];
  if (out[TCP_OPTIONS_LENGTH] > 0) {
    const opts = state.options_out;
    if (
      parse_tcp_options(bytes, out[TCP_OPTIONS_OFFSET], out[TCP_OPTIONS_LENGTH], opts) !==
        OPTIONS_OK
    ) return false;
    const ts_at = opts[OPT_TIMESTAMP_OFFSET];
    if (ts_at >= 0) {
      if ((flow_flags & F_TIMESTAMPS) !== 0 && values[v + V_TS_ROUTE] !== 0) {
        const tsval = read_u32(bytes, ts_at + 2);
        values[v + V_SERVER_TSVAL] = tsval | 0; // restored_tsecr's bound
        const routed = routed_tsval(tsval, values[v + V_TS_DELTA], values[v + V_TS_ROUTE] & 0xff);
        rewrite_timestamp(bytes, tcp, ts_at, (routed - tsval) | 0, 0);
      } else if ((flow_flags & F_TIMESTAMPS) !== 0) {
        rewrite_timestamp(bytes, tcp, ts_at, values[v + V_TS_DELTA], 0);
      } else {
        // the client and the director did not negotiate timestamps: a TSopt is
        // sent only when both SYNs carried one (RFC 7323 section 3.2)
        remove_option(bytes, tcp, ts_at, TCP_OPTION_TIMESTAMP_LENGTH);
        state.counters[C.options_stripped]++;
      }
    }
    const sack_at = opts[OPT_SACK_OFFSET];
    if (sack_at >= 0 && (flow_flags & F_SACK) === 0) {
      // the client never negotiated SACK with the director (RFC 2018 section 2)
      remove_option(bytes, tcp, sack_at, 2 + opts[OPT_SACK_BLOCKS] * TCP_SACK_BLOCK_LENGTH);
      state.counters[C.options_stripped]++;
    }
  }
  const flags = out[TCP_FLAGS];
  note_stack_ack(state, bytes, v, flags);
  const seq = read_u32(bytes, tcp + 4);
  const new_seq = (seq - values[v + V_ISN_DELTA]) >>> 0;
  write_u32(bytes, tcp + 4, new_seq);
  checksum_update32(bytes, tcp + 16, seq, new_seq);
  const end = (new_seq + out[PAYLOAD_LENGTH] + ((flags & TCP_FLAG_FIN) !== 0 ? 1 : 0)) >>> 0;
  if (seq_gt(end, values[v + V_STACK_NEXT])) values[v + V_STACK_NEXT] = end | 0;
  const server_wscale = values[v + V_SERVER_WSCALE];
  const director_wscale = values[v + V_DIRECTOR_WSCALE];
  if (server_wscale !== director_wscale) {
    // the client reads the window with the director's scale
    const window = read_u16(bytes, tcp + 14);
    const bytes_open = window * (1 << server_wscale);
    const scaled = Math.min(0xffff, Math.floor(bytes_open / (1 << director_wscale)));
    write_u16(bytes, tcp + 14, scaled);
    checksum_update16(bytes, tcp + 16, window, scaled);
  }
  write_mac_words(bytes, o, values[v + V_CLIENT_MAC_HI], values[v + V_CLIENT_MAC_LO]);
  return true;
}

/**
 * A segment from the stack (parse_out holds it, not yet translated): a
 * newer ACK becomes the stack's announced receive position and its window
 * the announced window, in bytes: scaled by the stack's own shift (RFC 7323
 * section 2.2: a window is scaled by the shift its sender announced, and
 * never in a SYN).
 */
export function note_stack_ack(
  state: AgentState,
  bytes: Uint8Array,
  v: number,
  flags: number,
): void {
  if ((flags & TCP_FLAG_ACK) === 0) return;
  const values = state.table.values;
  const tcp = state.parse_out[L4_OFFSET];
  const ack = read_u32(bytes, tcp + 8);
  if (!seq_ge(ack, values[v + V_STACK_ACK])) return; // an older segment: its window is stale
  const shift = (flags & TCP_FLAG_SYN) !== 0 ? 0 : values[v + V_SERVER_WSCALE];
  values[v + V_STACK_ACK] = ack | 0;
  values[v + V_STACK_WINDOW] = read_u16(bytes, tcp + 14) << shift;
}

// ------------------------------------------------------------- fast path
//
// The fast path's constants are const enums, so each is a literal in the
// emitted code (an imported constant costs a cell load and a hole check at
// every use: about a fifth of this path's time, measured). The flow words,
// flags and states mirror state.ts's, and TcpFlag packet.ts's:
// FastPathMirrors makes `deno check` fail when one drifts, and MIRRORS_HOLD
// turns the fast path off at run time if one ever did (a run without a
// type check).

/** Byte offsets from the TCP header's start, and the layouts the fast path takes. */
const enum Tcp {
  seq = 4,
  ack = 8,
  /** Data offset (high nibble). */
  data_offset = 12,
  flags = 13,
  window = 14,
  checksum = 16,
  options = 20,
  /** TSval and TSecr, after NOP NOP and the TS option's kind and length. */
  tsval = 24,
  tsecr = 28,
  no_options_length = 20,
  /** A 20-byte header and NOP NOP TS. */
  with_ts_length = 32,
  /** NOP NOP, TS kind 8 length 10: the four option bytes as one big-endian word. */
  nop_nop_ts = 0x0101080a,
}

const enum Flow {
  state = 0,
  flags = 1,
  isn_delta = 2,
  ts_delta = 3,
  server_wscale = 4,
  director_wscale = 5,
  client_mac_hi = 6,
  client_mac_lo = 7,
  to_client = 16,
  server_tsval = 19,
  stack_ack = 26,
  stack_window = 27,
  stack_next = 28,
  ts_route = 33,
  flag_timestamps = 2,
  syn_sent = 1,
  request_sent = 2,
  refusing = 5,
}

const enum TcpFlag {
  fin = 0x01,
  syn = 0x02,
  rst = 0x04,
  ack = 0x10,
}

/** Holds when the const enum member has the value of the constant it mirrors (compile time). */
type Mirror<Member extends Constant, Constant extends number> = Member;
export type FastPathMirrors = [
  Mirror<Flow.state, typeof V_STATE>,
  Mirror<Flow.flags, typeof V_FLAGS>,
  Mirror<Flow.isn_delta, typeof V_ISN_DELTA>,
  Mirror<Flow.ts_delta, typeof V_TS_DELTA>,
  Mirror<Flow.server_wscale, typeof V_SERVER_WSCALE>,
  Mirror<Flow.director_wscale, typeof V_DIRECTOR_WSCALE>,
  Mirror<Flow.client_mac_hi, typeof V_CLIENT_MAC_HI>,
  Mirror<Flow.client_mac_lo, typeof V_CLIENT_MAC_LO>,
  Mirror<Flow.to_client, typeof V_TO_CLIENT>,
  Mirror<Flow.server_tsval, typeof V_SERVER_TSVAL>,
  Mirror<Flow.ts_route, typeof V_TS_ROUTE>,
  Mirror<Flow.stack_ack, typeof V_STACK_ACK>,
  Mirror<Flow.stack_window, typeof V_STACK_WINDOW>,
  Mirror<Flow.stack_next, typeof V_STACK_NEXT>,
  Mirror<Flow.flag_timestamps, typeof F_TIMESTAMPS>,
  Mirror<Flow.syn_sent, typeof STATE_SYN_SENT>,
  Mirror<Flow.request_sent, typeof STATE_REQUEST_SENT>,
  Mirror<Flow.refusing, typeof STATE_REFUSING>,
  Mirror<TcpFlag.fin, typeof TCP_FLAG_FIN>,
  Mirror<TcpFlag.syn, typeof TCP_FLAG_SYN>,
  Mirror<TcpFlag.rst, typeof TCP_FLAG_RST>,
  Mirror<TcpFlag.ack, typeof TCP_FLAG_ACK>,
];

/** The run-time side of FastPathMirrors. */
const MIRRORS_HOLD = Flow.state === V_STATE && Flow.flags === V_FLAGS &&
  Flow.isn_delta === V_ISN_DELTA && Flow.ts_delta === V_TS_DELTA &&
  Flow.server_wscale === V_SERVER_WSCALE && Flow.director_wscale === V_DIRECTOR_WSCALE &&
  Flow.client_mac_hi === V_CLIENT_MAC_HI && Flow.client_mac_lo === V_CLIENT_MAC_LO &&
  Flow.to_client === V_TO_CLIENT && Flow.server_tsval === V_SERVER_TSVAL &&
  Flow.ts_route === V_TS_ROUTE && Flow.stack_ack === V_STACK_ACK &&
  Flow.stack_window === V_STACK_WINDOW && Flow.stack_next === V_STACK_NEXT &&
  Flow.flag_timestamps === F_TIMESTAMPS && Flow.syn_sent === STATE_SYN_SENT &&
  Flow.request_sent === STATE_REQUEST_SENT && Flow.refusing === STATE_REFUSING &&
  TcpFlag.fin === TCP_FLAG_FIN && TcpFlag.syn === TCP_FLAG_SYN && TcpFlag.rst === TCP_FLAG_RST &&
  TcpFlag.ack === TCP_FLAG_ACK;

/**
 * server → client for frames [from, n) of a burst from the stack, on the
 * fast path, until the first frame it does not take: returns that frame's
 * index (n when it took them all), having left that frame untouched for the
 * general path (parse_frame, translate_to_client).
 *
 * It takes an IPv4/TCP segment parse_tcp_segment accepts: passed on
 * untouched when no handed-off flow is its, translated when its flow is
 * established or closing and its options are none, or NOP NOP TS on a flow
 * whose client negotiated timestamps (any other, e.g. a SACK, or a TS
 * option to strip, is the general path's). What it does is what
 * translate_to_client and the general burst do: TSval + Δts, note_stack_ack
 * on the stack's own ACK and window, seq − ISN_s + ISN_d, the end of what
 * the stack sent, the window rescaled when the scales differ, the client's
 * next hop as L2 destination; the flow touched, its to_client count, a FIN
 * or RST to track_server_close.
 *
 * Every changed word's (~old + new) goes into one sum that is folded into
 * the TCP checksum once (RFC 1624 eqn. 3): the same checksum as one update
 * per field, because folding a partial sum changes neither its value
 * modulo 0xffff nor whether it is zero; what the general path leaves alone
 * (TSval under a zero delta, the window under equal scales) is left alone.
 * Sequence comparisons are on int32 differences: seq_ge(a, b) is
 * ((a − b) | 0) >= 0, seq_gt(a, b) is ((a − b) | 0) > 0.
 */
export function translate_stack_segments(
  state: AgentState,
  view: DataView,
  desc: Int32Array,
  from: number,
  n: number,
  now: number,
): number {
  if (!MIRRORS_HOLD) return from;
  const table = state.table;
  const values = table.values;
  const last_seen = table.last_seen;
  const cache = flow_cache(table);
  const { used, src_ip, dst_ip, ports } = table;
  const fabric_port = state.config.fabric_port;
  const desc_words = DESC_WORDS;
  const values_per_flow = VALUES_PER_FLOW;
  let translated = 0;
  let passed = 0;
  let i = from;
  for (; i < n; i++) {
    const d = i * desc_words;
    const o = desc[d];
    const tcp = parse_tcp_segment(view, o, desc[d + 1]);
    if (tcp < 0) break;
    // the stack answers client ← VIP: the flow key is (dst, src); the cache first
    const client_ip = segment_client_ip(view, o);
    const vip = segment_vip(view, o);
    const key_ports = segment_ports(view, o);
    const slot = flow_cache_slot(client_ip, vip, key_ports);
    let index = cache[slot];
    if (
      !(index >= 0 && used[index] === 1 && ports[index] === key_ports &&
        src_ip[index] === client_ip && dst_ip[index] === vip)
    ) index = flow_cache_fill(cache, slot, table, client_ip, vip, key_ports);
    if (index < 0) {
      desc[d + 2] = fabric_port; // not a handed-off flow's: passed untouched
      passed++;
      continue;
    }
    const v = index * values_per_flow;
    const flow_state = values[v + Flow.state];
    const tcp_length = (view.getUint8(tcp + Tcp.data_offset) >> 4) << 2;
    if (
      flow_state === Flow.syn_sent || flow_state === Flow.request_sent ||
      flow_state === Flow.refusing ||
      (tcp_length !== Tcp.no_options_length &&
        (tcp_length !== Tcp.with_ts_length || view.getInt32(tcp + Tcp.options) !== Tcp.nop_nop_ts ||
          (values[v + Flow.flags] & Flow.flag_timestamps) === 0))
    ) break;
    const flags = view.getUint8(tcp + Tcp.flags);
    // every changed field's (~old + new), as 16-bit halves, folded into the checksum at the end
    let sum = 0;
    const ts_delta = values[v + Flow.ts_delta];
    const ts_route = values[v + Flow.ts_route];
    if (tcp_length === Tcp.with_ts_length && (ts_delta !== 0 || ts_route !== 0)) {
      const tsval = view.getInt32(tcp + Tcp.tsval);
      let new_tsval = (tsval + ts_delta) | 0;
      if (ts_route !== 0) {
        values[v + Flow.server_tsval] = tsval; // restored_tsecr's bound
        new_tsval = routed_tsval(tsval, ts_delta, ts_route & 0xff);
      }
      view.setInt32(tcp + Tcp.tsval, new_tsval);
      sum += (~tsval >>> 16) + (~tsval & 0xffff) + (new_tsval >>> 16) + (new_tsval & 0xffff);
    }
    const window = view.getUint16(tcp + Tcp.window);
    const server_wscale = values[v + Flow.server_wscale];
    // note_stack_ack: a newer ACK, with the window in bytes (never scaled in a SYN)
    if ((flags & TcpFlag.ack) !== 0) {
      const ack = view.getInt32(tcp + Tcp.ack);
      if (((ack - values[v + Flow.stack_ack]) | 0) >= 0) {
        values[v + Flow.stack_ack] = ack;
        values[v + Flow.stack_window] = window << ((flags & TcpFlag.syn) !== 0 ? 0 : server_wscale);
      }
    }
    const old_seq = view.getInt32(tcp + Tcp.seq);
    const seq = (old_seq - values[v + Flow.isn_delta]) | 0;
    view.setInt32(tcp + Tcp.seq, seq);
    sum += (~old_seq >>> 16) + (~old_seq & 0xffff) + (seq >>> 16) + (seq & 0xffff);
    // what the stack has sent ends after the payload and a FIN
    const end = (seq + tcp_payload_length(view, o, tcp_length) + (flags & TcpFlag.fin)) | 0;
    if (((end - values[v + Flow.stack_next]) | 0) > 0) values[v + Flow.stack_next] = end;
    const director_wscale = values[v + Flow.director_wscale];
    if (server_wscale !== director_wscale) {
      // the client reads the window with the director's scale
      const bytes_open = window * (1 << server_wscale);
      const scaled = Math.min(0xffff, Math.floor(bytes_open / (1 << director_wscale)));
      sum += (~window & 0xffff) + scaled;
      view.setUint16(tcp + Tcp.window, scaled);
    }
    let folded = (~view.getUint16(tcp + Tcp.checksum) & 0xffff) + sum;
    folded = (folded & 0xffff) + (folded >>> 16);
    folded = (folded & 0xffff) + (folded >>> 16);
    view.setUint16(tcp + Tcp.checksum, ~folded & 0xffff);
    // L2: the client's next hop
    view.setInt32(o, values[v + Flow.client_mac_hi]);
    view.setUint16(o + 4, values[v + Flow.client_mac_lo]);
    desc[d + 2] = fabric_port;
    values[v + Flow.to_client]++;
    last_seen[index] = now; // flow_touch
    if ((flags & (TcpFlag.fin | TcpFlag.rst)) !== 0) track_server_close(state, index, flags, now);
    translated++;
  }
  const c = state.counters;
  c[C.translated_to_client] += translated;
  c[C.passed_to_fabric] += passed;
  return i;
}
