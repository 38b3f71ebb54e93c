import assert from "node:assert/strict";
import {
  create_head_scan_out,
  HEAD_SCAN_HOST_END,
  HEAD_SCAN_HOST_START,
  HEAD_SCAN_METHOD_END,
  HEAD_SCAN_OUT_WORDS,
  HEAD_SCAN_PATH_END,
  HEAD_SCAN_PATH_START,
  HEAD_SCAN_PORT,
  HEAD_SCAN_TARGET_END,
  HEAD_SCAN_TARGET_START,
  HEAD_SCAN_VERSION_MINOR,
  parse_request_head,
  REQUEST_HEAD_MAX_BYTES,
  REQUEST_MAX_HEADERS,
  scan_request_head,
} from "../../../dataplane/wire/mod.ts";
import {
  selection_key_state,
  selection_score,
  u32_to_ip,
  url_key_state,
} from "../../../dataplane/mod.ts";
import { rendezvous_score, url_key } from "../../../control/director/mod.ts";
import { mulberry32 } from "../../support/random.ts";

/** Bytes of a string, one byte per UTF-16 unit (so "\x00" and "\xe9" are single raw bytes). */
function raw(text: string): Uint8Array {
  return Uint8Array.from(text, (c) => c.charCodeAt(0));
}

/** A head from lines: each gets CRLF, then the empty line. */
function head(...lines: string[]): Uint8Array {
  return raw(lines.map((line) => line + "\r\n").join("") + "\r\n");
}

function latin1(bytes: Uint8Array, start: number, end: number): string {
  let text = "";
  for (let i = start; i < end; i++) text += String.fromCharCode(bytes[i]);
  return text;
}

/**
 * What the host range means, as http_head_scan.ts documents it: lower-cased,
 * the port without leading zeros, and no port when it is 80.
 */
function canonical_host(text: string): string {
  const lower = text.toLowerCase();
  const match = /^(\[[^\]]*\]|[^:]*)(?::([0-9]+))?$/.exec(lower);
  assert.ok(match, `host range "${text}" is not host[:port]`);
  if (match[2] === undefined) return match[1];
  const port = Number(match[2]);
  return port === 80 ? match[1] : `${match[1]}:${port}`;
}

/** What the path range means: "/" in front when it is empty or starts with "?". */
function selection_path(text: string): string {
  return text === "" || text.startsWith("?") ? "/" + text : text;
}

const VIP = 0x0a000001;
const out = create_head_scan_out();

/**
 * scan_request_head on bytes[start, end) against parse_request_head on a copy
 * of those bytes: the same status, and on accept the same host, port, path,
 * version and selection key. Returns the status.
 */
function assert_agrees(bytes: Uint8Array, start: number, end: number, label: string): number {
  const parsed = parse_request_head(bytes.slice(Math.max(0, start), Math.min(bytes.length, end)));
  out.fill(-7);
  const status = scan_request_head(bytes, start, end, out);
  const shown = () =>
    `${label}: ${JSON.stringify(latin1(bytes, start, Math.min(end, start + 300)))}`;
  assert.equal(status, parsed.ok ? 0 : parsed.status, `status; ${shown()}`);
  if (!parsed.ok) return status;
  const host_text = latin1(bytes, out[HEAD_SCAN_HOST_START], out[HEAD_SCAN_HOST_END]);
  assert.equal(host_text === "" ? "" : canonical_host(host_text), parsed.host, `host; ${shown()}`);
  assert.equal(out[HEAD_SCAN_PORT], parsed.port ?? -1, `port; ${shown()}`);
  const path = parsed.query === "" ? parsed.path : `${parsed.path}?${parsed.query}`;
  const path_text = latin1(bytes, out[HEAD_SCAN_PATH_START], out[HEAD_SCAN_PATH_END]);
  assert.equal(selection_path(path_text), path, `path; ${shown()}`);
  assert.equal(out[HEAD_SCAN_VERSION_MINOR], parsed.version === "HTTP/1.1" ? 1 : 0);
  assert.equal(latin1(bytes, start, out[HEAD_SCAN_METHOD_END]), parsed.method);
  assert.equal(
    latin1(bytes, out[HEAD_SCAN_TARGET_START], out[HEAD_SCAN_TARGET_END]),
    parsed.target,
  );
  // the key the control side builds, hashed straight off the bytes
  const key = url_key(parsed.host || u32_to_ip(VIP), path);
  const state = url_key_state(
    bytes,
    out[HEAD_SCAN_HOST_START],
    out[HEAD_SCAN_HOST_END],
    out[HEAD_SCAN_PATH_START],
    out[HEAD_SCAN_PATH_END],
    VIP,
  );
  assert.equal(state, selection_key_state(key), `key state of "${key}"; ${shown()}`);
  assert.equal(
    selection_score(state, "web1", 3),
    rendezvous_score(key, { name: "web1", weight: 3 }),
    `score of "${key}"`,
  );
  return status;
}

