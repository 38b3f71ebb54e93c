// Packet fixtures for the agent's translation, Katran style: each row is
// {description, flow, input frame on one side, expected frame on the other
// side (or none), expected counters}, or, for the rows that need a flow to
// live through several segments, hand-offs and time-outs, a list of steps
// (the clock, a HANDOFF frame, frames from the client and from the stack,
// and exactly what the agent sends each way in that step, its answers to
// the director included). A real DPDK process (tests/support/
// agent_fixture_main.ts) runs the rows through net_pcap ports; expected
// frames come from the same builder with checksums computed in full, so
// byte equality checks every incremental checksum update against a full
// recompute.
//
// Hand-offs travel in-band: a row's HANDOFF (or CANCEL, FLOW_END_ACK) is
// encoded with encode_datagram under the agent's key, wrapped in
// Ethernet/IPv4/UDP from the director to the server's address at the
// hand-off port, and injected on the fabric port; the agent's HANDOFF_ACK,
// NACK and FLOW_END frames come out of the fabric port and are decoded
// here as the director would (decode_message: tag, freshness, agent id),
// their addresses, MACs and checksums checked (recomputed). The handoff
// rows (handoff_rows) are the receive path's: a bad tag, a truncated,
// stale or replayed datagram, one for another agent or from a sender
// that is not a director, a refusal repeated, a cancel, FLOW_END
// retransmitted until its ACK, and UDP that is not a hand-off.
//
// The hostile rows (hostile_rows) are issue 10's for the agent: RFC 5961
// for the client's RSTs, SYNs and FINs, a stack that declines options,
// options a side never negotiated, idle expiry and cancel, and frames that
// cannot be parsed or lie. The ICMP rows (icmp_rows) are its item 9: an
// error a router sent the VIP about a handed-off flow's segment reaches the
// stack with the quoted seq in the stack's space (path-MTU discovery).

import assert from "node:assert/strict";
import {
  build_arp,
  build_icmp_echo,
  build_tcp,
  build_udp,
  describe_frame,
  icmp_checksum_set,
  ip_to_u32,
  ipv4_checksum_set,
  mac_to_bytes,
  type TcpOption,
  type TcpSpec,
  write_u32,
} from "../../../dataplane/mod.ts";
import { AGENT_DROP_REASONS } from "../../../dataplane/agent/mod.ts";
import {
  decode_message,
  DEFAULT_HANDOFF_PORT,
  encode_datagram,
  FLOW_END_CLIENT_RESET,
  FLOW_END_FIN,
  FLOW_END_IDLE_TIMEOUT,
  type FlowKey,
  type HandoffMessage,
  import_handoff_key,
  type MessageType,
  NACK_BAD_REQUEST,
  NACK_STACK_OPTIONS,
  parse_key_text,
} from "../../../dataplane/wire/mod.ts";
import { read_pcap, write_pcap } from "../../support/pcap.ts";
import { routed_tsval, TS_ROUTE_HEADROOM } from "../../../dataplane/mod.ts";

const HARNESS = new URL("../../support/agent_fixture_main.ts", import.meta.url).pathname;

const CLIENT_MAC = "02:b7:00:00:00:01";
const DIRECTOR_MAC = "02:b7:00:00:00:02";
const SERVER_MAC = "02:b7:00:00:01:01";
const CLIENT_IP = "198.18.0.1";
const VIP = "198.18.0.100";
const CLIENT_PORT = 40000;
/** The server's own fabric address: hand-offs go to it, at the hand-off port. */
const SERVER_IP = "198.18.0.11";
const DIRECTOR_IP = "198.18.0.2";
/** On an L3 fabric a hand-off arrives from the router's MAC. */
const ROUTER_MAC = "02:b7:00:00:00:fe";
const HANDOFF_PORT = DEFAULT_HANDOFF_PORT;
const AGENT_ID = 2;
const KEY_HEX = "5a".repeat(32);
const KEY = await import_handoff_key(parse_key_text(KEY_HEX));
/** The wall clock at now = 0 (sent_at of what the director sends, the agent's stamps). */
const WALL = 1_754_000_000_000;
const FRESHNESS_MS = 10_000;
const FLOW_KEY: FlowKey = {
  client_ip: ip_to_u32(CLIENT_IP),
  vip: ip_to_u32(VIP),
  client_port: CLIENT_PORT,
  vip_port: 80,
};
/** The hand-off every row's flow belongs to (installed flows too). */
const EPOCH = 1;
const ID = 7;

interface Flow {
  client_isn: number;
  server_isn: number;
  director_isn: number;
  ts_delta: number;
  /** The TSval routing code its director gave it (dataplane/ts_route.ts). */
  ts_route?: number;
  server_wscale: number;
  director_wscale: number;
  sack_permitted: boolean;
  timestamps: boolean;
  /** The stack's last ACK and window (bytes), the end of what it sent (director space). */
  stack_ack?: number;
  stack_window?: number;
  stack_next?: number;
}

const BASE: Flow = {
  client_isn: 1000,
  server_isn: 5_000_000,
  director_isn: 0x7000_0000,
  ts_delta: 12345,
  server_wscale: 7,
  director_wscale: 7,
  sack_permitted: true,
  timestamps: true,
};

/** server space − director space */
const isn_delta = (f: Flow) => (f.server_isn - f.director_isn) >>> 0;

type Segment = Partial<TcpSpec> & { seq: number; ack: number };

// Frames on the server side: the stack talks to the client from the VIP.
const from_stack = (s: Segment) =>
  build_tcp({
    src_mac: SERVER_MAC,
    dst_mac: CLIENT_MAC,
    src_ip: VIP,
    dst_ip: CLIENT_IP,
    src_port: 80,
    dst_port: CLIENT_PORT,
    ...s,
  });
// Frames on the fabric side: the director forwards the client's frames to the server's MAC.
const from_client = (s: Segment) =>
  build_tcp({
    src_mac: DIRECTOR_MAC,
    dst_mac: SERVER_MAC,
    src_ip: CLIENT_IP,
    dst_ip: VIP,
    src_port: CLIENT_PORT,
    dst_port: 80,
    ...s,
  });

const ts = (tsval: number, tsecr: number): TcpOption[] => [
  { kind: "nop" },
  { kind: "nop" },
  { kind: "timestamp", tsval: tsval >>> 0, tsecr: tsecr >>> 0 },
];
const sack = (blocks: [number, number][]): TcpOption[] => [
  { kind: "nop" },
  { kind: "nop" },
  { kind: "sack", blocks: blocks.map(([l, r]) => [l >>> 0, r >>> 0] as [number, number]) },
];

interface FixtureRow {
  description: string;
  flow?: Partial<Flow>;
  /** No flow installed: nothing is handed off. */
  no_flow?: boolean;
  side: "fabric" | "server";
  input: Uint8Array;
  /** On the other side; null: dropped. */
  expect: Uint8Array | null;
  counters: Record<string, number>;
}

/** An answer the agent sends the director, as the director decodes it. */
interface Answer {
  type: Extract<MessageType, "handoff_ack" | "handoff_nack" | "flow_end" | "flow_owner">;
  /** NACK or FLOW_END reason; 0 for an ACK. */
  reason?: number;
  /** The hand-off it names; default EPOCH, ID. */
  epoch?: number;
  id?: number;
  /** Default the rows' flow. */
  key?: FlowKey;
  /** FLOW_END's packet counts, when the row says. */
  counts?: { packets_to_server: number; packets_to_client: number };
  /** Where it goes: where the HANDOFF came from (default the director's MAC, address, port). */
  to_mac?: string;
  to_ip?: string;
  to_port?: number;
}

/** One step of a stateful row: what goes in, and exactly what comes out. */
interface Step {
  /** The clock (ms); default the previous step's (0 first). Installed flows were seen at 0. */
  now?: number;
  /**
   * Datagrams from the director, framed by handoff_frame at this step's
   * wall clock and injected on the fabric port before from_client.
   */
  handoff?: HandoffMessage | HandoffMessage[];
  /** Frames into the fabric port (from the client, via the director). */
  from_client?: Uint8Array[];
  /** Frames into the server port (from the stack). */
  from_stack?: Uint8Array[];
  /** What leaves the server port this step, in order (default none). */
  to_stack?: Uint8Array[];
  /** What leaves the fabric port this step, in order (default none). */
  to_client?: Uint8Array[];
  /** The agent's answers to the director this step, in order (default none). */
  answers?: Answer[];
}

interface StepsRow {
  description: string;
  /** The installed flow; none when the row adopts its own (or none at all). */
  flow?: Partial<Flow> | null;
  timers?: Record<string, number>;
  /** The agent's configured VIPs and its orphan window (a restarted agent). */
  vips?: string[];
  orphan_reset_ms?: number;
  /** Directors read besides DIRECTOR_IP:HANDOFF_PORT; null: any sender (no list). */
  directors?: { ip: string; port: number }[] | null;
  steps: Step[];
  counters: Record<string, number>;
}

