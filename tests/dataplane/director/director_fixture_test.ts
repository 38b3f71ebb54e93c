// Packet fixtures for the director, Katran style: each row is a list of
// steps {frames the client sends, the control Worker's verdict, the frames
// the director must send in answer} plus the counters at the end. A real
// DPDK process (tests/support/director_fixture_main.ts) runs the director's
// pipeline on a net_pcap port and records what it sends; expected frames come
// from the packet builders with checksums computed in full, so byte equality
// checks every header the director writes. The cookie key, the clock and the
// TSval offset are fixed, so the test computes each SYN/ACK's cookie itself
// (cookie_make) and builds the client's handshake ACK with ack = cookie + 1.

import assert from "node:assert/strict";
import {
  build_arp,
  build_icmp_echo,
  build_tcp,
  describe_frame,
  ip_to_u32,
  TCP_FLAG_ACK,
  TCP_FLAG_FIN,
  TCP_FLAG_PSH,
  TCP_FLAG_RST,
  TCP_FLAG_SYN,
  type TcpOption,
  type TcpSpec,
} from "../../../dataplane/mod.ts";
import {
  cookie_check,
  cookie_info,
  cookie_info_mss,
  cookie_info_sack,
  cookie_info_ts,
  cookie_info_wscale,
  cookie_make,
  COOKIE_WSCALE_NONE,
  create_cookie_key,
  DIRECTOR_COUNTER_NAMES,
} from "../../../dataplane/director/mod.ts";
import {
  decode_handoff_record,
  EVENT_FLOW_GONE,
  GONE_CLIENT_RESET,
  type HandoffRecord,
  http_response,
} from "../../../dataplane/wire/mod.ts";
import { read_pcap, write_pcap } from "../../support/pcap.ts";

const HARNESS = new URL("../../support/director_fixture_main.ts", import.meta.url).pathname;

const CLIENT_MAC = "02:b7:00:00:00:01";
const DIRECTOR_MAC = "02:b7:00:00:00:02";
const SERVER_MAC = "02:b7:00:00:01:02";
const CLIENT_IP = "198.18.0.1";
const VIP = "198.18.0.100";
const OTHER_IP = "198.18.0.11";
const VIP_PORT = 80;

const COOKIE_KEY = [0x62, 0x61, 0x74, 0x6f, 0x6e, 0x2d, 0x6b, 0x31];
const KEY = create_cookie_key(Uint8Array.from(COOKIE_KEY));
/** The clock (ms) of every step unless it says otherwise. */
const T0 = 1_000_000;
/** Added to the clock for the director's TSval (random in production, fixed here). */
const TS_OFFSET = 70_000;
/** Fabric MTU 1500 − 40. */
const MSS = 1460;
const REQUEST_TIMEOUT_MS = 10_000;
const MAX_HEADER = 4096;
/** The client's first TSval. */
const CLIENT_TS0 = 4000;
/** What the director advertises while reading: 65535 in units of 2^7 once scaling is on. */
const READING_WINDOW_SCALED = 65535 >> 7;

const ts = (tsval: number, tsecr: number): TcpOption[] => [
  { kind: "nop" },
  { kind: "nop" },
  { kind: "timestamp", tsval: tsval >>> 0, tsecr: tsecr >>> 0 },
];

type Segment = Partial<TcpSpec>;

/** A frame from the client to the director (the VIP's MAC is the director's). */
const from_client = (s: Segment) =>
  build_tcp({
    src_mac: CLIENT_MAC,
    dst_mac: DIRECTOR_MAC,
    src_ip: CLIENT_IP,
    dst_ip: VIP,
    src_port: 40000,
    dst_port: VIP_PORT,
    ...s,
  });

/** A frame the director sends back: from the VIP to the client. */
const to_client = (s: Segment) =>
  build_tcp({
    src_mac: DIRECTOR_MAC,
    dst_mac: CLIENT_MAC,
    src_ip: VIP,
    dst_ip: CLIENT_IP,
    src_port: VIP_PORT,
    dst_port: 40000,
    ...s,
  });

/**
 * What the client offers in its SYN: "full" is MSS 1460, SACK-permitted,
 * timestamps and wscale 7 (what Linux sends); "no_ts" the same without
 * timestamps (Windows' default); "none" a SYN without options.
 */
type Offer = "full" | "no_ts" | "none";