// Every input of tests/dataplane/wire/http_request_test.ts's table, in its order.
const REQUEST_TEST_INPUTS: Array<[string, Uint8Array]> = [
  [
    "plain GET",
    head("GET /index.html?a=1&b=2 HTTP/1.1", "Host: www.example.com", "Accept: */*"),
  ],
  ["absolute-form", head("GET http://Origin.Example:8080/a/b?x HTTP/1.1", "Host: other.example")],
  ["absolute-form without a path", head("GET HTTP://example.com HTTP/1.1", "Host: example.com")],
  ["HTTP/1.0 without Host", head("GET / HTTP/1.0")],
  ["HTTP/1.0 keep-alive", head("GET / HTTP/1.0", "Connection: Keep-Alive")],
  ["Connection: close", head("GET / HTTP/1.1", "Host: a", "Connection: upgrade, CLOSE")],
  ["Host default port", head("GET / HTTP/1.1", "Host: WWW.Example.COM:80")],
  ["Host non-default port", head("GET / HTTP/1.1", "Host: 10.0.0.1:8443")],
  ["IPv6 literal Host", head("GET / HTTP/1.1", "Host: [2001:DB8::1]:8080")],
  [
    "OWS, HTAB and obs-text",
    head("POST /f HTTP/1.1", "Host:\t a \t", "X-Note: caf\xe9\tau lait ", "Content-Length: 12"),
  ],
  [
    "repeated Content-Length",
    head("POST / HTTP/1.1", "Host: a", "Content-Length: 5", "Content-Length: 005"),
  ],
  ["chunked", head("POST / HTTP/1.1", "Host: a", "Transfer-Encoding: Chunked")],
  ["OPTIONS *", head("OPTIONS * HTTP/1.1", "Host: a")],
  ["token method", head("M-SEARCH /x HTTP/1.1", "Host: a")],
  ["HTTP/1.1 without Host", head("GET / HTTP/1.1", "Accept: */*")],
  ["two Host headers", head("GET / HTTP/1.1", "Host: a", "Host: b")],
  ["two Host headers in 1.0", head("GET / HTTP/1.0", "Host: a", "Host: a")],
  ["Host with a space", head("GET / HTTP/1.1", "Host: a b")],
  ["Host port 0", head("GET / HTTP/1.1", "Host: a:0")],
  ["Host port 65536", head("GET / HTTP/1.1", "Host: a:65536")],
  ["Host empty port", head("GET / HTTP/1.1", "Host: a:")],
  ["empty Host", head("GET / HTTP/1.1", "Host:")],
  ["Host userinfo", head("GET / HTTP/1.1", "Host: user@a")],
  ["HTTP/2.0", head("GET / HTTP/2.0", "Host: a")],
  ["HTTP/0.9", head("GET / HTTP/0.9", "Host: a")],
  ["lower-case version", head("GET / http/1.1", "Host: a")],
  ["double space after method", head("GET  / HTTP/1.1", "Host: a")],
  ["double space before version", head("GET /  HTTP/1.1", "Host: a")],
  ["tab in request line", head("GET\t/ HTTP/1.1", "Host: a")],
  ["method not a token", head("GE(T / HTTP/1.1", "Host: a")],
  ["missing version", head("GET /", "Host: a")],
  ["empty line first", raw("\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n")],
  ["CONNECT", head("CONNECT example.com:443 HTTP/1.1", "Host: example.com:443")],
  ["authority-form", head("GET example.com:80 HTTP/1.1", "Host: a")],
  ["https://", head("GET https://a/ HTTP/1.1", "Host: a")],
  ["userinfo in target", head("GET http://u:p@a/ HTTP/1.1", "Host: a")],
  ["fragment", head("GET /a#b HTTP/1.1", "Host: a")],
  ["non-ASCII target", head("GET /caf\xe9 HTTP/1.1", "Host: a")],
  ["asterisk with GET", head("GET * HTTP/1.1", "Host: a")],
  ["obs-fold", head("GET / HTTP/1.1", "Host: a", "X-Long: one", " two")],
  ["space before colon", head("GET / HTTP/1.1", "Host : a")],
  ["no colon", head("GET / HTTP/1.1", "Host: a", "Garbage")],
  ["name not a token", head("GET / HTTP/1.1", "Host: a", "X[1]: y")],
  ["empty name", head("GET / HTTP/1.1", "Host: a", ": y")],
  ["bare LF", raw("GET / HTTP/1.1\r\nHost: a\nX: y\r\n\r\n")],
  ["bare CR", raw("GET / HTTP/1.1\r\nHost: a\r\nX: y\rz\r\n\r\n")],
  ["NUL in value", head("GET / HTTP/1.1", "Host: a", "X: y\x00z")],
  ["DEL in value", head("GET / HTTP/1.1", "Host: a", "X: y\x7f")],
  ["NUL in request line", head("GET /\x00 HTTP/1.1", "Host: a")],
  [
    "TE and CL",
    head("POST / HTTP/1.1", "Host: a", "Content-Length: 3", "Transfer-Encoding: chunked"),
  ],
  [
    "differing CL",
    head("POST / HTTP/1.1", "Host: a", "Content-Length: 3", "Content-Length: 4"),
  ],
  ["CL +3", head("POST / HTTP/1.1", "Host: a", "Content-Length: +3")],
  ["CL list", head("POST / HTTP/1.1", "Host: a", "Content-Length: 3, 3")],
  ["chunked not last", head("POST / HTTP/1.1", "Host: a", "Transfer-Encoding: chunked, gzip")],
  [
    "chunked twice",
    head("POST / HTTP/1.1", "Host: a", "Transfer-Encoding: chunked", "Transfer-Encoding: chunked"),
  ],
  ["gzip, chunked", head("POST / HTTP/1.1", "Host: a", "Transfer-Encoding: gzip, chunked")],
  ["TE in 1.0", head("POST / HTTP/1.0", "Transfer-Encoding: chunked")],
  ["no final empty line", raw("GET / HTTP/1.1\r\nHost: a\r\n")],
  [
    "bytes after the head",
    raw("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n\r\nbody\r\n\r\n"),
  ],
  [
    "too many header fields",
    head(
      "GET / HTTP/1.1",
      "Host: a",
      ...Array.from({ length: REQUEST_MAX_HEADERS }, (_, i) => `X-${i}: ${i}`),
    ),
  ],
  [
    "head longer than the limit",
    head("GET / HTTP/1.1", "Host: a", "X: " + "v".repeat(REQUEST_HEAD_MAX_BYTES)),
  ],
  [
    "exactly the maximum number of headers",
    head(
      "GET / HTTP/1.1",
      "Host: a",
      ...Array.from({ length: REQUEST_MAX_HEADERS - 1 }, (_, i) => `X-${i}: ${i}`),
    ),
  ],
];