function rows(): FixtureRow[] {
  const f = BASE;
  const d = isn_delta(f);
  const wrap: Flow = { ...BASE, server_isn: 0xffff_ff00, director_isn: 0x10 };
  const dw = isn_delta(wrap);
  const request_end = f.client_isn + 1 + 100;
  return [
    {
      description:
        "server→client data: seq into the director's space, TSval + Δts, L2 to the client",
      side: "server",
      input: from_stack({
        seq: f.server_isn + 1,
        ack: request_end,
        flags: 0x18,
        window: 509,
        options: ts(500, 9000),
        payload: 1448,
      }),
      expect: from_stack({
        seq: f.director_isn + 1,
        ack: request_end,
        flags: 0x18,
        window: 509,
        options: ts(500 + f.ts_delta, 9000),
        payload: 1448,
      }),
      counters: { translated_to_client: 1, server_rx: 1 },
    },
    {
      description: "client→server ACK: ack into the stack's space, TSecr − Δts, L2 to the stack",
      side: "fabric",
      input: from_client({
        seq: request_end,
        ack: f.director_isn + 1 + 2896,
        flags: 0x10,
        window: 1000,
        options: ts(9001, 500 + f.ts_delta),
      }),
      expect: from_client({
        seq: request_end,
        ack: (f.director_isn + 1 + 2896 + d) >>> 0,
        flags: 0x10,
        window: 1000,
        options: ts(9001, 500),
      }),
      counters: { translated_to_server: 1, fabric_rx: 1 },
    },
    {
      description: "sequence wrap-around: ISN_s near 2^32, ISN_d near 0",
      flow: wrap,
      side: "server",
      input: from_stack({
        seq: 0x0000_0200,
        ack: request_end,
        flags: 0x10,
        window: 100,
        options: ts(7, 8),
        payload: 10,
      }),
      expect: from_stack({
        seq: (0x0000_0200 - dw) >>> 0,
        ack: request_end,
        flags: 0x10,
        window: 100,
        options: ts(7 + f.ts_delta, 8),
        payload: 10,
      }),
      counters: { translated_to_client: 1 },
    },
    {
      description: "ack wraps around 2^32 towards the stack",
      flow: wrap,
      side: "fabric",
      input: from_client({
        seq: request_end,
        ack: 0x0000_0011,
        flags: 0x10,
        window: 100,
        options: ts(1, 2 + f.ts_delta),
      }),
      expect: from_client({
        seq: request_end,
        ack: (0x11 + dw) >>> 0,
        flags: 0x10,
        window: 100,
        options: ts(1, 2),
      }),
      counters: { translated_to_server: 1 },
    },
    {
      description:
        "SACK with three blocks (and TS): every edge into the stack's space, across the wrap",
      flow: wrap,
      side: "fabric",
      input: from_client({
        seq: request_end,
        ack: 0x11,
        flags: 0x10,
        window: 100,
        options: [
          ...ts(1, 2 + f.ts_delta),
          ...sack([[0x1000, 0x2000], [0x3000, 0x4000], [0xffff_fff0, 0x20]]),
        ],
      }),
      expect: from_client({
        seq: request_end,
        ack: (0x11 + dw) >>> 0,
        flags: 0x10,
        window: 100,
        options: [
          ...ts(1, 2),
          ...sack([[0x1000 + dw, 0x2000 + dw], [0x3000 + dw, 0x4000 + dw], [
            0xffff_fff0 + dw,
            0x20 + dw,
          ]]),
        ],
      }),
      counters: { translated_to_server: 1 },
    },
    {
      description: "SACK with four blocks, no timestamps",
      flow: { timestamps: false },
      side: "fabric",
      input: from_client({
        seq: request_end,
        ack: f.director_isn + 1,
        flags: 0x10,
        window: 100,
        options: sack([
          [f.director_isn + 100, f.director_isn + 200],
          [f.director_isn + 300, f.director_isn + 400],
          [f.director_isn + 500, f.director_isn + 600],
          [f.director_isn + 700, f.director_isn + 800],
        ]),
      }),
      expect: from_client({
        seq: request_end,
        ack: f.server_isn + 1,
        flags: 0x10,
        window: 100,
        options: sack([
          [f.server_isn + 100, f.server_isn + 200],
          [f.server_isn + 300, f.server_isn + 400],
          [f.server_isn + 500, f.server_isn + 600],
          [f.server_isn + 700, f.server_isn + 800],
        ]),
      }),
      counters: { translated_to_server: 1 },
    },
    {
      description: "SACK blocks towards the client stay (they are in the client's space)",
      side: "server",
      input: from_stack({
        seq: f.server_isn + 1,
        ack: request_end,
        flags: 0x10,
        window: 300,
        options: [...ts(5, 6), ...sack([[request_end + 10, request_end + 20]])],
      }),
      expect: from_stack({
        seq: f.director_isn + 1,
        ack: request_end,
        flags: 0x10,
        window: 300,
        options: [...ts(5 + f.ts_delta, 6), ...sack([[request_end + 10, request_end + 20]])],
      }),
      counters: { translated_to_client: 1 },
    },
    {
      description: "window scale 0→7: the stack's bytes in the director's units (÷128)",
      flow: { server_wscale: 0, director_wscale: 7 },
      side: "server",
      input: from_stack({
        seq: f.server_isn + 1,
        ack: request_end,
        flags: 0x10,
        window: 64000,
        options: ts(5, 6),
      }),
      expect: from_stack({
        seq: f.director_isn + 1,
        ack: request_end,
        flags: 0x10,
        window: 500,
        options: ts(5 + f.ts_delta, 6),
      }),
      counters: { translated_to_client: 1 },
    },
    {
      description: "window scale 7→2: ×32",
      flow: { server_wscale: 7, director_wscale: 2 },
      side: "server",
      input: from_stack({
        seq: f.server_isn + 1,
        ack: request_end,
        flags: 0x10,
        window: 1000,
        options: ts(5, 6),
      }),
      expect: from_stack({
        seq: f.director_isn + 1,
        ack: request_end,
        flags: 0x10,
        window: 32000,
        options: ts(5 + f.ts_delta, 6),
      }),
      counters: { translated_to_client: 1 },
    },
    {
      description: "window scale 7→2 beyond 16 bits: capped at 65535",
      flow: { server_wscale: 7, director_wscale: 2 },
      side: "server",
      input: from_stack({
        seq: f.server_isn + 1,
        ack: request_end,
        flags: 0x10,
        window: 4000,
        options: ts(5, 6),
      }),
      expect: from_stack({
        seq: f.director_isn + 1,
        ack: request_end,
        flags: 0x10,
        window: 65535,
        options: ts(5 + f.ts_delta, 6),
      }),
      counters: { translated_to_client: 1 },
    },
    {
      description: "server RST is translated (the client must learn) and counted on close",
      side: "server",
      input: from_stack({ seq: f.server_isn + 50, ack: request_end, flags: 0x14, window: 0 }),
      expect: from_stack({ seq: f.director_isn + 50, ack: request_end, flags: 0x14, window: 0 }),
      counters: { translated_to_client: 1 },
    },
    {
      description: "a flow that was not handed off passes untouched (the server's own traffic)",
      no_flow: true,
      side: "server",
      input: from_stack({ seq: 42, ack: 43, flags: 0x10, window: 100, options: ts(1, 2) }),
      expect: from_stack({ seq: 42, ack: 43, flags: 0x10, window: 100, options: ts(1, 2) }),
      counters: { passed_to_fabric: 1, translated_to_client: 0 },
    },
    {
      description: "ARP passes through the bump untouched",
      side: "fabric",
      input: build_arp({
        operation: "request",
        sender_mac: CLIENT_MAC,
        sender_ip: CLIENT_IP,
        target_ip: "198.18.0.11",
        pad_to: 60,
      }),
      expect: build_arp({
        operation: "request",
        sender_mac: CLIENT_MAC,
        sender_ip: CLIENT_IP,
        target_ip: "198.18.0.11",
        pad_to: 60,
      }),
      counters: { passed_to_server: 1 },
    },
    {
      description: "unicast for another host's MAC (bridge flooding) is dropped and counted",
      side: "fabric",
      input: build_tcp({
        src_mac: CLIENT_MAC,
        dst_mac: "02:b7:00:00:01:02",
        src_ip: CLIENT_IP,
        dst_ip: "198.18.0.12",
        src_port: 1,
        dst_port: 80,
      }),
      expect: null,
      counters: { dropped_not_ours: 1, passed_to_server: 0 },
    },
    {
      description: "malformed TCP options on a handed-off flow: dropped, never thrown",
      side: "fabric",
      input: from_client({
        seq: request_end,
        ack: f.director_isn + 1,
        flags: 0x10,
        window: 1,
        options: [{ kind: "raw", code: 8, data: new Uint8Array(3) }],
      }),
      expect: null,
      counters: { dropped_malformed: 1, translated_to_server: 0 },
    },
  ];
}

const NOPS = (n: number): TcpOption => ({ kind: "bytes", bytes: new Uint8Array(n).fill(1) });

/** A copy of the frame with its IPv4 or TCP header bent (IPv4 checksum fixed: the lie is the length). */
function bent(frame: Uint8Array, bend: (bytes: Uint8Array, ip: number, tcp: number) => void) {
  const bytes = frame.slice();
  bend(bytes, 14, 14 + 20);
  ipv4_checksum_set(bytes, 14);
  return bytes;
}
const ip_total = (bytes: Uint8Array, ip: number, total: number) => {
  bytes[ip + 2] = total >> 8;
  bytes[ip + 3] = total & 0xff;
};

