import assert from "node:assert/strict";
import {
  find_header_end,
  http_response,
  parse_request_head,
  REQUEST_HEAD_MAX_BYTES,
  REQUEST_MAX_HEADERS,
  type RequestHead,
} from "../../../dataplane/wire/mod.ts";
import { mulberry32 } from "../../support/random.ts";

/** Bytes of a string, one byte per UTF-16 unit (so "\x00" and "\xe9" are single raw bytes). */
function raw(text: string): Uint8Array {
  return Uint8Array.from(text, (c) => c.charCodeAt(0));
}

/** A head from lines: each gets CRLF, then the empty line. */
function head(...lines: string[]): Uint8Array {
  return raw(lines.map((line) => line + "\r\n").join("") + "\r\n");
}

interface ParseCase {
  description: string;
  input: Uint8Array;
  /** For accepted heads: fields that must match exactly. */
  expect?: Partial<RequestHead>;
  /** For refused heads: the status and a piece of the reason. */
  status?: 400 | 431 | 501 | 505;
  reason?: string;
}

const cases: ParseCase[] = [
  // ---- accepted ----
  {
    description: "plain GET",
    input: head("GET /index.html?a=1&b=2 HTTP/1.1", "Host: www.example.com", "Accept: */*"),
    expect: {
      method: "GET",
      target: "/index.html?a=1&b=2",
      path: "/index.html",
      query: "a=1&b=2",
      host: "www.example.com",
      version: "HTTP/1.1",
      headers: [["host", "www.example.com"], ["accept", "*/*"]],
      keep_alive: true,
      content_length: -1,
      chunked: false,
    },
  },
  {
    description: "absolute-form: host and port come from the target, not the Host header",
    input: head("GET http://Origin.Example:8080/a/b?x HTTP/1.1", "Host: other.example"),
    expect: { host: "origin.example:8080", port: 8080, path: "/a/b", query: "x" },
  },
  {
    description: "absolute-form without a path means /",
    input: head("GET HTTP://example.com HTTP/1.1", "Host: example.com"),
    expect: { host: "example.com", path: "/", query: "" },
  },
  {
    description: "HTTP/1.0 without Host is fine; host is empty and it closes by default",
    input: head("GET / HTTP/1.0"),
    expect: { host: "", version: "HTTP/1.0", keep_alive: false, headers: [] },
  },
  {
    description: "HTTP/1.0 keeps alive only when asked",
    input: head("GET / HTTP/1.0", "Connection: Keep-Alive"),
    expect: { keep_alive: true },
  },
  {
    description: "HTTP/1.1 closes on Connection: close (inside a list, any case)",
    input: head("GET / HTTP/1.1", "Host: a", "Connection: upgrade, CLOSE"),
    expect: { keep_alive: false },
  },
  {
    description: "Host is lower-cased and the default port removed",
    input: head("GET / HTTP/1.1", "Host: WWW.Example.COM:80"),
    expect: { host: "www.example.com", port: 80 },
  },
  {
    description: "a non-default port stays in host",
    input: head("GET / HTTP/1.1", "Host: 10.0.0.1:8443"),
    expect: { host: "10.0.0.1:8443", port: 8443 },
  },
  {
    description: "IPv6 literal Host",
    input: head("GET / HTTP/1.1", "Host: [2001:DB8::1]:8080"),
    expect: { host: "[2001:db8::1]:8080", port: 8080 },
  },
  {
    description: "OWS around values is trimmed, HTAB and obs-text allowed inside",
    input: head(
      "POST /f HTTP/1.1",
      "Host:\t a \t",
      "X-Note: caf\xe9\tau lait ",
      "Content-Length: 12",
    ),
    expect: {
      method: "POST",
      headers: [["host", "a"], ["x-note", "caf\xe9\tau lait"], ["content-length", "12"]],
      content_length: 12,
    },
  },
  {
    description: "identical repeated Content-Length is accepted",
    input: head("POST / HTTP/1.1", "Host: a", "Content-Length: 5", "Content-Length: 005"),
    expect: { content_length: 5 },
  },
  {
    description: "Transfer-Encoding: chunked",
    input: head("POST / HTTP/1.1", "Host: a", "Transfer-Encoding: Chunked"),
    expect: { chunked: true, content_length: -1 },
  },
  {
    description: "OPTIONS *",
    input: head("OPTIONS * HTTP/1.1", "Host: a"),
    expect: { method: "OPTIONS", path: "*", target: "*" },
  },
  {
    description: "an unusual but valid token method",
    input: head("M-SEARCH /x HTTP/1.1", "Host: a"),
    expect: { method: "M-SEARCH" },
  },
  // ---- refused ----
  {
    description: "HTTP/1.1 without Host",
    input: head("GET / HTTP/1.1", "Accept: */*"),
    status: 400,
    reason: "no Host",
  },
  {
    description: "two Host headers",
    input: head("GET / HTTP/1.1", "Host: a", "Host: b"),
    status: 400,
    reason: "more than one Host",
  },
  {
    description: "two Host headers in HTTP/1.0 too",
    input: head("GET / HTTP/1.0", "Host: a", "Host: a"),
    status: 400,
    reason: "more than one Host",
  },
  {
    description: "Host with a space",
    input: head("GET / HTTP/1.1", "Host: a b"),
    status: 400,
    reason: "invalid Host",
  },
  {
    description: "Host port 0",
    input: head("GET / HTTP/1.1", "Host: a:0"),
    status: 400,
    reason: "invalid Host",
  },
  {
    description: "Host port 65536",
    input: head("GET / HTTP/1.1", "Host: a:65536"),
    status: 400,
    reason: "invalid Host",
  },
  {
    description: "Host with an empty port",
    input: head("GET / HTTP/1.1", "Host: a:"),
    status: 400,
    reason: "invalid Host",
  },
  {
    description: "empty Host",
    input: head("GET / HTTP/1.1", "Host:"),
    status: 400,
    reason: "invalid Host",
  },
  {
    description: "Host with userinfo",
    input: head("GET / HTTP/1.1", "Host: user@a"),
    status: 400,
    reason: "invalid Host",
  },
  {
    description: "HTTP/2.0 request line",
    input: head("GET / HTTP/2.0", "Host: a"),
    status: 505,
    reason: "HTTP/2.0",
  },
  {
    description: "HTTP/0.9-style version digits",
    input: head("GET / HTTP/0.9", "Host: a"),
    status: 505,
  },
  {
    description: "lower-case version is malformed, not unsupported",
    input: head("GET / http/1.1", "Host: a"),
    status: 400,
    reason: "version",
  },
  {
    description: "double space between method and target",
    input: head("GET  / HTTP/1.1", "Host: a"),
    status: 400,
    reason: "extra space",
  },
  {
    description: "double space before the version",
    input: head("GET /  HTTP/1.1", "Host: a"),
    status: 400,
    reason: "version",
  },
  {
    description: "tab instead of space in the request line",
    input: head("GET\t/ HTTP/1.1", "Host: a"),
    status: 400,
    reason: "method",
  },
  {
    description: "method that is not a token",
    input: head("GE(T / HTTP/1.1", "Host: a"),
    status: 400,
    reason: "method",
  },
  {
    description: "missing version",
    input: head("GET /", "Host: a"),
    status: 400,
  },
  {
    description: "empty line before the request line",
    input: raw("\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n"),
    status: 400,
    reason: "empty line",
  },
  {
    description: "CONNECT is not supported",
    input: head("CONNECT example.com:443 HTTP/1.1", "Host: example.com:443"),
    status: 501,
    reason: "CONNECT",
  },
  {
    description: "authority-form for anything but CONNECT",
    input: head("GET example.com:80 HTTP/1.1", "Host: a"),
    status: 400,
    reason: "origin-form",
  },
  {
    description: "https:// absolute-form",
    input: head("GET https://a/ HTTP/1.1", "Host: a"),
    status: 400,
    reason: "absolute-form",
  },
  {
    description: "userinfo in an absolute-form target",
    input: head("GET http://u:p@a/ HTTP/1.1", "Host: a"),
    status: 400,
    reason: "userinfo",
  },
  {
    description: "fragment in the target",
    input: head("GET /a#b HTTP/1.1", "Host: a"),
    status: 400,
    reason: "fragment",
  },
  {
    description: "non-ASCII byte in the target",
    input: head("GET /caf\xe9 HTTP/1.1", "Host: a"),
    status: 400,
    reason: "request target",
  },
  {
    description: "asterisk-form with GET",
    input: head("GET * HTTP/1.1", "Host: a"),
    status: 400,
    reason: "OPTIONS",
  },
  {
    description: "obs-fold continuation line",
    input: head("GET / HTTP/1.1", "Host: a", "X-Long: one", " two"),
    status: 400,
    reason: "obs-fold",
  },
  {
    description: "whitespace before the colon",
    input: head("GET / HTTP/1.1", "Host : a"),
    status: 400,
    reason: "whitespace before the colon",
  },
  {
    description: "header line without a colon",
    input: head("GET / HTTP/1.1", "Host: a", "Garbage"),
    status: 400,
    reason: "without a colon",
  },
  {
    description: "header name that is not a token",
    input: head("GET / HTTP/1.1", "Host: a", "X[1]: y"),
    status: 400,
    reason: "not a token",
  },
  {
    description: "empty header name",
    input: head("GET / HTTP/1.1", "Host: a", ": y"),
    status: 400,
    reason: "empty header name",
  },
  {
    description: "bare LF ending a header line",
    input: raw("GET / HTTP/1.1\r\nHost: a\nX: y\r\n\r\n"),
    status: 400,
    reason: "bare LF",
  },
  {
    description: "bare CR inside a value",
    input: raw("GET / HTTP/1.1\r\nHost: a\r\nX: y\rz\r\n\r\n"),
    status: 400,
    reason: "bare CR",
  },
  {
    description: "NUL in a header value",
    input: head("GET / HTTP/1.1", "Host: a", "X: y\x00z"),
    status: 400,
    reason: "control character",
  },
  {
    description: "DEL in a header value",
    input: head("GET / HTTP/1.1", "Host: a", "X: y\x7f"),
    status: 400,
    reason: "control character",
  },
  {
    description: "NUL in the request line",
    input: head("GET /\x00 HTTP/1.1", "Host: a"),
    status: 400,
  },
  {
    description: "Transfer-Encoding together with Content-Length",
    input: head("POST / HTTP/1.1", "Host: a", "Content-Length: 3", "Transfer-Encoding: chunked"),
    status: 400,
    reason: "smuggling",
  },
  {
    description: "differing Content-Length headers",
    input: head("POST / HTTP/1.1", "Host: a", "Content-Length: 3", "Content-Length: 4"),
    status: 400,
    reason: "conflicting Content-Length",
  },
  {
    description: "Content-Length that is not just digits",
    input: head("POST / HTTP/1.1", "Host: a", "Content-Length: +3"),
    status: 400,
    reason: "invalid Content-Length",
  },
  {
    description: "Content-Length as a list",
    input: head("POST / HTTP/1.1", "Host: a", "Content-Length: 3, 3"),
    status: 400,
    reason: "invalid Content-Length",
  },
  {
    description: "chunked not last",
    input: head("POST / HTTP/1.1", "Host: a", "Transfer-Encoding: chunked, gzip"),
    status: 400,
    reason: "final transfer coding",
  },
  {
    description: "chunked twice",
    input: head(
      "POST / HTTP/1.1",
      "Host: a",
      "Transfer-Encoding: chunked",
      "Transfer-Encoding: chunked",
    ),
    status: 400,
    reason: "exactly once",
  },
  {
    description: "a transfer coding we do not implement",
    input: head("POST / HTTP/1.1", "Host: a", "Transfer-Encoding: gzip, chunked"),
    status: 501,
    reason: "gzip",
  },
  {
    description: "Transfer-Encoding in HTTP/1.0",
    input: head("POST / HTTP/1.0", "Transfer-Encoding: chunked"),
    status: 400,
    reason: "HTTP/1.0",
  },
  {
    description: "head without the final empty line",
    input: raw("GET / HTTP/1.1\r\nHost: a\r\n"),
    status: 400,
    reason: "CRLFCRLF",
  },
  {
    description: "body bytes after the head",
    input: raw("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n\r\nbody\r\n\r\n"),
    status: 400,
    reason: "after the end of the head",
  },
  {
    description: "too many header fields",
    input: head(
      "GET / HTTP/1.1",
      "Host: a",
      ...Array.from({ length: REQUEST_MAX_HEADERS }, (_, i) => `X-${i}: ${i}`),
    ),
    status: 431,
    reason: "header fields",
  },
  {
    description: "head longer than the limit",
    input: head("GET / HTTP/1.1", "Host: a", "X: " + "v".repeat(REQUEST_HEAD_MAX_BYTES)),
    status: 431,
    reason: "longer than",
  },
];