/** One client connection: its frames and the director's expected answers. */
function connection(client_port: number, isn: number, offer: Offer = "full", at = T0) {
  const full = offer === "full";
  const scaled = offer !== "none";
  const info = offer === "none"
    ? cookie_info(536, COOKIE_WSCALE_NONE, false, false)
    : cookie_info(MSS, 7, true, full);
  const cookie = cookie_make(
    KEY,
    ip_to_u32(CLIENT_IP),
    ip_to_u32(VIP),
    client_port,
    VIP_PORT,
    isn,
    at / 1000,
    info,
  );
  const director_tsval = at + TS_OFFSET;
  const ports = { src_port: client_port, dst_port: VIP_PORT };
  const back = { src_port: VIP_PORT, dst_port: client_port };
  const client_ts = (tsval: number) => (full ? ts(tsval, director_tsval) : []);
  return {
    isn,
    cookie,
    director_tsval,
    syn: from_client({
      ...ports,
      seq: isn,
      flags: TCP_FLAG_SYN,
      window: 64240,
      options: {
        full: [
          { kind: "mss", value: MSS },
          { kind: "sack_permitted" },
          { kind: "timestamp", tsval: CLIENT_TS0, tsecr: 0 },
          { kind: "nop" },
          { kind: "wscale", shift: 7 },
        ],
        no_ts: [
          { kind: "mss", value: MSS },
          { kind: "nop" },
          { kind: "wscale", shift: 7 },
          { kind: "nop" },
          { kind: "nop" },
          { kind: "sack_permitted" },
        ],
        none: [],
      }[offer] as TcpOption[],
    }),
    syn_ack: to_client({
      ...back,
      seq: cookie,
      ack: (isn + 1) >>> 0,
      flags: TCP_FLAG_SYN | TCP_FLAG_ACK,
      window: 65535,
      // Linux's order: MSS, SACK-permitted, TS, NOP, wscale (NOP NOP SACK-permitted without TS)
      options: {
        full: [
          { kind: "mss", value: MSS },
          { kind: "sack_permitted" },
          { kind: "timestamp", tsval: director_tsval, tsecr: CLIENT_TS0 },
          { kind: "nop" },
          { kind: "wscale", shift: 7 },
        ],
        no_ts: [
          { kind: "mss", value: MSS },
          { kind: "nop" },
          { kind: "nop" },
          { kind: "sack_permitted" },
          { kind: "nop" },
          { kind: "wscale", shift: 7 },
        ],
        none: [{ kind: "mss", value: MSS }],
      }[offer] as TcpOption[],
    }),
    /** The handshake's third segment: ack = cookie + 1. */
    ack: from_client({
      ...ports,
      seq: (isn + 1) >>> 0,
      ack: (cookie + 1) >>> 0,
      flags: TCP_FLAG_ACK,
      window: 502,
      options: client_ts(CLIENT_TS0 + 1),
    }),
    /** Client data at `offset` bytes into the stream. */
    data: (offset: number, payload: string | Uint8Array, tsval: number, extra: Segment = {}) =>
      from_client({
        ...ports,
        seq: (isn + 1 + offset) >>> 0,
        ack: (cookie + 1) >>> 0,
        flags: TCP_FLAG_PSH | TCP_FLAG_ACK,
        window: 502,
        options: client_ts(tsval),
        payload,
        ...extra,
      }),
    /** The director's ACK of the first `acked` request bytes. */
    acked: (acked: number, tsecr: number) =>
      to_client({
        ...back,
        seq: (cookie + 1) >>> 0,
        ack: (isn + 1 + acked) >>> 0,
        flags: TCP_FLAG_ACK,
        window: scaled ? READING_WINDOW_SCALED : 65535,
        options: full ? ts(director_tsval, tsecr) : [],
      }),
    /** The director's own HTTP response with FIN, ACKing `acked` request bytes. */
    response: (status: number, acked: number, tsecr: number) =>
      to_client({
        ...back,
        seq: (cookie + 1) >>> 0,
        ack: (isn + 1 + acked) >>> 0,
        flags: TCP_FLAG_ACK | TCP_FLAG_PSH | TCP_FLAG_FIN,
        window: 0,
        options: full ? ts(director_tsval, tsecr) : [],
        payload: http_response(status),
      }),
  };
}

/** A client frame as forwarded to the server: only the Ethernet addresses change. */
function forwarded(frame: Uint8Array): Uint8Array {
  const out = frame.slice();
  out.set(mac_bytes(SERVER_MAC), 0);
  out.set(mac_bytes(DIRECTOR_MAC), 6);
  return out;
}

function mac_bytes(mac: string): Uint8Array {
  return Uint8Array.from(mac.split(":").map((h) => parseInt(h, 16)));
}

interface Verdict {
  verdict: "forward" | "try" | "respond" | "forget";
  server_mac?: string;
  status?: number;
}

interface Step {
  /** Default T0. */
  now?: number;
  /** Played as the control Worker before the step's frames. */
  verdict?: Verdict;
  send?: Uint8Array[];
  /** Everything the director sends during the step, in order. */
  expect: Uint8Array[];
}

interface Result {
  counters: Record<string, number>;
  sent: number[];
  records: HandoffRecord[];
  events: number[][];
  output: Uint8Array[];
}

