// What the director's packet-fixture tables share (director_fixture_test.ts,
// director_hostile_fixture_test.ts, ...): the addresses, clocks and keys
// of every case, the frame builders for one client connection, the
// director's answers and the hand-off datagrams, the row type, and the
// runner. Each row is a list of steps {an agent's answer, the frames the
// client sends, the frames the director must send in answer} plus the
// counters at the end. The director's hand-off datagrams (to the agents)
// are taken apart from the frames to the client and the servers: a step
// compares them only when it says which it expects (expect_datagrams), and
// every one of them is decoded, with the object codec under the agent's key,
// into the result (handoffs, and records for each HANDOFF). A real DPDK
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
  build_udp,
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
  decode_message,
  DEFAULT_HANDOFF_PORT,
  encode_datagram,
  type FlowKey,
  type Handoff,
  type HandoffMessage,
  type HandoffRecord,
  http_response,
  import_handoff_key,
  parse_key_text,
  WSCALE_NONE,
} from "../../../dataplane/wire/mod.ts";
import { rendezvous_order, url_key } from "../../../control/director/mod.ts";
import { read_pcap, write_pcap } from "../../support/pcap.ts";
import { ts_route_code, ts_route_mask } from "../../../dataplane/mod.ts";

const HARNESS = new URL("../../support/director_fixture_main.ts", import.meta.url).pathname;

export const CLIENT_MAC = "02:b7:00:00:00:01";
export const DIRECTOR_MAC = "02:b7:00:00:00:02";
export const SERVER_MAC = "02:b7:00:00:01:02";
export const CLIENT_IP = "198.18.0.1";
export const VIP = "198.18.0.100";
export const OTHER_IP = "198.18.0.11";
export const VIP_PORT = 80;
/** The director's own fabric address: hand-offs come from it. */
export const DIRECTOR_IP = "198.18.0.2";
/** A second server (fallback rows), its MAC and address. */
export const SERVER2_MAC = "02:b7:00:00:01:03";
export const SERVER2_IP = "198.18.0.12";
/** Every agent's hand-off key in the fixtures. */
export const AGENT_KEY_HEX = "5a".repeat(32);
export const AGENT_KEY = await import_handoff_key(parse_key_text(AGENT_KEY_HEX));
/** The wall clock datagrams are stamped with (ms since 1970). */
export const WALL = 1_764_000_000_000;
/** The director's hand-off epoch in every case. */
export const EPOCH = 0x0badcafe;
/** Unless a row says otherwise, no HANDOFF is resent inside a case. */
export const NO_RETRANSMIT_RTO_MS = 100_000;

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
  // the TSval routing code of a hand-off to agent_id (the fixture's route key is the cookie key)
  const route_code = (agent_id: number) =>
    ts_route_code(
      agent_id,
      ts_route_mask(KEY, ip_to_u32(client_ip), ip_to_u32(VIP), (client_port << 16) | VIP_PORT),
    );
  const ports = { src_ip: client_ip, src_port: client_port, dst_port: VIP_PORT };
  const back = { dst_ip: client_ip, src_port: VIP_PORT, dst_port: client_port };
  const client_ts = (tsval: number) => (full ? ts(tsval, director_tsval) : []);
  const key = flow_key(client_port, client_ip);
  return {
    isn,
    cookie,
    /** The connection's flow key, as hand-off datagrams name it. */
    key,
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
    /**
     * The HANDOFF of this connection's request as the director sends it to
     * `to` (SERVER1 unless named), as hand-off `id` (1 unless named): the
     * request bytes taken and the client's last TSval; the client's window
     * 502 (its segments' window field) and its MSS, the director's MSS 1460,
     * the options the cookie kept; stamped with `wall` (WALL unless set).
     */
    route_code,
    handoff: (
      request: string | Uint8Array,
      client_tsval: number,
      options: { id?: number; to?: Agent; wall?: number } = {},
    ) => {
      const bytes = typeof request === "string" ? new TextEncoder().encode(request) : request;
      const message: Handoff = {
        type: "handoff",
        epoch: EPOCH,
        id: options.id ?? 1,
        key,
        state: {
          client_mac: mac_bytes(CLIENT_MAC),
          client_isn: isn,
          director_isn: cookie,
          client_next_seq: (isn + 1 + bytes.length) >>> 0,
          director_next_seq: (cookie + 1) >>> 0,
          client_window: 502,
          client_mss: offer === "none" ? 536 : MSS,
          director_mss: MSS,
          client_wscale: full ? 7 : WSCALE_NONE,
          director_wscale: full ? 7 : WSCALE_NONE,
          sack_permitted: full,
          timestamps: full,
          client_tsval,
          director_tsval,
          ...(full ? { ts_route: route_code((options.to ?? SERVER1).agent_id) } : {}),
          request: bytes,
        },
      };
      return datagram_frame(message, options.to ?? SERVER1, options.wall);
    },
  };
}

