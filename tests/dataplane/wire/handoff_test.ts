// The hand-off datagram codec: every message type survives a round trip,
// every way a datagram can be wrong has a row naming the failure (stale,
// from the future, for another agent, under another agent's key, of the
// old version among them), encode refuses without throwing, and a seeded
// fuzz run shows decode never throws and never accepts anything encode did
// not sign with the right key, for this agent, recently.

import assert from "node:assert/strict";
import {
  count_decode,
  DECODE_FAILURES,
  decode_message,
  type DecodeFailure,
  type DecodeOptions,
  DEFAULT_AGENT_ID,
  DEFAULT_FRESHNESS_MS,
  DEFAULT_MAX_DATAGRAM,
  encode_datagram,
  encode_message,
  type EncodeOptions,
  FLOW_END_CLIENT_RESET,
  FLOW_END_FIN,
  FLOW_END_IDLE_TIMEOUT,
  FLOW_END_REASON_NAMES,
  FLOW_END_SERVER_RESET,
  flow_key_string,
  type FlowKey,
  handoff_mac,
  HANDOFF_OVERHEAD_BYTES,
  type HandoffKey,
  type HandoffMessage,
  type HandoffState,
  HEADER_BYTES,
  import_handoff_key,
  MAC_BYTES,
  max_request_bytes,
  MAX_UDP_PAYLOAD,
  NACK_BAD_REQUEST,
  NACK_DRAINING,
  NACK_INTERNAL,
  NACK_REASON_NAMES,
  NACK_STACK_OPTIONS,
  NACK_STACK_RESET,
  NACK_STACK_TIMEOUT,
  NACK_TABLE_FULL,
  new_decode_counters,
  parse_key_text,
  VERSION,
  WSCALE_NONE,
} from "../../../dataplane/wire/mod.ts";
import { mulberry32 } from "../../support/random.ts";

const KEY_HEX = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
/** Agent 3's key: every datagram below is for (or from) agent 3 unless a row says otherwise. */
const KEY = await import_handoff_key(parse_key_text(KEY_HEX));
/** Agent 4's key. */
const OTHER_KEY = await import_handoff_key(parse_key_text("ff".repeat(32)));
const AGENT = 3;
const OTHER_AGENT = 4;
/** A fixed wall clock (ms since 1970), so freshness is the same on every run. */
const NOW = 1_754_000_000_123;
const ENCODE: EncodeOptions = { agent: AGENT, now: NOW };
const DECODE: DecodeOptions = { agent: AGENT, now: NOW };

// offsets in the datagram (header + body) the rows below poke at
const AT_REASON = 14;
const AT_RESERVED = 15;
const AT_AGENT = 16;
const AT_SENT_AT = 20;
const AT_CLIENT_IP = HEADER_BYTES;
const AT_VIP = HEADER_BYTES + 4;
const AT_CLIENT_PORT = HEADER_BYTES + 8;
const AT_VIP_PORT = HEADER_BYTES + 10;
const AT_MAC_PAD = HEADER_BYTES + 18;
const AT_CLIENT_NEXT_SEQ = HEADER_BYTES + 28;
const AT_CLIENT_MSS = HEADER_BYTES + 38;
const AT_DIRECTOR_MSS = HEADER_BYTES + 40;
const AT_CLIENT_WSCALE = HEADER_BYTES + 42;
const AT_DIRECTOR_WSCALE = HEADER_BYTES + 43;
const AT_FLAGS = HEADER_BYTES + 44;
const AT_TS_ROUTE = HEADER_BYTES + 45;
const AT_REQUEST_LENGTH = HEADER_BYTES + 54;

function ipv4(a: number, b: number, c: number, d: number): number {
  return ((a << 24) | (b << 16) | (c << 8) | d) >>> 0;
}

const FLOW: FlowKey = {
  client_ip: ipv4(198, 18, 0, 1),
  vip: ipv4(198, 18, 0, 100),
  client_port: 40000,
  vip_port: 80,
};
const REQUEST = new TextEncoder().encode("GET /index.html HTTP/1.1\r\nHost: vip\r\n\r\n");
const ISN_C = 0x1000_0000;
const ISN_D = 0xfeed_f00d;

function handoff_state(overrides: Partial<HandoffState> = {}): HandoffState {
  const request = overrides.request ?? REQUEST;
  const client_isn = overrides.client_isn ?? ISN_C;
  return {
    client_mac: new Uint8Array([0x02, 0x00, 0x00, 0x00, 0x00, 0x01]),
    client_isn,
    director_isn: ISN_D,
    client_next_seq: (client_isn + 1 + request.length) >>> 0,
    director_next_seq: (ISN_D + 1) >>> 0,
    client_window: 64240,
    client_mss: 1460,
    director_mss: 1460,
    client_wscale: 7,
    director_wscale: 7,
    sack_permitted: true,
    timestamps: true,
    client_tsval: 123456,
    director_tsval: 654321,
    request,
    ...overrides,
  };
}

function handoff(overrides: Partial<HandoffState> = {}): HandoffMessage {
  return { type: "handoff", epoch: 0xdecafbad, id: 7, key: FLOW, state: handoff_state(overrides) };
}

function with_u8(bytes: Uint8Array, at: number, value: number): Uint8Array {
  const copy = bytes.slice();
  copy[at] = value;
  return copy;
}

function with_u16(bytes: Uint8Array, at: number, value: number): Uint8Array {
  const copy = bytes.slice();
  new DataView(copy.buffer).setUint16(at, value);
  return copy;
}

function with_u32(bytes: Uint8Array, at: number, value: number): Uint8Array {
  const copy = bytes.slice();
  new DataView(copy.buffer).setUint32(at, value);
  return copy;
}

/** A fresh HMAC over the (edited) header + body, so a row reaches the field checks. */
async function resign(bytes: Uint8Array, key: HandoffKey = KEY): Promise<Uint8Array> {
  const signed_length = bytes.length - MAC_BYTES;
  const copy = bytes.slice();
  copy.set(handoff_mac(key, copy.subarray(0, signed_length)), signed_length);
  return await Promise.resolve(copy);
}