// The corners of the key and of the order of the checks.
const MORE_INPUTS: Array<[string, Uint8Array]> = [
  ["lone ? with an empty query", head("GET /a? HTTP/1.1", "Host: a")],
  ["?? keeps the second", head("GET /a?? HTTP/1.1", "Host: a")],
  ["query with ?", head("GET /a?b?c HTTP/1.1", "Host: a")],
  ["absolute-form with only a query", head("GET http://a?x=1 HTTP/1.1", "Host: b")],
  ["absolute-form with a lone ?", head("GET http://a? HTTP/1.1", "Host: b")],
  ["absolute-form port 0080", head("GET http://A:0080/p HTTP/1.1", "Host: b")],
  ["absolute-form IPv6", head("GET http://[::1]:8080?q HTTP/1.1", "Host: b")],
  ["absolute-form port 65535", head("GET hTtP://x:65535/ HTTP/1.1", "Host: b")],
  ["absolute-form empty authority", head("GET http:///a HTTP/1.1", "Host: b")],
  ["absolute-form without Host in 1.1", head("GET http://a/ HTTP/1.1")],
  ["absolute-form with a bad Host", head("GET http://a/ HTTP/1.1", "Host: a b")],
  ["absolute-form in 1.0 without Host", head("GET http://a:81/x?y HTTP/1.0")],
  ["Host port with leading zeros", head("GET / HTTP/1.1", "Host: a:08080")],
  ["Host port 00080", head("GET / HTTP/1.1", "Host: a:00080")],
  ["Host port of six digits", head("GET / HTTP/1.1", "Host: a:000080")],
  ["Host :80", head("GET / HTTP/1.1", "Host: :80")],
  ["Host two colons", head("GET / HTTP/1.1", "Host: a:8:8")],
  ["Host of 255 bytes", head("GET / HTTP/1.1", "Host: " + "h".repeat(255))],
  ["Host of 256 bytes", head("GET / HTTP/1.1", "Host: " + "h".repeat(256))],
  ["Host with obs-text", head("GET / HTTP/1.1", "Host: caf\xe9")],
  ["Host with upper obs-text", head("GET / HTTP/1.1", "Host: \xc9")],
  ["IPv6 without a colon", head("GET / HTTP/1.1", "Host: [abc]")],
  ["IPv6 with junk after", head("GET / HTTP/1.1", "Host: [::1]x")],
  ["IPv6 unclosed", head("GET / HTTP/1.1", "Host: [::1")],
  ["IPv6 with a zone", head("GET / HTTP/1.1", "Host: [fe80::1%25eth0]")],
  ["IPv6 port 80", head("GET / HTTP/1.1", "Host: [::FFFF:10.0.0.1]:80")],
  ["IPv6 empty port", head("GET / HTTP/1.1", "Host: [::1]:")],
  ["HOST in capitals", head("GET / HTTP/1.1", "HOST: A")],
  ["Host tab-trimmed", head("GET / HTTP/1.1", "Host:\t\ta.b\t")],
  ["1.0 with Host", head("GET /x HTTP/1.0", "Host: Mixed.Case:8080")],
  [
    "TE with NBSP around chunked",
    head("POST / HTTP/1.1", "Host: a", "Transfer-Encoding: \xa0chunked\xa0"),
  ],
  ["TE empty", head("POST / HTTP/1.1", "Host: a", "Transfer-Encoding:")],
  ["TE trailing comma", head("POST / HTTP/1.1", "Host: a", "Transfer-Encoding: chunked,")],
  ["TE leading comma", head("POST / HTTP/1.1", "Host: a", "Transfer-Encoding: ,chunked")],
  [
    "TE over two lines",
    head("POST / HTTP/1.1", "Host: a", "Transfer-Encoding: gzip", "Transfer-Encoding: chunked"),
  ],
  ["TE gzip only", head("POST / HTTP/1.1", "Host: a", "Transfer-Encoding: gzip")],
  [
    "TE chunked twice in one line",
    head("POST / HTTP/1.1", "Host: a", "Transfer-Encoding: chunked, Chunked"),
  ],
  ["TE 1.0 with CL", head("POST / HTTP/1.0", "Content-Length: 1", "Transfer-Encoding: chunked")],
  ["CL of 15 digits", head("POST / HTTP/1.1", "Host: a", "Content-Length: 999999999999999")],
  ["CL of 16 digits", head("POST / HTTP/1.1", "Host: a", "Content-Length: 1000000000000000")],
  ["CL empty", head("POST / HTTP/1.1", "Host: a", "Content-Length:")],
  [
    "CL bad after TE gzip",
    head("POST / HTTP/1.1", "Host: a", "Transfer-Encoding: gzip, chunked", "Content-Length: x"),
  ],
  ["CONNECT beats a bad CL", head("CONNECT a:1 HTTP/1.1", "Host: a", "Content-Length: x")],
  ["a bad field beats CONNECT", head("CONNECT a:1 HTTP/1.1", "Host: a", " fold")],
  [
    "505 beats too many fields",
    head("GET / HTTP/3.0", ...Array.from({ length: 101 }, () => "X: y")),
  ],
  ["bare LF beats 505", raw("GET / HTTP/3.0\r\nHost: a\r\nX: \n\r\n\r\n")],
  [
    "431 beats a bad field",
    head("GET / HTTP/1.1", "Host: a", " fold", ...Array.from({ length: 100 }, () => "X: y")),
  ],
  [
    "a bare LF after many fields and a bad one is still 400",
    raw("GET / HTTP/1.1\r\n" + "X: y\r\n".repeat(102) + " fold\r\nX: \n\r\n\r\n"),
  ],
  ["505 with a bare LF later", raw("GET / HTTP/1.2\r\nX: y\nZ: \r\n\r\n")],
  ["505 with CRLFCRLF too early", raw("GET / HTTP/1.2\r\n\r\nX: y\r\n\r\n")],
  ["505 without fields", raw("GET / HTTP/1.2\r\n\r\n")],
  ["request line ending in LF", raw("GET / HTTP/1.1\nHost: a\r\n\r\n")],
  ["request line ending in bare CR", raw("GET / HTTP/1.1\rHost: a\r\n\r\n")],
  ["request line only", raw("GET / HTTP/1.1\r\n")],
  [
    "501 gzip beats a bad Host",
    head("POST / HTTP/1.1", "Host: a b", "Transfer-Encoding: gzip, chunked"),
  ],
  ["bad target beats TE", head("GET /a#b HTTP/1.1", "Host: a", "Transfer-Encoding: gzip, chunked")],
  ["OPTIONS * in 1.0", head("OPTIONS * HTTP/1.0")],
  ["OPTIONS **", head("OPTIONS ** HTTP/1.1", "Host: a")],
  ["options * lower-case method", head("options * HTTP/1.1", "Host: a")],
  ["connect lower-case method", head("connect a:1 HTTP/1.1", "Host: a")],
  ["only CRLFCRLF", raw("\r\n\r\n")],
  ["empty", raw("")],
  ["CRLF CRLF CRLF", raw("GET / HTTP/1.0\r\n\r\n\r\n")],
  ["value with only spaces", head("GET / HTTP/1.1", "Host: a", "X:   ")],
  ["colon in the value", head("GET / HTTP/1.1", "Host: a", "X: a:b:c")],
  [
    "head of exactly the limit",
    (() => {
      const base = "GET / HTTP/1.1\r\nHost: a\r\nX: \r\n\r\n";
      return raw(base.replace("X: ", "X: " + "v".repeat(REQUEST_HEAD_MAX_BYTES - base.length)));
    })(),
  ],
  [
    "head one byte over the limit",
    (() => {
      const base = "GET / HTTP/1.1\r\nHost: a\r\nX: \r\n\r\n";
      return raw(base.replace("X: ", "X: " + "v".repeat(REQUEST_HEAD_MAX_BYTES - base.length + 1)));
    })(),
  ],
];