/** A client frame as forwarded to the server: only the Ethernet addresses change. */
export function forwarded(frame: Uint8Array): Uint8Array {
  return forwarded_to(frame, SERVER_MAC);
}

/** A client frame as forwarded to the server of MAC server_mac (two-server rows). */
export function forwarded_to(frame: Uint8Array, server_mac: string): Uint8Array {
  const out = frame.slice();
  out.set(mac_bytes(server_mac), 0);
  out.set(mac_bytes(DIRECTOR_MAC), 6);
  return out;
}

export function mac_bytes(mac: string): Uint8Array {
  return Uint8Array.from(mac.split(":").map((h) => parseInt(h, 16)));
}

/** An agent's datagram, played by the harness about the latest HANDOFF (of a client port). */
export interface Answer {
  type: "handoff_ack" | "handoff_nack" | "flow_end";
  reason?: number;
  /** The answering server's index (default: the one the HANDOFF went to). */
  server?: number;
  client_port?: number;
  /** Another id or epoch than the HANDOFF's: an answer to something never sent. */
  id?: number;
  epoch?: number;
}

export interface Step {
  /** Default T0. */
  now?: number;
  /** The wall clock datagrams are stamped with in this step (ms since 1970); default WALL. */
  wall?: number;
  /** An agent's answer, given to the director before the step's frames (in the same burst). */
  answer?: Answer;
  send?: Uint8Array[];
  /** Everything the director sends to the client and the servers during the step, in order. */
  expect: Uint8Array[];
  /** The hand-off datagrams it must send during the step, in order (unchecked when absent). */
  expect_datagrams?: Uint8Array[];
}

export interface Result {
  counters: Record<string, number>;
  sent: number[];
  /** Every HANDOFF the director sent, as the state it carries. */
  records: HandoffRecord[];
  /** Every hand-off datagram the director sent, decoded, with the step it went out in. */
  handoffs: { step: number; message: HandoffMessage; to_ip: string; to_mac: string }[];
  server_stats: Record<string, number>[];
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
  /** The servers behind the VIP (default one: SERVER_MAC at OTHER_IP). */
  servers?: FixtureServer[];
  draining?: boolean;
  /** L3 fabric: the router's MAC the director sends its hand-off datagrams to. */
  gateway_mac?: string;
  handoff_rto_ms?: number;
  handoff_tries?: number;
  /** Pin the hand-off counters too (handoffs_sent .. latency): else only those the row names. */
  pin_handoff?: boolean;
  steps: Step[];
  /** Every counter that must not be 0 (except rx, which must be the frames sent). */
  counters: Partial<Record<typeof DIRECTOR_COUNTER_NAMES[number], number>>;
  /** Further checks on the result (records, handoffs, cookies). */
  check?: (result: Result) => void;
}

export const GET_HEAD = "GET /index.html HTTP/1.1\r\nHost: baton.test\r\nUser-Agent: fixture\r\n" +
  "Accept: */*\r\n\r\n";

/** The one server of most rows. */
export const ONE_SERVER: FixtureServer[] = [{ name: "srv1", mac: SERVER_MAC, ip: OTHER_IP }];

/**
 * A hand-off datagram frame as the director sends it to `to` (byte-exact,
 * checksums in), stamped with wall clock `wall` (WALL unless set).
 */
export function datagram_frame(
  message: HandoffMessage,
  to: { mac: string; ip: string; agent_id?: number },
  wall = WALL,
): Uint8Array {
  const encoded = encode_datagram(message, AGENT_KEY, { agent: to.agent_id ?? 1, now: wall });
  if (!encoded.ok) throw new Error(encoded.problem);
  return build_udp({
    src_mac: DIRECTOR_MAC,
    dst_mac: to.mac,
    src_ip: DIRECTOR_IP,
    dst_ip: to.ip,
    src_port: DEFAULT_HANDOFF_PORT,
    dst_port: DEFAULT_HANDOFF_PORT,
    payload: encoded.bytes,
  });
}

/** A server's agent on the fabric: where the director's datagrams to it go, and the id they name. */
export interface Agent {
  mac: string;
  ip: string;
  agent_id: number;
}
/** The agents of the fixture's servers (agent id = index + 1). */
export const SERVER1: Agent = { mac: SERVER_MAC, ip: OTHER_IP, agent_id: 1 };
export const SERVER2: Agent = { mac: SERVER2_MAC, ip: SERVER2_IP, agent_id: 2 };
/** Two servers (fallback rows): srv1 = SERVER1, srv2 = SERVER2. */
export const TWO_SERVERS: FixtureServer[] = [...ONE_SERVER, {
  name: "srv2",
  mac: SERVER2_MAC,
  ip: SERVER2_IP,
}];

