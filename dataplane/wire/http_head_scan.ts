// The director's poll loop reads a request head here without building
// strings. scan_request_head gives the same answer as parse_request_head
// (http_request.ts) for every input, down to the status of a refusal: the
// server gets the same bytes after the hand-off and must read them the same
// way, or a request could be smuggled past the director's choice. On accept
// it also writes where the selection key's host and path lie in the bytes, so
// selection_table.ts's url_key_state can hash the key straight off them.
//
// parse_request_head is the reference. This file makes the same checks in
// one pass, and a head with several faults gets the status of the fault
// parse_request_head checks first: line structure, request line, field
// count, field lines, target, framing, Host. That order decides between 400,
// 431, 501 and 505. The differential test
// (tests/dataplane/wire/http_head_scan_test.ts) keeps the two in step: change
// one and you must change the other.
//
// Where parse_request_head normalises in a way a byte range cannot show, the
// range is left raw and url_key_state does the normalising:
// - host: the range is the Host value as written (trimmed) or the authority of
//   an absolute-form target, in any letter case and with any port, e.g.
//   "WWW.Example.com:0080". parse_request_head lower-cases it, writes the port
//   without leading zeros and drops it when it is 80.
// - path: an absolute-form target without a path ("http://a?x") gets "/" put in
//   front ("/?x"). Its range starts with "?" or is empty, which never happens
//   for an origin-form target.
// A lone "?" with an empty query after it is dropped from the range, because
// head.path + "?" + head.query leaves it out too.
//
// Allocates nothing and never throws. The out array is written only on
// accept; after a refusal its contents mean nothing.

import { REQUEST_HEAD_MAX_BYTES, REQUEST_MAX_HEADERS } from "./http_request.ts";

/**
 * Where the selection host lies: [HOST_START, HOST_END). The trimmed Host value,
 * or the authority of an absolute-form target. Empty (START = END) for
 * HTTP/1.0 without Host, where the director uses the VIP's dotted address.
 */
export const HEAD_SCAN_HOST_START = 0;
export const HEAD_SCAN_HOST_END = 1;
/**
 * The selection path (path, plus "?" and the query when the query is not
 * empty): [PATH_START, PATH_END). Read it as "/" + range when the range is
 * empty or starts with "?" (an absolute-form target without a path).
 */
export const HEAD_SCAN_PATH_START = 2;
export const HEAD_SCAN_PATH_END = 3;
/** The port written after the host (80 included; RequestHead.port), or −1 when none was. */
export const HEAD_SCAN_PORT = 4;
/** 0 for HTTP/1.0, 1 for HTTP/1.1. */
export const HEAD_SCAN_VERSION_MINOR = 5;
/** The method is [start, METHOD_END); the request-target is [TARGET_START, TARGET_END). */
export const HEAD_SCAN_METHOD_END = 6;
export const HEAD_SCAN_TARGET_START = 7;
export const HEAD_SCAN_TARGET_END = 8;
export const HEAD_SCAN_OUT_WORDS = 9;

/** An out array for scan_request_head, made once per poll loop. */
export function create_head_scan_out(): Int32Array {
  return new Int32Array(HEAD_SCAN_OUT_WORDS);
}

const CR = 13;
const LF = 10;
const SP = 32;
const HTAB = 9;
const NBSP = 0xa0;
const COLON = 58;
const COMMA = 44;
const SLASH = 47;
const QUESTION = 63;
const HASH = 35;
const AT = 64;
const STAR = 42;
const LEFT_BRACKET = 91;
const RIGHT_BRACKET = 93;
const DOT = 46;
const DIGIT_0 = 48;
const DIGIT_9 = 57;
const DEL = 127;

function ascii(text: string): Uint8Array {
  return Uint8Array.from(text, (c) => c.charCodeAt(0));
}