interface FixtureRow {
  description: string;
  max_header?: number;
  /** The VIP uses the L4 policy (no request head is read). */
  l4?: boolean;
  steps: Step[];
  /** Every counter that must not be 0 (except rx, which must be the frames sent). */
  counters: Partial<Record<typeof DIRECTOR_COUNTER_NAMES[number], number>>;
  /** Further checks on the result (records, events, cookies). */
  check?: (result: Result) => void;
}

const GET_HEAD = "GET /index.html HTTP/1.1\r\nHost: baton.test\r\nUser-Agent: fixture\r\n" +
  "Accept: */*\r\n\r\n";

function rows(): FixtureRow[] {
  const encoder = new TextEncoder();
  return [
    {
      description: "ARP request for the VIP: the reply comes from the director's MAC",
      steps: [{
        send: [build_arp({
          operation: "request",
          sender_mac: CLIENT_MAC,
          sender_ip: CLIENT_IP,
          target_ip: VIP,
          pad_to: 60,
        })],
        expect: [build_arp({
          operation: "reply",
          sender_mac: DIRECTOR_MAC,
          sender_ip: VIP,
          target_mac: CLIENT_MAC,
          target_ip: CLIENT_IP,
          pad_to: 60,
        })],
      }],
      counters: { arp_replies: 1 },
    },
    {
      description: "ARP request for another IP: dropped, not answered",
      steps: [{
        send: [build_arp({
          operation: "request",
          sender_mac: CLIENT_MAC,
          sender_ip: CLIENT_IP,
          target_ip: OTHER_IP,
          pad_to: 60,
        })],
        expect: [],
      }],
      counters: { dropped_not_vip: 1 },
    },
    {
      description: "ICMP echo request to the VIP: echo reply, TTL reset, checksums valid",
      steps: [{
        send: [build_icmp_echo({
          src_mac: CLIENT_MAC,
          dst_mac: DIRECTOR_MAC,
          src_ip: CLIENT_IP,
          dst_ip: VIP,
          ttl: 50,
          id: 0x1234,
          sequence: 7,
          payload: 56,
        })],
        expect: [build_icmp_echo({
          src_mac: DIRECTOR_MAC,
          dst_mac: CLIENT_MAC,
          src_ip: VIP,
          dst_ip: CLIENT_IP,
          reply: true,
          ttl: 64,
          id: 0x1234,
          sequence: 7,
          payload: 56,
        })],
      }],
      counters: { echo_replies: 1 },
    },
    (() => {
      const c = connection(40001, 0x1111_0000);
      return {
        description:
          "SYN with MSS, SACK-permitted, TS, wscale 7: SYN/ACK with a cookie and the same options",
        steps: [{ send: [c.syn], expect: [c.syn_ack] }],
        counters: { syn_cookies_sent: 1 },
        check: ({ output }: Result) => {
          const seq = describe_frame(output[0]).tcp!.seq;
          const info = cookie_check(
            KEY,
            ip_to_u32(CLIENT_IP),
            ip_to_u32(VIP),
            40001,
            VIP_PORT,
            c.isn,
            seq,
            T0 / 1000,
          );
          assert.ok(info >= 0, "the SYN/ACK's ISN is a valid cookie");
          assert.deepEqual(
            [
              cookie_info_mss(info),
              cookie_info_wscale(info),
              cookie_info_sack(info),
              cookie_info_ts(info),
            ],
            [1460, 7, true, true],
            "the cookie holds the client's options",
          );
        },
      };
    })(),
    (() => {
      const c = connection(40002, 0xffff_fff0, "none");
      return {
        description: "SYN without options: SYN/ACK with only the MSS option",
        steps: [{ send: [c.syn], expect: [c.syn_ack] }],
        counters: { syn_cookies_sent: 1 },
        check: ({ output }: Result) => {
          const info = cookie_check(
            KEY,
            ip_to_u32(CLIENT_IP),
            ip_to_u32(VIP),
            40002,
            VIP_PORT,
            c.isn,
            describe_frame(output[0]).tcp!.seq,
            T0 / 1000,
          );
          assert.deepEqual(
            [cookie_info_mss(info), cookie_info_wscale(info), cookie_info_sack(info)],
            [536, COOKIE_WSCALE_NONE, false],
            "no options: the RFC default MSS, no scaling",
          );
        },
      };
    })(),
    {
      description: "forged ACK (no SYN, random ack number): dropped, nothing sent",
      steps: [{
        send: [from_client({
          src_port: 40003,
          seq: 5000,
          ack: 0x1234_5678,
          flags: TCP_FLAG_ACK,
          options: ts(1, 2),
        })],
        expect: [],
      }],
      counters: { bad_cookies: 1 },
    },
    (() => {
      const c = connection(40004, 0x2000_0000);
      const head = encoder.encode(GET_HEAD);
      // the CRLFCRLF straddles segments 2 and 3: the search must look back
      const cuts = [0, 20, head.length - 3, head.length];
      const segment = (k: number) => c.data(cuts[k], head.slice(cuts[k], cuts[k + 1]), 5000 + k);
      return {
        description:
          "request in three segments: each ACKed as it comes, the last exactly to the head's end; one record",
        steps: [
          { send: [c.syn], expect: [c.syn_ack] },
          { send: [c.ack], expect: [] },
          { send: [segment(0)], expect: [c.acked(cuts[1], 5000)] },
          { send: [segment(1)], expect: [c.acked(cuts[2], 5001)] },
          { send: [segment(2)], expect: [c.acked(cuts[3], 5002)] },
        ],
        counters: {
          syn_cookies_sent: 1,
          handshakes_completed: 1,
          request_segments: 3,
          requests_complete: 1,
          handoffs_pending: 1,
          flows: 1,
        },
        check: ({ records }: Result) => {
          assert.equal(records.length, 1, "one record on request_ring");
          const expected: HandoffRecord = {
            epoch: 0,
            id: 0,
            client_ip: ip_to_u32(CLIENT_IP),
            vip: ip_to_u32(VIP),
            client_port: 40004,
            vip_port: VIP_PORT,
            client_mac: mac_bytes(CLIENT_MAC),
            client_isn: c.isn,
            director_next_seq: (c.cookie + 1) >>> 0,
            client_window: 502,
            client_mss: 1460,
            client_wscale: 7,
            director_wscale: 7,
            sack_permitted: true,
            timestamps: true,
            client_tsval: 5002,
            director_tsval: c.director_tsval,
            request: head,
          };
          assert.deepEqual(records[0], expected);
        },
      };
    })(),
    (() => {
      const c = connection(40005, 0x3000_0000);
      const head = "POST /upload HTTP/1.1\r\nHost: baton.test\r\nContent-Length: 5\r\n\r\n";
      return {
        description: "a body after the head in the same segment: the ACK covers only the head",
        steps: [
          { send: [c.syn], expect: [c.syn_ack] },
          { send: [c.ack], expect: [] },
          { send: [c.data(0, head + "hello", 5000)], expect: [c.acked(head.length, 5000)] },
        ],
        counters: {
          syn_cookies_sent: 1,
          handshakes_completed: 1,
          request_segments: 1,
          requests_complete: 1,
          handoffs_pending: 1,
          flows: 1,
        },
        check: ({ records }: Result) => {
          assert.equal(records.length, 1);
          assert.equal(new TextDecoder().decode(records[0].request), head, "the head, no body");
        },
      };
    })(),
    (() => {
      const c = connection(40006, 0x3100_0000);
      return {
        description: "the handshake's ACK carries the whole request: the flow starts reading it",
        steps: [
          { send: [c.syn], expect: [c.syn_ack] },
          {
            send: [c.data(0, GET_HEAD, CLIENT_TS0 + 1)],
            expect: [c.acked(GET_HEAD.length, CLIENT_TS0 + 1)],
          },
        ],
        counters: {
          syn_cookies_sent: 1,
          handshakes_completed: 1,
          request_segments: 1,
          requests_complete: 1,
          handoffs_pending: 1,
          flows: 1,
        },
        check: ({ records }: Result) => assert.equal(records.length, 1),
      };
    })(),
    (() => {
      const c = connection(40007, 0x4000_0000);
      return {
        description: "out-of-order segment while reading: dropped, no ACK",
        steps: [
          { send: [c.syn], expect: [c.syn_ack] },
          { send: [c.ack], expect: [] },
          { send: [c.data(10, GET_HEAD.slice(10), 5000)], expect: [] },
        ],
        counters: {
          syn_cookies_sent: 1,
          handshakes_completed: 1,
          out_of_order_dropped: 1,
          flows: 1,
        },
        check: ({ records }: Result) => assert.equal(records.length, 0),
      };
    })(),
    (() => {
      const c = connection(40008, 0x5000_0000);
      const head = "BOGUS\r\n\r\n";
      const response_length = http_response(400).length;
      return {
        description:
          "400: the control Worker rejects the head; HTTP 400 with FIN, then the client's FIN is ACKed",
        steps: [
          { send: [c.syn], expect: [c.syn_ack] },
          { send: [c.ack], expect: [] },
          { send: [c.data(0, head, 5000)], expect: [c.acked(head.length, 5000)] },
          {
            verdict: { verdict: "respond", status: 400 },
            expect: [c.response(400, head.length, 5000)],
          },
          {
            // the client ACKs the response and its FIN, and closes too
            send: [c.data(head.length, "", 5001, {
              ack: (c.cookie + 1 + response_length + 1) >>> 0,
              flags: TCP_FLAG_FIN | TCP_FLAG_ACK,
            })],
            expect: [to_client({
              src_port: VIP_PORT,
              dst_port: 40008,
              seq: (c.cookie + 1 + response_length + 1) >>> 0,
              ack: (c.isn + 1 + head.length + 1) >>> 0,
              flags: TCP_FLAG_ACK,
              window: 0,
              options: ts(c.director_tsval, 5001),
            })],
          },
        ],
        counters: {
          syn_cookies_sent: 1,
          handshakes_completed: 1,
          request_segments: 1,
          requests_complete: 1,
          responses_400: 1,
        },
      };
    })(),
    (() => {
      const c = connection(40009, 0x6000_0000);
      const partial = "GET / HTTP/1.1\r\nHost: bat";
      return {
        description: "408: the head does not complete within request_timeout_ms",
        steps: [
          { send: [c.syn], expect: [c.syn_ack] },
          { send: [c.ack], expect: [] },
          { send: [c.data(0, partial, 5000)], expect: [c.acked(partial.length, 5000)] },
          { now: T0 + REQUEST_TIMEOUT_MS - 1, expect: [] },
          { now: T0 + REQUEST_TIMEOUT_MS + 1, expect: [c.response(408, partial.length, 5000)] },
        ],
        counters: {
          syn_cookies_sent: 1,
          handshakes_completed: 1,
          request_segments: 1,
          responses_408: 1,
          flows: 1,
        },
        check: ({ records }: Result) => assert.equal(records.length, 0),
      };
    })(),
    (() => {
      const c = connection(40010, 0x7000_0000);
      const first = "GET /" + "a".repeat(195);
      const second = "b".repeat(100);
      return {
        description: "431: the head outgrows max_header (256) without a CRLFCRLF",
        max_header: 256,
        steps: [
          { send: [c.syn], expect: [c.syn_ack] },
          { send: [c.ack], expect: [] },
          { send: [c.data(0, first, 5000)], expect: [c.acked(200, 5000)] },
          // the segment that overflows is not ACKed; the response ACKs what was taken
          { send: [c.data(200, second, 5001)], expect: [c.response(431, 200, 5001)] },
        ],
        counters: {
          syn_cookies_sent: 1,
          handshakes_completed: 1,
          request_segments: 2,
          responses_431: 1,
          flows: 1,
        },
        check: ({ records }: Result) => assert.equal(records.length, 0),
      };
    })(),
    (() => {
      const c = connection(40011, 0x8000_0000);
      const body = c.data(GET_HEAD.length, "hello", 5001);
      return {
        description:
          "after VERDICT_FORWARD the client's frames go to the server: only the Ethernet header changes",
        steps: [
          { send: [c.syn], expect: [c.syn_ack] },
          { send: [c.ack], expect: [] },
          { send: [c.data(0, GET_HEAD, 5000)], expect: [c.acked(GET_HEAD.length, 5000)] },
          { verdict: { verdict: "forward", server_mac: SERVER_MAC }, expect: [] },
          { send: [body], expect: [forwarded(body)] },
        ],
        counters: {
          syn_cookies_sent: 1,
          handshakes_completed: 1,
          request_segments: 1,
          requests_complete: 1,
          forwarded: 1,
          flows: 1,
        },
        check: ({ output }: Result) => {
          const out = output.at(-1)!;
          assert.deepEqual(out.subarray(12), body.subarray(12), "every byte from offset 12 on");
        },
      };
    })(),
    (() => {
      const c = connection(40012, 0x9000_0000);
      const rst = c.data(GET_HEAD.length, "", 5001, { flags: TCP_FLAG_RST, options: [] });
      return {
        description:
          "client RST on a forwarded flow: forwarded, flow gone (event); later frames of it dropped",
        steps: [
          { send: [c.syn], expect: [c.syn_ack] },
          { send: [c.ack], expect: [] },
          { send: [c.data(0, GET_HEAD, 5000)], expect: [c.acked(GET_HEAD.length, 5000)] },
          { verdict: { verdict: "forward", server_mac: SERVER_MAC }, expect: [] },
          { send: [rst], expect: [forwarded(rst)] },
          // without a flow, a segment with ACK is a cookie candidate (and fails); a RST is no-flow
          { send: [c.data(GET_HEAD.length, "late", 5002)], expect: [] },
          { send: [rst], expect: [] },
        ],
        counters: {
          syn_cookies_sent: 1,
          handshakes_completed: 1,
          request_segments: 1,
          requests_complete: 1,
          forwarded: 1,
          ended_client_reset: 1,
          bad_cookies: 1,
          dropped_no_flow: 1,
        },
        check: ({ events }: Result) => {
          assert.deepEqual(events, [[
            EVENT_FLOW_GONE,
            ip_to_u32(CLIENT_IP) | 0,
            ip_to_u32(VIP) | 0,
            (40012 << 16) | VIP_PORT,
            GONE_CLIENT_RESET,
          ]]);
        },
      };
    })(),
    (() => {
      const c = connection(40015, 0xa000_0000, "no_ts");
      const rest = GET_HEAD.slice(1);
      return {
        description:
          "SYN with SACK and wscale, no TS: SYN/ACK without TS; a padded 1-byte segment ACKs 1 byte",
        steps: [
          { send: [c.syn], expect: [c.syn_ack] },
          { send: [c.ack], expect: [] },
          // 55 bytes on the wire are padded to 60: the padding is not request bytes
          { send: [c.data(0, "G", 0, { pad_to: 60 })], expect: [c.acked(1, 0)] },
          { send: [c.data(1, rest, 0)], expect: [c.acked(GET_HEAD.length, 0)] },
        ],
        counters: {
          syn_cookies_sent: 1,
          handshakes_completed: 1,
          request_segments: 2,
          requests_complete: 1,
          handoffs_pending: 1,
          flows: 1,
        },
        check: ({ records }: Result) => {
          assert.equal(records.length, 1);
          const r = records[0];
          assert.deepEqual(
            [r.sack_permitted, r.timestamps, r.client_wscale, r.director_wscale, r.client_mss],
            [true, false, 7, 7, 1460],
          );
          assert.equal(new TextDecoder().decode(r.request), GET_HEAD);
        },
      };
    })(),
    {
      description:
        "ICMP echo request padded to 60 bytes: the reply keeps the frame, checksums valid",
      steps: [{
        send: [build_icmp_echo({
          src_mac: CLIENT_MAC,
          dst_mac: DIRECTOR_MAC,
          src_ip: CLIENT_IP,
          dst_ip: VIP,
          id: 1,
          sequence: 2,
          payload: 4,
          pad_to: 60,
        })],
        expect: [build_icmp_echo({
          src_mac: DIRECTOR_MAC,
          dst_mac: CLIENT_MAC,
          src_ip: VIP,
          dst_ip: CLIENT_IP,
          reply: true,
          id: 1,
          sequence: 2,
          payload: 4,
          pad_to: 60,
        })],
      }],
      counters: { echo_replies: 1 },
    },
    (() => {
      const c = connection(40016, 0xb000_0000);
      const start = "GET / HTTP/1.1\r\nHost: a\r\nX-Pad: ";
      const head = start + "p".repeat(256 - start.length - 4) + "\r\n\r\n";
      return {
        description: "a head of exactly max_header (256) bytes is complete, not 431",
        max_header: 256,
        steps: [
          { send: [c.syn], expect: [c.syn_ack] },
          { send: [c.ack], expect: [] },
          { send: [c.data(0, head + "body", 5000)], expect: [c.acked(256, 5000)] },
        ],
        counters: {
          syn_cookies_sent: 1,
          handshakes_completed: 1,
          request_segments: 1,
          requests_complete: 1,
          handoffs_pending: 1,
          flows: 1,
        },
        check: ({ records }: Result) => {
          assert.equal(records.length, 1);
          assert.equal(records[0].request.length, 256);
        },
      };
    })(),
    (() => {
      const c = connection(40017, 0xc000_0000);
      const window_update = (tsval: number) =>
        c.data(GET_HEAD.length, "", tsval, { flags: TCP_FLAG_ACK, ack: (c.cookie + 101) >>> 0 });
      return {
        description:
          "HANDING: dropped until VERDICT_TRY, then to the server being tried, then forwarded",
        steps: [
          { send: [c.syn], expect: [c.syn_ack] },
          { send: [c.ack], expect: [] },
          { send: [c.data(0, GET_HEAD, 5000)], expect: [c.acked(GET_HEAD.length, 5000)] },
          // nobody to send it to yet: the client will retransmit
          { send: [window_update(5001)], expect: [] },
          { verdict: { verdict: "try", server_mac: SERVER_MAC }, expect: [] },
          { send: [window_update(5002)], expect: [forwarded(window_update(5002))] },
          { verdict: { verdict: "forward", server_mac: SERVER_MAC }, expect: [] },
          { send: [window_update(5003)], expect: [forwarded(window_update(5003))] },
        ],
        counters: {
          syn_cookies_sent: 1,
          handshakes_completed: 1,
          request_segments: 1,
          requests_complete: 1,
          dropped_while_handing: 1,
          forwarded_while_handing: 1,
          forwarded: 1,
          flows: 1,
        },
      };
    })(),
    (() => {
      const c = connection(40018, 0xd000_0000);
      const rst = c.data(GET_HEAD.length, "", 5001, { flags: TCP_FLAG_RST, options: [] });
      return {
        description: "VERDICT_FORGET (the agent ended it) removes a forwarded flow",
        steps: [
          { send: [c.syn], expect: [c.syn_ack] },
          { send: [c.ack], expect: [] },
          { send: [c.data(0, GET_HEAD, 5000)], expect: [c.acked(GET_HEAD.length, 5000)] },
          { verdict: { verdict: "forward", server_mac: SERVER_MAC }, expect: [] },
          { verdict: { verdict: "forget" }, expect: [] },
          { send: [rst], expect: [] },
        ],
        counters: {
          syn_cookies_sent: 1,
          handshakes_completed: 1,
          request_segments: 1,
          requests_complete: 1,
          ended_agent: 1,
          dropped_no_flow: 1,
        },
        check: ({ events }: Result) => assert.deepEqual(events, [], "the agent told, not us"),
      };
    })(),
    (() => {
      const c = connection(40019, 0xe000_0000);
      const rst = c.data(10, "", 5001, { flags: TCP_FLAG_RST, options: [] });
      return {
        description: "client RST while reading: the flow is gone, no event (control never knew it)",
        steps: [
          { send: [c.syn], expect: [c.syn_ack] },
          { send: [c.ack], expect: [] },
          { send: [c.data(0, GET_HEAD.slice(0, 10), 5000)], expect: [c.acked(10, 5000)] },
          { send: [rst], expect: [] },
          // the time-out would have fired now: nothing is left to answer
          { now: T0 + REQUEST_TIMEOUT_MS + 1, expect: [] },
        ],
        counters: {
          syn_cookies_sent: 1,
          handshakes_completed: 1,
          request_segments: 1,
          ended_client_reset: 1,
        },
        check: ({ events }: Result) => assert.deepEqual(events, []),
      };
    })(),
    (() => {
      const c = connection(40020, 0xf000_0000);
      const head = "GET\r\n\r\n";
      return {
        description:
          "400 response resent at +300 and +900 ms while the client is silent, then given up",
        steps: [
          { send: [c.syn], expect: [c.syn_ack] },
          { send: [c.ack], expect: [] },
          { send: [c.data(0, head, 5000)], expect: [c.acked(head.length, 5000)] },
          {
            verdict: { verdict: "respond", status: 400 },
            expect: [c.response(400, head.length, 5000)],
          },
          { now: T0 + 299, expect: [] },
          { now: T0 + 300, expect: [c.response(400, head.length, 5000)] },
          { now: T0 + 899, expect: [] },
          { now: T0 + 900, expect: [c.response(400, head.length, 5000)] },
          // three sends and 1.2 s more without the client's FIN: the director gives up
          { now: T0 + 2099, expect: [] },
          { now: T0 + 2100, expect: [] },
        ],
        counters: {
          syn_cookies_sent: 1,
          handshakes_completed: 1,
          request_segments: 1,
          requests_complete: 1,
          responses_400: 1,
          response_retransmits: 2,
        },
      };
    })(),
    (() => {
      const c = connection(40021, 0x0000_1000);
      return {
        description: "a request segment sent again after our ACK of it was lost is ACKed again",
        steps: [
          { send: [c.syn], expect: [c.syn_ack] },
          { send: [c.ack], expect: [] },
          { send: [c.data(0, GET_HEAD.slice(0, 20), 5000)], expect: [c.acked(20, 5000)] },
          // the ACK above was lost; the client's RTO sends the same bytes again
          { send: [c.data(0, GET_HEAD.slice(0, 20), 5300)], expect: [c.acked(20, 5300)] },
        ],
        counters: {
          syn_cookies_sent: 1,
          handshakes_completed: 1,
          request_segments: 1,
          request_duplicates: 1,
          flows: 1,
        },
      };
    })(),
    (() => {
      const c = connection(40022, 0x0000_2000);
      return {
        description:
          "a retransmission that overlaps what was read (old + new bytes): the new bytes are taken",
        steps: [
          { send: [c.syn], expect: [c.syn_ack] },
          { send: [c.ack], expect: [] },
          { send: [c.data(0, GET_HEAD.slice(0, 20), 5000)], expect: [c.acked(20, 5000)] },
          // lost ACK; Linux's retransmission collapses the held rest of the head into it
          { send: [c.data(0, GET_HEAD, 5300)], expect: [c.acked(GET_HEAD.length, 5300)] },
        ],
        counters: {
          syn_cookies_sent: 1,
          handshakes_completed: 1,
          request_segments: 2,
          requests_complete: 1,
          handoffs_pending: 1,
          flows: 1,
        },
        check: ({ records }: Result) => {
          assert.equal(records.length, 1);
          assert.equal(new TextDecoder().decode(records[0].request), GET_HEAD);
        },
      };
    })(),
    (() => {
      const c = connection(40030, 0x0000_3000);
      const hello = "HELO client.example\r\n";
      return {
        description: "L4 VIP: the first data segment is ACKed and handed off as is, unparsed",
        l4: true,
        steps: [
          { send: [c.syn], expect: [c.syn_ack] },
          { send: [c.ack], expect: [] },
          { send: [c.data(0, hello, 5000)], expect: [c.acked(hello.length, 5000)] },
        ],
        counters: {
          syn_cookies_sent: 1,
          handshakes_completed: 1,
          request_segments: 1,
          handoffs_pending: 1,
          flows: 1,
        },
        check: ({ records }: Result) => {
          assert.equal(records.length, 1);
          assert.equal(new TextDecoder().decode(records[0].request), hello);
        },
      };
    })(),
    (() => {
      const c = connection(40031, 0x0000_4000);
      return {
        description: "L4 VIP: a client that stays silent is handed off empty after 50 ms",
        l4: true,
        steps: [
          { send: [c.syn], expect: [c.syn_ack] },
          { send: [c.ack], expect: [] },
          { now: T0 + 49, expect: [] },
          { now: T0 + 51, expect: [] },
        ],
        counters: { syn_cookies_sent: 1, handshakes_completed: 1, handoffs_pending: 1, flows: 1 },
        check: ({ records }: Result) => {
          assert.equal(records.length, 1);
          assert.equal(records[0].request.length, 0);
        },
      };
    })(),
    {
      description: "TCP to the VIP on a port it does not serve: dropped, no RST reflected",
      steps: [{
        send: [
          from_client({ src_port: 40013, dst_port: 81, seq: 1, flags: TCP_FLAG_SYN }),
          from_client({ src_port: 40013, dst_port: 81, seq: 2, ack: 3, flags: TCP_FLAG_ACK }),
        ],
        expect: [],
      }],
      counters: { dropped_port_closed: 2 },
    },
    {
      description: "TCP to an IP that is not a VIP: dropped",
      steps: [{
        send: [from_client({ src_port: 40014, dst_ip: OTHER_IP, seq: 1, flags: TCP_FLAG_SYN })],
        expect: [],
      }],
      counters: { dropped_not_vip: 1 },
    },
  ];
}

