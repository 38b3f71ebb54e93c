// TCP options: a non-throwing walker for the fast path, in-place rewriters that
// keep the TCP checksum right incrementally (RFC 1624), allocation-free writers
// for the frames a role makes in place, and a non-hot encoder / decoder for
// building and describing packets.
//
// All offsets are absolute positions in `bytes` (one region shared by all packets).

import { checksum_update16, checksum_update32, checksum_update_sum } from "./checksum.ts";

export const TCP_OPTION_EOL = 0;
export const TCP_OPTION_NOP = 1;
export const TCP_OPTION_MSS = 2;
export const TCP_OPTION_WSCALE = 3;
export const TCP_OPTION_SACK_PERMITTED = 4;
export const TCP_OPTION_SACK = 5;
export const TCP_OPTION_TIMESTAMP = 8;

export const TCP_OPTION_MSS_LENGTH = 4;
export const TCP_OPTION_WSCALE_LENGTH = 3;
export const TCP_OPTION_SACK_PERMITTED_LENGTH = 2;
export const TCP_OPTION_TIMESTAMP_LENGTH = 10;
/** A SACK option is 2 + 8 bytes per block; 40 bytes of options hold at most 4 blocks. */
export const TCP_SACK_BLOCK_LENGTH = 8;
export const TCP_SACK_MAX_BLOCKS = 4;
export const TCP_OPTIONS_MAX_LENGTH = 40;

// Status codes of parse_tcp_options.
export const OPTIONS_OK = 0;
/** A length byte of 0 or 1, an option running past the header, or a known kind of wrong size. */
export const OPTIONS_MALFORMED = 1;

// Fields of the out record filled by parse_tcp_options. Offsets are of the
// option's kind byte; -1 means the option is absent.
export const OPT_MSS_OFFSET = 0;
/** MSS value, or -1. */
export const OPT_MSS = 1;
export const OPT_WSCALE_OFFSET = 2;
/** Window scale shift count, or -1. */
export const OPT_WSCALE = 3;
export const OPT_SACK_PERMITTED_OFFSET = 4;
export const OPT_SACK_OFFSET = 5;
/** Number of SACK blocks (0 when there is no SACK option). */
export const OPT_SACK_BLOCKS = 6;
export const OPT_TIMESTAMP_OFFSET = 7;
/** Number of options of kinds we do not know; they are skipped and left in place. */
export const OPT_UNKNOWN_COUNT = 8;
/** Offset of an EOL option, or -1. */
export const OPT_EOL_OFFSET = 9;
/** Number of int32 words an out record for parse_tcp_options needs. */
export const TCP_OPTION_FIELDS = 10;

const TCP_CHECKSUM_AT = 16;

/**
 * Walks the options at bytes[options_offset, options_offset + options_length) and
 * records where each known option is. Returns OPTIONS_OK or OPTIONS_MALFORMED;
 * never throws. If a known kind repeats, the last one wins (as Linux does).
 */