// RFC 9110 section 5.6.2 tchar, as http_request.ts defines it.
const TCHAR = new Uint8Array(256);
for (const c of "!#$%&'*+-.^_`|~") TCHAR[c.charCodeAt(0)] = 1;
for (let c = 48; c <= 57; c++) TCHAR[c] = 1;
for (let c = 65; c <= 90; c++) TCHAR[c] = 1;
for (let c = 97; c <= 122; c++) TCHAR[c] = 1;

// http_request.ts's REG_NAME character class [a-z0-9._~-], applied after
// toLowerCase: no ISO-8859-1 byte lower-cases into ASCII, so only ASCII letters
// of either case get in.
const REG_NAME_BYTE = new Uint8Array(256);
for (const c of "._~-") REG_NAME_BYTE[c.charCodeAt(0)] = 1;
for (let c = 48; c <= 57; c++) REG_NAME_BYTE[c] = 1;
for (let c = 65; c <= 90; c++) REG_NAME_BYTE[c] = 1;
for (let c = 97; c <= 122; c++) REG_NAME_BYTE[c] = 1;

// The inside of http_request.ts's IPV6_LITERAL, [0-9a-f:.] after toLowerCase, without the ":".
const IPV6_BYTE = new Uint8Array(256);
IPV6_BYTE[DOT] = 1;
for (let c = 48; c <= 57; c++) IPV6_BYTE[c] = 1;
for (let c = 65; c <= 70; c++) IPV6_BYTE[c] = 1;
for (let c = 97; c <= 102; c++) IPV6_BYTE[c] = 1;

const HOST = ascii("host");
const CONTENT_LENGTH = ascii("content-length");
const TRANSFER_ENCODING = ascii("transfer-encoding");
const CHUNKED = ascii("chunked");
const CONNECT = ascii("CONNECT");
const OPTIONS = ascii("OPTIONS");
const HTTP_SLASH = ascii("HTTP/");
const HTTP_SCHEME = ascii("http://");

/** bytes[start, end) equals `word` exactly. */
function bytes_are(bytes: Uint8Array, start: number, end: number, word: Uint8Array): boolean {
  if (end - start !== word.length) return false;
  for (let i = 0; i < word.length; i++) if (bytes[start + i] !== word[i]) return false;
  return true;
}

/** bytes[start, end) equals the lower-case ASCII `word` in any letter case. */
function bytes_are_lower(bytes: Uint8Array, start: number, end: number, word: Uint8Array): boolean {
  if (end - start !== word.length) return false;
  for (let i = 0; i < word.length; i++) {
    const byte = bytes[start + i];
    const want = word[i];
    if (byte !== want && !(want >= 97 && want <= 122 && byte === want - 32)) return false;
  }
  return true;
}

/**
 * The version of a request line's last part: 1 for HTTP/1.1, 0 for HTTP/1.0,
 * −505 for another HTTP/d.d, −400 for anything else.
 */
function scan_version(bytes: Uint8Array, start: number, end: number): number {
  if (end - start !== 8 || !bytes_are(bytes, start, start + 5, HTTP_SLASH)) return -400;
  const major = bytes[start + 5];
  const minor = bytes[start + 7];
  if (
    major < DIGIT_0 || major > DIGIT_9 || bytes[start + 6] !== DOT || minor < DIGIT_0 ||
    minor > DIGIT_9
  ) {
    return -400;
  }
  if (major === DIGIT_0 + 1 && minor === DIGIT_0 + 1) return 1;
  if (major === DIGIT_0 + 1 && minor === DIGIT_0) return 0;
  return -505;
}

/**
 * parse_host_port of http_request.ts on bytes[start, end): −1 where it returns
 * null, else the port written (1..65535), or 0 when there is none.
 */
