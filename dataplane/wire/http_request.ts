// Strict HTTP/1.x request-head parsing (RFC 9110, RFC 9112).
//
// The director reads a request's head in its dataplane (find_header_end runs
// per segment there), then its control Worker parses it here to choose a
// server. The director hands the connection off to that server, which reads the
// same bytes again; when two parsers disagree about where a request ends or
// which host it names, an attacker can smuggle a request past the director's
// decision. So anything ambiguous is refused instead of guessed at: bare CR or
// LF, obs-fold, whitespace before a colon, duplicate Host, Transfer-Encoding
// with Content-Length, differing Content-Lengths.
//
// Header values may carry obs-text (bytes 0x80–0xFF, RFC 9110 section 5.5);
// they are returned as ISO-8859-1, one character per byte, never decoded as
// UTF-8. Paths and queries are returned as sent: not percent-decoded, not
// dot-segment normalised.

/** Longest head parse_request_head accepts; longer gets 431. */
export const REQUEST_HEAD_MAX_BYTES = 16384;
/** Most header fields parse_request_head accepts; more gets 431. */
export const REQUEST_MAX_HEADERS = 100;

export type HttpVersion = "HTTP/1.0" | "HTTP/1.1";

export interface RequestHead {
  ok: true;
  method: string;
  /** The request-target exactly as sent. */
  target: string;
  /** "/..." without the query; "*" for OPTIONS *. */
  path: string;
  /** After the "?", without it; "" when there is none. */
  query: string;
  /**
   * Lower-cased host of the absolute-form target, else of the Host header,
   * with ":port" kept unless the port is 80. "" for HTTP/1.0 without Host.
   */
  host: string;
  /** The port when one was written explicitly (80 included). */
  port?: number;
  version: HttpVersion;
  /** Every field in order; names lower-cased, values without surrounding whitespace. */
  headers: Array<[string, string]>;
  keep_alive: boolean;
  /** The Content-Length, or −1 when there is none. */
  content_length: number;
  /** True when the body is sent with Transfer-Encoding: chunked. */
  chunked: boolean;
}

export interface RequestError {
  ok: false;
  status: 400 | 431 | 501 | 505;
  reason: string;
}

const CR = 13;
const LF = 10;
const SP = 32;
const HTAB = 9;
const COLON = 58;
const DEL = 127;

/**
 * Index just past the first CRLFCRLF inside bytes[start, end), or −1. Reads
 * nothing outside [start, end) nor past bytes.length; allocates nothing and
 * does not throw. To search incrementally, pass the whole buffer so far with
 * start = max(0, previous_end − 3) so a CRLFCRLF split across segments is found.
 */
export function find_header_end(bytes: Uint8Array, start: number, end: number): number {
  const from = start > 0 ? start | 0 : 0;
  const to = end < bytes.length ? end | 0 : bytes.length;
  // Look at every byte that could end the terminator; a byte that is neither CR
  // nor LF rules out the three positions after it as well, but the plain scan is
  // simple and the heads are short.
  for (let i = from + 3; i < to; i++) {
    if (
      bytes[i] === LF && bytes[i - 1] === CR && bytes[i - 2] === LF && bytes[i - 3] === CR
    ) {
      return i + 1;
    }
  }
  return -1;
}

// RFC 9110 section 5.6.2: tchar = "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" /
// "-" / "." / "^" / "_" / "`" / "|" / "~" / DIGIT / ALPHA
const TCHAR = new Uint8Array(256);
for (const c of "!#$%&'*+-.^_`|~") TCHAR[c.charCodeAt(0)] = 1;
for (let c = 48; c <= 57; c++) TCHAR[c] = 1;
for (let c = 65; c <= 90; c++) TCHAR[c] = 1;
for (let c = 97; c <= 122; c++) TCHAR[c] = 1;

function error(status: RequestError["status"], reason: string): RequestError {
  return { ok: false, status, reason };
}

/** bytes[start, end) as ISO-8859-1: one UTF-16 unit per byte, so no byte can fail to decode. */
function latin1(bytes: Uint8Array, start: number, end: number): string {
  let text = "";
  for (let i = start; i < end; i++) text += String.fromCharCode(bytes[i]);
  return text;
}