// A hand-off the rows adopt: the stack's ISN, clocks and request.
const S_ISN = 3_000_000_000;
const C_TSVAL = 9000;
const D_TSVAL = 70_000;
const S_TSVAL = 1000;
const TS_DELTA = D_TSVAL - S_TSVAL;
const REQUEST = "GET /a HTTP/1.1\r\nHost: x\r\n\r\n";
const REQUEST_BYTES = new TextEncoder().encode(REQUEST);
const HANDOFF: HandoffMessage = {
  type: "handoff",
  epoch: EPOCH,
  id: ID,
  key: FLOW_KEY,
  state: {
    client_mac: mac_to_bytes(CLIENT_MAC),
    client_isn: BASE.client_isn,
    director_isn: BASE.director_isn,
    client_next_seq: BASE.client_isn + 1 + REQUEST_BYTES.length,
    director_next_seq: BASE.director_isn + 1,
    // the client's window field as it last sent it: units of 2^7
    client_window: 400,
    client_mss: 1460,
    director_mss: 1460,
    client_wscale: 7,
    director_wscale: 7,
    sack_permitted: true,
    timestamps: true,
    client_tsval: C_TSVAL,
    director_tsval: D_TSVAL,
    request: REQUEST_BYTES,
  },
};
const CANCEL: HandoffMessage = { type: "handoff_cancel", epoch: EPOCH, id: ID, key: FLOW_KEY };
const FLOW_END_ACK: HandoffMessage = {
  type: "flow_end_ack",
  epoch: EPOCH,
  id: ID,
  key: FLOW_KEY,
};

/** How a datagram is framed and sent; by default as the director sends it, signed right. */
interface HandoffFrame {
  /** The director's clock (ms since the rows' start): sent_at is WALL + this. */
  sent: number;
  agent?: number;
  src_ip?: string;
  src_port?: number;
  src_mac?: string;
  dst_ip?: string;
  dst_port?: number;
  /** Changes the datagram after it is signed. */
  bend?: (datagram: Uint8Array) => Uint8Array;
}

/** An Ethernet/IPv4/UDP frame of a datagram to the server's address at the hand-off port. */
function handoff_frame(message: HandoffMessage, how: HandoffFrame): Uint8Array {
  const encoded = encode_datagram(message, KEY, {
    agent: how.agent ?? AGENT_ID,
    now: WALL + how.sent,
  });
  if (!encoded.ok) throw new Error(encoded.problem);
  return build_udp({
    src_mac: how.src_mac ?? DIRECTOR_MAC,
    dst_mac: SERVER_MAC,
    src_ip: how.src_ip ?? DIRECTOR_IP,
    dst_ip: how.dst_ip ?? SERVER_IP,
    src_port: how.src_port ?? HANDOFF_PORT,
    dst_port: how.dst_port ?? HANDOFF_PORT,
    payload: how.bend ? how.bend(encoded.bytes) : encoded.bytes,
  });
}
/** server space − director space, for an adopted flow */
const adopted_delta = (S_ISN - BASE.director_isn) >>> 0;
const LINUX_SYNACK: TcpOption[] = [
  { kind: "mss", value: 1460 },
  { kind: "sack_permitted" },
  { kind: "timestamp", tsval: S_TSVAL, tsecr: C_TSVAL },
  { kind: "nop" },
  { kind: "wscale", shift: 7 },
];
// What the agent sends the stack as the client: from the client's next hop.
const as_client = (s: Segment) => from_client({ src_mac: CLIENT_MAC, ...s });

/**
 * The three steps of an adoption: a HANDOFF frame → the SYN, in the same
 * round; the stack's SYN/ACK (with these options) → ACK + request (with
 * this window); the stack's ACK → HANDOFF_ACK to the director. After them
 * the stack's next byte is S_ISN + 1, the client's 1001 + request.
 */
function adoption(
  synack_options: TcpOption[],
  request_window: number,
  handoff: HandoffMessage = HANDOFF,
): Step[] {
  const c = BASE.client_isn;
  return [
    {
      now: 0,
      handoff,
      to_stack: [as_client({
        seq: c,
        ack: 0,
        flags: 0x02,
        // a SYN's window is never scaled: 400 << 7 bytes
        window: 51200,
        options: [
          { kind: "mss", value: 1460 },
          { kind: "sack_permitted" },
          { kind: "nop" },
          { kind: "wscale", shift: 7 },
          ...ts(C_TSVAL, 0),
        ],
      })],
    },
    {
      now: 1,
      from_stack: [from_stack({
        seq: S_ISN,
        ack: c + 1,
        flags: 0x12,
        window: 65160,
        options: synack_options,
      })],
      to_stack: [as_client({
        seq: c + 1,
        ack: S_ISN + 1,
        flags: 0x18,
        window: request_window,
        options: ts(C_TSVAL, S_TSVAL),
        payload: REQUEST,
      })],
    },
    {
      now: 2,
      from_stack: [from_stack({
        seq: S_ISN + 1,
        ack: c + 1 + REQUEST.length,
        flags: 0x10,
        window: 502,
        options: ts(S_TSVAL + 1, C_TSVAL),
      })],
      answers: [{ type: "handoff_ack" }],
    },
  ];
}

