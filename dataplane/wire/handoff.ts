// The hand-off datagram: one UDP datagram between director control and agent
// control, carrying everything the agent needs to take over a TCP connection
// the director accepted (addresses, ISNs, positions, negotiated options and
// the request bytes), authenticated with HMAC-SHA256 under the key of the
// agent it is for or from (handoff_key.ts: the director holds every agent's
// key, an agent only its own), bound to that agent and to a time.
//
// Wire layout (version 3), all integers big-endian:
//
//   header (24)  magic u16 | version u8 | type u8 | epoch u32 | id u32
//                | body_length u16 | reason u8 | reserved u8
//                | agent u32 | sent_at u32
//   body         flow key (12) + per-type fields
//   mac (32)     HMAC-SHA256 over header + body
//
// `agent` is the agent the datagram is for (director → agent) or from
// (agent → director), never 0; `sent_at` is the sender's wall clock in ms
// mod 2^32 (handoff_header.ts). A receiver that names its agent drops a
// datagram for another (wrong_agent), and every receiver drops one whose
// timestamp is more than freshness_ms from its own clock either way
// (stale). Both are believed only after the MAC.
//
// Datagrams arrive from the network, so decoding never throws: every bad
// datagram maps to one DecodeFailure that the caller counts and drops.
// Encoding never throws either (encode_datagram returns why it could not);
// encode_message is its throwing form for tools and tests. epoch + id name
// a hand-off; a retransmission reuses them (with a fresh sent_at) so the
// receiver can answer a duplicate without acting twice.

import { timingSafeEqual } from "node:crypto";
import { handoff_mac, type HandoffKey } from "./handoff_key.ts";
import type { FlowEndReason, NackReason } from "./reasons.ts";
import {
  DEFAULT_AGENT_ID,
  freshness_bound,
  H_AGENT,
  H_BODY_LENGTH,
  H_EPOCH,
  H_ID,
  H_MAGIC,
  H_REASON,
  H_RESERVED,
  H_SENT_AT,
  H_TYPE,
  H_VERSION,
  HEADER_BYTES,
  is_agent_id,
  is_fresh,
  MAGIC,
  VERSION,
  wire_clock,
} from "./handoff_header.ts";
import {
  check_message,
  is_flow_end_reason,
  is_nack_reason,
  MAX_UDP_PAYLOAD,
} from "./handoff_checks.ts";

export const MAC_BYTES = 32;
export const FLOW_KEY_BYTES = 12;
/** HANDOFF body before the request bytes. */
export const HANDOFF_FIXED_BODY_BYTES = 56;
/** A FLOW_END body: flow key + packets_to_server + packets_to_client. */
export const FLOW_END_BODY_BYTES = FLOW_KEY_BYTES + 8;
/** Everything in a HANDOFF datagram except the request bytes. */
export const HANDOFF_OVERHEAD_BYTES = HEADER_BYTES + HANDOFF_FIXED_BODY_BYTES + MAC_BYTES;
/** One frame at a 1500-byte MTU: 1500 − 20 (IPv4 header) − 8 (UDP header). */
export const DEFAULT_MAX_DATAGRAM = 1472;

export type MessageType =
  | "handoff"
  | "handoff_ack"
  | "handoff_nack"
  | "flow_end"
  | "flow_end_ack"
  | "handoff_cancel"
  | "flow_query"
  | "flow_owner";

/** The type byte on the wire. */
export const MESSAGE_TYPE_CODES: Readonly<Record<MessageType, number>> = {
  handoff: 1,
  handoff_ack: 2,
  handoff_nack: 3,
  flow_end: 4,
  flow_end_ack: 5,
  /** Director → agent: forget this hand-off (the director gave up on it, or its ACK came too late). */
  handoff_cancel: 6,
  /**
   * Director → every agent: which of you holds this flow? A director sends it
   * for a packet of a flow it does not know that carries no timestamp to route by.
   */
  flow_query: 7,
  /** Agent → director: I hold the flow the FLOW_QUERY (same epoch and id) named. */
  flow_owner: 8,
};
const MESSAGE_TYPES_BY_CODE: readonly (MessageType | undefined)[] = [
  undefined,
  "handoff",
  "handoff_ack",
  "handoff_nack",
  "flow_end",
  "flow_end_ack",
  "handoff_cancel",
  "flow_query",
  "flow_owner",
];