/**
 * Parses a request head: the bytes from the request line through the
 * terminating CRLFCRLF, nothing more. Never throws; a malformed head gives a
 * RequestError whose status the director can answer with http_response.
 */
export function parse_request_head(head: Uint8Array): RequestHead | RequestError {
  if (head.length > REQUEST_HEAD_MAX_BYTES) {
    return error(431, `request head longer than ${REQUEST_HEAD_MAX_BYTES} bytes`);
  }
  const head_end = find_header_end(head, 0, head.length);
  if (head_end === -1) return error(400, "head does not end with CRLFCRLF");
  if (head_end !== head.length) return error(400, "bytes after the end of the head");

  // Split into lines, refusing a CR not followed by LF or an LF not preceded by CR.
  const line_starts: number[] = [];
  const line_ends: number[] = [];
  let line_start = 0;
  for (let i = 0; i < head.length; i++) {
    const byte = head[i];
    if (byte === LF) return error(400, "bare LF");
    if (byte !== CR) continue;
    if (head[i + 1] !== LF) return error(400, "bare CR");
    line_starts.push(line_start);
    line_ends.push(i);
    line_start = i + 2;
    i++;
  }
  // The head ends with CRLFCRLF, so the last line is the empty one that ends it.
  const line_count = line_starts.length - 1;

  const request_line = parse_request_line(head, line_starts[0], line_ends[0]);
  if (!request_line.ok) return request_line;
  const { method, target, version } = request_line;

  if (line_count - 1 > REQUEST_MAX_HEADERS) {
    return error(431, `more than ${REQUEST_MAX_HEADERS} header fields`);
  }
  const headers: Array<[string, string]> = [];
  for (let n = 1; n < line_count; n++) {
    const field = parse_field_line(head, line_starts[n], line_ends[n]);
    if (!field.ok) return field;
    headers.push([field.name, field.value]);
  }

  const form = parse_target(method, target);
  if (!form.ok) return form;

  const framing = check_framing(headers, version);
  if (!framing.ok) return framing;

  let host = "";
  let port: number | undefined = undefined;
  const host_values = headers.filter(([name]) => name === "host").map(([, value]) => value);
  if (host_values.length > 1) return error(400, "more than one Host header");
  if (host_values.length === 0 && version === "HTTP/1.1") return error(400, "no Host header");
  if (host_values.length === 1) {
    const authority = parse_host_port(host_values[0]);
    if (authority === null) return error(400, `invalid Host header "${host_values[0]}"`);
    ({ host, port } = authority);
  }
  // RFC 9112 section 3.2.2: with an absolute-form target the Host header is
  // ignored in favour of the target's authority.
  if (form.authority !== null) ({ host, port } = form.authority);

  const connection = header_tokens(headers, "connection");
  const close = connection.includes("close");
  const keep_alive = version === "HTTP/1.1" ? !close : !close && connection.includes("keep-alive");

  const parsed: RequestHead = {
    ok: true,
    method,
    target,
    path: form.path,
    query: form.query,
    host,
    version,
    headers,
    keep_alive,
    content_length: framing.content_length,
    chunked: framing.chunked,
  };
  if (port !== undefined) parsed.port = port;
  return parsed;
}

type RequestLine = { ok: true; method: string; target: string; version: HttpVersion };

// request-line = method SP request-target SP HTTP-version, single spaces (RFC 9112 section 3).
function parse_request_line(
  head: Uint8Array,
  start: number,
  end: number,
): RequestLine | RequestError {
  if (start === end) return error(400, "empty line before the request line");
  let i = start;
  while (i < end && TCHAR[head[i]] === 1) i++;
  if (i === start || i === end || head[i] !== SP) {
    return error(400, "method is not a token followed by one space");
  }
  const method = latin1(head, start, i);
  const target_start = ++i;
  while (i < end && head[i] > SP && head[i] < DEL) i++;
  if (i === target_start) return error(400, "empty request target or extra space");
  if (i === end || head[i] !== SP) {
    return error(400, "control, non-ASCII or missing space after the request target");
  }
  const target = latin1(head, target_start, i);
  const version_text = latin1(head, i + 1, end);
  if (version_text === "HTTP/1.1" || version_text === "HTTP/1.0") {
    return { ok: true, method, target, version: version_text };
  }
  if (/^HTTP\/[0-9]\.[0-9]$/.test(version_text)) {
    return error(505, `version ${version_text} not supported`);
  }
  return error(400, "malformed HTTP version or extra space in the request line");
}