function hostile_rows(): StepsRow[] {
  const f = BASE;
  const d = isn_delta(f);
  const request_end = f.client_isn + 1 + 100;
  // an installed flow whose stack last said: ACK request_end, window 64000 bytes
  const live: Partial<Flow> = { stack_ack: request_end, stack_window: 64000 };
  const client = (seq: number, flags: number, more: Partial<TcpSpec> = {}): Segment => ({
    seq,
    ack: f.director_isn + 1,
    flags,
    window: 1000,
    ...more,
  });
  const stack = (more: Partial<TcpSpec> = {}): Segment => ({
    seq: f.server_isn + 1,
    ack: request_end,
    flags: 0x10,
    window: 500,
    ...more,
  });
  // a segment as the other side gets it (no options, equal scales: only seq or ack move)
  const into_stack = (s: Segment) =>
    from_client({ ...s, ack: ((s.flags ?? 0x10) & 0x10) !== 0 ? (s.ack + d) >>> 0 : s.ack });
  const into_client = (s: Segment) => from_stack({ ...s, seq: (s.seq - d) >>> 0 });
  const pass = (s: Segment): Step => ({ from_client: [from_client(s)], to_stack: [into_stack(s)] });
  const back = (s: Segment): Step => ({ from_stack: [from_stack(s)], to_client: [into_client(s)] });
  const data = client(request_end, 0x18, { payload: 10 });
  const rst = (seq: number): Segment => ({ seq, ack: 0, flags: 0x04, window: 0 });
  const adopted_end = f.client_isn + 1 + REQUEST.length;
  const a = adopted_delta;

  return [
    (() => {
      // a flow handed off before this agent restarted: the stack holds it, the agent does not
      const segment = from_client({
        seq: 0x5000_0000,
        ack: 0x6000_0000,
        flags: 0x18,
        window: 501,
        payload: "more of an old request",
      });
      const as_client = { src_mac: DIRECTOR_MAC };
      return {
        description:
          "restarted agent: an unknown flow's segment to a configured VIP waits 2 s for a hand-off, then the stack's socket is reset (exact seq) and probed so the stack resets the client",
        flow: null,
        vips: [VIP],
        orphan_reset_ms: 600_000,
        steps: [
          { now: 1000, from_client: [segment] },
          { now: 2900 }, // still within the grace: a HANDOFF may yet come
          {
            now: 3001,
            to_stack: [
              from_client({ ...as_client, seq: 0x5000_0000, ack: 0, flags: 0x04, window: 0 }),
              from_client({
                ...as_client,
                seq: 0x5000_0000,
                ack: 0x6000_0000,
                flags: 0x10,
                window: 0,
              }),
            ],
          },
        ],
        counters: { fabric_rx: 1, dropped_orphan: 1, orphans_reset: 1, resets_to_stack: 1 },
      };
    })(),
    (() => {
      const segment = from_client({ seq: 0x5100_0000, ack: 0x6100_0000, flags: 0x10, window: 501 });
      return {
        description:
          "an agent without configured VIPs has no orphan window: an unknown flow's segment passes as before",
        flow: null,
        steps: [{ now: 1000, from_client: [segment], to_stack: [segment] }, { now: 1300 }],
        counters: { fabric_rx: 1, passed_to_server: 1, orphans_reset: 0 },
      };
    })(),
    // ------------------------------------------------ RFC 5961 at the agent
    {
      description: "RFC 5961: a client RST at the stack's last ACK is passed and ends the flow",
      flow: live,
      steps: [pass(rst(request_end)), {
        now: 3000,
        answers: [{ type: "flow_end", reason: FLOW_END_CLIENT_RESET }],
      }],
      counters: { ended_client_reset: 1, rst_passed_unaccepted: 0, translated_to_server: 1 },
    },
    {
      description:
        "RFC 5961: an in-window client RST is passed (the stack's challenge ACK comes back), the flow stays",
      flow: live,
      steps: [pass(rst(request_end + 1000)), back(stack()), { now: 3000, ...pass(data) }],
      counters: { rst_passed_unaccepted: 1, ended_client_reset: 0, translated_to_server: 2 },
    },
    {
      description: "RFC 5961: an out-of-window client RST|ACK is passed, the flow stays",
      flow: live,
      steps: [
        pass(client(request_end + 0x4000_0000, 0x14, { window: 0 })),
        { now: 3000, ...pass(data) },
      ],
      counters: { rst_passed_unaccepted: 1, ended_client_reset: 0, translated_to_server: 2 },
    },
    (() => {
      const broken = from_client(rst(request_end));
      broken[14 + 20 + 16] ^= 0xff; // the stack drops it: the checksum fails
      return {
        description: "a client RST at the exact seq with a bad TCP checksum changes nothing",
        flow: live,
        steps: [{ from_client: [broken], to_stack: [broken] }, { now: 3000, ...pass(data) }],
        counters: { rst_passed_unaccepted: 1, ended_client_reset: 0 },
      };
    })(),
    {
      description:
        "RFC 5961: the stack's ACK moves its receive position (an RST at the old one is not accepted)",
      flow: live,
      steps: [
        pass(client(request_end, 0x18, { payload: 500 })),
        back(stack({ ack: request_end + 500 })),
        pass(rst(request_end)),
        { now: 3000 },
        pass(rst(request_end + 500)),
        { now: 6000, answers: [{ type: "flow_end", reason: FLOW_END_CLIENT_RESET }] },
      ],
      counters: { rst_passed_unaccepted: 1, ended_client_reset: 1 },
    },
    {
      description:
        "after the client's FIN, an RST at the FIN's own seq (Linux: RCV.NXT − 1) ends the flow",
      flow: live,
      steps: [
        pass(client(request_end, 0x11)),
        back(stack({ ack: request_end + 1 })),
        pass(rst(request_end)),
        { now: 3000, answers: [{ type: "flow_end", reason: FLOW_END_CLIENT_RESET }] },
      ],
      counters: { rst_passed_unaccepted: 0, ended_client_reset: 1 },
    },
    {
      description:
        "a spoofed client FIN outside the stack's window is passed; the flow does not close on the stack's FIN",
      flow: live,
      steps: [
        pass(client(request_end + 100_000, 0x11)),
        back(stack({ flags: 0x11 })),
        { now: 3000 },
        pass(client(request_end, 0x11, { ack: f.director_isn + 2 })),
        { now: 6000, answers: [{ type: "flow_end", reason: FLOW_END_FIN }] },
      ],
      counters: { fin_passed_unaccepted: 1, ended_fin: 1 },
    },
    {
      description:
        "the stack's window bounds a client FIN, in the stack's own scale (10 << 7 = 1280 bytes)",
      flow: live,
      steps: [
        back(stack({ window: 10 })),
        pass(client(request_end + 2000, 0x11)),
        back(stack({ flags: 0x11, window: 10 })),
        { now: 3000 },
        pass(client(request_end, 0x19, { ack: f.director_isn + 2, payload: 1000 })),
        { now: 6000, answers: [{ type: "flow_end", reason: FLOW_END_FIN }] },
      ],
      counters: { fin_passed_unaccepted: 1, ended_fin: 1 },
    },
    {
      description:
        "RFC 5961: a client SYN on an established flow is passed (challenge ACK back), nothing changes",
      flow: live,
      steps: [
        pass({
          seq: 777_777,
          ack: 0,
          flags: 0x02,
          window: 64240,
          options: [{ kind: "mss", value: 1460 }],
        }),
        back(stack()),
        { now: 3000, ...pass(data) },
      ],
      counters: { syn_passed_unaccepted: 1, translated_to_server: 2, translated_to_client: 1 },
    },

    // ------------------------------------------- a stack that declines options
    {
      description:
        "a stack without wscale: the client's windows reach it in bytes, its own reach the client ÷128",
      flow: null,
      steps: [
        ...adoption(LINUX_SYNACK.slice(0, 3), 51200),
        {
          now: 3,
          from_stack: [from_stack({
            seq: S_ISN + 1,
            ack: adopted_end,
            flags: 0x18,
            window: 64000,
            options: ts(S_TSVAL + 2, C_TSVAL),
            payload: 100,
          })],
          to_client: [from_stack({
            seq: f.director_isn + 1,
            ack: adopted_end,
            flags: 0x18,
            window: 500,
            options: ts(S_TSVAL + 2 + TS_DELTA, C_TSVAL),
            payload: 100,
          })],
        },
        {
          from_client: [from_client({
            seq: adopted_end,
            ack: f.director_isn + 101,
            flags: 0x10,
            window: 300,
            options: ts(C_TSVAL + 1, S_TSVAL + 2 + TS_DELTA),
          })],
          to_stack: [from_client({
            seq: adopted_end,
            ack: (f.director_isn + 101 + a) >>> 0,
            flags: 0x10,
            window: 38400,
            options: ts(C_TSVAL + 1, S_TSVAL + 2),
          })],
        },
      ],
      counters: { adopted: 1, translated_to_client: 1, translated_to_server: 1 },
    },
    {
      description:
        "a stack without timestamps: refused (its half reset at ISN_c + 1, NACK stack_options)",
      flow: null,
      steps: [
        adoption([], 0)[0],
        {
          now: 1,
          from_stack: [from_stack({
            seq: S_ISN,
            ack: f.client_isn + 1,
            flags: 0x12,
            window: 65160,
            options: [LINUX_SYNACK[0], LINUX_SYNACK[1], LINUX_SYNACK[3], LINUX_SYNACK[4]],
          })],
          to_stack: [as_client(rst(f.client_isn + 1))],
          answers: [{ type: "handoff_nack", reason: NACK_STACK_OPTIONS }],
        },
        { now: 2, from_client: [from_client(client(adopted_end, 0x10))] },
      ],
      counters: {
        synack_consumed: 1,
        refused_stack_options: 1,
        resets_to_stack: 1,
        request_sent: 0,
        dropped_unknown_vip_flow: 1,
        flows: 0,
      },
    },
    {
      description: "a stack without SACK: the client's SACK blocks become NOPs on their way to it",
      flow: null,
      steps: [
        ...adoption([LINUX_SYNACK[0], LINUX_SYNACK[2], LINUX_SYNACK[3], LINUX_SYNACK[4]], 400),
        {
          now: 3,
          from_client: [from_client({
            seq: adopted_end,
            ack: f.director_isn + 1,
            flags: 0x10,
            window: 400,
            options: [
              ...ts(C_TSVAL + 1, S_TSVAL + 1 + TS_DELTA),
              ...sack([[f.director_isn + 200, f.director_isn + 300]]),
            ],
          })],
          to_stack: [from_client({
            seq: adopted_end,
            ack: S_ISN + 1,
            flags: 0x10,
            window: 400,
            options: [...ts(C_TSVAL + 1, S_TSVAL + 1), { kind: "nop" }, { kind: "nop" }, NOPS(10)],
          })],
        },
      ],
      counters: { adopted: 1, options_stripped: 1, translated_to_server: 1 },
    },
    {
      description:
        "a SYN/ACK with truncated options is dropped and counted; its retransmission adopts",
      flow: null,
      steps: (() => {
        const steps = adoption(LINUX_SYNACK, 400);
        const truncated = from_stack({
          seq: S_ISN,
          ack: f.client_isn + 1,
          flags: 0x12,
          window: 65160,
          // a TS option of 10 bytes in the last 2 of the header
          options: [LINUX_SYNACK[0], LINUX_SYNACK[1], {
            kind: "bytes",
            bytes: Uint8Array.of(8, 10),
          }],
        });
        return [steps[0], { now: 1, from_stack: [truncated] }, steps[1], steps[2]];
      })(),
      counters: { dropped_malformed: 1, synack_consumed: 1, adopted: 1 },
    },

    // ---------------------------------------- options the client never negotiated
    {
      description:
        "the stack's SACK blocks on a flow without SACK are stripped (NOPs, checksum fixed)",
      flow: { sack_permitted: false },
      steps: [{
        from_stack: [from_stack(stack({
          options: [...ts(5, 6), ...sack([[request_end + 10, request_end + 20]])],
        }))],
        to_client: [into_client(stack({
          options: [...ts(5 + f.ts_delta, 6), { kind: "nop" }, { kind: "nop" }, NOPS(10)],
        }))],
      }],
      counters: { options_stripped: 1, translated_to_client: 1 },
    },
    {
      description: "the stack's timestamps on a flow without them are stripped",
      flow: { timestamps: false },
      steps: [{
        from_stack: [from_stack(stack({ options: ts(5, 6) }))],
        to_client: [into_client(stack({ options: [{ kind: "nop" }, { kind: "nop" }, NOPS(10)] }))],
      }],
      counters: { options_stripped: 1, translated_to_client: 1 },
    },

    // ------------------------------------------------------ idle expiry, cancel
    {
      description:
        "idle expiry: an RST to the client (director's space) and one to the stack (its RCV.NXT)",
      flow: live,
      timers: { idle_timeout_ms: 1000 },
      steps: [
        { now: 0, ...back(stack({ flags: 0x18, payload: 100 })) },
        { now: 500, ...pass(client(request_end, 0x10, { ack: f.director_isn + 101 })) },
        { now: 1400 },
        {
          now: 2000,
          to_client: [from_stack({
            seq: f.director_isn + 101,
            ack: request_end,
            flags: 0x14,
            window: 0,
          })],
          to_stack: [as_client(rst(request_end))],
          answers: [{ type: "flow_end", reason: FLOW_END_IDLE_TIMEOUT }],
        },
      ],
      counters: { ended_idle: 1, resets_to_client: 1, resets_to_stack: 1, flows: 0 },
    },
    {
      description:
        "restarted agent: a late segment of a flow that ended in this run is no orphan (the client may reuse the port)",
      flow: live,
      vips: [VIP],
      orphan_reset_ms: 600_000,
      timers: { idle_timeout_ms: 1000 },
      steps: [
        { now: 0, ...back(stack({ flags: 0x18, payload: 100 })) },
        { now: 500, ...pass(client(request_end, 0x10, { ack: f.director_isn + 101 })) },
        { now: 1400 },
        {
          now: 2000,
          to_client: [from_stack({
            seq: f.director_isn + 101,
            ack: request_end,
            flags: 0x14,
            window: 0,
          })],
          to_stack: [as_client(rst(request_end))],
          answers: [{ type: "flow_end", reason: FLOW_END_IDLE_TIMEOUT }],
        },
        // a late ACK of the ended flow: dropped, and never answered with resets
        {
          now: 2100,
          from_client: [from_client(client(request_end, 0x10, { ack: f.director_isn + 101 }))],
        },
        // nobody acknowledged the FLOW_END: its first retransmission (due at 2500)
        { now: 5000, answers: [{ type: "flow_end", reason: FLOW_END_IDLE_TIMEOUT }] },
      ],
      counters: {
        ended_idle: 1,
        resets_to_client: 1,
        resets_to_stack: 1,
        dropped_unknown_vip_flow: 1,
        dropped_orphan: 0,
        orphans_reset: 0,
        flows: 0,
        flow_ends_sent: 1,
        flow_end_retransmits: 1,
      },
    },
    {
      description:
        "a cancel resets the stack where it stands (past the request), and not the client",
      flow: null,
      steps: [
        ...adoption(LINUX_SYNACK, 400),
        {
          now: 3,
          from_client: [from_client(client(adopted_end, 0x18, { payload: 50 }))],
          to_stack: [from_client(client(adopted_end, 0x18, { ack: S_ISN + 1, payload: 50 }))],
        },
        {
          from_stack: [from_stack({ seq: S_ISN + 1, ack: adopted_end + 50, flags: 0x10 })],
          to_client: [from_stack({ seq: f.director_isn + 1, ack: adopted_end + 50, flags: 0x10 })],
        },
        {
          handoff: CANCEL,
          to_stack: [as_client(rst(adopted_end + 50))],
        },
      ],
      counters: { cancelled: 1, resets_to_stack: 1, resets_to_client: 0, flows: 0 },
    },

    // ---------------------------------------------- frames that cannot be parsed or lie
    {
      description: "an IP fragment (first, MF) of a handed-off flow is dropped and counted",
      flow: {},
      steps: [{ from_client: [from_client({ ...data, fragment: 0x2000 })] }],
      counters: { dropped_fragment: 1, passed_to_server: 0, translated_to_server: 0 },
    },
    {
      description: "a later IP fragment to a VIP (no TCP header to look up) is dropped",
      flow: {},
      steps: [{ from_client: [from_client({ ...data, fragment: 185 })] }],
      counters: { dropped_fragment: 1, passed_to_server: 0 },
    },
    {
      description: "an IP fragment from the stack on a VIP never reaches the client untranslated",
      flow: {},
      steps: [{ from_stack: [from_stack(stack({ payload: 100, fragment: 0x2000 }))] }],
      counters: { dropped_fragment: 1, passed_to_fabric: 0 },
    },
    (() => {
      const own = build_tcp({
        src_mac: DIRECTOR_MAC,
        dst_mac: SERVER_MAC,
        src_ip: CLIENT_IP,
        dst_ip: "198.18.0.11",
        src_port: 1,
        dst_port: 22,
        fragment: 0x2000,
      });
      return {
        description: "a fragment for the server's own address passes (its own traffic)",
        flow: {},
        steps: [{ from_client: [own], to_stack: [own] }],
        counters: { passed_to_server: 1, dropped_fragment: 0 },
      };
    })(),
    {
      description: "a TCP header length beyond the frame, to a VIP: dropped",
      flow: {},
      steps: [{
        from_client: [bent(from_client(client(request_end, 0x10)), (b, _ip, tcp) => {
          b[tcp + 12] = 0xf0;
        })],
      }],
      counters: { dropped_malformed: 1, passed_to_server: 0 },
    },
    {
      description: "an IPv4 total length below its own header, to a VIP: dropped",
      flow: {},
      steps: [{
        from_client: [bent(from_client(client(request_end, 0x10)), (b, ip) => ip_total(b, ip, 16))],
      }],
      counters: { dropped_malformed: 1, passed_to_server: 0 },
    },
    {
      description: "an IPv4 total length below IP + TCP headers, to a VIP: dropped",
      flow: {},
      steps: [{
        from_client: [bent(from_client(client(request_end, 0x10)), (b, ip) => ip_total(b, ip, 30))],
      }],
      counters: { dropped_malformed: 1, passed_to_server: 0 },
    },
    {
      description: "an IPv4 total length beyond the frame, to a VIP: dropped",
      flow: {},
      steps: [{
        from_client: [
          bent(from_client(client(request_end, 0x10)), (b, ip) => ip_total(b, ip, 1500)),
        ],
      }],
      counters: { dropped_malformed: 1, passed_to_server: 0 },
    },
    {
      description: "a client TS option running past the TCP header: dropped",
      flow: {},
      steps: [{
        from_client: [from_client(client(request_end, 0x10, {
          options: [{ kind: "bytes", bytes: Uint8Array.of(1, 1, 8, 10) }],
        }))],
      }],
      counters: { dropped_malformed: 1, translated_to_server: 0 },
    },
    {
      description: "a TCP header length beyond the frame, from the stack on a VIP: dropped",
      flow: {},
      steps: [{
        from_stack: [bent(from_stack(stack()), (b, _ip, tcp) => {
          b[tcp + 12] = 0xf0;
        })],
      }],
      counters: { dropped_malformed: 1, passed_to_fabric: 0 },
    },
    {
      description: "an IPv4 total length below IP + TCP headers, from the stack on a VIP: dropped",
      flow: {},
      steps: [{ from_stack: [bent(from_stack(stack()), (b, ip) => ip_total(b, ip, 24))] }],
      counters: { dropped_malformed: 1, passed_to_fabric: 0 },
    },
    {
      description: "the stack's TS option running past its TCP header: dropped",
      flow: {},
      steps: [{
        from_stack: [from_stack(stack({
          options: [{ kind: "bytes", bytes: Uint8Array.of(1, 1, 8, 10) }],
        }))],
      }],
      counters: { dropped_malformed: 1, translated_to_client: 0 },
    },
    (() => {
      const own = bent(
        build_tcp({
          src_mac: DIRECTOR_MAC,
          dst_mac: SERVER_MAC,
          src_ip: CLIENT_IP,
          dst_ip: "198.18.0.11",
          src_port: 1,
          dst_port: 22,
        }),
        (b, _ip, tcp) => {
          b[tcp + 12] = 0xf0;
        },
      );
      return {
        description: "a malformed frame for the server's own address passes (the stack judges it)",
        flow: {},
        steps: [{ from_client: [own], to_stack: [own] }],
        counters: { passed_to_server: 1, dropped_malformed: 0 },
      };
    })(),
  ];
}

