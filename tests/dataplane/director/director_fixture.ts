// What the director's packet-fixture tables share (director_fixture_test.ts,
// director_hostile_fixture_test.ts): the addresses, clock and key of every
// case, the frame builders for one client connection and the director's
// answers, the row type, and the runner. Each row is a list of steps
// {frames the client sends, the control Worker's verdict, the frames the
// director must send in answer} plus the counters at the end. A real DPDK
// process (tests/support/director_fixture_main.ts) runs the director's
// pipeline on a net_pcap port and records what it sends; expected frames come
// from the packet builders with checksums computed in full, so byte equality
// checks every header the director writes. The cookie key, the clock and the
// TSval offset are fixed, so the test computes each SYN/ACK's cookie itself
// (cookie_make, and cookie_tsval for the TSval that carries the window scale
// and SACK-permitted of a timestamp client) and builds the client's
// handshake ACK with ack = cookie + 1 and TSecr = that TSval.

import assert from "node:assert/strict";
import {
  build_tcp,
  describe_frame,
  ip_to_u32,
  TCP_FLAG_ACK,
  TCP_FLAG_FIN,
  TCP_FLAG_PSH,
  TCP_FLAG_SYN,
  type TcpOption,
  type TcpSpec,
} from "../../../dataplane/mod.ts";
import {
  cookie_info,
  cookie_make,
  cookie_tsval,
  COOKIE_WSCALE_NONE,
  create_cookie_key,
  DIRECTOR_COUNTER_NAMES,
  DIRECTOR_DROP_REASONS,
} from "../../../dataplane/director/mod.ts";
import {
  decode_handoff_record,
  type HandoffRecord,
  http_response,
} from "../../../dataplane/wire/mod.ts";
import { read_pcap, write_pcap } from "../../support/pcap.ts";

const HARNESS = new URL("../../support/director_fixture_main.ts", import.meta.url).pathname;

export const CLIENT_MAC = "02:b7:00:00:00:01";
export const DIRECTOR_MAC = "02:b7:00:00:00:02";
export const SERVER_MAC = "02:b7:00:00:01:02";
export const CLIENT_IP = "198.18.0.1";
export const VIP = "198.18.0.100";
export const OTHER_IP = "198.18.0.11";
export const VIP_PORT = 80;

export const COOKIE_KEY = [0x62, 0x61, 0x74, 0x6f, 0x6e, 0x2d, 0x6b, 0x31];
export const KEY = create_cookie_key(Uint8Array.from(COOKIE_KEY));
/** The clock (ms) of every step unless it says otherwise. */
export const T0 = 1_000_000;
/** Added to the clock for the director's TSval (random in production, fixed here). */
export const TS_OFFSET = 70_000;
/** Fabric MTU 1500 − 40. */
export const MSS = 1460;
export const REQUEST_TIMEOUT_MS = 10_000;
export const MAX_HEADER = 4096;
/** The client's first TSval. */
export const CLIENT_TS0 = 4000;
/** What the director advertises on every segment: 65535 in units of 2^7 once scaling is on. */
export const READING_WINDOW_SCALED = 65535 >> 7;

export const ts = (tsval: number, tsecr: number): TcpOption[] => [
  { kind: "nop" },
  { kind: "nop" },
  { kind: "timestamp", tsval: tsval >>> 0, tsecr: tsecr >>> 0 },
];

export type Segment = Partial<TcpSpec>;