Deno.test("every head of the parse_request_head table gets the same answer", () => {
  const statuses = new Map<number, number>();
  for (const [label, bytes] of REQUEST_TEST_INPUTS) {
    const status = assert_agrees(bytes, 0, bytes.length, label);
    statuses.set(status, (statuses.get(status) ?? 0) + 1);
  }
  // the table covers acceptance and all four refusals
  for (const status of [0, 400, 431, 501, 505]) assert.ok(statuses.has(status), `${status}`);
});

Deno.test("corner cases: the key's host and path, and the order of the checks", () => {
  for (const [label, bytes] of MORE_INPUTS) assert_agrees(bytes, 0, bytes.length, label);
  // a few outcomes spelled out, so the agreement is not agreement on a mistake
  const cases: Array<[Uint8Array, number, string, string]> = [
    [head("GET /a? HTTP/1.1", "Host: A"), 0, "A", "/a"],
    [head("GET http://a?x=1 HTTP/1.1", "Host: b"), 0, "a", "?x=1"],
    [head("GET http://a HTTP/1.1", "Host: b"), 0, "a", ""],
    [head("GET / HTTP/1.1", "Host:\t a:0080 "), 0, "a:0080", "/"],
    [head("GET /x HTTP/1.0"), 0, "", "/x"],
  ];
  for (const [bytes, status, host, path] of cases) {
    assert.equal(scan_request_head(bytes, 0, bytes.length, out), status);
    assert.equal(latin1(bytes, out[HEAD_SCAN_HOST_START], out[HEAD_SCAN_HOST_END]), host);
    assert.equal(latin1(bytes, out[HEAD_SCAN_PATH_START], out[HEAD_SCAN_PATH_END]), path);
  }
  assert.equal(create_head_scan_out().length, HEAD_SCAN_OUT_WORDS);
});