export function parse_tcp_options(
  bytes: Uint8Array,
  options_offset: number,
  options_length: number,
  out: Int32Array,
): number {
  out[OPT_MSS_OFFSET] = -1;
  out[OPT_MSS] = -1;
  out[OPT_WSCALE_OFFSET] = -1;
  out[OPT_WSCALE] = -1;
  out[OPT_SACK_PERMITTED_OFFSET] = -1;
  out[OPT_SACK_OFFSET] = -1;
  out[OPT_SACK_BLOCKS] = 0;
  out[OPT_TIMESTAMP_OFFSET] = -1;
  out[OPT_UNKNOWN_COUNT] = 0;
  out[OPT_EOL_OFFSET] = -1;
  const end = options_offset + options_length;
  if (options_offset < 0 || end > bytes.length) return OPTIONS_MALFORMED;
  let i = options_offset;
  while (i < end) {
    const kind = bytes[i];
    if (kind === TCP_OPTION_EOL) {
      out[OPT_EOL_OFFSET] = i;
      return OPTIONS_OK;
    }
    if (kind === TCP_OPTION_NOP) {
      i += 1;
      continue;
    }
    if (i + 1 >= end) return OPTIONS_MALFORMED;
    const length = bytes[i + 1];
    if (length < 2 || i + length > end) return OPTIONS_MALFORMED;
    if (kind === TCP_OPTION_MSS) {
      if (length !== TCP_OPTION_MSS_LENGTH) return OPTIONS_MALFORMED;
      out[OPT_MSS_OFFSET] = i;
      out[OPT_MSS] = (bytes[i + 2] << 8) | bytes[i + 3];
    } else if (kind === TCP_OPTION_WSCALE) {
      if (length !== TCP_OPTION_WSCALE_LENGTH) return OPTIONS_MALFORMED;
      out[OPT_WSCALE_OFFSET] = i;
      out[OPT_WSCALE] = bytes[i + 2];
    } else if (kind === TCP_OPTION_SACK_PERMITTED) {
      if (length !== TCP_OPTION_SACK_PERMITTED_LENGTH) return OPTIONS_MALFORMED;
      out[OPT_SACK_PERMITTED_OFFSET] = i;
    } else if (kind === TCP_OPTION_SACK) {
      const blocks = (length - 2) >> 3;
      if (blocks < 1 || blocks > TCP_SACK_MAX_BLOCKS || 2 + blocks * 8 !== length) {
        return OPTIONS_MALFORMED;
      }
      out[OPT_SACK_OFFSET] = i;
      out[OPT_SACK_BLOCKS] = blocks;
    } else if (kind === TCP_OPTION_TIMESTAMP) {
      if (length !== TCP_OPTION_TIMESTAMP_LENGTH) return OPTIONS_MALFORMED;
      out[OPT_TIMESTAMP_OFFSET] = i;
    } else {
      out[OPT_UNKNOWN_COUNT] = out[OPT_UNKNOWN_COUNT] + 1;
    }
    i += length;
  }
  return OPTIONS_OK;
}

// ------------------------------------------------------------------ rewriters
//
// Options can sit at odd offsets from the TCP header (e.g. after a single NOP),
// and the checksum pairs bytes from the header start. A 32-bit field at an odd
// offset contributes like its value rotated right by 8 at an even one.

function read32(bytes: Uint8Array, at: number): number {
  return ((bytes[at] << 24) | (bytes[at + 1] << 16) | (bytes[at + 2] << 8) | bytes[at + 3]) >>> 0;
}

function write32(bytes: Uint8Array, at: number, value: number): void {
  bytes[at] = value >>> 24;
  bytes[at + 1] = (value >>> 16) & 0xff;
  bytes[at + 2] = (value >>> 8) & 0xff;
  bytes[at + 3] = value & 0xff;
}

// Adds delta (mod 2^32) to the u32 at `at` and fixes the TCP checksum.
function add32(bytes: Uint8Array, tcp_offset: number, at: number, delta: number): void {
  const old_value = read32(bytes, at);
  const new_value = (old_value + delta) >>> 0;
  write32(bytes, at, new_value);
  if (((at - tcp_offset) & 1) === 0) {
    checksum_update32(bytes, tcp_offset + TCP_CHECKSUM_AT, old_value, new_value);
  } else {
    checksum_update32(
      bytes,
      tcp_offset + TCP_CHECKSUM_AT,
      ((old_value >>> 8) | (old_value << 24)) >>> 0,
      ((new_value >>> 8) | (new_value << 24)) >>> 0,
    );
  }
}

/**
 * Adds delta (mod 2^32; may be negative) to both edges of `count` SACK blocks of
 * the option at sack_offset, updating the TCP checksum.
 */
export function rewrite_sack_blocks(
  bytes: Uint8Array,
  tcp_offset: number,
  sack_offset: number,
  count: number,
  delta: number,
): void {
  if ((delta >>> 0) === 0) return;
  let at = sack_offset + 2;
  for (let block = 0; block < count; block++) {
    add32(bytes, tcp_offset, at, delta);
    add32(bytes, tcp_offset, at + 4, delta);
    at += TCP_SACK_BLOCK_LENGTH;
  }
}

/** Adds the deltas (mod 2^32) to TSval and TSecr of the option at ts_offset. */
export function rewrite_timestamp(
  bytes: Uint8Array,
  tcp_offset: number,
  ts_offset: number,
  tsval_delta: number,
  tsecr_delta: number,
): void {
  if ((tsval_delta >>> 0) !== 0) add32(bytes, tcp_offset, ts_offset + 2, tsval_delta);
  if ((tsecr_delta >>> 0) !== 0) add32(bytes, tcp_offset, ts_offset + 6, tsecr_delta);
}