/** The datagram with its body cut or padded to body_length, re-signed. */
function with_body_length(bytes: Uint8Array, body_length: number): Promise<Uint8Array> {
  const out = new Uint8Array(HEADER_BYTES + body_length + MAC_BYTES);
  out.set(bytes.subarray(0, Math.min(HEADER_BYTES + body_length, bytes.length - MAC_BYTES)));
  new DataView(out.buffer).setUint16(12, body_length);
  return resign(out);
}

// ---------------------------------------------------------------------------
// round trips

interface RoundTripCase {
  description: string;
  message: HandoffMessage;
  length: number;
}

const ROUND_TRIPS: RoundTripCase[] = [
  {
    description: "HANDOFF with every option negotiated",
    message: handoff(),
    length: HANDOFF_OVERHEAD_BYTES + REQUEST.length,
  },
  {
    description: "HANDOFF without wscale, SACK or timestamps",
    message: handoff({
      client_wscale: WSCALE_NONE,
      director_wscale: WSCALE_NONE,
      sack_permitted: false,
      timestamps: false,
      client_tsval: 0,
      director_tsval: 0,
    }),
    length: HANDOFF_OVERHEAD_BYTES + REQUEST.length,
  },
  {
    description: "HANDOFF with a TSval routing code",
    message: handoff({ ts_route: 0xa5 }),
    length: HANDOFF_OVERHEAD_BYTES + REQUEST.length,
  },
  {
    description: "HANDOFF with routing code 0",
    message: handoff({ ts_route: 0 }),
    length: HANDOFF_OVERHEAD_BYTES + REQUEST.length,
  },
  {
    description: "HANDOFF whose client sequence numbers wrap past 2^32",
    message: handoff({ client_isn: 0xffff_fff0 }),
    length: HANDOFF_OVERHEAD_BYTES + REQUEST.length,
  },
  {
    description: "HANDOFF with an empty request and extreme values",
    message: {
      type: "handoff",
      epoch: 0xffff_ffff,
      id: 0,
      key: { client_ip: 0xffff_ffff, vip: 1, client_port: 65535, vip_port: 1 },
      state: handoff_state({
        request: new Uint8Array(0),
        client_window: 0,
        client_mss: 64,
        director_mss: 65535,
        client_wscale: 14,
        director_wscale: 0,
        director_next_seq: 0xffff_ffff,
      }),
    },
    length: HANDOFF_OVERHEAD_BYTES,
  },
  {
    description: "HANDOFF with a request that exactly fills the default datagram",
    message: handoff({ request: new Uint8Array(max_request_bytes()).fill(0x41) }),
    length: DEFAULT_MAX_DATAGRAM,
  },
  {
    description: "HANDOFF_ACK",
    message: { type: "handoff_ack", epoch: 1, id: 2, key: FLOW },
    length: 68,
  },
  {
    description: "HANDOFF_CANCEL",
    message: { type: "handoff_cancel", epoch: 1, id: 3, key: FLOW },
    length: 68,
  },
  ...([
    NACK_TABLE_FULL,
    NACK_STACK_RESET,
    NACK_STACK_TIMEOUT,
    NACK_BAD_REQUEST,
    NACK_DRAINING,
    NACK_INTERNAL,
    NACK_STACK_OPTIONS,
  ] as const).map((reason): RoundTripCase => ({
    description: `HANDOFF_NACK ${NACK_REASON_NAMES[reason]}`,
    message: { type: "handoff_nack", epoch: 1, id: 3, key: FLOW, reason },
    length: 68,
  })),
  ...([FLOW_END_FIN, FLOW_END_CLIENT_RESET, FLOW_END_SERVER_RESET, FLOW_END_IDLE_TIMEOUT] as const)
    .map((reason): RoundTripCase => ({
      description: `FLOW_END ${FLOW_END_REASON_NAMES[reason]}`,
      message: {
        type: "flow_end",
        epoch: 1,
        id: 4,
        key: FLOW,
        reason,
        counts: { packets_to_server: 12, packets_to_client: 0xffff_ffff },
      },
      length: 76,
    })),
  {
    description: "FLOW_END_ACK",
    message: { type: "flow_end_ack", epoch: 1, id: 5, key: FLOW },
    length: 68,
  },
  {
    description: "FLOW_QUERY",
    message: { type: "flow_query", epoch: 1, id: 6, key: FLOW },
    length: 68,
  },
  {
    description: "FLOW_OWNER",
    message: { type: "flow_owner", epoch: 1, id: 6, key: FLOW },
    length: 68,
  },
];

/** What decode says about a datagram encode_message(message, KEY, ENCODE) made. */
function decoded(message: HandoffMessage, sent_at = NOW % 2 ** 32, agent = AGENT) {
  return { ok: true, message, agent, sent_at };
}

for (const row of ROUND_TRIPS) {
  Deno.test(`round trip: ${row.description}`, async () => {
    const bytes = await encode_message(row.message, KEY, ENCODE);
    assert.equal(bytes.length, row.length);
    assert.deepEqual(await decode_message(bytes, KEY, DECODE), decoded(row.message));
  });
}

Deno.test("the header is laid out as documented, big-endian", async () => {
  const bytes = await encode_message(handoff(), KEY, ENCODE);
  const view = new DataView(bytes.buffer);
  assert.equal(HEADER_BYTES, 24);
  assert.equal(view.getUint16(0), 0xb7a0);
  assert.equal(bytes[2], 3);
  assert.equal(bytes[2], VERSION);
  assert.equal(bytes[3], 1);
  assert.equal(view.getUint32(4), 0xdecafbad);
  assert.equal(view.getUint32(8), 7);
  assert.equal(view.getUint16(12), 56 + REQUEST.length);
  assert.equal(view.getUint32(AT_AGENT), AGENT);
  assert.equal(view.getUint32(AT_SENT_AT), NOW % 2 ** 32, "the sender's clock in ms, mod 2^32");
  assert.equal(view.getUint32(AT_CLIENT_IP), ipv4(198, 18, 0, 1));
  assert.equal(view.getUint16(AT_VIP_PORT), 80);
  assert.equal(view.getUint16(AT_REQUEST_LENGTH), REQUEST.length);
  assert.equal(bytes[AT_FLAGS], 0b11);
  const nack = await encode_message(
    { type: "handoff_nack", epoch: 1, id: 1, key: FLOW, reason: NACK_DRAINING },
    KEY,
    ENCODE,
  );
  assert.equal(nack[3], 3);
  assert.equal(nack[AT_REASON], 5);
});