Deno.test("a head inside a larger buffer: only bytes[start, end) count", () => {
  const bytes = raw("xx\r\nGET /p?q HTTP/1.1\r\nHost: a\r\n\r\n\nbody");
  const start = 4;
  const end = start + "GET /p?q HTTP/1.1\r\nHost: a\r\n\r\n".length;
  assert.equal(assert_agrees(bytes, start, end, "inside"), 0);
  assert.equal(out[HEAD_SCAN_HOST_START], start + "GET /p?q HTTP/1.1\r\nHost: ".length);
  // one byte short or long of the head is refused, as parse_request_head refuses it
  assert.equal(assert_agrees(bytes, start, end - 1, "short"), 400);
  assert.equal(assert_agrees(bytes, start, end + 1, "long"), 400);
  assert.equal(assert_agrees(bytes, start - 2, end, "early"), 400);
  // ranges past the ends are clamped and never throw
  assert.equal(scan_request_head(bytes, -10, 1_000_000, out), 400);
  assert.equal(scan_request_head(bytes, 20, 10, out), 400);
  assert.equal(scan_request_head(new Uint8Array(0), 0, 0, out), 400);
});

// ---------------------------------------------------------------- the differential fuzz

// Each part comes from a list of good values, or with a small chance from a
// list of bad or odd ones, so that a good share of the heads is accepted and
// its key checked.
const METHODS = [["GET", "POST", "HEAD", "OPTIONS", "M-SEARCH"], ["CONNECT", "get", "G(T"]];
const TARGETS = [
  [
    "/",
    "/index.html",
    "/a/b?x=1&y=2",
    "/a?",
    "/a??b",
    "/%41%2F?q=%20",
    "//double",
    "http://Host.Example:8080/p?q",
    "HTTP://h",
    "http://h?",
    "http://h?x",
    "http://[::1]:80/",
    "http://[2001:DB8::A]?z",
    "http://h:0080/x",
    "http://h:00443/x",
  ],
  ["*", "/a#frag", "http://u@h/", "http://:80/", "http:/h/", "https://h/", "h:80", "/caf\xe9"],
];
const VERSIONS = [["HTTP/1.1", "HTTP/1.1", "HTTP/1.0"], ["HTTP/2.0", "http/1.1", "HTTP/1.10"]];
const HOSTS = [
  [
    "Host: www.example.com",
    "Host: WWW.Example.COM:80",
    "Host:\t a \t",
    "host: a:0080",
    "HOST: [2001:DB8::1]:8080",
    "Host: [::1]",
    "Host: a:08080",
    "Host: 10.0.0.7:8080",
    "Host: a:65535",
    "Host: " + "x".repeat(255),
    "Host: a_b~c-d.e",
  ],
  [
    "Host: a b",
    "Host:",
    "Host: :80",
    "Host: a:65536",
    "Host: caf\xe9",
    "Host: " + "x".repeat(256),
    "Host: a:",
    "Host: u@a",
    "Host: [::1]:0",
  ],
];
const FIELDS = [
  [
    "Accept: */*",
    "User-Agent: curl/8.5.0",
    "Content-Length: 10",
    "Content-Length: 010",
    "Transfer-Encoding: chunked",
    "Transfer-Encoding: \xa0Chunked\xa0",
    "Transfer-Encoding: CHUNKED",
    "Connection: close",
    "Connection: keep-alive",
    "X-A: caf\xe9",
    "X-B:",
    "X-Spaces:   lots   of   space   ",
    "Cookie: a=b; c=d",
    "X: a:b:c",
  ],
  [
    "Content-Length: 1, 1",
    "Content-Length: 1234567890123456",
    "Content-Length: ",
    "Transfer-Encoding: gzip, chunked",
    "Transfer-Encoding: chunked,",
    "Transfer-Encoding: , chunked",
    "Transfer-Encoding: chunked, chunked",
    "Transfer-Encoding:",
    " folded",
    "\tfolded",
    "X : y",
    ": y",
    "Nocolon",
    "X: a\x00b",
    "X: \x7f",
  ],
];
const NASTY_BYTES = [0, 9, 10, 13, 32, 58, 0x7f, 0x80, 0xa0, 0xff, 44, 35, 63, 64, 47, 91, 93, 42];