function scan_authority(bytes: Uint8Array, start: number, end: number): number {
  if (start >= end) return -1;
  let port_colon = -1;
  if (bytes[start] === LEFT_BRACKET) {
    // an IPv6 literal up to the first "]", then nothing or ":port"
    let bracket = start + 1;
    while (bracket < end && bytes[bracket] !== RIGHT_BRACKET) bracket++;
    if (bracket === end) return -1;
    if (bracket + 1 !== end && bytes[bracket + 1] !== COLON) return -1;
    let colons = 0;
    for (let i = start + 1; i < bracket; i++) {
      const byte = bytes[i];
      if (byte === COLON) colons++;
      else if (IPV6_BYTE[byte] !== 1) return -1;
    }
    if (colons === 0) return -1;
    if (bracket + 1 !== end) port_colon = bracket + 1;
  } else {
    // a reg-name of 1..255 bytes up to the first ":"; a ":" in first place is
    // no port separator, and then the name is refused for containing it
    let colon = start;
    while (colon < end && bytes[colon] !== COLON) colon++;
    if (colon !== end && colon !== start) port_colon = colon;
    const name_end = port_colon === -1 ? end : port_colon;
    if (name_end - start > 255) return -1;
    for (let i = start; i < name_end; i++) if (REG_NAME_BYTE[bytes[i]] !== 1) return -1;
  }
  if (port_colon === -1) return 0;
  const digits = end - port_colon - 1;
  if (digits < 1 || digits > 5) return -1;
  let port = 0;
  for (let i = port_colon + 1; i < end; i++) {
    const byte = bytes[i];
    if (byte < DIGIT_0 || byte > DIGIT_9) return -1;
    port = port * 10 + (byte - DIGIT_0);
  }
  return port >= 1 && port <= 65535 ? port : -1;
}

/** The whitespace String.prototype.trim removes that can appear in a field value. */
function trimmable(byte: number): boolean {
  return byte === SP || byte === HTAB || byte === NBSP;
}

/** A Transfer-Encoding list element, as header_tokens trims and lower-cases it, is "chunked". */
function element_is_chunked(bytes: Uint8Array, start: number, end: number): boolean {
  while (start < end && trimmable(bytes[start])) start++;
  while (end > start && trimmable(bytes[end - 1])) end--;
  return bytes_are_lower(bytes, start, end, CHUNKED);
}

/**
 * The lines from `line` (a line start) to the end of the head, when its
 * structure is sound: every CR followed by LF, every LF after a CR, and the
 * first empty line ending exactly at `to`. Returns how many lines come before
 * that empty line, or −1 when the structure is not sound.
 */
function rest_of_head(bytes: Uint8Array, line: number, to: number): number {
  let lines = 0;
  for (let i = line; i < to; i++) {
    const byte = bytes[i];
    if (byte === LF) return -1;
    if (byte !== CR) continue;
    if (i + 1 >= to || bytes[i + 1] !== LF) return -1;
    if (i === line) return i + 2 === to ? lines : -1;
    lines++;
    line = i + 2;
    i++;
  }
  return -1;
}

/**
 * The status for a bad field line at `line`, after `fields` good ones:
 * parse_request_head checks the whole head's structure first (400), then the
 * field count (431), and only then the field lines (400).
 */
function field_refused(bytes: Uint8Array, line: number, to: number, fields: number): number {
  const rest = rest_of_head(bytes, line, to);
  if (rest < 0) return 400;
  return fields + rest > REQUEST_MAX_HEADERS ? 431 : 400;
}

/**
 * Checks the request head bytes[start, end) (the caller found its end with
 * find_header_end). Returns 0 where parse_request_head on the same bytes
 * accepts, else the status it refuses with (400, 431, 501 or 505; the
 * director answers 431 as 431 and the rest as 400). On accept, writes the
 * HEAD_SCAN_* words into out. Allocates nothing and never throws.
 */