export const FLAG_SACK_PERMITTED = 0x01;
export const FLAG_TIMESTAMPS = 0x02;
/** The HANDOFF's ts_route byte holds the code the agent writes into TSval's low bits (ts_route.ts). */
export const FLAG_TS_ROUTE = 0x04;
export const KNOWN_FLAGS = FLAG_SACK_PERMITTED | FLAG_TIMESTAMPS | FLAG_TS_ROUTE;

// Body offsets (from the end of the header): the flow key every message
// starts with, then a HANDOFF's fields. handoff_frame.ts reads and writes
// the same offsets in place.
export const B_CLIENT_IP = 0;
export const B_VIP = 4;
export const B_CLIENT_PORT = 8;
export const B_VIP_PORT = 10;
/** FLOW_END: packets_to_server, then packets_to_client. */
export const B_PACKETS_TO_SERVER = 12;
export const B_PACKETS_TO_CLIENT = 16;
export const B_CLIENT_MAC = 12;
export const B_MAC_PAD = 18;
export const B_CLIENT_ISN = 20;
export const B_DIRECTOR_ISN = 24;
export const B_CLIENT_NEXT_SEQ = 28;
export const B_DIRECTOR_NEXT_SEQ = 32;
export const B_CLIENT_WINDOW = 36;
export const B_CLIENT_MSS = 38;
export const B_DIRECTOR_MSS = 40;
export const B_CLIENT_WSCALE = 42;
export const B_DIRECTOR_WSCALE = 43;
export const B_FLAGS = 44;
/** With FLAG_TS_ROUTE, the TSval routing code (0..255); else 0. */
export const B_TS_ROUTE = 45;
export const B_CLIENT_TSVAL = 46;
export const B_DIRECTOR_TSVAL = 50;
export const B_REQUEST_LENGTH = 54;

/** A client connection to a VIP. IPs are IPv4 addresses as host-order u32 numbers. */
export interface FlowKey {
  client_ip: number;
  vip: number;
  client_port: number;
  vip_port: number;
}

/** What the agent needs to continue the client's connection from where the director left it. */
export interface HandoffState {
  /** The client's next-hop MAC as the director saw it (6 bytes). */
  client_mac: Uint8Array;
  client_isn: number;
  director_isn: number;
  /** The director's rcv_nxt after the request: client_isn + 1 + request length (mod 2^32). */
  client_next_seq: number;
  /** The director's snd_nxt; normally director_isn + 1. */
  director_next_seq: number;
  /** The last window the client advertised, as on the wire (unscaled). */
  client_window: number;
  client_mss: number;
  director_mss: number;
  /** WSCALE_NONE when the client sent no window-scale option. */
  client_wscale: number;
  /** WSCALE_NONE when the director sent none. */
  director_wscale: number;
  sack_permitted: boolean;
  timestamps: boolean;
  /** The latest TSval seen from the client. */
  client_tsval: number;
  /** The latest TSval the director sent. */
  director_tsval: number;
  /**
   * With timestamps, the code (0..255) the agent puts in the low bits of
   * every TSval it sends the client, so any director can tell the flow's
   * server from the TSecr the client echoes (ts_route.ts); absent: none.
   */
  ts_route?: number;
  request: Uint8Array;
}

export interface FlowEndCounts {
  packets_to_server: number;
  packets_to_client: number;
}

interface MessageHeader {
  /** Random per director instance, so ids from a restarted director are not taken as duplicates. */
  epoch: number;
  id: number;
  key: FlowKey;
}

export interface Handoff extends MessageHeader {
  type: "handoff";
  state: HandoffState;
}
export interface HandoffAck extends MessageHeader {
  type: "handoff_ack";
}
export interface HandoffNack extends MessageHeader {
  type: "handoff_nack";
  reason: NackReason;
}
export interface FlowEnd extends MessageHeader {
  type: "flow_end";
  reason: FlowEndReason;
  counts: FlowEndCounts;
}
export interface FlowEndAck extends MessageHeader {
  type: "flow_end_ack";
}
export interface HandoffCancel extends MessageHeader {
  type: "handoff_cancel";
}
export interface FlowQuery extends MessageHeader {
  type: "flow_query";
}
export interface FlowOwner extends MessageHeader {
  type: "flow_owner";
}
export type HandoffMessage =
  | Handoff
  | HandoffAck
  | HandoffNack
  | FlowEnd
  | FlowEndAck
  | HandoffCancel
  | FlowQuery
  | FlowOwner;