Deno.test("parse_request_head table", () => {
  assert.ok(cases.filter((c) => c.status !== undefined).length >= 20);
  for (const c of cases) {
    const result = parse_request_head(c.input);
    if (c.expect) {
      assert.ok(result.ok, `${c.description}: refused: ${!result.ok && result.reason}`);
      for (const [field, value] of Object.entries(c.expect)) {
        assert.deepEqual(result[field as keyof RequestHead], value, `${c.description}: ${field}`);
      }
      if (!("port" in c.expect)) assert.ok(!("port" in result), `${c.description}: no port`);
    } else {
      assert.ok(!result.ok, `${c.description}: accepted`);
      assert.equal(result.status, c.status, `${c.description}: ${result.reason}`);
      if (c.reason) {
        assert.ok(result.reason.includes(c.reason), `${c.description}: reason "${result.reason}"`);
      }
    }
  }
});

Deno.test("exactly the maximum number of headers is still accepted", () => {
  const fields = Array.from({ length: REQUEST_MAX_HEADERS - 1 }, (_, i) => `X-${i}: ${i}`);
  const result = parse_request_head(head("GET / HTTP/1.1", "Host: a", ...fields));
  assert.ok(result.ok);
  assert.equal(result.headers.length, REQUEST_MAX_HEADERS);
});