// --------------------------------------------------- hand-off datagrams

/** A datagram with one byte changed after it was signed (the last: the tag's). */
const flip_tag = (datagram: Uint8Array) => {
  const bent = datagram.slice();
  bent[bent.length - 1] ^= 0x01;
  return bent;
};

function handoff_rows(): StepsRow[] {
  const f = BASE;
  const c = f.client_isn;
  const request_end = c + 1 + 100;
  const adopted_end = c + 1 + REQUEST.length;
  const live: Partial<Flow> = { stack_ack: request_end, stack_window: 64000 };
  const rst = (seq: number): Segment => ({ seq, ack: 0, flags: 0x04, window: 0 });
  // an installed flow whose client resets it (the RST passes to the stack unchanged):
  // FLOW_END client_reset once the linger is over
  const reset_by_client: Step = {
    from_client: [from_client(rst(request_end))],
    to_stack: [from_client(rst(request_end))],
  };
  const flow_end: Answer = { type: "flow_end", reason: FLOW_END_CLIENT_RESET };
  const steps_of = adoption(LINUX_SYNACK, 400);
  /** What a HANDOFF frame that must not be read does: nothing, then no SYN either. */
  const ignored = (frame: Uint8Array): Step[] => [{ now: 0, from_client: [frame] }, { now: 1 }];
  const not_adopted = { handoffs_received: 0, syn_sent: 0, flows: 0, handoff_rx_ok: 0 };
  return [
    {
      description:
        "a HANDOFF frame is read and adopted in the same round (the SYN to the stack), and never reaches the server",
      flow: null,
      steps: steps_of,
      counters: {
        handoff_rx_ok: 1,
        handoffs_received: 1,
        syn_sent: 1,
        adopted: 1,
        acks_sent: 1,
        passed_to_server: 0,
        fabric_rx: 1,
      },
    },
    {
      description:
        "on an L3 fabric the HANDOFF comes from the router's MAC: the HANDOFF_ACK goes back to it",
      flow: null,
      steps: [
        {
          ...steps_of[0],
          handoff: undefined,
          from_client: [handoff_frame(HANDOFF, { sent: 0, src_mac: ROUTER_MAC })],
        },
        steps_of[1],
        { ...steps_of[2], answers: [{ type: "handoff_ack", to_mac: ROUTER_MAC }] },
      ],
      counters: { adopted: 1, acks_sent: 1 },
    },
    {
      description: "a HANDOFF with a bad tag is counted and dropped: no SYN, no answer",
      flow: null,
      steps: ignored(handoff_frame(HANDOFF, { sent: 0, bend: flip_tag })),
      counters: { handoff_rx_bad_mac: 1, ...not_adopted },
    },
    {
      description: "a truncated HANDOFF (the datagram ends inside its tag) is counted and dropped",
      flow: null,
      steps: ignored(handoff_frame(HANDOFF, { sent: 0, bend: (b) => b.slice(0, b.length - 10) })),
      counters: { handoff_rx_truncated: 1, ...not_adopted },
    },
    {
      description:
        "a stale HANDOFF (sent 10.001 s before the agent's clock) is counted and dropped",
      flow: null,
      steps: ignored(handoff_frame(HANDOFF, { sent: -FRESHNESS_MS - 1 })),
      counters: { handoff_rx_stale: 1, ...not_adopted },
    },
    {
      description: "a HANDOFF stamped 10.001 s in the agent's future is stale too",
      flow: null,
      steps: ignored(handoff_frame(HANDOFF, { sent: FRESHNESS_MS + 1 })),
      counters: { handoff_rx_stale: 1, ...not_adopted },
    },
    {
      description: "a HANDOFF for another agent (under a key both share) is counted and dropped",
      flow: null,
      steps: ignored(handoff_frame(HANDOFF, { sent: 0, agent: AGENT_ID + 1 })),
      counters: { handoff_rx_wrong_agent: 1, ...not_adopted },
    },
    {
      description:
        "a HANDOFF from a sender that is not a director is dropped before any HMAC (its bad tag is never looked at)",
      flow: null,
      steps: ignored(
        handoff_frame(HANDOFF, { sent: 0, src_ip: "198.18.0.66", bend: flip_tag }),
      ),
      counters: { handoff_rx_unknown_source: 1, handoff_rx_bad_mac: 0, ...not_adopted },
    },
    {
      description: "a HANDOFF from the director's address but another port is not read either",
      flow: null,
      steps: ignored(handoff_frame(HANDOFF, { sent: 0, src_port: HANDOFF_PORT + 1 })),
      counters: { handoff_rx_unknown_source: 1, ...not_adopted },
    },
    {
      description:
        "without a directors list, an authentic HANDOFF from any sender is adopted, and answered there",
      flow: null,
      directors: null,
      steps: [
        {
          ...steps_of[0],
          handoff: undefined,
          from_client: [
            handoff_frame(HANDOFF, { sent: 0, src_ip: "198.18.0.3", src_port: 40123 }),
          ],
        },
        steps_of[1],
        {
          ...steps_of[2],
          answers: [{ type: "handoff_ack", to_ip: "198.18.0.3", to_port: 40123 }],
        },
      ],
      counters: { adopted: 1, acks_sent: 1 },
    },
    {
      description:
        "a HANDOFF replayed after its flow ended (FLOW_END acknowledged) is dropped and counted, not adopted again",
      flow: null,
      timers: { idle_timeout_ms: 1000 },
      steps: [
        ...steps_of,
        {
          // idle: RSTs both ways (the stack's at its last ACK), and the FLOW_END
          now: 1500,
          to_client: [from_stack({
            seq: f.director_isn + 1,
            ack: adopted_end,
            flags: 0x14,
            window: 0,
          })],
          to_stack: [as_client(rst(adopted_end))],
          answers: [{ type: "flow_end", reason: FLOW_END_IDLE_TIMEOUT }],
        },
        // the director's ACK, then a copy of the HANDOFF, authentic and freshly stamped
        { now: 1600, handoff: [FLOW_END_ACK, HANDOFF] },
        { now: 1700 },
      ],
      counters: {
        handoffs_received: 1,
        handoffs_replayed: 1,
        syn_sent: 1,
        adopted: 1,
        ended_idle: 1,
        flow_ends_acked: 1,
        flow_ends_pending: 0,
        flows: 0,
      },
    },
    {
      description:
        "a refused HANDOFF (the stack declined timestamps) sent again gets the same NACK, not a second adoption",
      flow: null,
      steps: [
        steps_of[0],
        {
          now: 1,
          from_stack: [from_stack({
            seq: S_ISN,
            ack: c + 1,
            flags: 0x12,
            window: 65160,
            options: [LINUX_SYNACK[0], LINUX_SYNACK[1], LINUX_SYNACK[3], LINUX_SYNACK[4]],
          })],
          to_stack: [as_client(rst(c + 1))],
          answers: [{ type: "handoff_nack", reason: NACK_STACK_OPTIONS }],
        },
        {
          now: 300,
          handoff: HANDOFF,
          answers: [{ type: "handoff_nack", reason: NACK_STACK_OPTIONS }],
        },
        { now: 600 },
      ],
      counters: {
        handoffs_received: 1,
        handoffs_replayed: 1,
        nacks_sent: 2,
        syn_sent: 1,
        syn_retransmits: 0,
        flows: 0,
      },
    },
    {
      description:
        "a HANDOFF for a VIP the server does not hold → NACK bad_request before adoption, and again for its copy",
      flow: null,
      vips: ["198.18.0.101"],
      steps: [
        { now: 0, handoff: HANDOFF, answers: [{ type: "handoff_nack", reason: NACK_BAD_REQUEST }] },
        {
          now: 200,
          handoff: HANDOFF,
          answers: [{ type: "handoff_nack", reason: NACK_BAD_REQUEST }],
        },
      ],
      counters: { refused_wrong_vip: 1, handoffs_replayed: 1, ...not_adopted, handoff_rx_ok: 2 },
    },
    {
      description: "a CANCEL before its HANDOFF: the late HANDOFF is a replay, never adopted",
      flow: null,
      steps: [{ now: 0, handoff: CANCEL }, { now: 1, handoff: HANDOFF }, { now: 2 }],
      counters: {
        cancels_received: 1,
        cancelled: 0,
        handoffs_replayed: 1,
        ...not_adopted,
        handoff_rx_ok: 2,
      },
    },
    {
      description:
        "FLOW_END is sent again (500 ms, then 1 s) until its own FLOW_END_ACK; an ACK of another hand-off does not stop it",
      flow: live,
      steps: [
        reset_by_client,
        { now: 3000, answers: [flow_end] },
        { now: 3499 },
        { now: 3500, answers: [flow_end] },
        { now: 3600, handoff: { ...FLOW_END_ACK, id: ID + 1 } },
        { now: 4500, answers: [flow_end] },
        { now: 4600, handoff: FLOW_END_ACK },
        { now: 6000 },
        { now: 20_000 },
      ],
      counters: {
        flow_ends_sent: 1,
        flow_end_retransmits: 2,
        flow_end_acks_unmatched: 1,
        flow_ends_acked: 1,
        flow_ends_unanswered: 0,
        flow_ends_pending: 0,
      },
    },
    {
      description: "FLOW_END unanswered: six sends with growing gaps, then the agent gives up",
      flow: live,
      steps: [
        reset_by_client,
        { now: 3000, answers: [flow_end] },
        { now: 3500, answers: [flow_end] },
        { now: 4500, answers: [flow_end] },
        { now: 6000, answers: [flow_end] },
        { now: 8000, answers: [flow_end] },
        { now: 10_500, answers: [flow_end] },
        { now: 13_500 },
        { now: 30_000 },
      ],
      counters: { flow_ends_sent: 1, flow_end_retransmits: 5, flow_ends_unanswered: 1 },
    },
    (() => {
      const dns = build_udp({
        src_mac: DIRECTOR_MAC,
        dst_mac: SERVER_MAC,
        src_ip: DIRECTOR_IP,
        dst_ip: SERVER_IP,
        src_port: HANDOFF_PORT,
        dst_port: 53,
        payload: 40,
      });
      return {
        description: "UDP to the server's address on another port passes to the server untouched",
        flow: {},
        steps: [{ from_client: [dns], to_stack: [dns] }],
        counters: { passed_to_server: 1, handoff_rx_ok: 0, frames_dropped: 0 },
      };
    })(),
    (() => {
      const to_vip = handoff_frame(HANDOFF, { sent: 0, dst_ip: VIP });
      return {
        description:
          "a HANDOFF-shaped frame to another address (the VIP) is not the agent's: passed",
        flow: null,
        steps: [{ from_client: [to_vip], to_stack: [to_vip] }, { now: 1 }],
        counters: { passed_to_server: 1, ...not_adopted },
      };
    })(),
  ];
}