export type DecodeFailure =
  | "truncated"
  | "oversized"
  | "bad_magic"
  | "bad_version"
  | "bad_type"
  | "bad_length"
  | "bad_mac"
  /** Authentic, but sent more than freshness_ms before (or after) the receiver's clock. */
  | "stale"
  /** Authentic, but for (or from) another agent than the receiver expects. */
  | "wrong_agent"
  | "inconsistent";
export const DECODE_FAILURES: readonly DecodeFailure[] = [
  "truncated",
  "oversized",
  "bad_magic",
  "bad_version",
  "bad_type",
  "bad_length",
  "bad_mac",
  "stale",
  "wrong_agent",
  "inconsistent",
];

export type DecodeResult =
  | {
    ok: true;
    message: HandoffMessage;
    /** The agent the datagram names (for, or from). */
    agent: number;
    /** The sender's clock when it was sent (ms mod 2^32). */
    sent_at: number;
  }
  | { ok: false; reason: DecodeFailure };

export type EncodeResult =
  | { ok: true; bytes: Uint8Array }
  | { ok: false; problem: string };

export interface CodecOptions {
  /** Largest datagram accepted or produced; DEFAULT_MAX_DATAGRAM unless set, at most MAX_UDP_PAYLOAD. */
  max_datagram?: number;
}

export interface EncodeOptions extends CodecOptions {
  /** The agent the datagram is for or from; DEFAULT_AGENT_ID unless set. */
  agent?: number;
  /** The sender's wall clock (ms since 1970); Date.now() unless set. */
  now?: number;
}

export interface DecodeOptions extends CodecOptions {
  /** The agent the receiver expects the datagram to name; any agent when unset. */
  agent?: number;
  /** The receiver's wall clock (ms since 1970); Date.now() unless set. */
  now?: number;
  /** How far sent_at may be from now, either way; DEFAULT_FRESHNESS_MS unless set. */
  freshness_ms?: number;
}

/** How many request bytes fit in one HANDOFF datagram of at most max_datagram bytes. */
export function max_request_bytes(max_datagram: number = DEFAULT_MAX_DATAGRAM): number {
  const problem = max_datagram_problem(max_datagram);
  if (problem) throw new RangeError(problem);
  return max_datagram - HANDOFF_OVERHEAD_BYTES;
}

/**
 * The signed datagram for a message, or why there is none: a message no
 * receiver would accept, a request too large for max_datagram (check
 * max_request_bytes first to answer the client instead), a bad agent id or
 * limit. Never throws, whatever the message holds: the control Workers
 * count a refusal and drop the message.
 */
export function encode_datagram(
  message: HandoffMessage,
  key: HandoffKey,
  options: EncodeOptions = {},
): EncodeResult {
  try {
    return encode_checked(message, key, options);
  } catch (err) {
    // nothing above should throw; a caller's exotic object (a getter) must not end a Worker
    return { ok: false, problem: `cannot encode: ${err}` };
  }
}

/** encode_datagram for tools and tests: the datagram, or a RangeError saying why not. */
export async function encode_message(
  message: HandoffMessage,
  key: HandoffKey,
  options: EncodeOptions = {},
): Promise<Uint8Array> {
  const result = encode_datagram(message, key, options);
  if (!result.ok) throw new RangeError(`encode_message: ${result.problem}`);
  return await Promise.resolve(result.bytes);
}