Deno.test("without options: the first agent's id, stamped with the wall clock", async () => {
  const before = Date.now();
  const bytes = await encode_message(handoff(), KEY);
  const result = await decode_message(bytes, KEY);
  assert.ok(result.ok);
  assert.equal(result.agent, DEFAULT_AGENT_ID);
  assert.equal(DEFAULT_AGENT_ID, 1);
  const age = (Date.now() % 2 ** 32 - result.sent_at) | 0;
  assert.ok(age >= 0 && age <= Date.now() - before + 1, `stamped ${age} ms ago`);
  // a receiver that names its agent takes it only if it is that agent
  assert.equal((await decode_message(bytes, KEY, { agent: 1 })).ok, true);
  assert.deepEqual(await decode_message(bytes, KEY, { agent: 2 }), {
    ok: false,
    reason: "wrong_agent",
  });
});

Deno.test("decode reads a datagram that is a view into a larger buffer", async () => {
  const bytes = await encode_message(handoff(), KEY, ENCODE);
  const larger = new Uint8Array(bytes.length + 10);
  larger.set(bytes, 5);
  const view = larger.subarray(5, 5 + bytes.length);
  assert.deepEqual(await decode_message(view, KEY, DECODE), decoded(handoff()));
});

// ---------------------------------------------------------------------------
// freshness: a signed difference of 32-bit clocks, right across the wrap

const FRESHNESS_CASES: { description: string; sent: number; now: number; ok: boolean }[] = [
  { description: "sent just now", sent: NOW, now: NOW, ok: true },
  { description: "exactly the bound ago", sent: NOW - 10_000, now: NOW, ok: true },
  { description: "one ms over the bound ago", sent: NOW - 10_001, now: NOW, ok: false },
  { description: "exactly the bound ahead", sent: NOW + 10_000, now: NOW, ok: true },
  { description: "one ms over the bound ahead", sent: NOW + 10_001, now: NOW, ok: false },
  { description: "a day old", sent: NOW - 86_400_000, now: NOW, ok: false },
  // the clocks travel mod 2^32 (it wraps every 49.7 days): the wrap must not matter
  {
    description: "sent 5 ms before the 2^32 wrap",
    sent: 2 ** 32 * 400 - 5,
    now: 2 ** 32 * 400 + 3,
    ok: true,
  },
  {
    description: "sent 3 ms after the wrap, clock before it",
    sent: 2 ** 32 * 400 + 3,
    now: 2 ** 32 * 400 - 5,
    ok: true,
  },
  {
    description: "20 s before the wrap, read after it",
    sent: 2 ** 32 * 400 - 15_000,
    now: 2 ** 32 * 400 + 5_000,
    ok: false,
  },
];

for (const row of FRESHNESS_CASES) {
  Deno.test(`freshness: ${row.description} → ${row.ok ? "accepted" : "stale"}`, async () => {
    const bytes = await encode_message(handoff(), KEY, { agent: AGENT, now: row.sent });
    const result = await decode_message(bytes, KEY, { agent: AGENT, now: row.now });
    if (row.ok) assert.deepEqual(result, decoded(handoff(), row.sent % 2 ** 32));
    else assert.deepEqual(result, { ok: false, reason: "stale" });
  });
}

Deno.test("freshness: the bound is the receiver's (default 10 s)", async () => {
  assert.equal(DEFAULT_FRESHNESS_MS, 10_000);
  const bytes = await encode_message(handoff(), KEY, { agent: AGENT, now: NOW - 30_000 });
  assert.equal((await decode_message(bytes, KEY, DECODE)).ok, false);
  const relaxed = await decode_message(bytes, KEY, { ...DECODE, freshness_ms: 30_000 });
  assert.equal(relaxed.ok, true);
  const strict = await decode_message(
    await encode_message(handoff(), KEY, { agent: AGENT, now: NOW - 1_500 }),
    KEY,
    { ...DECODE, freshness_ms: 1_000 },
  );
  assert.deepEqual(strict, { ok: false, reason: "stale" });
});

// ---------------------------------------------------------------------------
// failures: one row per way a datagram can be wrong

interface FailureCase {
  description: string;
  /** Defaults to handoff(). */
  message?: HandoffMessage;
  /** How it was encoded; defaults to ENCODE (agent 3, now). */
  encode?: EncodeOptions;
  mutate: (bytes: Uint8Array) => Uint8Array | Promise<Uint8Array>;
  max_datagram?: number;
  /** How it is decoded; defaults to DECODE (agent 3, now). */
  decode?: DecodeOptions;
  expected: DecodeFailure;
}

/**
 * A version-1 datagram as the previous codec wrote it (16-byte header: no
 * agent, no timestamp), correctly signed: the new receiver must name it.
 */
function version_1(bytes: Uint8Array): Promise<Uint8Array> {
  const v1_header = 16;
  const body = bytes.subarray(HEADER_BYTES, bytes.length - MAC_BYTES);
  const out = new Uint8Array(v1_header + body.length + MAC_BYTES);
  out.set(bytes.subarray(0, v1_header));
  out[2] = 1;
  out.set(body, v1_header);
  return resign(out);
}