// ------------------------------------------------------------ ICMP errors

/** The router between the server and the client that sends the errors. */
const ROUTER_IP = "198.18.0.254";
const NEXT_HOP_MTU = 1400;
/** Linux quotes as much as keeps the error within 576 bytes: 576 − 20 − 8. */
const LINUX_QUOTE = 548;
/** RFC 792's minimum: the IPv4 header and the first 8 bytes of TCP (ports and seq). */
const MINIMAL_QUOTE = 28;

/**
 * An ICMP error from the router to `dst_ip` (the VIP), as the director
 * forwards it to the server's MAC: type, code, the header's second word
 * (fragmentation-needed: the next-hop MTU, RFC 1191) and the quote, with a
 * checksum computed in full.
 */
function icmp_error(
  type: number,
  code: number,
  quote: Uint8Array,
  word = 0,
  dst_ip = VIP,
): Uint8Array {
  const frame = build_icmp_echo({
    src_mac: DIRECTOR_MAC,
    dst_mac: SERVER_MAC,
    src_ip: ROUTER_IP,
    dst_ip,
    id: word >>> 16,
    sequence: word & 0xffff,
    payload: quote,
  });
  frame[34] = type;
  frame[35] = code;
  icmp_checksum_set(frame, 14);
  return frame;
}
const frag_needed = (quote: Uint8Array, dst_ip = VIP) =>
  icmp_error(3, 4, quote, NEXT_HOP_MTU, dst_ip);

/** A handed-off flow's full-sized segment as the client's side saw it (director space). */
const toward_client = (seq: number, more: Partial<TcpSpec> = {}) =>
  build_tcp({
    src_mac: SERVER_MAC,
    dst_mac: CLIENT_MAC,
    src_ip: VIP,
    dst_ip: CLIENT_IP,
    src_port: 80,
    dst_port: CLIENT_PORT,
    seq,
    ack: BASE.client_isn + 1 + 100,
    flags: 0x18,
    window: 509,
    options: ts(500 + BASE.ts_delta, 9000),
    payload: 1448,
    ...more,
  });

/** The first `length` bytes of a frame's IPv4 datagram: what an ICMP error quotes. */
const quote_of = (frame: Uint8Array, length: number) => frame.slice(14, 14 + length);