Deno.test("find_header_end finds the first CRLFCRLF and the index just past it", () => {
  const bytes = raw("GET / HTTP/1.1\r\nHost: a\r\n\r\nbody\r\n\r\n");
  const first = "GET / HTTP/1.1\r\nHost: a\r\n\r\n".length;
  assert.equal(find_header_end(bytes, 0, bytes.length), first);
  // starting after the first one finds the second
  assert.equal(find_header_end(bytes, first, bytes.length), bytes.length);
  assert.equal(find_header_end(raw("\r\n\r\n"), 0, 4), 4);
  assert.equal(find_header_end(raw("\r\n\r"), 0, 3), -1);
  assert.equal(find_header_end(raw("\n\r\n\r\n"), 0, 5), 5);
  assert.equal(find_header_end(raw("\r\r\n\r\n"), 0, 5), 5);
  assert.equal(find_header_end(raw("\r\n\n\r\n"), 0, 5), -1, "LF LF is not the terminator");
  assert.equal(find_header_end(new Uint8Array(0), 0, 0), -1);
});

Deno.test("find_header_end never looks outside [start, end)", () => {
  const bytes = raw("xx\r\n\r\nyy");
  // terminator at [2, 6)
  assert.equal(find_header_end(bytes, 0, 6), 6);
  assert.equal(find_header_end(bytes, 0, 5), -1, "end cuts the last LF off");
  assert.equal(find_header_end(bytes, 2, 6), 6, "start exactly at the CR");
  assert.equal(find_header_end(bytes, 3, 8), -1, "start past the CR");
  assert.equal(find_header_end(bytes, 0, 100), 6, "end past the buffer is clamped");
  assert.equal(find_header_end(bytes, -5, 8), 6, "negative start is clamped");
  assert.equal(find_header_end(bytes, 6, 2), -1, "empty range");
  // a view at a buffer edge: the terminator is the view's last four bytes
  const backing = raw("\r\n\r\nGET / HTTP/1.0\r\n\r\n\r\n");
  const view = backing.subarray(4, backing.length - 2);
  assert.equal(find_header_end(view, 0, view.length), view.length);
});