/** A server of a row (FixtureRow.servers): its name (what rendezvous hashes), MAC and agent's address. */
export interface FixtureServer {
  name: string;
  mac: string;
  ip: string;
  weight?: number;
  healthy?: boolean;
}

/**
 * The agents of `servers` in the order the director tries them for a
 * request of host and path: weighted rendezvous over url_key (the control
 * side's selection.ts, which selection_table.ts is held equal to).
 */
export function rendezvous_agents(servers: FixtureServer[], host: string, path: string): Agent[] {
  const order = rendezvous_order(
    url_key(host, path),
    servers.map((s) => ({ name: s.name, weight: s.weight ?? 1 })),
  );
  return order.map((i) => ({ mac: servers[i].mac, ip: servers[i].ip, agent_id: i + 1 }));
}

/** The flow key of a client port's connection to the VIP, as datagrams name it. */
export function flow_key(client_port: number, client_ip = CLIENT_IP): FlowKey {
  return {
    client_ip: ip_to_u32(client_ip),
    vip: ip_to_u32(VIP),
    client_port,
    vip_port: VIP_PORT,
  };
}

/**
 * The FLOW_END_ACK the director sends `to` (SERVER1 unless named) for
 * hand-off `id` (1 unless named) of a client port's flow: written into the
 * FLOW_END's own mbuf, so byte-exact like any datagram it builds.
 */
export function flow_end_ack(
  client_port: number,
  options: { id?: number; epoch?: number; to?: Agent; client_ip?: string; wall?: number } = {},
): Uint8Array {
  return datagram_frame(
    {
      type: "flow_end_ack",
      epoch: options.epoch ?? EPOCH,
      id: options.id ?? 1,
      key: flow_key(client_port, options.client_ip),
    },
    options.to ?? SERVER1,
    options.wall,
  );
}

/** The FLOW_QUERY (id `id`) the director sends `to` (SERVER1 unless named) about a client port's flow. */
export function flow_query(
  client_port: number,
  options: { id: number; to?: Agent; client_ip?: string; wall?: number },
): Uint8Array {
  return datagram_frame(
    {
      type: "flow_query",
      epoch: EPOCH,
      id: options.id,
      key: flow_key(client_port, options.client_ip),
    },
    options.to ?? SERVER1,
    options.wall,
  );
}

/** The HANDOFF_CANCEL of hand-off `id` of a client port's flow, to `to` (SERVER1 unless named). */
export function cancel(
  client_port: number,
  options: { id?: number; to?: Agent; client_ip?: string; wall?: number } = {},
): Uint8Array {
  return datagram_frame(
    {
      type: "handoff_cancel",
      epoch: EPOCH,
      id: options.id ?? 1,
      key: flow_key(client_port, options.client_ip),
    },
    options.to ?? SERVER1,
    options.wall,
  );
}

/**
 * An agent's datagram to the director as a frame to `send` (what the
 * harness's `answer` builds, but in the row's hands): from `from` (SERVER1
 * unless named; src_ip overrides its address), naming agent_id (the
 * sender's unless named), stamped `now` (WALL unless named), and bent after
 * signing when `bend` says how (a flipped tag byte, a cut). UDP and IPv4
 * checksums are computed over the result, so only the datagram is wrong.
 */
export function from_agent(
  message: HandoffMessage,
  options: {
    from?: Agent;
    src_ip?: string;
    agent_id?: number;
    now?: number;
    bend?: (datagram: Uint8Array) => Uint8Array;
  } = {},
): Uint8Array {
  const from = options.from ?? SERVER1;
  const encoded = encode_datagram(message, AGENT_KEY, {
    agent: options.agent_id ?? from.agent_id,
    now: options.now ?? WALL,
  });
  if (!encoded.ok) throw new Error(encoded.problem);
  return build_udp({
    src_mac: from.mac,
    dst_mac: DIRECTOR_MAC,
    src_ip: options.src_ip ?? from.ip,
    dst_ip: DIRECTOR_IP,
    src_port: DEFAULT_HANDOFF_PORT,
    dst_port: DEFAULT_HANDOFF_PORT,
    payload: options.bend ? options.bend(encoded.bytes.slice()) : encoded.bytes,
  });
}

/** True for a frame the director sends an agent: UDP from its address and hand-off port. */
function is_datagram(frame: Uint8Array): boolean {
  const d = describe_frame(frame);
  return d.udp !== undefined && d.ipv4?.src_ip === DIRECTOR_IP &&
    d.udp.src_port === DEFAULT_HANDOFF_PORT;
}