const ACK: HandoffMessage = { type: "handoff_ack", epoch: 9, id: 9, key: FLOW };
const NACK: HandoffMessage = {
  type: "handoff_nack",
  epoch: 9,
  id: 9,
  key: FLOW,
  reason: NACK_TABLE_FULL,
};
const FLOW_END: HandoffMessage = {
  type: "flow_end",
  epoch: 9,
  id: 9,
  key: FLOW,
  reason: FLOW_END_FIN,
  counts: { packets_to_server: 1, packets_to_client: 2 },
};

const FAILURES: FailureCase[] = [
  { description: "empty datagram", mutate: () => new Uint8Array(0), expected: "truncated" },
  {
    description: "shorter than a header",
    mutate: (b) => b.subarray(0, HEADER_BYTES - 1),
    expected: "truncated",
  },
  {
    description: "header only",
    mutate: (b) => b.subarray(0, HEADER_BYTES),
    expected: "truncated",
  },
  {
    description: "last MAC byte missing",
    mutate: (b) => b.subarray(0, b.length - 1),
    expected: "truncated",
  },
  {
    description: "over the receiver's max_datagram",
    message: handoff({ request: new Uint8Array(2000) }),
    mutate: (b) => b,
    expected: "oversized",
  },
  {
    description: "over a configured smaller max_datagram",
    mutate: (b) => b,
    max_datagram: 100,
    expected: "oversized",
  },
  {
    description: "random junk larger than one UDP datagram",
    mutate: () => new Uint8Array(MAX_UDP_PAYLOAD + 1),
    max_datagram: 1e9,
    expected: "oversized",
  },
  { description: "wrong magic", mutate: (b) => with_u16(b, 0, 0xb7a1), expected: "bad_magic" },
  {
    description: "an old-version (1) datagram, correctly signed",
    mutate: version_1,
    expected: "bad_version",
  },
  {
    description: "an old-version (1) HANDOFF_ACK, correctly signed",
    message: { type: "handoff_ack", epoch: 9, id: 9, key: FLOW },
    mutate: version_1,
    expected: "bad_version",
  },
  {
    description: "only magic and version 1 left",
    mutate: (b) => with_u8(b, 2, 1).subarray(0, 3),
    expected: "bad_version",
  },
  { description: "version 2", mutate: (b) => with_u8(b, 2, 2), expected: "bad_version" },
  { description: "version 4", mutate: (b) => with_u8(b, 2, 4), expected: "bad_version" },
  { description: "version 0", mutate: (b) => with_u8(b, 2, 0), expected: "bad_version" },
  { description: "type 0", mutate: (b) => with_u8(b, 3, 0), expected: "bad_type" },
  { description: "type 9", mutate: (b) => with_u8(b, 3, 9), expected: "bad_type" },
  { description: "type 255", mutate: (b) => with_u8(b, 3, 255), expected: "bad_type" },
  {
    description: "a trailing byte after the MAC",
    mutate: (b) => Uint8Array.of(...b, 0),
    expected: "bad_length",
  },
  {
    description: "body_length larger than the datagram",
    mutate: (b) => with_u16(b, 12, new DataView(b.buffer).getUint16(12) + 1),
    expected: "truncated",
  },
  {
    description: "body_length smaller than the datagram",
    mutate: (b) => with_u16(b, 12, new DataView(b.buffer).getUint16(12) - 1),
    expected: "bad_length",
  },
  {
    description: "HANDOFF body shorter than its fixed fields, even when signed",
    mutate: (b) => with_body_length(b, 40),
    expected: "bad_length",
  },
  {
    description: "HANDOFF_ACK with a HANDOFF-sized body, even when signed",
    message: ACK,
    mutate: (b) => with_body_length(b, 56),
    expected: "bad_length",
  },
  {
    description: "FLOW_END without its counts, even when signed",
    message: FLOW_END,
    mutate: (b) => with_body_length(b, 12),
    expected: "bad_length",
  },
  {
    description: "HANDOFF retyped as HANDOFF_NACK",
    mutate: (b) => with_u8(b, 3, 3),
    expected: "bad_length",
  },
  {
    description: "one request byte changed",
    mutate: (b) => with_u8(b, b.length - MAC_BYTES - 1, 0x21),
    expected: "bad_mac",
  },
  {
    description: "one MAC byte changed",
    mutate: (b) => with_u8(b, b.length - 1, b[b.length - 1] ^ 0x80),
    expected: "bad_mac",
  },
  {
    description: "id changed (a forged retransmission)",
    mutate: (b) => with_u32(b, 8, 8),
    expected: "bad_mac",
  },
  {
    description: "signed with another key",
    mutate: (b) => resign(b, OTHER_KEY),
    expected: "bad_mac",
  },
  {
    description: "wrong key: made for agent 4 under its key, arriving at agent 3",
    encode: { agent: OTHER_AGENT, now: NOW },
    mutate: (b) => resign(b, OTHER_KEY),
    expected: "bad_mac",
  },
  {
    description: "re-targeted: the agent field changed to another agent, not re-signed",
    mutate: (b) => with_u32(b, AT_AGENT, OTHER_AGENT),
    expected: "bad_mac",
  },
  {
    description: "re-stamped: the timestamp moved to now, not re-signed",
    encode: { agent: AGENT, now: NOW - 60_000 },
    mutate: (b) => with_u32(b, AT_SENT_AT, NOW % 2 ** 32),
    expected: "bad_mac",
  },
  {
    description: "stale: sent 10.001 s ago",
    encode: { agent: AGENT, now: NOW - 10_001 },
    mutate: (b) => b,
    expected: "stale",
  },
  {
    description: "stale: a HANDOFF_ACK captured an hour ago",
    message: { type: "handoff_ack", epoch: 9, id: 9, key: FLOW },
    encode: { agent: AGENT, now: NOW - 3_600_000 },
    mutate: (b) => b,
    expected: "stale",
  },
  {
    description: "future: stamped 10.001 s ahead of the receiver's clock",
    encode: { agent: AGENT, now: NOW + 10_001 },
    mutate: (b) => b,
    expected: "stale",
  },
  {
    description: "stale under a tighter configured bound (2 s old, bound 1 s)",
    encode: { agent: AGENT, now: NOW - 2_000 },
    mutate: (b) => b,
    decode: { ...DECODE, freshness_ms: 1_000 },
    expected: "stale",
  },
  {
    description: "wrong agent: signed correctly for agent 4 (a shared key), read by agent 3",
    encode: { agent: OTHER_AGENT, now: NOW },
    mutate: (b) => b,
    expected: "wrong_agent",
  },
  {
    description: "wrong agent: a FLOW_END from agent 3 where agent 4's answers are expected",
    message: FLOW_END,
    mutate: (b) => b,
    decode: { ...DECODE, agent: OTHER_AGENT },
    expected: "wrong_agent",
  },
  {
    description: "agent 0 (no agent), signed",
    mutate: (b) => resign(with_u32(b, AT_AGENT, 0)),
    decode: { now: NOW },
    expected: "inconsistent",
  },
  {
    description: "MAC zeroed",
    mutate: (b) => {
      const copy = b.slice();
      copy.fill(0, b.length - MAC_BYTES);
      return copy;
    },
    expected: "bad_mac",
  },
  {
    description: "client_next_seq off by one",
    mutate: (b) => resign(with_u32(b, AT_CLIENT_NEXT_SEQ, ISN_C + 1 + REQUEST.length + 1)),
    expected: "inconsistent",
  },
  {
    description: "request_length disagrees with body_length",
    mutate: (b) => resign(with_u16(b, AT_REQUEST_LENGTH, REQUEST.length - 1)),
    expected: "inconsistent",
  },
  {
    description: "client_wscale 15",
    mutate: (b) => resign(with_u8(b, AT_CLIENT_WSCALE, 15)),
    expected: "inconsistent",
  },
  {
    description: "director_wscale 254",
    mutate: (b) => resign(with_u8(b, AT_DIRECTOR_WSCALE, 254)),
    expected: "inconsistent",
  },
  {
    description: "director wscale although the client sent none",
    mutate: (b) => resign(with_u8(b, AT_CLIENT_WSCALE, WSCALE_NONE)),
    expected: "inconsistent",
  },
  {
    description: "client_mss 63",
    mutate: (b) => resign(with_u16(b, AT_CLIENT_MSS, 63)),
    expected: "inconsistent",
  },
  {
    description: "director_mss 0",
    mutate: (b) => resign(with_u16(b, AT_DIRECTOR_MSS, 0)),
    expected: "inconsistent",
  },
  {
    description: "client_ip 0",
    mutate: (b) => resign(with_u32(b, AT_CLIENT_IP, 0)),
    expected: "inconsistent",
  },
  {
    description: "vip 0 (in an ACK)",
    message: ACK,
    mutate: (b) => resign(with_u32(b, AT_VIP, 0)),
    expected: "inconsistent",
  },
  {
    description: "client_port 0",
    mutate: (b) => resign(with_u16(b, AT_CLIENT_PORT, 0)),
    expected: "inconsistent",
  },
  {
    description: "vip_port 0 (in a FLOW_END)",
    message: FLOW_END,
    mutate: (b) => resign(with_u16(b, AT_VIP_PORT, 0)),
    expected: "inconsistent",
  },
  {
    description: "reserved byte set",
    mutate: (b) => resign(with_u8(b, AT_RESERVED, 1)),
    expected: "inconsistent",
  },
  {
    description: "pad after client_mac set",
    mutate: (b) => resign(with_u16(b, AT_MAC_PAD, 0x0100)),
    expected: "inconsistent",
  },
  {
    description: "a ts_route byte without FLAG_TS_ROUTE",
    mutate: (b) => resign(with_u8(b, AT_TS_ROUTE, 1)),
    expected: "inconsistent",
  },
  {
    description: "unknown flag bit",
    mutate: (b) => resign(with_u8(b, AT_FLAGS, 0b1011)),
    expected: "inconsistent",
  },
  {
    description: "HANDOFF with a reason",
    mutate: (b) => resign(with_u8(b, AT_REASON, 1)),
    expected: "inconsistent",
  },
  {
    description: "HANDOFF_ACK with a reason",
    message: ACK,
    mutate: (b) => resign(with_u8(b, AT_REASON, 2)),
    expected: "inconsistent",
  },
  {
    description: "HANDOFF_NACK without a reason",
    message: NACK,
    mutate: (b) => resign(with_u8(b, AT_REASON, 0)),
    expected: "inconsistent",
  },
  {
    description: "HANDOFF_NACK reason 8",
    message: NACK,
    mutate: (b) => resign(with_u8(b, AT_REASON, 8)),
    expected: "inconsistent",
  },
  {
    description: "FLOW_END reason 5",
    message: FLOW_END,
    mutate: (b) => resign(with_u8(b, AT_REASON, 5)),
    expected: "inconsistent",
  },
];

