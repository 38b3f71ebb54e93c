// The hand-off datagram in place, as the poll loops build and read it on
// the fabric: Ethernet + IPv4 (no options) + UDP + the datagram of
// handoff.ts (same header, body and HMAC-SHA256 tag, so decode_message
// reads what these functions write and the other way round). Everything
// works on the packet region at byte offsets and allocates nothing; readers
// never throw: a bad datagram maps to one DecodeFailure code, counted by the
// caller. The tag itself is computed by the caller (the shim, over the same
// region): a datagram is written, signed, then sealed (checksums).
//
// Order of checks on receipt, as decode_message's: structure (truncated,
// oversized, magic, version, type, lengths), then the tag, then the fields
// believed only after it (stale, wrong_agent, inconsistent).
//
// Positional parameters beyond two in the writers: they run once per
// hand-off datagram on the poll loop and must not allocate an options
// object (the project's hot-path exception).

import {
  B_CLIENT_IP,
  B_CLIENT_ISN,
  B_CLIENT_MAC,
  B_CLIENT_MSS,
  B_CLIENT_NEXT_SEQ,
  B_CLIENT_PORT,
  B_CLIENT_TSVAL,
  B_CLIENT_WINDOW,
  B_CLIENT_WSCALE,
  B_DIRECTOR_ISN,
  B_DIRECTOR_MSS,
  B_DIRECTOR_NEXT_SEQ,
  B_DIRECTOR_TSVAL,
  B_DIRECTOR_WSCALE,
  B_FLAGS,
  B_MAC_PAD,
  B_PACKETS_TO_CLIENT,
  B_PACKETS_TO_SERVER,
  B_REQUEST_LENGTH,
  B_TS_ROUTE,
  B_VIP,
  B_VIP_PORT,
  DECODE_FAILURES,
  type DecodeFailure,
  FLAG_TS_ROUTE,
  FLOW_END_BODY_BYTES,
  FLOW_KEY_BYTES,
  HANDOFF_FIXED_BODY_BYTES,
  KNOWN_FLAGS,
  MAC_BYTES,
  MESSAGE_TYPE_CODES,
} from "./handoff.ts";
import {
  datagram_age_ms,
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
  MAGIC,
  VERSION,
} from "./handoff_header.ts";
import { MAX_WSCALE, MIN_MSS, WSCALE_NONE } from "./handoff_checks.ts";
import { FLOW_END_REASON_NAMES, NACK_REASON_NAMES } from "./reasons.ts";
import {
  R_CLIENT_IP,
  R_CLIENT_ISN,
  R_CLIENT_MAC,
  R_CLIENT_MSS,
  R_CLIENT_PORT,
  R_CLIENT_TSVAL,
  R_CLIENT_WINDOW,
  R_CLIENT_WSCALE,
  R_DIRECTOR_NEXT,
  R_DIRECTOR_TSVAL,
  R_DIRECTOR_WSCALE,
  R_EPOCH,
  R_FLAGS,
  R_ID,
  R_REQUEST,
  R_REQUEST_LENGTH,
  R_TS_ROUTE,
  R_VIP,
  R_VIP_PORT,
  RECORD_FLAG_SACK,
  RECORD_FLAG_TIMESTAMPS,
  RECORD_FLAG_TS_ROUTE,
} from "./handoff_record.ts";
import { read_u16, read_u32, write_mac_words, write_u16, write_u32 } from "../packet.ts";
import { ipv4_checksum_set, udp_checksum_set } from "../checksum.ts";

export const TYPE_HANDOFF = MESSAGE_TYPE_CODES.handoff;
export const TYPE_HANDOFF_ACK = MESSAGE_TYPE_CODES.handoff_ack;
export const TYPE_HANDOFF_NACK = MESSAGE_TYPE_CODES.handoff_nack;
export const TYPE_FLOW_END = MESSAGE_TYPE_CODES.flow_end;
export const TYPE_FLOW_END_ACK = MESSAGE_TYPE_CODES.flow_end_ack;
export const TYPE_HANDOFF_CANCEL = MESSAGE_TYPE_CODES.handoff_cancel;
export const TYPE_FLOW_QUERY = MESSAGE_TYPE_CODES.flow_query;
export const TYPE_FLOW_OWNER = MESSAGE_TYPE_CODES.flow_owner;