/** The dataplane counters of the hand-off itself, pinned only by rows that ask (pin_handoff). */
const HANDOFF_COUNTER =
  /^(timers_|handoffs_sent|handoff_|handoffs_acked|handoffs_nacked|nack_|fallbacks|cancels_sent|late_acks|answers_unmatched|flow_end|refused_draining|fail_open|unexpected_messages|tx_no_mbuf|flows_forwarding|latency_)/;

function to_hex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
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
        director_ip: DIRECTOR_IP,
        vip: VIP,
        ports: [VIP_PORT],
        cookie_key: COOKIE_KEY,
        agent_key_hex: AGENT_KEY_HEX,
        wall_clock: WALL,
        epoch: EPOCH,
        handoff_rto_ms: row.handoff_rto_ms ?? NO_RETRANSMIT_RTO_MS,
        handoff_tries: row.handoff_tries ?? 4,
        ts_offset: TS_OFFSET,
        mss: MSS,
        max_header: row.max_header ?? MAX_HEADER,
        l4: row.l4 ?? false,
        request_timeout_ms: REQUEST_TIMEOUT_MS,
        servers: row.servers ?? ONE_SERVER,
        draining: row.draining,
        gateway_mac: row.gateway_mac,
        other_vips: row.other_vips,
        max_reading: row.max_reading,
        max_request: row.max_request,
        reading_share: row.reading_share,
        challenge_ack_limit: row.challenge_ack_limit,
        steps: row.steps.map((step) => ({
          now: step.now ?? T0,
          wall: step.wall,
          frames: (step.send ?? []).map(to_hex),
          answer: step.answer,
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
    const handoffs: Result["handoffs"] = [];
    let at = 0;
    for (const [step, n] of (reported.sent as number[]).entries()) {
      for (const frame of output.slice(at, at + n)) {
        if (!is_datagram(frame)) continue;
        const d = describe_frame(frame);
        const decoded = await decode_message(frame.subarray(42), AGENT_KEY, {
          now: row.steps[step].wall ?? WALL,
        });
        assert.ok(decoded.ok, `step ${step}: a hand-off datagram that decodes`);
        handoffs.push({
          step,
          message: decoded.message,
          to_ip: d.ipv4!.dst_ip,
          to_mac: d.dst_mac!,
        });
      }
      at += n;
    }
    const records = handoffs.flatMap(({ message: m }) =>
      m.type === "handoff"
        ? [{
          epoch: m.epoch,
          id: m.id,
          ...m.key,
          client_mac: m.state.client_mac,
          client_isn: m.state.client_isn,
          director_next_seq: m.state.director_next_seq,
          client_window: m.state.client_window,
          client_mss: m.state.client_mss,
          client_wscale: m.state.client_wscale,
          director_wscale: m.state.director_wscale,
          sack_permitted: m.state.sack_permitted,
          timestamps: m.state.timestamps,
          client_tsval: m.state.client_tsval,
          director_tsval: m.state.director_tsval,
          ...(m.state.ts_route === undefined ? {} : { ts_route: m.state.ts_route }),
          request: m.state.request,
        }]
        : []
    );
    return {
      counters: reported.counters,
      sent: reported.sent,
      records,
      handoffs,
      server_stats: reported.server_stats,
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
          const all = result.output.slice(at, at + result.sent[i]);
          at += result.sent[i];
          const got = all.filter((f) => !is_datagram(f));
          if (step.expect_datagrams) {
            const datagrams = all.filter(is_datagram);
            assert.deepEqual(
              datagrams.map((f) => describe_frame(f)),
              step.expect_datagrams.map((f) => describe_frame(f)),
              `step ${i}: hand-off datagrams, fields`,
            );
            assert.deepEqual(
              datagrams,
              step.expect_datagrams,
              `step ${i}: hand-off datagrams, bytes`,
            );
          }
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
          for (const frame of all.filter(is_datagram)) {
            const d = describe_frame(frame);
            assert.ok(d.ipv4!.checksum_ok && d.udp!.checksum_ok, `step ${i}: datagram checksums`);
          }
        });
        // every counter is pinned: what the row names, rx = the frames given, the rest 0
        const frames_in = row.steps.reduce(
          (n, step) => n + (step.send?.length ?? 0) + (step.answer ? 1 : 0),
          0,
        );
        // ... but the two the accounting adds are checked as a sum: every dropped
        // frame has exactly one reason among DIRECTOR_DROP_REASONS
        const reasons = DIRECTOR_DROP_REASONS.reduce((n, name) => n + result.counters[name], 0);
        assert.equal(result.counters.frames_dropped, reasons, "one reason per dropped frame");
        const expected: Record<string, number> = {};
        for (const name of DIRECTOR_COUNTER_NAMES) {
          const unpinned = name === "frames_dropped" || name === "acks_absorbed" ||
            (!row.pin_handoff && HANDOFF_COUNTER.test(name) && !(name in row.counters));
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