for (const row of FAILURES) {
  Deno.test(`decode fails: ${row.description} → ${row.expected}`, async () => {
    const bytes = await row.mutate(
      await encode_message(row.message ?? handoff(), KEY, {
        ...(row.encode ?? ENCODE),
        max_datagram: MAX_UDP_PAYLOAD,
      }),
    );
    const result = await decode_message(bytes, KEY, {
      ...(row.decode ?? DECODE),
      max_datagram: row.max_datagram,
    });
    assert.deepEqual(result, { ok: false, reason: row.expected });
  });
}

Deno.test("every failure reason has a row", () => {
  const covered = new Set(FAILURES.map((row) => row.expected));
  assert.deepEqual([...covered].sort(), [...DECODE_FAILURES].sort());
});

Deno.test("one key per agent: agent 4's datagram fails at agent 3, its own passes", async () => {
  const for_agent_4 = await encode_message(handoff(), OTHER_KEY, { agent: OTHER_AGENT, now: NOW });
  assert.deepEqual(await decode_message(for_agent_4, KEY, DECODE), {
    ok: false,
    reason: "bad_mac",
  });
  assert.deepEqual(
    await decode_message(for_agent_4, OTHER_KEY, { agent: OTHER_AGENT, now: NOW }),
    decoded(handoff(), NOW % 2 ** 32, OTHER_AGENT),
  );
  // the agent field is under the MAC: pointing it at agent 3 breaks the signature
  const retargeted = with_u32(for_agent_4, AT_AGENT, AGENT);
  assert.deepEqual(await decode_message(retargeted, OTHER_KEY, DECODE), {
    ok: false,
    reason: "bad_mac",
  });
});