/** The quote with its TCP seq (20-byte IPv4 header) changed, and nothing else: its checksums stay. */
function with_seq(quote: Uint8Array, seq: number): Uint8Array {
  const changed = quote.slice();
  write_u32(changed, 20 + 4, seq >>> 0);
  return changed;
}

function icmp_rows(): FixtureRow[] {
  const f = BASE;
  const d = isn_delta(f);
  const wrap: Flow = { ...BASE, server_isn: 0xffff_ff00, director_isn: 0x10 };
  const dw = isn_delta(wrap);
  const sent = f.director_isn + 1 + 1448 * 20;
  const big = quote_of(toward_client(sent), LINUX_QUOTE);
  const wrap_seq = wrap.director_isn + 1 + 0x300;
  const small = quote_of(toward_client(wrap_seq), MINIMAL_QUOTE);
  const echo = build_icmp_echo({
    src_mac: DIRECTOR_MAC,
    dst_mac: SERVER_MAC,
    src_ip: CLIENT_IP,
    dst_ip: VIP,
    id: 9,
    sequence: 1,
    payload: 56,
  });
  const udp = build_udp({ src_ip: VIP, dst_ip: CLIENT_IP, src_port: 53, dst_port: 5353 });
  const about_udp = frag_needed(quote_of(udp, MINIMAL_QUOTE));
  return [
    {
      description:
        "fragmentation needed quoting a handed-off flow: quoted seq into the stack's space, ICMP checksum updated, to the stack",
      side: "fabric",
      input: frag_needed(big),
      // the quoted IPv4 and TCP checksums are the director's segment's (a quote is a copy)
      expect: frag_needed(with_seq(big, sent + d)),
      counters: { icmp_errors_translated: 1, passed_to_server: 0, fabric_rx: 1 },
    },
    {
      description:
        "time exceeded with RFC 792's minimal quote, across the wrap (ISN_s near 2^32): into the stack's space",
      flow: wrap,
      side: "fabric",
      input: icmp_error(11, 0, small),
      expect: icmp_error(11, 0, with_seq(small, wrap_seq + dw)),
      counters: { icmp_errors_translated: 1 },
    },
    {
      description:
        "an ICMP error to the VIP quoting no handed-off flow (another client port): dropped, the stack would take it for its own",
      side: "fabric",
      input: frag_needed(quote_of(toward_client(sent, { dst_port: CLIENT_PORT + 1 }), LINUX_QUOTE)),
      expect: null,
      counters: { dropped_icmp_unknown_flow: 1, passed_to_server: 0, icmp_errors_translated: 0 },
    },
    (() => {
      const own = build_tcp({
        src_mac: SERVER_MAC,
        dst_mac: CLIENT_MAC,
        src_ip: "198.18.0.11",
        dst_ip: CLIENT_IP,
        src_port: 22,
        dst_port: 50000,
        seq: 77,
        payload: 1448,
      });
      const error = frag_needed(quote_of(own, LINUX_QUOTE), "198.18.0.11");
      return {
        description: "an ICMP error for the server's own address passes untouched",
        side: "fabric",
        input: error,
        expect: error,
        counters: { passed_to_server: 1, icmp_errors_translated: 0 },
      };
    })(),
    {
      description:
        "an ICMP error to the VIP whose quote stops short of the seq (IPv4 + 4 bytes): dropped",
      side: "fabric",
      input: frag_needed(big.slice(0, 24)),
      expect: null,
      counters: { dropped_icmp_malformed: 1, passed_to_server: 0 },
    },
    (() => {
      const error = frag_needed(big);
      error[14 + 20 + 2] ^= 0x5a;
      return {
        description: "an ICMP error to the VIP with a bad checksum: dropped",
        side: "fabric",
        input: error,
        expect: null,
        counters: { dropped_icmp_bad_checksum: 1, passed_to_server: 0 },
      };
    })(),
    {
      description: "an echo request to the VIP passes untouched, as before",
      side: "fabric",
      input: echo,
      expect: echo,
      counters: { passed_to_server: 1 },
    },
    {
      description:
        "an ICMP error to the VIP quoting UDP (no flow the agent translates) passes untouched",
      side: "fabric",
      input: about_udp,
      expect: about_udp,
      counters: { passed_to_server: 1, dropped_icmp_malformed: 0 },
    },
    (() => {
      // the stack's port unreachable about the client's segment: its quoted seq
      // is the client's own (not translated), the only field a client checks
      const segment = from_client({
        seq: f.client_isn + 1 + 100,
        ack: f.server_isn + 1,
        flags: 0x18,
        payload: 20,
      });
      const error = build_icmp_echo({
        src_mac: SERVER_MAC,
        dst_mac: CLIENT_MAC,
        src_ip: VIP,
        dst_ip: CLIENT_IP,
        payload: quote_of(segment, MINIMAL_QUOTE),
      });
      error[34] = 3;
      error[35] = 3;
      icmp_checksum_set(error, 14);
      return {
        description:
          "an ICMP error from the stack about a client segment of the flow passes untouched",
        side: "server",
        input: error,
        expect: error,
        counters: { passed_to_fabric: 1, translated_to_client: 0 },
      };
    })(),
  ];
}

function icmp_steps_rows(): StepsRow[] {
  const quote = quote_of(toward_client(BASE.director_isn + 1), LINUX_QUOTE);
  return [{
    description:
      "an ICMP error quoting a flow still being adopted is dropped (the stack has sent the client nothing)",
    flow: null,
    steps: [adoption(LINUX_SYNACK, 400)[0], { now: 1, from_client: [frag_needed(quote)] }],
    counters: { dropped_while_adopting: 1, icmp_errors_translated: 0, passed_to_server: 0 },
  }];
}

/** A single-frame row as a one-step row: nothing may come back out of the side it went in. */
function as_steps(row: FixtureRow): StepsRow {
  const out = row.expect === null ? [] : [row.expect];
  return {
    description: row.description,
    flow: row.no_flow ? null : row.flow ?? {},
    steps: [{
      from_client: row.side === "fabric" ? [row.input] : [],
      from_stack: row.side === "server" ? [row.input] : [],
      to_stack: row.side === "fabric" ? out : [],
      to_client: row.side === "server" ? out : [],
    }],
    counters: row.counters,
  };
}

const hex = (bytes: Uint8Array) =>
  Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");

