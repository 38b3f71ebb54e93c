// Translation of a handed-off flow's segments, in place, between the
// director's connection state (what the client sees) and the stack's
// (patent US9253289B2):
//
//   server → client: seq − ISN_s + ISN_d, TSval + Δts, window rescaled
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

import { checksum_update16, checksum_update32 } from "../checksum.ts";
import {
  L4_OFFSET,
  PAYLOAD_LENGTH,
  read_u16,
  read_u32,
  TCP_FLAG_ACK,
  TCP_FLAG_FIN,
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
  V_CLIENT_MAC_HI,
  V_CLIENT_MAC_LO,
  V_CLIENT_WSCALE,
  V_DIRECTOR_WSCALE,
  V_FLAGS,
  V_ISN_DELTA,
  V_SERVER_WSCALE,
  V_STACK_ACK,
  V_STACK_NEXT,
  V_STACK_WINDOW,
  V_TS_DELTA,
} from "./state.ts";

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
    if (opts[OPT_TIMESTAMP_OFFSET] >= 0) {
      rewrite_timestamp(bytes, tcp, opts[OPT_TIMESTAMP_OFFSET], 0, -values[v + V_TS_DELTA]);
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
      if ((flow_flags & F_TIMESTAMPS) !== 0) {
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
