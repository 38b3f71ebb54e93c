// Translation of a handed-off flow's segments, in place, between the
// director's connection state (what the client sees) and the stack's
// (patent US9253289B2):
//
//   server → client: seq − ISN_s + ISN_d, TSval + Δts, window rescaled
//                    from the stack's wscale to the director's, L2 dst = client's next hop
//   client → server: ack − ISN_d + ISN_s, SACK edges likewise, TSecr − Δts,
//                    L2 dst = the stack's MAC
//
// and the FIN/RST tracking that closes a flow. Called per frame from the
// bursts (parse_out already holds the frame): checksums are updated
// incrementally, nothing allocates and nothing throws; a malformed frame
// makes a translator return false and the burst drops it.

import { FLOW_END_CLIENT_RESET, FLOW_END_FIN, FLOW_END_SERVER_RESET } from "../wire/mod.ts";
import { checksum_update16, checksum_update32 } from "../checksum.ts";
import {
  L4_OFFSET,
  read_u16,
  read_u32,
  TCP_FLAG_ACK,
  TCP_FLAG_FIN,
  TCP_FLAG_RST,
  TCP_FLAGS,
  TCP_OPTIONS_LENGTH,
  TCP_OPTIONS_OFFSET,
  write_mac_words,
  write_u16,
  write_u32,
} from "../packet.ts";
import {
  OPT_SACK_BLOCKS,
  OPT_SACK_OFFSET,
  OPT_TIMESTAMP_OFFSET,
  OPTIONS_OK,
  parse_tcp_options,
  rewrite_sack_blocks,
  rewrite_timestamp,
} from "../tcp_options.ts";
import {
  type AgentState,
  F_FIN_FROM_CLIENT,
  F_FIN_FROM_SERVER,
  STATE_CLOSING,
  V_CLIENT_MAC_HI,
  V_CLIENT_MAC_LO,
  V_DEADLINE,
  V_DIRECTOR_WSCALE,
  V_END_REASON,
  V_FLAGS,
  V_ISN_DELTA,
  V_SERVER_WSCALE,
  V_STATE,
  V_TS_DELTA,
  VALUES_PER_FLOW,
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
  if (out[TCP_OPTIONS_LENGTH] > 0) {
    const opts = state.options_out;
    if (
      parse_tcp_options(bytes, out[TCP_OPTIONS_OFFSET], out[TCP_OPTIONS_LENGTH], opts) !==
        OPTIONS_OK
    ) return false;
    if (opts[OPT_SACK_OFFSET] >= 0) {
      rewrite_sack_blocks(bytes, tcp, opts[OPT_SACK_OFFSET], opts[OPT_SACK_BLOCKS], isn_delta);
    }
    if (opts[OPT_TIMESTAMP_OFFSET] >= 0) {
      rewrite_timestamp(bytes, tcp, opts[OPT_TIMESTAMP_OFFSET], 0, -values[v + V_TS_DELTA]);
    }
  }
  if ((out[TCP_FLAGS] & TCP_FLAG_ACK) !== 0) {
    const ack = read_u32(bytes, tcp + 8);
    const new_ack = (ack + isn_delta) >>> 0;
    write_u32(bytes, tcp + 8, new_ack);
    checksum_update32(bytes, tcp + 16, ack, new_ack);
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
  if (out[TCP_OPTIONS_LENGTH] > 0) {
    const opts = state.options_out;
    if (
      parse_tcp_options(bytes, out[TCP_OPTIONS_OFFSET], out[TCP_OPTIONS_LENGTH], opts) !==
        OPTIONS_OK
    ) return false;
    if (opts[OPT_TIMESTAMP_OFFSET] >= 0) {
      rewrite_timestamp(bytes, tcp, opts[OPT_TIMESTAMP_OFFSET], values[v + V_TS_DELTA], 0);
    }
  }
  const seq = read_u32(bytes, tcp + 4);
  const new_seq = (seq - values[v + V_ISN_DELTA]) >>> 0;
  write_u32(bytes, tcp + 4, new_seq);
  checksum_update32(bytes, tcp + 16, seq, new_seq);
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

/** FIN and RST in either direction: a flow closes, lingers, then ends. */
export function track_close(
  state: AgentState,
  index: number,
  flags: number,
  from_client: boolean,
  now: number,
): void {
  if ((flags & (TCP_FLAG_FIN | TCP_FLAG_RST)) === 0) return;
  const values = state.table.values;
  const v = index * VALUES_PER_FLOW;
  if ((flags & TCP_FLAG_RST) !== 0) {
    if (values[v + V_STATE] !== STATE_CLOSING) {
      values[v + V_END_REASON] = from_client ? FLOW_END_CLIENT_RESET : FLOW_END_SERVER_RESET;
    }
  } else {
    values[v + V_FLAGS] |= from_client ? F_FIN_FROM_CLIENT : F_FIN_FROM_SERVER;
    const both = F_FIN_FROM_CLIENT | F_FIN_FROM_SERVER;
    if ((values[v + V_FLAGS] & both) !== both) return;
    if (values[v + V_STATE] !== STATE_CLOSING) values[v + V_END_REASON] = FLOW_END_FIN;
  }
  if (values[v + V_STATE] !== STATE_CLOSING) {
    values[v + V_STATE] = STATE_CLOSING;
    values[v + V_DEADLINE] = (now + state.config.linger_ms) | 0;
  }
}