function to_hex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

function from_hex(hex: string): Uint8Array {
  const bytes = new Uint8Array(hex.length / 2);
  for (let i = 0; i < bytes.length; i++) bytes[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return bytes;
}

async function run_case(row: FixtureRow): Promise<Result> {
  const dir = await Deno.makeTempDir({ prefix: "baton-dirfix-" });
  try {
    // every frame is injected by the harness; rx only has to open
    await Deno.writeFile(`${dir}/in.pcap`, write_pcap([]));
    await Deno.writeTextFile(
      `${dir}/case.json`,
      JSON.stringify({
        dir,
        director_mac: DIRECTOR_MAC,
        vip: VIP,
        ports: [VIP_PORT],
        cookie_key: COOKIE_KEY,
        ts_offset: TS_OFFSET,
        mss: MSS,
        max_header: row.max_header ?? MAX_HEADER,
        l4: row.l4 ?? false,
        request_timeout_ms: REQUEST_TIMEOUT_MS,
        steps: row.steps.map((step) => ({
          now: step.now ?? T0,
          frames: (step.send ?? []).map(to_hex),
          verdict: step.verdict,
        })),
      }),
    );
    const result = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", HARNESS, `${dir}/case.json`],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stdout = new TextDecoder().decode(result.stdout);
    assert.equal(result.code, 0, new TextDecoder().decode(result.stderr) + stdout);
    const reported = JSON.parse(stdout.trim().split("\n").at(-1)!);
    const output = read_pcap(await Deno.readFile(`${dir}/out.pcap`)).map((r) => r.frame);
    return {
      counters: reported.counters,
      sent: reported.sent,
      records: (reported.records as string[]).map((hex) => {
        const record = decode_handoff_record(from_hex(hex));
        assert.ok(record, "a record that decodes");
        return record;
      }),
      events: reported.events,
      output,
    };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

for (const row of rows()) {
  Deno.test({
    name: `director fixture: ${row.description}`,
    sanitizeResources: false,
    async fn() {
      const result = await run_case(row);
      assert.equal(
        result.output.length,
        result.sent.reduce((a, b) => a + b, 0),
        "the pcap holds what the port counted",
      );
      let at = 0;
      row.steps.forEach((step, i) => {
        const got = result.output.slice(at, at + result.sent[i]);
        at += result.sent[i];
        assert.deepEqual(
          got.map((f) => describe_frame(f)),
          step.expect.map((f) => describe_frame(f)),
          `step ${i}: fields`,
        );
        assert.deepEqual(got, step.expect, `step ${i}: bytes, checksums included`);
        for (const frame of got) {
          const d = describe_frame(frame);
          if (d.ipv4) assert.ok(d.ipv4.checksum_ok, `step ${i}: IPv4 checksum`);
          if (d.tcp) assert.ok(d.tcp.checksum_ok, `step ${i}: TCP checksum`);
          if (d.icmp) assert.ok(d.icmp.checksum_ok, `step ${i}: ICMP checksum`);
        }
      });
      // every counter is pinned: what the row names, rx = the frames given, the rest 0
      const frames_in = row.steps.reduce((n, step) => n + (step.send?.length ?? 0), 0);
      const expected: Record<string, number> = {};
      for (const name of DIRECTOR_COUNTER_NAMES) {
        expected[name] = name === "rx" ? frames_in : row.counters[name] ?? 0;
      }
      assert.deepEqual(result.counters, expected, "counters");
      row.check?.(result);
    },
  });
}