type FieldLine = { ok: true; name: string; value: string };

// field-line = field-name ":" OWS field-value OWS (RFC 9112 section 5).
function parse_field_line(head: Uint8Array, start: number, end: number): FieldLine | RequestError {
  if (head[start] === SP || head[start] === HTAB) {
    return error(400, "header line starts with whitespace (obs-fold)");
  }
  let i = start;
  while (i < end && TCHAR[head[i]] === 1) i++;
  if (i === end) return error(400, "header line without a colon");
  if (head[i] !== COLON) {
    const byte = head[i];
    return byte === SP || byte === HTAB
      ? error(400, `whitespace before the colon in header "${latin1(head, start, i)}"`)
      : error(400, "header name is not a token");
  }
  if (i === start) return error(400, "empty header name");
  const name = latin1(head, start, i).toLowerCase();
  let value_start = i + 1;
  let value_end = end;
  while (value_start < value_end && (head[value_start] === SP || head[value_start] === HTAB)) {
    value_start++;
  }
  while (value_end > value_start && (head[value_end - 1] === SP || head[value_end - 1] === HTAB)) {
    value_end--;
  }
  for (let j = value_start; j < value_end; j++) {
    const byte = head[j];
    if ((byte < SP && byte !== HTAB) || byte === DEL) {
      return error(400, `control character in the value of header "${name}"`);
    }
  }
  return { ok: true, name, value: latin1(head, value_start, value_end) };
}

interface Authority {
  host: string;
  port?: number;
}

type TargetForm = { ok: true; path: string; query: string; authority: Authority | null };

function parse_target(method: string, target: string): TargetForm | RequestError {
  if (method === "CONNECT") return error(501, "CONNECT is not supported");
  if (target.includes("#")) return error(400, "fragment in the request target");
  if (target === "*") {
    return method === "OPTIONS"
      ? { ok: true, path: "*", query: "", authority: null }
      : error(400, "asterisk-form target is only for OPTIONS");
  }
  if (target.startsWith("/")) return { ok: true, ...split_query(target), authority: null };
  if (!/^http:\/\//i.test(target)) {
    return error(400, "request target is neither origin-form nor an http:// absolute-form");
  }
  const rest = target.slice("http://".length);
  let authority_end = rest.search(/[/?]/);
  if (authority_end === -1) authority_end = rest.length;
  const authority_text = rest.slice(0, authority_end);
  if (authority_text.includes("@")) return error(400, "userinfo in the request target");
  const authority = parse_host_port(authority_text);
  if (authority === null) {
    return error(400, `invalid host "${authority_text}" in the request target`);
  }
  let path_and_query = rest.slice(authority_end);
  if (!path_and_query.startsWith("/")) path_and_query = "/" + path_and_query;
  return { ok: true, ...split_query(path_and_query), authority };
}

function split_query(path_and_query: string): { path: string; query: string } {
  const question = path_and_query.indexOf("?");
  return question === -1
    ? { path: path_and_query, query: "" }
    : { path: path_and_query.slice(0, question), query: path_and_query.slice(question + 1) };
}

const REG_NAME = /^[a-z0-9._~-]{1,255}$/;
const IPV6_LITERAL = /^\[[0-9a-f:.]*:[0-9a-f:.]*\]$/;

/**
 * host[:port] with host a reg-name (letters, digits, "-", ".", "_", "~"; IPv4
 * fits) or a bracketed IPv6 literal, port 1..65535. Empty host or port is
 * refused: RFC 9112 allows an empty Host only for URIs without an authority,
 * which never reach an HTTP server. Returns null when invalid.
 */