Deno.test("decode does not throw for inputs no caller should pass", async () => {
  const bytes = await encode_message(handoff(), KEY, ENCODE);
  const weird: unknown[] = [null, undefined, "datagram", 42, {}, new ArrayBuffer(80), [1, 2, 3]];
  for (const input of weird) {
    const result = await decode_message(input as Uint8Array, KEY, DECODE);
    assert.equal(result.ok, false);
  }
  const unusable = { raw: "not bytes" } as unknown as HandoffKey;
  assert.deepEqual(await decode_message(bytes, unusable, DECODE), {
    ok: false,
    reason: "bad_mac",
  });
  // a nonsense limit falls back to the default or is clamped into 0..65507
  const limits: [number, boolean][] = [[NaN, true], [-1, false], [0, false], [Infinity, true]];
  for (const [max_datagram, ok] of limits) {
    const result = await decode_message(bytes, KEY, { ...DECODE, max_datagram });
    assert.equal(result.ok, ok, `${max_datagram}`);
  }
  // a nonsense clock is the wall clock; a nonsense bound is the default or clamped
  const fresh = await encode_message(handoff(), KEY, { agent: AGENT });
  for (const now of [NaN, Infinity, "soon" as unknown as number]) {
    assert.equal((await decode_message(fresh, KEY, { agent: AGENT, now })).ok, true, `${now}`);
  }
  const bounds: [number, boolean][] = [[NaN, true], [-5, false], [Infinity, true], [2 ** 40, true]];
  for (const [freshness_ms, ok] of bounds) {
    const result = await decode_message(bytes, KEY, { ...DECODE, now: NOW + 1, freshness_ms });
    assert.equal(result.ok, ok, `freshness ${freshness_ms}`);
  }
  const agents = [0, -1, 1.5, "3" as unknown as number, null as unknown as number];
  for (const agent of agents) {
    const result = await decode_message(bytes, KEY, { ...DECODE, agent });
    assert.deepEqual(result, { ok: false, reason: "wrong_agent" }, `agent ${agent}`);
  }
});

// ---------------------------------------------------------------------------
// encode refuses what no receiver would accept, and never throws doing so

Deno.test("encode refuses a request over max_request_bytes with a clear RangeError", async () => {
  const limit = max_request_bytes(DEFAULT_MAX_DATAGRAM);
  assert.equal(limit, 1472 - 112);
  assert.equal(HANDOFF_OVERHEAD_BYTES, 24 + 56 + 32);
  const too_long = handoff({ request: new Uint8Array(limit + 1) });
  await assert.rejects(
    encode_message(too_long, KEY, ENCODE),
    (error: unknown) =>
      error instanceof RangeError &&
      error.message.includes(`request of ${limit + 1} bytes`) &&
      error.message.includes(`${limit}-byte limit`),
  );
  const jumbo = await encode_message(too_long, KEY, { ...ENCODE, max_datagram: 9000 });
  assert.equal(jumbo.length, 1472 + 1);
  assert.equal((await decode_message(jumbo, KEY, { ...DECODE, max_datagram: 9000 })).ok, true);
  assert.deepEqual(await decode_message(jumbo, KEY, DECODE), { ok: false, reason: "oversized" });
  assert.deepEqual(await decode_message(jumbo, KEY, { ...DECODE, max_datagram: 1472 }), {
    ok: false,
    reason: "oversized",
  });
  assert.equal(max_request_bytes(9000), 9000 - 112);
  assert.equal(max_request_bytes(MAX_UDP_PAYLOAD), 65507 - 112);
  const largest = handoff({ request: new Uint8Array(max_request_bytes(MAX_UDP_PAYLOAD)) });
  const bytes = await encode_message(largest, KEY, { ...ENCODE, max_datagram: MAX_UDP_PAYLOAD });
  assert.equal(bytes.length, MAX_UDP_PAYLOAD);
  const result = await decode_message(bytes, KEY, { ...DECODE, max_datagram: MAX_UDP_PAYLOAD });
  assert.deepEqual(result, decoded(largest));
});

Deno.test("max_datagram outside 112..65507 is a RangeError", async () => {
  for (const max_datagram of [111, 65508, 1500.5, NaN]) {
    assert.throws(() => max_request_bytes(max_datagram), RangeError);
    await assert.rejects(encode_message(handoff(), KEY, { max_datagram }), RangeError);
    assert.equal(encode_datagram(handoff(), KEY, { max_datagram }).ok, false);
  }
});

Deno.test("encode refuses messages that decode would call inconsistent", async () => {
  const bad: [string, HandoffMessage, RegExp][] = [
    ["client_next_seq", handoff({ client_next_seq: 5 }), /client_next_seq/],
    ["mss", handoff({ client_mss: 10 }), /client_mss 10/],
    ["wscale", handoff({ director_wscale: 20 }), /director_wscale 20/],
    ["mac", handoff({ client_mac: new Uint8Array(4) }), /client_mac/],
    ["window", handoff({ client_window: 70000 }), /client_window/],
    ["id", { ...ACK, id: -1 }, /id -1/],
    ["port", { ...ACK, key: { ...FLOW, vip_port: 0 } }, /vip_port/],
    ["nack reason", { ...NACK, reason: 99 as 1 }, /NACK reason 99/],
    ["flow end reason", { ...FLOW_END, reason: 0 as 1 }, /FLOW_END reason 0/],
  ];
  for (const [name, message, pattern] of bad) {
    await assert.rejects(encode_message(message, KEY), pattern, name);
    await assert.rejects(encode_message(message, KEY), RangeError, name);
    const result = encode_datagram(message, KEY);
    assert.ok(!result.ok && pattern.test(result.problem), name);
  }
});