/** The UDP port hand-off datagrams go to on the fabric, unless configured. */
export const DEFAULT_HANDOFF_PORT = 7201;

// Where the headers sit in a datagram frame (from the frame's first byte).
export const DF_IP = 14;
export const DF_UDP = 34;
/** The datagram (its header) starts here: Ethernet 14 + IPv4 20 + UDP 8. */
export const DF_DATAGRAM = 42;

/** Decode failure codes, in the order of DECODE_FAILURES, from 1 (0 is "none"). */
export const DECODE_OK = 0;
export function decode_failure_code(reason: DecodeFailure): number {
  return DECODE_FAILURES.indexOf(reason) + 1;
}
const TRUNCATED = decode_failure_code("truncated");
const OVERSIZED = decode_failure_code("oversized");
const BAD_MAGIC = decode_failure_code("bad_magic");
const BAD_VERSION = decode_failure_code("bad_version");
const BAD_TYPE = decode_failure_code("bad_type");
const BAD_LENGTH = decode_failure_code("bad_length");
const STALE = decode_failure_code("stale");
const WRONG_AGENT = decode_failure_code("wrong_agent");
const INCONSISTENT = decode_failure_code("inconsistent");
/** The DecodeFailure a code names (for counters by name). */
export function decode_failure_name(code: number): DecodeFailure | undefined {
  return DECODE_FAILURES[code - 1];
}

// ------------------------------------------------------------ frame address

/**
 * The addresses of a datagram frame, as Int32 words of a scratch the caller
 * keeps (create_frame_address): MACs as (hi, lo) words like the flow
 * tables keep them, IPv4 addresses as u32 bits, ports.
 */
export const FA_SRC_MAC_HI = 0;
export const FA_SRC_MAC_LO = 1;
export const FA_DST_MAC_HI = 2;
export const FA_DST_MAC_LO = 3;
export const FA_SRC_IP = 4;
export const FA_DST_IP = 5;
export const FA_SRC_PORT = 6;
export const FA_DST_PORT = 7;
export const FRAME_ADDRESS_WORDS = 8;

export function create_frame_address(): Int32Array {
  return new Int32Array(FRAME_ADDRESS_WORDS);
}

/** How long the frame of a datagram with this body is. */
export function datagram_frame_length(body_length: number): number {
  return DF_DATAGRAM + HEADER_BYTES + body_length + MAC_BYTES;
}

/** Where the body of the datagram in the frame at o starts. */
export function datagram_body(o: number): number {
  return o + DF_DATAGRAM + HEADER_BYTES;
}

/** Where the tag goes, and how many bytes it covers (from o + DF_DATAGRAM). */
export function datagram_signed_length(body_length: number): number {
  return HEADER_BYTES + body_length;
}

/**
 * Ethernet, IPv4 and UDP headers of a datagram frame at o, and the
 * datagram's header (hot path: positional, see the top of the file).
 * The body is the caller's, then the tag, then seal_datagram_frame.
 */