/** A frame from the client to the director (the VIP's MAC is the director's). */
export const from_client = (s: Segment) =>
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
export const to_client = (s: Segment) =>
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
 * timestamps (Windows' default), which the director answers with MSS only:
 * its SYN cookie can carry window scale and SACK-permitted only in the
 * TSval; "none" a SYN without options.
 */
export type Offer = "full" | "no_ts" | "none";

/** One client connection: its frames and the director's expected answers. */
export function connection(
  client_port: number,
  isn: number,
  offer: Offer = "full",
  at = T0,
  client_ip = CLIENT_IP,
) {
  const full = offer === "full";
  // without timestamps the director announces no window scale (syn_cookie.ts)
  const scaled = full;
  const info = offer === "none"
    ? cookie_info(536, COOKIE_WSCALE_NONE, false, false)
    : cookie_info(MSS, 7, true, full);
  const cookie = cookie_make(
    KEY,
    ip_to_u32(client_ip),
    ip_to_u32(VIP),
    client_port,
    VIP_PORT,
    isn,
    at / 1000,
    info,
  );
  // the clock with the cookie's option bits in its low 6, on the SYN/ACK and every later segment
  const director_tsval = cookie_tsval(at + TS_OFFSET, info);
  const ports = { src_ip: client_ip, src_port: client_port, dst_port: VIP_PORT };
  const back = { dst_ip: client_ip, src_port: VIP_PORT, dst_port: client_port };
  const client_ts = (tsval: number) => (full ? ts(tsval, director_tsval) : []);
  return {
    isn,
    cookie,
    /** What the cookie keeps of the client's options (cookie_info). */
    info,
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
      // Linux's order: MSS, SACK-permitted, TS, NOP, wscale
      options: {
        full: [
          { kind: "mss", value: MSS },
          { kind: "sack_permitted" },
          { kind: "timestamp", tsval: director_tsval, tsecr: CLIENT_TS0 },
          { kind: "nop" },
          { kind: "wscale", shift: 7 },
        ],
        // changed by design (issue 10): no TS, so nowhere to carry wscale and SACK-permitted
        no_ts: [{ kind: "mss", value: MSS }],
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
    /**
     * A bare segment of the director's (a challenge ACK, a FIN+ACK, a RST):
     * seq = cookie + 1 + `sent` (what it sent before), ack = ISN + 1 + `acked`.
     */
    segment: (flags: number, sent: number, acked: number, tsecr: number) =>
      to_client({
        ...back,
        seq: (cookie + 1 + sent) >>> 0,
        ack: (isn + 1 + acked) >>> 0,
        flags,
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
        // a usable window, so the client's FIN gets through
        window: scaled ? READING_WINDOW_SCALED : 65535,
        options: full ? ts(director_tsval, tsecr) : [],
        payload: http_response(status),
      }),
  };
}

/** A client frame as forwarded to the server: only the Ethernet addresses change. */
export function forwarded(frame: Uint8Array): Uint8Array {
  const out = frame.slice();
  out.set(mac_bytes(SERVER_MAC), 0);
  out.set(mac_bytes(DIRECTOR_MAC), 6);
  return out;
}

export function mac_bytes(mac: string): Uint8Array {
  return Uint8Array.from(mac.split(":").map((h) => parseInt(h, 16)));
}

export interface Verdict {
  verdict: "forward" | "try" | "respond" | "forget";
  server_mac?: string;
  status?: number;
}

export interface Step {
  /** Default T0. */
  now?: number;
  /** Played as the control Worker before the step's frames. */
  verdict?: Verdict;
  send?: Uint8Array[];
  /** Everything the director sends during the step, in order. */
  expect: Uint8Array[];
}

export interface Result {
  counters: Record<string, number>;
  sent: number[];
  records: HandoffRecord[];
  events: number[][];
  output: Uint8Array[];
}

export interface FixtureRow {
  description: string;
  max_header?: number;
  /** Limits the director otherwise has defaults for (the harness's max_reading is 8). */
  max_reading?: number;
  max_request?: number;
  reading_share?: number;
  challenge_ack_limit?: number;
  /** More VIPs on the same ports. */
  other_vips?: string[];
  /** The VIP uses the L4 policy (no request head is read). */
  l4?: boolean;
  steps: Step[];
  /** Every counter that must not be 0 (except rx, which must be the frames sent). */
  counters: Partial<Record<typeof DIRECTOR_COUNTER_NAMES[number], number>>;
  /** Further checks on the result (records, events, cookies). */
  check?: (result: Result) => void;
}

export const GET_HEAD = "GET /index.html HTTP/1.1\r\nHost: baton.test\r\nUser-Agent: fixture\r\n" +
  "Accept: */*\r\n\r\n";

function to_hex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

function from_hex(hex: string): Uint8Array {
  const bytes = new Uint8Array(hex.length / 2);
  for (let i = 0; i < bytes.length; i++) bytes[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return bytes;
}

export async function run_case(row: FixtureRow): Promise<Result> {
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
        other_vips: row.other_vips,
        max_reading: row.max_reading,
        max_request: row.max_request,
        reading_share: row.reading_share,
        challenge_ack_limit: row.challenge_ack_limit,
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

/** One Deno test per row: frames, bytes and checksums per step, then every counter. */
export function fixture_tests(rows: FixtureRow[]): void {
  for (const row of rows) {
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
        // ... but the two the accounting adds are checked as a sum: every dropped
        // frame has exactly one reason among DIRECTOR_DROP_REASONS
        const reasons = DIRECTOR_DROP_REASONS.reduce((n, name) => n + result.counters[name], 0);
        assert.equal(result.counters.frames_dropped, reasons, "one reason per dropped frame");
        const expected: Record<string, number> = {};
        for (const name of DIRECTOR_COUNTER_NAMES) {
          const unpinned = name === "frames_dropped" || name === "acks_absorbed";
          expected[name] = name === "rx"
            ? frames_in
            : unpinned
            ? result.counters[name]
            : row.counters[name] ?? 0;
        }
        assert.deepEqual(result.counters, expected, "counters");
        row.check?.(result);
      },
    });
  }
}