function encode_checked(
  message: HandoffMessage,
  key: HandoffKey,
  options: EncodeOptions,
): EncodeResult {
  const max_datagram = options.max_datagram ?? DEFAULT_MAX_DATAGRAM;
  const limit_problem = max_datagram_problem(max_datagram);
  if (limit_problem) return { ok: false, problem: limit_problem };
  const problem = check_message(message);
  if (problem) return { ok: false, problem };
  const agent = options.agent ?? DEFAULT_AGENT_ID;
  if (!is_agent_id(agent)) return { ok: false, problem: `agent ${agent} is not a non-zero u32` };
  const now = options.now ?? Date.now();
  if (typeof now !== "number" || !Number.isFinite(now)) {
    return { ok: false, problem: `clock ${now} is not a number of milliseconds` };
  }

  const body_length = body_length_for(message);
  const total = HEADER_BYTES + body_length + MAC_BYTES;
  if (total > max_datagram) {
    const request_length = message.type === "handoff" ? message.state.request.length : 0;
    return {
      ok: false,
      problem: `request of ${request_length} bytes is over the ` +
        `${max_datagram - HANDOFF_OVERHEAD_BYTES}-byte limit for max_datagram ${max_datagram}`,
    };
  }

  const bytes = new Uint8Array(total);
  const view = new DataView(bytes.buffer);
  view.setUint16(H_MAGIC, MAGIC);
  view.setUint8(H_VERSION, VERSION);
  view.setUint8(H_TYPE, MESSAGE_TYPE_CODES[message.type]);
  view.setUint32(H_EPOCH, message.epoch);
  view.setUint32(H_ID, message.id);
  view.setUint16(H_BODY_LENGTH, body_length);
  const reason = message.type === "handoff_nack" || message.type === "flow_end"
    ? message.reason
    : 0;
  view.setUint8(H_REASON, reason);
  view.setUint32(H_AGENT, agent);
  view.setUint32(H_SENT_AT, wire_clock(now));

  const body = HEADER_BYTES;
  view.setUint32(body, message.key.client_ip);
  view.setUint32(body + 4, message.key.vip);
  view.setUint16(body + 8, message.key.client_port);
  view.setUint16(body + 10, message.key.vip_port);
  if (message.type === "handoff") write_handoff_state(view, bytes, message.state);
  if (message.type === "flow_end") {
    view.setUint32(body + FLOW_KEY_BYTES, message.counts.packets_to_server);
    view.setUint32(body + FLOW_KEY_BYTES + 4, message.counts.packets_to_client);
  }

  const signed = bytes.subarray(0, HEADER_BYTES + body_length);
  bytes.set(handoff_mac(key, signed), HEADER_BYTES + body_length);
  return { ok: true, bytes };
}

/**
 * The message in a received datagram, or why it was dropped. Never throws:
 * structure is checked first, then the HMAC, and only then are the fields
 * believed: the timestamp (stale), the agent (wrong_agent), then request
 * length, options and reasons (inconsistent).
 */
export async function decode_message(
  bytes: Uint8Array,
  key: HandoffKey,
  options: DecodeOptions = {},
): Promise<DecodeResult> {
  const max_datagram = decode_limit(options.max_datagram);
  if (!(bytes instanceof Uint8Array)) return fail("truncated");
  if (bytes.length > max_datagram) return fail("oversized");
  // magic and version first, so a datagram of another version is named as such
  if (bytes.length < H_TYPE) return fail("truncated");

  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (view.getUint16(H_MAGIC) !== MAGIC) return fail("bad_magic");
  if (view.getUint8(H_VERSION) !== VERSION) return fail("bad_version");
  if (bytes.length < HEADER_BYTES) return fail("truncated");
  const type = MESSAGE_TYPES_BY_CODE[view.getUint8(H_TYPE)];
  if (type === undefined) return fail("bad_type");
  const body_length = view.getUint16(H_BODY_LENGTH);
  const signed_length = HEADER_BYTES + body_length;
  if (bytes.length < signed_length + MAC_BYTES) return fail("truncated");
  if (bytes.length > signed_length + MAC_BYTES) return fail("bad_length");
  if (!body_length_fits(type, body_length)) return fail("bad_length");

  const mac = bytes.subarray(signed_length, signed_length + MAC_BYTES);
  let authentic = false;
  try {
    authentic = timingSafeEqual(handoff_mac(key, bytes.subarray(0, signed_length)), mac);
  } catch {
    // an unusable key cannot authenticate anything; the caller counts it as bad_mac
    authentic = false;
  }
  if (!authentic) return await Promise.resolve(fail("bad_mac"));

  const sent_at = view.getUint32(H_SENT_AT);
  const now = typeof options.now === "number" && Number.isFinite(options.now)
    ? options.now
    : Date.now();
  if (!is_fresh(sent_at, now, freshness_bound(options.freshness_ms))) return fail("stale");
  const agent = view.getUint32(H_AGENT);
  if (options.agent !== undefined && agent !== options.agent) return fail("wrong_agent");
  if (!is_agent_id(agent)) return fail("inconsistent");

  const message = read_message(view, type, body_length);
  if (!message || check_message(message)) return fail("inconsistent");
  return { ok: true, message, agent, sent_at };
}