export function write_datagram_frame(
  bytes: Uint8Array,
  o: number,
  address: Int32Array,
  type: number,
  epoch: number,
  id: number,
  body_length: number,
  reason: number,
  agent: number,
  sent_at: number,
): number {
  const datagram_length = HEADER_BYTES + body_length + MAC_BYTES;
  write_mac_words(bytes, o, address[FA_DST_MAC_HI], address[FA_DST_MAC_LO]);
  write_mac_words(bytes, o + 6, address[FA_SRC_MAC_HI], address[FA_SRC_MAC_LO]);
  write_u16(bytes, o + 12, 0x0800);
  const ip = o + DF_IP;
  bytes[ip] = 0x45;
  bytes[ip + 1] = 0;
  write_u16(bytes, ip + 2, 20 + 8 + datagram_length);
  write_u16(bytes, ip + 4, 0);
  write_u16(bytes, ip + 6, 0x4000); // DF: a hand-off is one frame or nothing
  bytes[ip + 8] = 64;
  bytes[ip + 9] = 17;
  write_u16(bytes, ip + 10, 0);
  write_u32(bytes, ip + 12, address[FA_SRC_IP] >>> 0);
  write_u32(bytes, ip + 16, address[FA_DST_IP] >>> 0);
  const udp = o + DF_UDP;
  write_u16(bytes, udp, address[FA_SRC_PORT]);
  write_u16(bytes, udp + 2, address[FA_DST_PORT]);
  write_u16(bytes, udp + 4, 8 + datagram_length);
  write_u16(bytes, udp + 6, 0);
  const d = o + DF_DATAGRAM;
  write_u16(bytes, d + H_MAGIC, MAGIC);
  bytes[d + H_VERSION] = VERSION;
  bytes[d + H_TYPE] = type;
  write_u32(bytes, d + H_EPOCH, epoch >>> 0);
  write_u32(bytes, d + H_ID, id >>> 0);
  write_u16(bytes, d + H_BODY_LENGTH, body_length);
  bytes[d + H_REASON] = reason;
  bytes[d + H_RESERVED] = 0;
  write_u32(bytes, d + H_AGENT, agent >>> 0);
  write_u32(bytes, d + H_SENT_AT, sent_at >>> 0);
  return DF_DATAGRAM + datagram_length;
}

/** The flow key every body starts with (ports: client_port << 16 | vip_port). */
export function write_datagram_key(
  bytes: Uint8Array,
  o: number,
  client_ip: number,
  vip: number,
  ports: number,
): void {
  const b = datagram_body(o);
  write_u32(bytes, b + B_CLIENT_IP, client_ip >>> 0);
  write_u32(bytes, b + B_VIP, vip >>> 0);
  write_u16(bytes, b + B_CLIENT_PORT, ports >>> 16);
  write_u16(bytes, b + B_VIP_PORT, ports & 0xffff);
}

/** A FLOW_END's packet counts, after its key. */
export function write_flow_end_counts(
  bytes: Uint8Array,
  o: number,
  to_server: number,
  to_client: number,
): void {
  const b = datagram_body(o);
  write_u32(bytes, b + B_PACKETS_TO_SERVER, to_server >>> 0);
  write_u32(bytes, b + B_PACKETS_TO_CLIENT, to_client >>> 0);
}

/**
 * A HANDOFF's connection state, from the fields of a scratch (HS_* words,
 * create_handoff_fields); the request bytes are the caller's to copy to
 * handoff_request_at(o). client_next_seq follows from the request length.
 */
export const HS_CLIENT_MAC_HI = 0;
export const HS_CLIENT_MAC_LO = 1;
export const HS_CLIENT_ISN = 2;
export const HS_DIRECTOR_ISN = 3;
export const HS_DIRECTOR_NEXT_SEQ = 4;
export const HS_CLIENT_WINDOW = 5;
export const HS_CLIENT_MSS = 6;
export const HS_DIRECTOR_MSS = 7;
/** WSCALE_NONE (255) when that side sent none. */
export const HS_CLIENT_WSCALE = 8;
export const HS_DIRECTOR_WSCALE = 9;
/** FLAG_SACK_PERMITTED | FLAG_TIMESTAMPS (handoff.ts). */
export const HS_FLAGS = 10;
export const HS_CLIENT_TSVAL = 11;
export const HS_DIRECTOR_TSVAL = 12;
/** With FLAG_TS_ROUTE in HS_FLAGS: the TSval routing code, 0..255 (ts_route.ts). */
export const HS_TS_ROUTE = 13;
export const HANDOFF_FIELD_WORDS = 14;

export function create_handoff_fields(): Int32Array {
  return new Int32Array(HANDOFF_FIELD_WORDS);
}