Deno.test("find_header_end on a head arriving in segments, rescanning 3 bytes back", () => {
  const full = raw("GET /x HTTP/1.1\r\nHost: a\r\nX: 1\r\n\r\n");
  const random = mulberry32(7);
  for (let trial = 0; trial < 500; trial++) {
    // split into random segments, including splits inside the terminator
    const buffer = new Uint8Array(full.length);
    let received = 0;
    let found = -1;
    let scanned = 0;
    while (received < full.length && found === -1) {
      const size = 1 + Math.floor(random() * 6);
      const next = Math.min(full.length, received + size);
      buffer.set(full.subarray(received, next), received);
      received = next;
      found = find_header_end(buffer, Math.max(0, scanned - 3), received);
      scanned = received;
    }
    assert.equal(found, full.length);
    assert.equal(received, full.length, "found only once the last byte arrived");
  }
});

Deno.test("http_response builds a complete, closing text/plain response", () => {
  const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
  const text = decode(http_response(400, { reason: "no Host header" }));
  assert.equal(
    text,
    "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\n" +
      "Content-Length: 32\r\nConnection: close\r\n\r\n400 Bad Request: no Host header\n",
  );
  const expected_lines: Array<[number, string]> = [
    [408, "HTTP/1.1 408 Request Timeout"],
    [431, "HTTP/1.1 431 Request Header Fields Too Large"],
    [501, "HTTP/1.1 501 Not Implemented"],
    [503, "HTTP/1.1 503 Service Unavailable"],
    [505, "HTTP/1.1 505 HTTP Version Not Supported"],
  ];
  for (const [status, status_line] of expected_lines) {
    const response = decode(http_response(status));
    assert.ok(response.startsWith(status_line + "\r\n"), response);
    const [response_head, body] = response.split("\r\n\r\n");
    assert.equal(body, status_line.slice("HTTP/1.1 ".length) + "\n");
    assert.ok(response_head.includes(`Content-Length: ${body.length}`));
  }
  // Content-Length counts bytes, not characters
  const utf8 = http_response(503, { body: "überlastet\n", close: false });
  const utf8_text = decode(utf8);
  assert.ok(utf8_text.includes("Content-Length: 12\r\n"));
  assert.ok(!utf8_text.includes("Connection"));
  assert.ok(utf8_text.endsWith("\r\n\r\nüberlastet\n"));
  assert.throws(() => http_response(42), RangeError);
});