async function run_case(row: StepsRow) {
  const dir = await Deno.makeTempDir({ prefix: "baton-agentfix-" });
  try {
    const empty = write_pcap([]);
    await Deno.writeFile(`${dir}/fabric_in.pcap`, empty);
    await Deno.writeFile(`${dir}/server_in.pcap`, empty);
    const flows = row.flow === null || row.flow === undefined ? [] : [{ ...BASE, ...row.flow }]
      .map((flow) => ({
        client_ip: CLIENT_IP,
        vip: VIP,
        client_port: CLIENT_PORT,
        vip_port: 80,
        client_mac: CLIENT_MAC,
        client_isn: flow.client_isn,
        server_isn: flow.server_isn,
        director_next_seq: (flow.director_isn + 1) >>> 0,
        ts_delta: flow.ts_delta,
        server_wscale: flow.server_wscale,
        director_wscale: flow.director_wscale,
        sack_permitted: flow.sack_permitted,
        timestamps: flow.timestamps,
        stack_ack: flow.stack_ack,
        stack_window: flow.stack_window,
        stack_next: flow.stack_next,
        // as if handed off by the director: its FLOW_END goes there
        epoch: EPOCH,
        id: ID,
        director: { mac: DIRECTOR_MAC, ip: DIRECTOR_IP, port: HANDOFF_PORT },
      }));
    let now = 0;
    const steps = row.steps.map((step) => {
      now = step.now ?? now;
      const handoffs = step.handoff === undefined ? [] : [step.handoff].flat();
      return {
        now,
        fabric: [...handoffs.map((m) => handoff_frame(m, { sent: now })), ...step.from_client ?? []]
          .map(hex),
        server: (step.from_stack ?? []).map(hex),
      };
    });
    await Deno.writeTextFile(
      `${dir}/case.json`,
      JSON.stringify({
        dir,
        server_mac: SERVER_MAC,
        timers: row.timers,
        vips: row.vips,
        orphan_reset_ms: row.orphan_reset_ms,
        agent: {
          address: SERVER_IP,
          handoff_port: HANDOFF_PORT,
          agent_id: AGENT_ID,
          key: KEY_HEX,
          directors: row.directors === null
            ? undefined
            : [{ ip: DIRECTOR_IP, port: HANDOFF_PORT }, ...row.directors ?? []],
          freshness_ms: FRESHNESS_MS,
          max_datagram: 1472,
          wall: WALL,
        },
        flows,
        steps,
      }),
    );
    const result = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", HARNESS, `${dir}/case.json`],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stdout = new TextDecoder().decode(result.stdout);
    assert.equal(result.code, 0, new TextDecoder().decode(result.stderr) + stdout);
    const { counters, steps: done } = JSON.parse(stdout.trim().split("\n").at(-1)!) as {
      counters: Record<string, number>;
      steps: { to_fabric: number; to_server: number }[];
    };
    const to_fabric = read_pcap(await Deno.readFile(`${dir}/fabric_out.pcap`)).map((r) => r.frame);
    const to_stack = read_pcap(await Deno.readFile(`${dir}/server_out.pcap`)).map((r) => r.frame);
    return { counters, done, to_fabric, to_stack, times: steps.map((s) => s.now) };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** A frame the agent sent the director: UDP from the server's address at the hand-off port. */
function is_answer(frame: Uint8Array): boolean {
  const d = describe_frame(frame);
  return d.udp !== undefined && d.ipv4?.src_ip === SERVER_IP && d.udp.src_port === HANDOFF_PORT;
}

function assert_frames(got: Uint8Array[], want: Uint8Array[], what: string) {
  assert.equal(got.length, want.length, `${what}: frame count`);
  for (let i = 0; i < want.length; i++) {
    assert.deepEqual(describe_frame(got[i]), describe_frame(want[i]), `${what} ${i}: fields`);
    assert.deepEqual(got[i], want[i], `${what} ${i}: bytes, checksums included`);
  }
}

/**
 * The agent's answers as the director reads them: addressed from the
 * server's MAC, address and hand-off port back to where the HANDOFF came
 * from, checksums right (recomputed), the tag right under the agent's key,
 * naming this agent, stamped with the agent's wall clock at that step.
 */
async function assert_answers(got: Uint8Array[], want: Answer[], now: number, what: string) {
  assert.equal(got.length, want.length, `${what}: answer count`);
  for (let i = 0; i < want.length; i++) {
    const frame = describe_frame(got[i]);
    const w = want[i];
    assert.equal(frame.src_mac, SERVER_MAC, `${what} ${i}: from the server's MAC`);
    assert.equal(frame.dst_mac, w.to_mac ?? DIRECTOR_MAC, `${what} ${i}: to the MAC it came from`);
    assert.equal(frame.ipv4?.src_ip, SERVER_IP, `${what} ${i}: from the server's address`);
    assert.equal(frame.ipv4?.dst_ip, w.to_ip ?? DIRECTOR_IP, `${what} ${i}: to the sender`);
    assert.ok(frame.ipv4?.checksum_ok, `${what} ${i}: IPv4 checksum`);
    assert.equal(frame.ipv4?.fragment, 0x4000, `${what} ${i}: DF, one frame or nothing`);
    assert.equal(frame.udp?.src_port, HANDOFF_PORT, `${what} ${i}: from the hand-off port`);
    assert.equal(frame.udp?.dst_port, w.to_port ?? HANDOFF_PORT, `${what} ${i}: to its port`);
    assert.ok(frame.udp?.checksum_ok, `${what} ${i}: UDP checksum`);
    const decoded = await decode_message(got[i].subarray(42), KEY, {
      agent: AGENT_ID,
      now: WALL + now,
      freshness_ms: 0,
    });
    assert.ok(decoded.ok, `${what} ${i}: the director reads it (${!decoded.ok && decoded.reason})`);
    assert.equal(decoded.sent_at, (WALL + now) >>> 0, `${what} ${i}: stamped when sent`);
    const m = decoded.message;
    assert.equal(m.type, w.type, `${what} ${i}: type`);
    assert.deepEqual([m.epoch, m.id], [w.epoch ?? EPOCH, w.id ?? ID], `${what} ${i}: ids`);
    assert.deepEqual(m.key, w.key ?? FLOW_KEY, `${what} ${i}: flow key`);
    const reason = m.type === "handoff_nack" || m.type === "flow_end" ? m.reason : 0;
    assert.equal(reason, w.reason ?? 0, `${what} ${i}: reason`);
    if (w.counts && m.type === "flow_end") assert.deepEqual(m.counts, w.counts, `${what} ${i}`);
  }
}

/**
 * Any director carries on: the agent writes a routed HANDOFF's code into
 * every TSval to the client (dataplane/ts_route.ts), and answers a
 * FLOW_QUERY for a flow it holds (FLOW_OWNER), whose answers then go to
 * the director that asked.
 */
function routing_rows(): StepsRow[] {
  const f = BASE;
  const c = f.client_isn;
  const adopted_end = c + 1 + REQUEST.length;
  const request_end = c + 1 + 100;
  const live: Partial<Flow> = { stack_ack: request_end, stack_window: 64000 };
  const rst: Segment = { seq: request_end, ack: 0, flags: 0x04, window: 0 };
  const query = (epoch: number, id: number): HandoffMessage => ({
    type: "flow_query",
    epoch,
    id,
    key: FLOW_KEY,
  });
  const CODE = 0xa7;
  const handoff = HANDOFF as Extract<HandoffMessage, { type: "handoff" }>;
  const routed: HandoffMessage = { ...handoff, state: { ...handoff.state, ts_route: CODE } };
  // the headroom keeps the first routed TSval above the director's (D_TSVAL)
  const ts_delta = D_TSVAL - S_TSVAL + TS_ROUTE_HEADROOM;
  const to_client_tsval = routed_tsval(S_TSVAL + 5, ts_delta, CODE) >>> 0;
  return [
    {
      description:
        "a routed HANDOFF: the stack's TSval reaches the client with the code in its low 8 bits, after the director's; the echo comes back as the TSval echoed",
      flow: null,
      steps: [
        ...adoption(LINUX_SYNACK, 400, routed),
        {
          now: 3,
          from_stack: [from_stack({
            seq: S_ISN + 1,
            ack: adopted_end,
            flags: 0x18,
            window: 502,
            options: ts(S_TSVAL + 5, C_TSVAL),
            payload: 100,
          })],
          to_client: [from_stack({
            seq: f.director_isn + 1,
            ack: adopted_end,
            flags: 0x18,
            window: 502,
            options: ts(to_client_tsval, C_TSVAL),
            payload: 100,
          })],
        },
        {
          from_client: [from_client({
            seq: adopted_end,
            ack: f.director_isn + 1 + 100,
            flags: 0x10,
            window: 400,
            options: ts(C_TSVAL + 1, to_client_tsval),
          })],
          to_stack: [from_client({
            seq: adopted_end,
            ack: S_ISN + 1 + 100,
            flags: 0x10,
            window: 400,
            options: ts(C_TSVAL + 1, S_TSVAL + 5),
          })],
        },
      ],
      counters: { adopted: 1, translated_to_client: 1, translated_to_server: 1 },
    },
    {
      description:
        "FLOW_QUERY from a restarted director (a new epoch) for a flow it holds: FLOW_OWNER; the flow's FLOW_END then names the query",
      flow: live,
      steps: [
        { now: 0, handoff: query(9, 5), answers: [{ type: "flow_owner", epoch: 9, id: 5 }] },
        { from_client: [from_client(rst)], to_stack: [from_client(rst)] },
        {
          now: 3000,
          answers: [{ type: "flow_end", reason: FLOW_END_CLIENT_RESET, epoch: 9, id: 5 }],
        },
      ],
      counters: { handoff_rx_ok: 1, queries_answered: 1, flow_ends_sent: 1 },
    },
    {
      description:
        "a HANDOFF of a connection it holds, from a restarted director (same ISNs, a new epoch): kept, HANDOFF_ACK under the new id, nothing to the stack; its FLOW_END then names that id",
      flow: live,
      steps: [
        {
          now: 0,
          handoff: { ...HANDOFF, epoch: 9, id: 5 },
          answers: [{ type: "handoff_ack", epoch: 9, id: 5 }],
        },
        { from_client: [from_client(rst)], to_stack: [from_client(rst)] },
        {
          now: 3000,
          answers: [{ type: "flow_end", reason: FLOW_END_CLIENT_RESET, epoch: 9, id: 5 }],
        },
      ],
      counters: { handoffs_taken_over: 1, syn_sent: 0, adopted: 0, refused_bad_request: 0 },
    },
    {
      description: "FLOW_QUERY for a flow it does not hold: no answer",
      flow: null,
      steps: [{ now: 0, handoff: query(9, 5) }],
      counters: { handoff_rx_ok: 1, queries_not_here: 1, queries_answered: 0 },
    },
    {
      description:
        "FLOW_QUERY for a flow still being adopted: no answer (its own director hears first, under its hand-off's id)",
      flow: null,
      steps: [{ ...adoption(LINUX_SYNACK, 400)[0], handoff: [HANDOFF, query(9, 5)] }],
      counters: { handoff_rx_ok: 2, queries_not_here: 1, syn_sent: 1 },
    },
  ];
}

for (
  const row of [
    ...rows().map(as_steps),
    ...hostile_rows(),
    ...handoff_rows(),
    ...routing_rows(),
    ...icmp_rows().map(as_steps),
    ...icmp_steps_rows(),
  ]
) {
  Deno.test({
    name: `agent fixture: ${row.description}`,
    sanitizeResources: false,
    async fn() {
      const { counters, done, to_fabric, to_stack, times } = await run_case(row);
      let fabric_at = 0;
      let stack_at = 0;
      for (const [i, step] of row.steps.entries()) {
        const d = done[i];
        const out = to_fabric.slice(fabric_at, fabric_at + d.to_fabric);
        assert_frames(
          out.filter((f) => !is_answer(f)),
          step.to_client ?? [],
          `step ${i} to the client`,
        );
        await assert_answers(
          out.filter(is_answer),
          step.answers ?? [],
          times[i],
          `step ${i} to the director`,
        );
        assert_frames(
          to_stack.slice(stack_at, stack_at + d.to_server),
          step.to_stack ?? [],
          `step ${i} to the stack`,
        );
        fabric_at += d.to_fabric;
        stack_at += d.to_server;
      }
      for (const [name, value] of Object.entries(row.counters)) {
        assert.equal(counters[name], value, `counter ${name}`);
      }
      // every dropped frame has exactly one reason among AGENT_DROP_REASONS
      const reasons = AGENT_DROP_REASONS.reduce((n, name) => n + (counters[name] ?? 0), 0);
      assert.equal(counters.frames_dropped, reasons, "one reason per dropped frame");
    },
  });
}