export function write_handoff_state(
  bytes: Uint8Array,
  o: number,
  fields: Int32Array,
  request_length: number,
): void {
  const b = datagram_body(o);
  write_mac_words(bytes, b + B_CLIENT_MAC, fields[HS_CLIENT_MAC_HI], fields[HS_CLIENT_MAC_LO]);
  write_u16(bytes, b + B_MAC_PAD, 0);
  const client_isn = fields[HS_CLIENT_ISN] >>> 0;
  write_u32(bytes, b + B_CLIENT_ISN, client_isn);
  write_u32(bytes, b + B_DIRECTOR_ISN, fields[HS_DIRECTOR_ISN] >>> 0);
  write_u32(bytes, b + B_CLIENT_NEXT_SEQ, (client_isn + 1 + request_length) >>> 0);
  write_u32(bytes, b + B_DIRECTOR_NEXT_SEQ, fields[HS_DIRECTOR_NEXT_SEQ] >>> 0);
  write_u16(bytes, b + B_CLIENT_WINDOW, fields[HS_CLIENT_WINDOW]);
  write_u16(bytes, b + B_CLIENT_MSS, fields[HS_CLIENT_MSS]);
  write_u16(bytes, b + B_DIRECTOR_MSS, fields[HS_DIRECTOR_MSS]);
  bytes[b + B_CLIENT_WSCALE] = fields[HS_CLIENT_WSCALE];
  bytes[b + B_DIRECTOR_WSCALE] = fields[HS_DIRECTOR_WSCALE];
  bytes[b + B_FLAGS] = fields[HS_FLAGS];
  bytes[b + B_TS_ROUTE] = (fields[HS_FLAGS] & FLAG_TS_ROUTE) !== 0 ? fields[HS_TS_ROUTE] & 0xff : 0;
  write_u32(bytes, b + B_CLIENT_TSVAL, fields[HS_CLIENT_TSVAL] >>> 0);
  write_u32(bytes, b + B_DIRECTOR_TSVAL, fields[HS_DIRECTOR_TSVAL] >>> 0);
  write_u16(bytes, b + B_REQUEST_LENGTH, request_length);
}

/** Where a HANDOFF's request bytes go in the frame at o. */
export function handoff_request_at(o: number): number {
  return datagram_body(o) + HANDOFF_FIXED_BODY_BYTES;
}

/**
 * The IPv4 header checksum and the UDP checksum, once the tag is in. The
 * UDP checksum is redundant with the tag for baton itself, but kernels,
 * taps and NICs on the path check it.
 */
export function seal_datagram_frame(bytes: Uint8Array, o: number): void {
  ipv4_checksum_set(bytes, o + DF_IP);
  udp_checksum_set(bytes, o + DF_IP);
}

// ------------------------------------------------------------------ reading

/**
 * Structure of the datagram at d (length bytes, the UDP payload): DECODE_OK
 * or the failure code, before any tag is computed. Same order and meaning
 * as decode_message.
 */
export function datagram_structure(
  bytes: Uint8Array,
  d: number,
  length: number,
  max_datagram: number,
): number {
  if (length > max_datagram) return OVERSIZED;
  if (length < H_TYPE) return TRUNCATED;
  if (read_u16(bytes, d + H_MAGIC) !== MAGIC) return BAD_MAGIC;
  if (bytes[d + H_VERSION] !== VERSION) return BAD_VERSION;
  if (length < HEADER_BYTES) return TRUNCATED;
  const type = bytes[d + H_TYPE];
  if (type < TYPE_HANDOFF || type > TYPE_FLOW_OWNER) return BAD_TYPE;
  const body_length = read_u16(bytes, d + H_BODY_LENGTH);
  const signed_length = HEADER_BYTES + body_length;
  if (length < signed_length + MAC_BYTES) return TRUNCATED;
  if (length > signed_length + MAC_BYTES) return BAD_LENGTH;
  if (type === TYPE_HANDOFF) {
    return body_length >= HANDOFF_FIXED_BODY_BYTES ? DECODE_OK : BAD_LENGTH;
  }
  if (type === TYPE_FLOW_END) return body_length === FLOW_END_BODY_BYTES ? DECODE_OK : BAD_LENGTH;
  return body_length === FLOW_KEY_BYTES ? DECODE_OK : BAD_LENGTH;
}