function compose(random: () => number): Uint8Array {
  const pick = (lists: readonly string[][]): string => {
    const list = lists[random() < 0.06 ? 1 : 0];
    return list[Math.floor(random() * list.length)];
  };
  let request_line = `${pick(METHODS)} ${pick(TARGETS)} ${pick(VERSIONS)}`;
  if (random() < 0.03) request_line = request_line.replace(" ", "  ");
  const lines = [request_line];
  // usually one Host, sometimes none, sometimes two
  const hosts = random() < 0.1 ? 0 : random() < 0.9 ? 1 : 2;
  const fields: string[] = [];
  for (let h = 0; h < hosts; h++) fields.push(pick(HOSTS));
  const extra = Math.floor(random() * 5);
  for (let f = 0; f < extra; f++) fields.push(pick(FIELDS));
  // many fields, around the limit
  if (random() < 0.02) {
    const count = REQUEST_MAX_HEADERS - 3 + Math.floor(random() * 6);
    for (let f = fields.length; f < count; f++) fields.push(`X-${f}: ${f}`);
  }
  // long heads, around the limit
  if (random() < 0.01) {
    fields.push("X-Long: " + "v".repeat(REQUEST_HEAD_MAX_BYTES - 120 + Math.floor(random() * 120)));
  }
  // shuffle the fields, so Host is not always first
  for (let i = fields.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [fields[i], fields[j]] = [fields[j], fields[i]];
  }
  lines.push(...fields);
  return head(...lines);
}