function parse_host_port(text: string): Authority | null {
  const lower = text.toLowerCase();
  const port_colon = lower.startsWith("[") ? lower.indexOf("]") + 1 : lower.indexOf(":");
  const has_port = port_colon > 0 && lower[port_colon] === ":";
  const host = has_port ? lower.slice(0, port_colon) : lower;
  if (lower.startsWith("[")) {
    if (port_colon === 0 || !(has_port || port_colon === lower.length)) return null;
    if (!IPV6_LITERAL.test(host)) return null;
  } else if (!REG_NAME.test(host)) {
    return null;
  }
  if (!has_port) return { host };
  const port_text = lower.slice(port_colon + 1);
  if (!/^[0-9]{1,5}$/.test(port_text)) return null;
  const port = Number(port_text);
  if (port < 1 || port > 65535) return null;
  return { host: port === 80 ? host : `${host}:${port}`, port };
}

/** Comma-separated list elements of every field with this name, trimmed and lower-cased. */
function header_tokens(headers: ReadonlyArray<[string, string]>, wanted: string): string[] {
  const tokens: string[] = [];
  for (const [name, value] of headers) {
    if (name !== wanted) continue;
    for (const element of value.split(",")) tokens.push(element.trim().toLowerCase());
  }
  return tokens;
}

type Framing = { ok: true; content_length: number; chunked: boolean };

// RFC 9112 section 6: the body length must be unambiguous to every parser on the path.
function check_framing(
  headers: ReadonlyArray<[string, string]>,
  version: HttpVersion,
): Framing | RequestError {
  let content_length = -1;
  let transfer_encoding = false;
  for (const [name, value] of headers) {
    if (name === "transfer-encoding") transfer_encoding = true;
    if (name !== "content-length") continue;
    // 15 digits stay below 2^53, so the number is exact.
    if (!/^[0-9]{1,15}$/.test(value)) return error(400, `invalid Content-Length "${value}"`);
    const length = Number(value);
    if (content_length !== -1 && length !== content_length) {
      return error(400, "conflicting Content-Length headers");
    }
    content_length = length;
  }
  if (!transfer_encoding) return { ok: true, content_length, chunked: false };
  if (content_length !== -1) {
    return error(400, "both Transfer-Encoding and Content-Length (request smuggling)");
  }
  // A 1.0 recipient may not know chunked; RFC 9112 section 6.1 says treat it as faulty framing.
  if (version === "HTTP/1.0") return error(400, "Transfer-Encoding in an HTTP/1.0 request");
  const codings = header_tokens(headers, "transfer-encoding");
  if (codings.length === 1 && codings[0] === "chunked") {
    return { ok: true, content_length: -1, chunked: true };
  }
  if (
    codings[codings.length - 1] !== "chunked" || codings.indexOf("chunked") !== codings.length - 1
  ) {
    return error(400, "chunked is not the final transfer coding exactly once");
  }
  return error(501, `transfer coding "${codings[0]}" not supported`);
}

const STATUS_TEXT: Record<number, string> = {
  400: "Bad Request",
  408: "Request Timeout",
  431: "Request Header Fields Too Large",
  501: "Not Implemented",
  503: "Service Unavailable",
  505: "HTTP Version Not Supported",
};

export interface HttpResponseOptions {
  /** Why, appended to the default body: "400 Bad Request: no Host header\n". */
  reason?: string;
  /** Replaces the default body entirely. */
  body?: string;
  /** Send "Connection: close" (the default: after an error the director hangs up). */
  close?: boolean;
}

/** A minimal complete HTTP/1.1 response with a text/plain body, as bytes ready to send. */
export function http_response(status: number, options: HttpResponseOptions = {}): Uint8Array {
  if (!Number.isInteger(status) || status < 100 || status > 599) {
    throw new RangeError(`HTTP status must be an integer in 100..599, got ${status}`);
  }
  const text = STATUS_TEXT[status] ?? "Unknown Status";
  const body = new TextEncoder().encode(
    options.body ?? `${status} ${text}${options.reason ? `: ${options.reason}` : ""}\n`,
  );
  const head = `HTTP/1.1 ${status} ${text}\r\n` +
    "Content-Type: text/plain; charset=utf-8\r\n" +
    `Content-Length: ${body.length}\r\n` +
    (options.close === false ? "" : "Connection: close\r\n") +
    "\r\n";
  const head_bytes = new TextEncoder().encode(head);
  const response = new Uint8Array(head_bytes.length + body.length);
  response.set(head_bytes);
  response.set(body, head_bytes.length);
  return response;
}