Deno.test("encode_datagram never throws, whatever a packet (or a bug) puts in a message", () => {
  // what a client controls: its address and port (port 0 once ended the process)
  const from_port_0 = handoff();
  from_port_0.key = { ...FLOW, client_port: 0 };
  const from_0_0_0_0 = handoff();
  from_0_0_0_0.key = { ...FLOW, client_ip: 0 };
  const cases: [string, unknown, EncodeOptions][] = [
    ["client port 0", from_port_0, ENCODE],
    ["client 0.0.0.0", from_0_0_0_0, ENCODE],
    ["agent 0", handoff(), { agent: 0 }],
    ["agent 2^32", handoff(), { agent: 2 ** 32 }],
    ["a clock that is not a number", handoff(), { now: NaN }],
    ["null", null, ENCODE],
    ["no key", { type: "handoff_ack", epoch: 1, id: 1 }, ENCODE],
    ["no state", { type: "handoff", epoch: 1, id: 1, key: FLOW }, ENCODE],
    ["a request that is not bytes", handoff({ request: "GET /" as unknown as Uint8Array }), ENCODE],
    ["an unknown type", { ...ACK, type: "hello" }, ENCODE],
    ["a huge request", handoff({ request: new Uint8Array(70_000) }), ENCODE],
  ];
  for (const [name, message, options] of cases) {
    let result;
    try {
      result = encode_datagram(message as HandoffMessage, KEY, options);
    } catch (err) {
      assert.fail(`${name}: encode_datagram threw ${err}`);
    }
    assert.equal(result.ok, false, name);
  }
  const unusable = { raw: 42 } as unknown as HandoffKey;
  assert.equal(encode_datagram(handoff(), unusable, ENCODE).ok, false, "an unusable key");
  const good = encode_datagram(handoff(), KEY, ENCODE);
  assert.ok(good.ok);
});

// ---------------------------------------------------------------------------
// keys and helpers

Deno.test("key text is hex of at least 16 bytes; shorter raw keys are refused", async () => {
  assert.deepEqual(parse_key_text(`  ${KEY_HEX}\n`), Uint8Array.from({ length: 32 }, (_, i) => i));
  assert.equal(parse_key_text("AB".repeat(16)).length, 16);
  assert.throws(() => parse_key_text("ab".repeat(15)), /at least 32/);
  assert.throws(() => parse_key_text("abc".repeat(11)), /odd number/);
  assert.throws(() => parse_key_text("zz".repeat(16)), /hex digits only/);
  assert.throws(() => parse_key_text(""), /at least 32/);
  await assert.rejects(import_handoff_key(new Uint8Array(15)), /at least 16 bytes/);
  await import_handoff_key(new Uint8Array(16));
});

Deno.test("flow_key_string names both ends", () => {
  assert.equal(flow_key_string(FLOW), "198.18.0.1:40000>198.18.0.100:80");
  assert.equal(
    flow_key_string({ client_ip: 0xffff_ffff, vip: 1, client_port: 1, vip_port: 65535 }),
    "255.255.255.255:1>0.0.0.1:65535",
  );
});

Deno.test("decode counters count every outcome (and the senders never decoded)", async () => {
  const counters = new_decode_counters();
  assert.deepEqual(
    Object.keys(counters).sort(),
    ["ok", "unknown_source", ...DECODE_FAILURES].sort(),
  );
  const bytes = await encode_message(handoff(), KEY, ENCODE);
  count_decode(counters, await decode_message(bytes, KEY, DECODE));
  count_decode(counters, await decode_message(bytes, KEY, DECODE));
  count_decode(counters, await decode_message(bytes.subarray(0, 20), KEY, DECODE));
  count_decode(counters, await decode_message(bytes, KEY, { ...DECODE, now: NOW + 60_000 }));
  assert.equal(counters.ok, 2);
  assert.equal(counters.truncated, 1);
  assert.equal(counters.stale, 1);
  assert.equal(counters.bad_mac, 0);
});

// ---------------------------------------------------------------------------
// fuzz

function random_int(random: () => number, below: number): number {
  return Math.floor(random() * below);
}

function random_bytes(random: () => number, length: number): Uint8Array {
  return Uint8Array.from({ length }, () => random_int(random, 256));
}

function random_message(random: () => number, type: HandoffMessage["type"]): HandoffMessage {
  const header = {
    epoch: random_int(random, 2 ** 32),
    id: random_int(random, 2 ** 32),
    key: {
      client_ip: 1 + random_int(random, 2 ** 32 - 1),
      vip: 1 + random_int(random, 2 ** 32 - 1),
      client_port: 1 + random_int(random, 65535),
      vip_port: 1 + random_int(random, 65535),
    },
  };
  switch (type) {
    case "handoff": {
      const client_isn = random_int(random, 2 ** 32);
      const request = random_bytes(random, random_int(random, 600));
      const client_wscale = random() < 0.3 ? WSCALE_NONE : random_int(random, 15);
      return {
        type,
        ...header,
        state: {
          client_mac: random_bytes(random, 6),
          client_isn,
          director_isn: random_int(random, 2 ** 32),
          client_next_seq: (client_isn + 1 + request.length) >>> 0,
          director_next_seq: random_int(random, 2 ** 32),
          client_window: random_int(random, 65536),
          client_mss: 64 + random_int(random, 65536 - 64),
          director_mss: 64 + random_int(random, 65536 - 64),
          client_wscale,
          director_wscale: client_wscale === WSCALE_NONE ? WSCALE_NONE : random_int(random, 15),
          sack_permitted: random() < 0.5,
          timestamps: random() < 0.5,
          client_tsval: random_int(random, 2 ** 32),
          director_tsval: random_int(random, 2 ** 32),
          ...(random() < 0.5 ? { ts_route: random_int(random, 256) } : {}),
          request,
        },
      };
    }
    case "handoff_nack":
      return { type, ...header, reason: (1 + random_int(random, 7)) as 1 };
    case "flow_end":
      return {
        type,
        ...header,
        reason: (1 + random_int(random, 4)) as 1,
        counts: {
          packets_to_server: random_int(random, 2 ** 32),
          packets_to_client: random_int(random, 2 ** 32),
        },
      };
    default:
      return { type, ...header };
  }
}