function mutate(source: Uint8Array, random: () => number): Uint8Array {
  let bytes = Uint8Array.from(source);
  const edits = 1 + Math.floor(random() * 3);
  for (let e = 0; e < edits; e++) {
    const at = Math.floor(random() * (bytes.length + 1));
    const kind = Math.floor(random() * 6);
    if (kind === 0 && bytes.length > 0) {
      bytes[Math.min(at, bytes.length - 1)] ^= 1 << Math.floor(random() * 8);
    } else if (kind === 1 && random() < 0.2) {
      bytes = bytes.slice(0, at);
    } else if (kind === 2) {
      const insert = NASTY_BYTES[Math.floor(random() * NASTY_BYTES.length)];
      bytes = Uint8Array.from([...bytes.subarray(0, at), insert, ...bytes.subarray(at)]);
    } else if (kind === 3 && bytes.length > 0) {
      bytes = Uint8Array.from([...bytes.subarray(0, at), ...bytes.subarray(at + 1)]);
    } else if (kind === 4 && bytes.length > 0) {
      // a byte of the head with its letter case flipped, or a digit changed
      const i = Math.min(at, bytes.length - 1);
      const byte = bytes[i];
      if ((byte >= 65 && byte <= 90) || (byte >= 97 && byte <= 122)) bytes[i] ^= 0x20;
      else if (byte >= 48 && byte <= 57) bytes[i] = 48 + Math.floor(random() * 10);
    } else if (bytes.length > 0) {
      bytes[Math.min(at, bytes.length - 1)] = Math.floor(random() * 256);
    }
  }
  return bytes;
}

Deno.test("differential fuzz: composed and mutated heads get parse_request_head's answer", () => {
  const random = mulberry32(0x5ca1ab1e);
  const counts: Record<string, number> = {};
  const HEADS = 30_000;
  for (let n = 0; n < HEADS; n++) {
    const composed = compose(random);
    const bytes = random() < 0.6 ? composed : mutate(composed, random);
    // the head at an offset inside a buffer with noise around it
    const before = Math.floor(random() * 4);
    const after = Math.floor(random() * 4);
    const buffer = new Uint8Array(before + bytes.length + after);
    for (let i = 0; i < buffer.length; i++) buffer[i] = NASTY_BYTES[Math.floor(random() * 6)];
    buffer.set(bytes, before);
    const status = assert_agrees(buffer, before, before + bytes.length, `head ${n}`);
    counts[status] = (counts[status] ?? 0) + 1;
  }
  console.log(`head scan outcomes over ${HEADS} heads: ${JSON.stringify(counts)}`);
  for (const status of [0, 400, 431, 501, 505]) {
    assert.ok((counts[status] ?? 0) > 20, `the fuzz reaches status ${status}`);
  }
  assert.ok(counts[0] > HEADS / 10, "the fuzz accepts often enough to check the key");
});