/** "198.18.0.1:40000>198.18.0.100:80", for logs. */
export function flow_key_string(key: FlowKey): string {
  return `${ipv4_string(key.client_ip)}:${key.client_port}>${ipv4_string(key.vip)}:${key.vip_port}`;
}

/**
 * Received datagrams by what became of them: each decode result, and
 * unknown_source for those dropped before decoding (a sender that is not a
 * configured peer: no HMAC was computed for them).
 */
export type DecodeCounters = Record<DecodeFailure | "ok" | "unknown_source", number>;

export function new_decode_counters(): DecodeCounters {
  const counters = { ok: 0, unknown_source: 0 } as DecodeCounters;
  for (const failure of DECODE_FAILURES) counters[failure] = 0;
  return counters;
}

export function count_decode(counters: DecodeCounters, result: DecodeResult): void {
  counters[result.ok ? "ok" : result.reason]++;
}

function fail(reason: DecodeFailure): DecodeResult {
  return { ok: false, reason };
}

function max_datagram_problem(max_datagram: number): string | undefined {
  if (
    !Number.isInteger(max_datagram) || max_datagram < HANDOFF_OVERHEAD_BYTES ||
    max_datagram > MAX_UDP_PAYLOAD
  ) {
    return `max_datagram ${max_datagram} must be an integer from ${HANDOFF_OVERHEAD_BYTES} ` +
      `(an empty hand-off) to ${MAX_UDP_PAYLOAD} (one UDP datagram)`;
  }
  return undefined;
}

// decode must not throw, so a bad limit from a caller bug is clamped, not rejected
function decode_limit(max_datagram: number | undefined): number {
  if (typeof max_datagram !== "number" || Number.isNaN(max_datagram)) return DEFAULT_MAX_DATAGRAM;
  return Math.min(Math.max(Math.floor(max_datagram), 0), MAX_UDP_PAYLOAD);
}

function body_length_for(message: HandoffMessage): number {
  if (message.type === "handoff") return HANDOFF_FIXED_BODY_BYTES + message.state.request.length;
  if (message.type === "flow_end") return FLOW_END_BODY_BYTES;
  return FLOW_KEY_BYTES;
}

function body_length_fits(type: MessageType, body_length: number): boolean {
  if (type === "handoff") return body_length >= HANDOFF_FIXED_BODY_BYTES;
  if (type === "flow_end") return body_length === FLOW_END_BODY_BYTES;
  return body_length === FLOW_KEY_BYTES;
}

function write_handoff_state(view: DataView, bytes: Uint8Array, state: HandoffState): void {
  const body = HEADER_BYTES;
  bytes.set(state.client_mac, body + B_CLIENT_MAC);
  view.setUint32(body + B_CLIENT_ISN, state.client_isn);
  view.setUint32(body + B_DIRECTOR_ISN, state.director_isn);
  view.setUint32(body + B_CLIENT_NEXT_SEQ, state.client_next_seq);
  view.setUint32(body + B_DIRECTOR_NEXT_SEQ, state.director_next_seq);
  view.setUint16(body + B_CLIENT_WINDOW, state.client_window);
  view.setUint16(body + B_CLIENT_MSS, state.client_mss);
  view.setUint16(body + B_DIRECTOR_MSS, state.director_mss);
  view.setUint8(body + B_CLIENT_WSCALE, state.client_wscale);
  view.setUint8(body + B_DIRECTOR_WSCALE, state.director_wscale);
  const routed = state.ts_route !== undefined;
  const flags = (state.sack_permitted ? FLAG_SACK_PERMITTED : 0) |
    (state.timestamps ? FLAG_TIMESTAMPS : 0) | (routed ? FLAG_TS_ROUTE : 0);
  view.setUint8(body + B_FLAGS, flags);
  view.setUint8(body + B_TS_ROUTE, state.ts_route ?? 0);
  view.setUint32(body + B_CLIENT_TSVAL, state.client_tsval);
  view.setUint32(body + B_DIRECTOR_TSVAL, state.director_tsval);
  view.setUint16(body + B_REQUEST_LENGTH, state.request.length);
  bytes.set(state.request, body + HANDOFF_FIXED_BODY_BYTES);
}