/** Bits to flip, all different, so the flipped datagram never equals the original. */
function distinct_bits(random: () => number, bit_count: number, how_many: number): number[] {
  const bits = new Set<number>();
  while (bits.size < how_many) bits.add(random_int(random, bit_count));
  return [...bits];
}

function flip_bits(bytes: Uint8Array, bits: number[]): Uint8Array {
  const copy = bytes.slice();
  for (const bit of bits) copy[bit >> 3] ^= 1 << (bit & 7);
  return copy;
}

Deno.test("fuzz: decode never throws and accepts only what encode signed, fresh, for it", async () => {
  const random = mulberry32(0xbad5eed);
  const TYPES = [
    "handoff",
    "handoff_ack",
    "handoff_nack",
    "flow_end",
    "flow_end_ack",
    "handoff_cancel",
    "flow_query",
    "flow_owner",
  ] as const;
  const valid: { message: HandoffMessage; bytes: Uint8Array; sent_at: number }[] = [];
  for (let i = 0; i < 40; i++) {
    const message = random_message(random, TYPES[i % TYPES.length]);
    // stamped anywhere inside the window, either side of the receiver's clock
    const sent = NOW - 10_000 + random_int(random, 20_001);
    const bytes = await encode_message(message, KEY, { agent: AGENT, now: sent });
    valid.push({ message, bytes, sent_at: sent % 2 ** 32 });
  }

  const by_kind = new Map<string, ReturnType<typeof new_decode_counters>>();
  let total = 0;
  const started = performance.now();
  async function expect_failure(
    kind: string,
    bytes: Uint8Array,
    options: DecodeOptions = DECODE,
  ): Promise<void> {
    let result;
    try {
      result = await decode_message(bytes, KEY, options);
    } catch (error) {
      assert.fail(`${kind}: decode threw ${error} for ${bytes.length} bytes`);
    }
    if (result.ok) assert.fail(`${kind}: decode accepted ${bytes.length} forged bytes`);
    let counters = by_kind.get(kind);
    if (!counters) by_kind.set(kind, counters = new_decode_counters());
    count_decode(counters, result);
    total++;
  }

  for (const { message, bytes, sent_at } of valid) {
    assert.deepEqual(await decode_message(bytes, KEY, DECODE), decoded(message, sent_at));
  }
  for (let i = 0; i < 6000; i++) {
    await expect_failure("random bytes", random_bytes(random, random_int(random, 2001)));
  }
  for (const { bytes } of valid) {
    for (let length = 0; length < bytes.length; length++) {
      await expect_failure("truncation", bytes.subarray(0, length));
    }
  }
  // every single bit of one datagram of each type, then random bits across all of them
  for (const { bytes } of valid.slice(0, TYPES.length)) {
    for (let bit = 0; bit < bytes.length * 8; bit++) {
      await expect_failure("every bit flipped", flip_bits(bytes, [bit]));
    }
  }
  for (let i = 0; i < 4000; i++) {
    const { bytes } = valid[random_int(random, valid.length)];
    await expect_failure(
      "one random bit",
      flip_bits(bytes, distinct_bits(random, bytes.length * 8, 1)),
    );
  }
  for (let i = 0; i < 4000; i++) {
    const { bytes } = valid[random_int(random, valid.length)];
    const flips = distinct_bits(random, bytes.length * 8, 2 + random_int(random, 15));
    await expect_failure("several random bits", flip_bits(bytes, flips));
  }
  // a believable header over a random body and MAC: only the HMAC stands in the way
  for (let i = 0; i < 3000; i++) {
    const { bytes } = valid[random_int(random, valid.length)];
    const forged = random_bytes(random, bytes.length);
    forged.set(bytes.subarray(0, HEADER_BYTES));
    await expect_failure("valid header, random body", forged);
  }
  // authentic datagrams replayed later (or from a clock far ahead): only the timestamp stands
  for (let i = 0; i < 2000; i++) {
    const { bytes } = valid[random_int(random, valid.length)];
    const away = 20_001 + random_int(random, 2 ** 31 - 20_001);
    await expect_failure("authentic, replayed late", bytes, {
      ...DECODE,
      now: NOW + (random() < 0.5 ? away : -away),
    });
  }
  // authentic datagrams arriving at another agent: the agent field, or its own key, stands
  for (let i = 0; i < 2000; i++) {
    const { bytes } = valid[random_int(random, valid.length)];
    await expect_failure("authentic, another agent's", bytes, {
      ...DECODE,
      agent: 1 + AGENT + random_int(random, 2 ** 32 - 1 - AGENT),
    });
    const other = await decode_message(bytes, OTHER_KEY, { ...DECODE, agent: OTHER_AGENT });
    assert.deepEqual(other, { ok: false, reason: "bad_mac" });
    total++;
  }

  const seconds = (performance.now() - started) / 1000;
  console.log(`fuzz: ${total} datagrams in ${seconds.toFixed(2)} s, none accepted`);
  for (const [kind, counters] of by_kind) {
    const nonzero = Object.entries(counters).filter(([, n]) => n > 0);
    console.log(`  ${kind.padEnd(26)} ${nonzero.map(([reason, n]) => `${reason}=${n}`).join(" ")}`);
  }
  assert.ok(total >= 25_000, `only ${total} fuzz datagrams`);
  assert.ok(by_kind.get("valid header, random body")!.bad_mac > 2500);
  assert.equal(by_kind.get("authentic, replayed late")!.stale, 2000);
  assert.equal(by_kind.get("authentic, another agent's")!.wrong_agent, 2000);
});