const VALID_HEADS = [
  "GET /index.html?q=1 HTTP/1.1\r\nHost: www.example.com\r\nAccept: */*\r\n\r\n",
  "POST /submit HTTP/1.1\r\nHost: a:8080\r\nContent-Length: 10\r\nConnection: close\r\n\r\n",
  "GET http://example.com/a HTTP/1.1\r\nHost: example.com\r\n\r\n",
  "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
  "PUT /x HTTP/1.1\r\nHost: [::1]\r\nTransfer-Encoding: chunked\r\nX-A:\tb c \r\n\r\n",
];
const NASTY_BYTES = [0, 9, 10, 13, 32, 58, 0x7f, 0x80, 0xff, 44, 35, 63, 64];

function mutate(source: Uint8Array, random: () => number): Uint8Array {
  let bytes = Uint8Array.from(source);
  const edits = 1 + Math.floor(random() * 3);
  for (let e = 0; e < edits; e++) {
    const at = Math.floor(random() * (bytes.length + 1));
    const kind = Math.floor(random() * 5);
    if (kind === 0 && bytes.length > 0) {
      bytes[Math.min(at, bytes.length - 1)] ^= 1 << Math.floor(random() * 8);
    } else if (kind === 1) {
      bytes = bytes.slice(0, at);
    } else if (kind === 2) {
      const insert = NASTY_BYTES[Math.floor(random() * NASTY_BYTES.length)];
      bytes = Uint8Array.from([...bytes.subarray(0, at), insert, ...bytes.subarray(at)]);
    } else if (kind === 3 && bytes.length > 0) {
      bytes = Uint8Array.from([...bytes.subarray(0, at), ...bytes.subarray(at + 1)]);
    } else {
      bytes[Math.min(at, bytes.length - 1)] = Math.floor(random() * 256);
    }
  }
  return bytes;
}

function index_of_terminator(bytes: Uint8Array, start: number, end: number): number {
  const text = String.fromCharCode(...bytes.subarray(start, end));
  const at = text.indexOf("\r\n\r\n");
  return at === -1 ? -1 : start + at + 4;
}

Deno.test("fuzz: mutated heads never throw; find_header_end agrees with indexOf", () => {
  for (const text of VALID_HEADS) assert.ok(parse_request_head(raw(text)).ok, text);
  const random = mulberry32(0xf022);
  const counts = { accepted: 0, 400: 0, 431: 0, 501: 0, 505: 0 } as Record<string, number>;
  for (let i = 0; i < 20_000; i++) {
    const bytes = mutate(raw(VALID_HEADS[i % VALID_HEADS.length]), random);
    const result = parse_request_head(bytes);
    counts[result.ok ? "accepted" : String(result.status)]++;
    if (result.ok) {
      // whatever got through still obeys the rules
      assert.ok(result.version === "HTTP/1.1" || result.version === "HTTP/1.0");
      assert.equal(result.headers.filter(([name]) => name === "host").length <= 1, true);
      assert.ok(!/[\0\r\n]/.test(result.target + result.headers.flat().join("")));
    }
    const start = Math.floor(random() * (bytes.length + 2)) - 1;
    const end = Math.floor(random() * (bytes.length + 3));
    const found = find_header_end(bytes, start, end);
    const clamped_start = Math.max(0, start);
    const clamped_end = Math.min(bytes.length, end);
    const expected = clamped_start < clamped_end
      ? index_of_terminator(bytes, clamped_start, clamped_end)
      : -1;
    assert.equal(found, expected, `start ${start} end ${end}`);
  }
  console.log(`fuzz outcomes over 20000 mutated heads: ${JSON.stringify(counts)}`);
  assert.ok(counts.accepted > 0 && counts[400] > 0, "the mutations exercise both paths");
});