/** Bytes the tag covers in a structurally sound datagram at d. */
export function datagram_signed_bytes(bytes: Uint8Array, d: number): number {
  return HEADER_BYTES + read_u16(bytes, d + H_BODY_LENGTH);
}

/**
 * After the tag verified: DECODE_OK, or stale, wrong_agent (expect_agent 0:
 * any) or inconsistent, by decode_message's rules (check_message).
 */
export function datagram_fields(
  bytes: Uint8Array,
  d: number,
  now_ms: number,
  freshness_ms: number,
  expect_agent: number,
): number {
  const age = datagram_age_ms(read_u32(bytes, d + H_SENT_AT), now_ms);
  if (age > freshness_ms || age < -freshness_ms) return STALE;
  const agent = read_u32(bytes, d + H_AGENT);
  if (expect_agent !== 0 && agent !== expect_agent) return WRONG_AGENT;
  if (agent === 0 || bytes[d + H_RESERVED] !== 0) return INCONSISTENT;
  const b = d + HEADER_BYTES;
  if (
    read_u32(bytes, b + B_CLIENT_IP) === 0 || read_u32(bytes, b + B_VIP) === 0 ||
    read_u16(bytes, b + B_CLIENT_PORT) === 0 || read_u16(bytes, b + B_VIP_PORT) === 0
  ) {
    return INCONSISTENT;
  }
  const type = bytes[d + H_TYPE];
  const reason = bytes[d + H_REASON];
  if (type === TYPE_HANDOFF_NACK) {
    return Object.hasOwn(NACK_REASON_NAMES, reason) ? DECODE_OK : INCONSISTENT;
  }
  if (type === TYPE_FLOW_END) {
    return Object.hasOwn(FLOW_END_REASON_NAMES, reason) ? DECODE_OK : INCONSISTENT;
  }
  if (reason !== 0) return INCONSISTENT;
  if (type !== TYPE_HANDOFF) return DECODE_OK;
  return handoff_state_consistent(bytes, d) ? DECODE_OK : INCONSISTENT;
}

function handoff_state_consistent(bytes: Uint8Array, d: number): boolean {
  const b = d + HEADER_BYTES;
  const request_length = read_u16(bytes, b + B_REQUEST_LENGTH);
  if (request_length !== read_u16(bytes, d + H_BODY_LENGTH) - HANDOFF_FIXED_BODY_BYTES) {
    return false;
  }
  if (read_u16(bytes, b + B_MAC_PAD) !== 0) return false;
  const flags = bytes[b + B_FLAGS];
  if ((flags & ~KNOWN_FLAGS) !== 0) return false;
  if ((flags & FLAG_TS_ROUTE) === 0 && bytes[b + B_TS_ROUTE] !== 0) return false;
  const next = (read_u32(bytes, b + B_CLIENT_ISN) + 1 + request_length) >>> 0;
  if (read_u32(bytes, b + B_CLIENT_NEXT_SEQ) !== next) return false;
  if (read_u16(bytes, b + B_CLIENT_MSS) < MIN_MSS) return false;
  if (read_u16(bytes, b + B_DIRECTOR_MSS) < MIN_MSS) return false;
  const client_wscale = bytes[b + B_CLIENT_WSCALE];
  const director_wscale = bytes[b + B_DIRECTOR_WSCALE];
  if (client_wscale > MAX_WSCALE && client_wscale !== WSCALE_NONE) return false;
  if (director_wscale > MAX_WSCALE && director_wscale !== WSCALE_NONE) return false;
  // RFC 7323: a SYN-ACK may carry window scale only if the SYN did
  return !(client_wscale === WSCALE_NONE && director_wscale !== WSCALE_NONE);
}

