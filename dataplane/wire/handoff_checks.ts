// What a hand-off message may be: the rules encode refuses by and decode
// calls "inconsistent" by, defined once so that whatever encode produces
// decodes. A field a receiver would act on is checked here, not where it
// is used: positions that must describe the request exactly, option values
// RFC 7323 allows, reasons that name something.

import type { HandoffMessage, HandoffState } from "./handoff.ts";
import {
  FLOW_END_REASON_NAMES,
  type FlowEndReason,
  NACK_REASON_NAMES,
  type NackReason,
} from "./reasons.ts";

/** The most one IPv4 UDP datagram can carry: 65535 − 20 − 8. */
export const MAX_UDP_PAYLOAD = 65507;
/** client_wscale / director_wscale when that side sent no window-scale option. */
export const WSCALE_NONE = 255;
/** RFC 7323: shifts above 14 are not allowed. */
export const MAX_WSCALE = 14;
/** Smaller MSS values are nonsense (and a lever for packet-storm attacks). */
export const MIN_MSS = 64;

/**
 * What is wrong with a message, or undefined if it is one a receiver should
 * act on. The same rules make encode refuse and decode say "inconsistent", so
 * whatever encode produces decodes.
 */
export function check_message(message: HandoffMessage): string | undefined {
  if (!is_uint(message.epoch, 32)) return `epoch ${message.epoch} is not a u32`;
  if (!is_uint(message.id, 32)) return `id ${message.id} is not a u32`;
  const key = message.key;
  if (!is_uint(key.client_ip, 32) || key.client_ip === 0) {
    return `client_ip ${key.client_ip} is not a non-zero u32`;
  }
  if (!is_uint(key.vip, 32) || key.vip === 0) return `vip ${key.vip} is not a non-zero u32`;
  if (!is_uint(key.client_port, 16) || key.client_port === 0) {
    return `client_port ${key.client_port} is not a non-zero u16`;
  }
  if (!is_uint(key.vip_port, 16) || key.vip_port === 0) {
    return `vip_port ${key.vip_port} is not a non-zero u16`;
  }
  switch (message.type) {
    case "handoff":
      return check_handoff_state(message.state);
    case "handoff_nack":
      if (!is_nack_reason(message.reason)) {
        return `NACK reason ${message.reason} is not one of ${reason_list(NACK_REASON_NAMES)}`;
      }
      return undefined;
    case "flow_end":
      if (!is_flow_end_reason(message.reason)) {
        return `FLOW_END reason ${message.reason} is not one of ${
          reason_list(FLOW_END_REASON_NAMES)
        }`;
      }
      if (!is_uint(message.counts.packets_to_server, 32)) return "packets_to_server is not a u32";
      if (!is_uint(message.counts.packets_to_client, 32)) return "packets_to_client is not a u32";
      return undefined;
    case "handoff_ack":
    case "flow_end_ack":
    case "handoff_cancel":
    case "flow_query":
    case "flow_owner":
      return undefined;
    default:
      return `unknown message type ${(message as { type: unknown }).type}`;
  }
}

function check_handoff_state(state: HandoffState): string | undefined {
  if (!(state.client_mac instanceof Uint8Array) || state.client_mac.length !== 6) {
    return "client_mac must be 6 bytes";
  }
  if (!(state.request instanceof Uint8Array)) return "request must be a Uint8Array";
  for (
    const name of [
      "client_isn",
      "director_isn",
      "client_next_seq",
      "director_next_seq",
      "client_tsval",
      "director_tsval",
    ] as const
  ) {
    if (!is_uint(state[name], 32)) return `${name} ${state[name]} is not a u32`;
  }
  for (const name of ["client_window", "client_mss", "director_mss"] as const) {
    if (!is_uint(state[name], 16)) return `${name} ${state[name]} is not a u16`;
  }
  // the agent rebuilds the server's view of the connection from these positions,
  // so they must describe exactly the request bytes that travel with them
  const expected_next_seq = (state.client_isn + 1 + state.request.length) >>> 0;
  if (state.client_next_seq !== expected_next_seq) {
    return `client_next_seq ${state.client_next_seq} is not client_isn + 1 + ` +
      `request length (${expected_next_seq})`;
  }
  if (state.client_mss < MIN_MSS) return `client_mss ${state.client_mss} is below ${MIN_MSS}`;
  if (state.director_mss < MIN_MSS) {
    return `director_mss ${state.director_mss} is below ${MIN_MSS}`;
  }
  for (const name of ["client_wscale", "director_wscale"] as const) {
    const wscale = state[name];
    if (!is_uint(wscale, 8) || (wscale > MAX_WSCALE && wscale !== WSCALE_NONE)) {
      return `${name} ${wscale} is neither 0..${MAX_WSCALE} nor ${WSCALE_NONE} (none)`;
    }
  }
  // RFC 7323: a SYN-ACK may carry window scale only if the SYN did
  if (state.client_wscale === WSCALE_NONE && state.director_wscale !== WSCALE_NONE) {
    return "director_wscale is set but the client sent no window scale";
  }
  if (typeof state.sack_permitted !== "boolean" || typeof state.timestamps !== "boolean") {
    return "sack_permitted and timestamps must be booleans";
  }
  if (state.ts_route !== undefined && !is_uint(state.ts_route, 8)) {
    return `ts_route ${state.ts_route} is not a u8`;
  }
  if (state.request.length > MAX_UDP_PAYLOAD) {
    return `request of ${state.request.length} bytes cannot fit one UDP datagram`;
  }
  return undefined;
}

export function is_nack_reason(value: unknown): value is NackReason {
  return is_uint(value, 8) && Object.hasOwn(NACK_REASON_NAMES, value as number);
}

export function is_flow_end_reason(value: unknown): value is FlowEndReason {
  return is_uint(value, 8) && Object.hasOwn(FLOW_END_REASON_NAMES, value as number);
}

function is_uint(value: unknown, bits: 8 | 16 | 32): boolean {
  return typeof value === "number" && Number.isInteger(value) && value >= 0 &&
    value < 2 ** bits;
}

function reason_list(names: object): string {
  return Object.keys(names).join(", ");
}