export function scan_request_head(
  bytes: Uint8Array,
  start: number,
  end: number,
  out: Int32Array,
): number {
  const from = start > 0 ? start | 0 : 0;
  const to = end < bytes.length ? end | 0 : bytes.length;
  if (to - from > REQUEST_HEAD_MAX_BYTES) return 431;

  // One pass over the head. A fault of its line structure (a bare CR or LF,
  // an empty line before the end, no CRLFCRLF at the end) comes first in
  // parse_request_head's order, so it is refused at once wherever it is met.
  // So is a bad method or target, which is also refused with 400 and comes
  // next. A 505 version, a bad field line and the field count are ordered
  // after the whole head's structure, so they take the slow way (rest_of_head).

  // request-line = method SP request-target SP HTTP-version CRLF
  let i = from;
  while (i < to && TCHAR[bytes[i]] === 1) i++;
  if (i === from || i === to || bytes[i] !== SP) return 400;
  const method_end = i;
  const target_start = ++i;
  while (i < to && bytes[i] > SP && bytes[i] < DEL) i++;
  if (i === target_start || i === to || bytes[i] !== SP) return 400;
  const target_end = i;
  let request_line_end = i + 1;
  while (
    request_line_end < to && bytes[request_line_end] !== CR && bytes[request_line_end] !== LF
  ) {
    request_line_end++;
  }
  if (request_line_end + 1 >= to || bytes[request_line_end] !== CR) return 400;
  if (bytes[request_line_end + 1] !== LF) return 400;
  const version = scan_version(bytes, i + 1, request_line_end);
  if (version === -505) return rest_of_head(bytes, request_line_end + 2, to) < 0 ? 400 : 505;
  if (version < 0) return 400;

  // Field lines, up to the empty line that must end the head. What the
  // framing and the Host checks need is gathered, and they are judged after
  // the target, in parse_request_head's order.
  let fields = 0;
  let host_count = 0;
  let host_start = from;
  let host_end = from;
  let content_length = -1;
  let content_length_bad = false;
  let transfer_encoding = false;
  let codings = 0;
  let first_chunked = -1;
  let last_is_chunked = false;
  for (let line = request_line_end + 2;;) {
    if (line >= to) return 400;
    const first = bytes[line];
    if (first === CR) {
      // the empty line: CRLF, and the end of the head
      if (line + 2 !== to || bytes[line + 1] !== LF) return 400;
      break;
    }
    if (first === SP || first === HTAB) return field_refused(bytes, line, to, fields); // obs-fold
    let name_end = line;
    while (name_end < to && TCHAR[bytes[name_end]] === 1) name_end++;
    if (name_end === line || name_end === to || bytes[name_end] !== COLON) {
      return field_refused(bytes, line, to, fields);
    }
    // the value up to the CR: controls other than HTAB, and DEL, are refused
    let line_end = name_end + 1;
    for (;; line_end++) {
      if (line_end >= to) return 400;
      const byte = bytes[line_end];
      if (byte < SP) {
        if (byte === CR) break;
        if (byte !== HTAB) return field_refused(bytes, line, to, fields);
      } else if (byte === DEL) {
        return field_refused(bytes, line, to, fields);
      }
    }
    if (line_end + 1 >= to || bytes[line_end + 1] !== LF) return 400; // bare CR
    fields++;
    let value_start = name_end + 1;
    let value_end = line_end;
    while (value_start < value_end && (bytes[value_start] === SP || bytes[value_start] === HTAB)) {
      value_start++;
    }
    while (
      value_end > value_start && (bytes[value_end - 1] === SP || bytes[value_end - 1] === HTAB)
    ) {
      value_end--;
    }
    const name_length = name_end - line;
    if (name_length === 4 && bytes_are_lower(bytes, line, name_end, HOST)) {
      if (host_count === 0) {
        host_start = value_start;
        host_end = value_end;
      }
      host_count++;
    } else if (name_length === 14 && bytes_are_lower(bytes, line, name_end, CONTENT_LENGTH)) {
      // 1 to 15 digits (exact as a double), every copy the same number
      const digits = value_end - value_start;
      let length = 0;
      let ok = digits >= 1 && digits <= 15;
      for (let j = value_start; ok && j < value_end; j++) {
        const byte = bytes[j];
        ok = byte >= DIGIT_0 && byte <= DIGIT_9;
        length = length * 10 + (byte - DIGIT_0);
      }
      if (!ok || (content_length !== -1 && length !== content_length)) content_length_bad = true;
      else content_length = length;
    } else if (name_length === 17 && bytes_are_lower(bytes, line, name_end, TRANSFER_ENCODING)) {
      transfer_encoding = true;
      // the comma-separated elements, counted across every Transfer-Encoding line
      let element = value_start;
      for (;;) {
        let comma = element;
        while (comma < value_end && bytes[comma] !== COMMA) comma++;
        last_is_chunked = element_is_chunked(bytes, element, comma);
        if (last_is_chunked && first_chunked === -1) first_chunked = codings;
        codings++;
        if (comma === value_end) break;
        element = comma + 1;
      }
    }
    line = line_end + 2;
  }
  if (fields > REQUEST_MAX_HEADERS) return 431;

  // the request-target's form
  if (bytes_are(bytes, from, method_end, CONNECT)) return 501;
  for (let j = target_start; j < target_end; j++) if (bytes[j] === HASH) return 400;
  let absolute = false;
  let authority_start = 0;
  let authority_end = 0;
  let authority_port = 0;
  let path_start = target_start;
  const path_end_raw = target_end;
  if (target_end - target_start === 1 && bytes[target_start] === STAR) {
    if (!bytes_are(bytes, from, method_end, OPTIONS)) return 400;
  } else if (bytes[target_start] !== SLASH) {
    if (
      !bytes_are_lower(bytes, target_start, Math.min(target_end, target_start + 7), HTTP_SCHEME)
    ) {
      return 400;
    }
    authority_start = target_start + 7;
    authority_end = authority_start;
    while (
      authority_end < target_end && bytes[authority_end] !== SLASH &&
      bytes[authority_end] !== QUESTION
    ) {
      authority_end++;
    }
    for (let j = authority_start; j < authority_end; j++) if (bytes[j] === AT) return 400;
    authority_port = scan_authority(bytes, authority_start, authority_end);
    if (authority_port < 0) return 400;
    absolute = true;
    path_start = authority_end;
  }
  // path + "?" + query leaves the "?" out when the query is empty
  let path_end = path_end_raw;
  let question = path_start;
  while (question < path_end && bytes[question] !== QUESTION) question++;
  if (question === path_end - 1) path_end--;

  // framing (RFC 9112 section 6)
  if (content_length_bad) return 400;
  if (transfer_encoding) {
    if (content_length !== -1) return 400;
    if (version === 0) return 400;
    if (!(codings === 1 && first_chunked === 0)) {
      return !last_is_chunked || first_chunked !== codings - 1 ? 400 : 501;
    }
  }

  // Host, checked even when an absolute-form target overrides it
  if (host_count > 1) return 400;
  if (host_count === 0 && version === 1) return 400;
  let port = 0;
  if (host_count === 1) {
    port = scan_authority(bytes, host_start, host_end);
    if (port < 0) return 400;
  }
  if (absolute) {
    host_start = authority_start;
    host_end = authority_end;
    port = authority_port;
  }

  out[HEAD_SCAN_HOST_START] = host_start;
  out[HEAD_SCAN_HOST_END] = host_end;
  out[HEAD_SCAN_PATH_START] = path_start;
  out[HEAD_SCAN_PATH_END] = path_end;
  out[HEAD_SCAN_PORT] = port === 0 ? -1 : port;
  out[HEAD_SCAN_VERSION_MINOR] = version;
  out[HEAD_SCAN_METHOD_END] = method_end;
  out[HEAD_SCAN_TARGET_START] = target_start;
  out[HEAD_SCAN_TARGET_END] = target_end;
  return 0;
}