/** Sets the value of the MSS option at mss_offset. */
export function set_mss(
  bytes: Uint8Array,
  tcp_offset: number,
  mss_offset: number,
  mss: number,
): void {
  const at = mss_offset + 2;
  const old_value = (bytes[at] << 8) | bytes[at + 1];
  const new_value = mss & 0xffff;
  bytes[at] = new_value >>> 8;
  bytes[at + 1] = new_value & 0xff;
  if (((at - tcp_offset) & 1) === 0) {
    checksum_update16(bytes, tcp_offset + TCP_CHECKSUM_AT, old_value, new_value);
  } else {
    // an odd-offset 16-bit field contributes its bytes swapped
    checksum_update16(
      bytes,
      tcp_offset + TCP_CHECKSUM_AT,
      ((old_value & 0xff) << 8) | (old_value >>> 8),
      ((new_value & 0xff) << 8) | (new_value >>> 8),
    );
  }
}

/**
 * Overwrites option_length bytes at option_offset with NOPs, so the header length
 * (and everything after it) stays put; updates the TCP checksum.
 */
export function remove_option(
  bytes: Uint8Array,
  tcp_offset: number,
  option_offset: number,
  option_length: number,
): void {
  let old_sum = 0;
  let new_sum = 0;
  const end = option_offset + option_length;
  for (let i = option_offset; i < end; i++) {
    const even = ((i - tcp_offset) & 1) === 0;
    old_sum += even ? bytes[i] << 8 : bytes[i];
    new_sum += even ? TCP_OPTION_NOP << 8 : TCP_OPTION_NOP;
    bytes[i] = TCP_OPTION_NOP;
  }
  checksum_update_sum(bytes, tcp_offset + TCP_CHECKSUM_AT, old_sum, new_sum);
}

// ------------------------------------------------------------------- writers
//
// Allocation-free encoders for the options of a frame a role writes in place
// (frame_write.ts): each writes one option at `at` and returns where the next
// one starts. They write what encode_tcp_options writes for the same list.

export function write_nop_option(bytes: Uint8Array, at: number): number {
  bytes[at] = TCP_OPTION_NOP;
  return at + 1;
}

export function write_mss_option(bytes: Uint8Array, at: number, mss: number): number {
  bytes[at] = TCP_OPTION_MSS;
  bytes[at + 1] = TCP_OPTION_MSS_LENGTH;
  bytes[at + 2] = (mss >>> 8) & 0xff;
  bytes[at + 3] = mss & 0xff;
  return at + TCP_OPTION_MSS_LENGTH;
}

export function write_wscale_option(bytes: Uint8Array, at: number, shift: number): number {
  bytes[at] = TCP_OPTION_WSCALE;
  bytes[at + 1] = TCP_OPTION_WSCALE_LENGTH;
  bytes[at + 2] = shift & 0xff;
  return at + TCP_OPTION_WSCALE_LENGTH;
}

export function write_sack_permitted_option(bytes: Uint8Array, at: number): number {
  bytes[at] = TCP_OPTION_SACK_PERMITTED;
  bytes[at + 1] = TCP_OPTION_SACK_PERMITTED_LENGTH;
  return at + TCP_OPTION_SACK_PERMITTED_LENGTH;
}

export function write_timestamp_option(
  bytes: Uint8Array,
  at: number,
  tsval: number,
  tsecr: number,
): number {
  bytes[at] = TCP_OPTION_TIMESTAMP;
  bytes[at + 1] = TCP_OPTION_TIMESTAMP_LENGTH;
  write32(bytes, at + 2, tsval);
  write32(bytes, at + 6, tsecr);
  return at + TCP_OPTION_TIMESTAMP_LENGTH;
}

/** Pads the options that started at `start` with EOL (zero) bytes to a multiple of 4. */
export function pad_tcp_options(bytes: Uint8Array, start: number, at: number): number {
  while (((at - start) & 3) !== 0) bytes[at++] = TCP_OPTION_EOL;
  return at;
}

// ------------------------------------------------------- non-hot: encode/decode