export function datagram_type(bytes: Uint8Array, d: number): number {
  return bytes[d + H_TYPE];
}
export function datagram_epoch(bytes: Uint8Array, d: number): number {
  return read_u32(bytes, d + H_EPOCH);
}
export function datagram_id(bytes: Uint8Array, d: number): number {
  return read_u32(bytes, d + H_ID);
}
export function datagram_reason(bytes: Uint8Array, d: number): number {
  return bytes[d + H_REASON];
}
export function datagram_agent(bytes: Uint8Array, d: number): number {
  return read_u32(bytes, d + H_AGENT);
}
export function datagram_client_ip(bytes: Uint8Array, d: number): number {
  return read_u32(bytes, d + HEADER_BYTES + B_CLIENT_IP);
}
export function datagram_vip(bytes: Uint8Array, d: number): number {
  return read_u32(bytes, d + HEADER_BYTES + B_VIP);
}
/** client_port << 16 | vip_port, as the flow tables keep ports. */
export function datagram_ports(bytes: Uint8Array, d: number): number {
  const b = d + HEADER_BYTES;
  return (read_u16(bytes, b + B_CLIENT_PORT) << 16) | read_u16(bytes, b + B_VIP_PORT);
}
export function datagram_request_length(bytes: Uint8Array, d: number): number {
  return read_u16(bytes, d + HEADER_BYTES + B_REQUEST_LENGTH);
}

/**
 * A verified HANDOFF at d as the adoption record the agent's dataplane
 * takes (handoff_record.ts), copied into `record` (large enough: R_REQUEST
 * + the request); returns the record's length.
 */
export function handoff_to_record(bytes: Uint8Array, d: number, record: Uint8Array): number {
  const b = d + HEADER_BYTES;
  const request_length = read_u16(bytes, b + B_REQUEST_LENGTH);
  write_u32(record, R_EPOCH, read_u32(bytes, d + H_EPOCH));
  write_u32(record, R_ID, read_u32(bytes, d + H_ID));
  write_u32(record, R_CLIENT_IP, read_u32(bytes, b + B_CLIENT_IP));
  write_u32(record, R_VIP, read_u32(bytes, b + B_VIP));
  write_u16(record, R_CLIENT_PORT, read_u16(bytes, b + B_CLIENT_PORT));
  write_u16(record, R_VIP_PORT, read_u16(bytes, b + B_VIP_PORT));
  for (let k = 0; k < 6; k++) record[R_CLIENT_MAC + k] = bytes[b + B_CLIENT_MAC + k];
  const flags = bytes[b + B_FLAGS];
  record[R_FLAGS] = ((flags & 0x01) !== 0 ? RECORD_FLAG_SACK : 0) |
    ((flags & 0x02) !== 0 ? RECORD_FLAG_TIMESTAMPS : 0) |
    ((flags & FLAG_TS_ROUTE) !== 0 ? RECORD_FLAG_TS_ROUTE : 0);
  record[R_TS_ROUTE] = bytes[b + B_TS_ROUTE];
  write_u32(record, R_CLIENT_ISN, read_u32(bytes, b + B_CLIENT_ISN));
  write_u32(record, R_DIRECTOR_NEXT, read_u32(bytes, b + B_DIRECTOR_NEXT_SEQ));
  write_u32(record, R_CLIENT_TSVAL, read_u32(bytes, b + B_CLIENT_TSVAL));
  write_u32(record, R_DIRECTOR_TSVAL, read_u32(bytes, b + B_DIRECTOR_TSVAL));
  write_u16(record, R_CLIENT_WINDOW, read_u16(bytes, b + B_CLIENT_WINDOW));
  write_u16(record, R_CLIENT_MSS, read_u16(bytes, b + B_CLIENT_MSS));
  record[R_CLIENT_WSCALE] = bytes[b + B_CLIENT_WSCALE];
  record[R_DIRECTOR_WSCALE] = bytes[b + B_DIRECTOR_WSCALE];
  write_u16(record, R_REQUEST_LENGTH, request_length);
  const from = b + HANDOFF_FIXED_BODY_BYTES;
  for (let k = 0; k < request_length; k++) record[R_REQUEST + k] = bytes[from + k];
  return R_REQUEST + request_length;
}