/**
 * The message from an authenticated datagram whose structure is already
 * checked, or undefined when a field that has no place in the message object
 * (reserved, pad, unknown flags, request_length) is wrong.
 */
function read_message(
  view: DataView,
  type: MessageType,
  body_length: number,
): HandoffMessage | undefined {
  if (view.getUint8(H_RESERVED) !== 0) return undefined;
  const body = HEADER_BYTES;
  const header: MessageHeader = {
    epoch: view.getUint32(H_EPOCH),
    id: view.getUint32(H_ID),
    key: {
      client_ip: view.getUint32(body),
      vip: view.getUint32(body + 4),
      client_port: view.getUint16(body + 8),
      vip_port: view.getUint16(body + 10),
    },
  };
  const reason = view.getUint8(H_REASON);
  if (type === "handoff_nack") {
    if (!is_nack_reason(reason)) return undefined;
    return { type, ...header, reason };
  }
  if (type === "flow_end") {
    if (!is_flow_end_reason(reason)) return undefined;
    const counts = {
      packets_to_server: view.getUint32(body + FLOW_KEY_BYTES),
      packets_to_client: view.getUint32(body + FLOW_KEY_BYTES + 4),
    };
    return { type, ...header, reason, counts };
  }
  if (reason !== 0) return undefined;
  if (type !== "handoff") return { type, ...header };

  const request_length = view.getUint16(body + B_REQUEST_LENGTH);
  if (request_length !== body_length - HANDOFF_FIXED_BODY_BYTES) return undefined;
  if (view.getUint16(body + B_MAC_PAD) !== 0) return undefined;
  const flags = view.getUint8(body + B_FLAGS);
  if ((flags & ~KNOWN_FLAGS) !== 0) return undefined;
  const ts_route = view.getUint8(body + B_TS_ROUTE);
  if ((flags & FLAG_TS_ROUTE) === 0 && ts_route !== 0) return undefined;
  const bytes = new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
  const state: HandoffState = {
    client_mac: bytes.slice(body + B_CLIENT_MAC, body + B_CLIENT_MAC + 6),
    client_isn: view.getUint32(body + B_CLIENT_ISN),
    director_isn: view.getUint32(body + B_DIRECTOR_ISN),
    client_next_seq: view.getUint32(body + B_CLIENT_NEXT_SEQ),
    director_next_seq: view.getUint32(body + B_DIRECTOR_NEXT_SEQ),
    client_window: view.getUint16(body + B_CLIENT_WINDOW),
    client_mss: view.getUint16(body + B_CLIENT_MSS),
    director_mss: view.getUint16(body + B_DIRECTOR_MSS),
    client_wscale: view.getUint8(body + B_CLIENT_WSCALE),
    director_wscale: view.getUint8(body + B_DIRECTOR_WSCALE),
    sack_permitted: (flags & FLAG_SACK_PERMITTED) !== 0,
    timestamps: (flags & FLAG_TIMESTAMPS) !== 0,
    client_tsval: view.getUint32(body + B_CLIENT_TSVAL),
    director_tsval: view.getUint32(body + B_DIRECTOR_TSVAL),
    ...((flags & FLAG_TS_ROUTE) !== 0 ? { ts_route } : {}),
    request: bytes.slice(
      body + HANDOFF_FIXED_BODY_BYTES,
      body + HANDOFF_FIXED_BODY_BYTES + request_length,
    ),
  };
  return { type, ...header, state };
}

function ipv4_string(ip: number): string {
  return `${(ip >>> 24) & 255}.${(ip >>> 16) & 255}.${(ip >>> 8) & 255}.${ip & 255}`;
}