/** A TCP option as builders and describe_frame see it. */
export type TcpOption =
  | { kind: "mss"; value: number }
  | { kind: "wscale"; shift: number }
  | { kind: "sack_permitted" }
  | { kind: "sack"; blocks: Array<[number, number]> }
  | { kind: "timestamp"; tsval: number; tsecr: number }
  | { kind: "nop" }
  | { kind: "eol" }
  /** Any kind with its data; `code` and length byte written as given. */
  | { kind: "raw"; code: number; data: Uint8Array }
  /** Bytes copied verbatim: for crafting malformed options in tests. */
  | { kind: "bytes"; bytes: Uint8Array };

function encode_one(option: TcpOption): number[] {
  switch (option.kind) {
    case "mss":
      return [TCP_OPTION_MSS, 4, (option.value >>> 8) & 0xff, option.value & 0xff];
    case "wscale":
      return [TCP_OPTION_WSCALE, 3, option.shift & 0xff];
    case "sack_permitted":
      return [TCP_OPTION_SACK_PERMITTED, 2];
    case "sack": {
      const out = [TCP_OPTION_SACK, 2 + 8 * option.blocks.length];
      for (const [left, right] of option.blocks) out.push(...u32_bytes(left), ...u32_bytes(right));
      return out;
    }
    case "timestamp":
      return [TCP_OPTION_TIMESTAMP, 10, ...u32_bytes(option.tsval), ...u32_bytes(option.tsecr)];
    case "nop":
      return [TCP_OPTION_NOP];
    case "eol":
      return [TCP_OPTION_EOL];
    case "raw":
      return [option.code, 2 + option.data.length, ...option.data];
    case "bytes":
      return [...option.bytes];
  }
}

function u32_bytes(value: number): number[] {
  const v = value >>> 0;
  return [v >>> 24, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff];
}

/**
 * Encodes options in order and pads with EOL (zero bytes) to a multiple of 4.
 * Throws if the result exceeds the 40 bytes a TCP header can hold.
 */
export function encode_tcp_options(list: readonly TcpOption[]): Uint8Array {
  const bytes: number[] = [];
  for (const option of list) bytes.push(...encode_one(option));
  while (bytes.length % 4 !== 0) bytes.push(TCP_OPTION_EOL);
  if (bytes.length > TCP_OPTIONS_MAX_LENGTH) {
    throw new RangeError(`TCP options take ${bytes.length} bytes; at most 40 fit`);
  }
  return new Uint8Array(bytes);
}

/**
 * Decodes options into a list (NOPs included, trailing EOL padding collapsed into
 * one "eol"); unknown kinds come back as "raw". Returns null when malformed.
 */
export function decode_tcp_options(
  bytes: Uint8Array,
  options_offset: number,
  options_length: number,
): TcpOption[] | null {
  const out = new Int32Array(TCP_OPTION_FIELDS);
  if (parse_tcp_options(bytes, options_offset, options_length, out) !== OPTIONS_OK) return null;
  const list: TcpOption[] = [];
  const end = options_offset + options_length;
  let i = options_offset;
  while (i < end) {
    const kind = bytes[i];
    if (kind === TCP_OPTION_EOL) {
      list.push({ kind: "eol" });
      break;
    }
    if (kind === TCP_OPTION_NOP) {
      list.push({ kind: "nop" });
      i += 1;
      continue;
    }
    const length = bytes[i + 1];
    if (kind === TCP_OPTION_MSS) {
      list.push({ kind: "mss", value: (bytes[i + 2] << 8) | bytes[i + 3] });
    } else if (kind === TCP_OPTION_WSCALE) {
      list.push({ kind: "wscale", shift: bytes[i + 2] });
    } else if (kind === TCP_OPTION_SACK_PERMITTED) {
      list.push({ kind: "sack_permitted" });
    } else if (kind === TCP_OPTION_SACK) {
      const blocks: Array<[number, number]> = [];
      for (let at = i + 2; at < i + length; at += 8) {
        blocks.push([read32(bytes, at), read32(bytes, at + 4)]);
      }
      list.push({ kind: "sack", blocks });
    } else if (kind === TCP_OPTION_TIMESTAMP) {
      list.push({ kind: "timestamp", tsval: read32(bytes, i + 2), tsecr: read32(bytes, i + 6) });
    } else {
      list.push({ kind: "raw", code: kind, data: bytes.slice(i + 2, i + length) });
    }
    i += length;
  }
  return list;
}
