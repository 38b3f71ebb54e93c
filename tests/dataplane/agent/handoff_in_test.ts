// The agent's side of the hand-off protocol in its poll loop, driven step
// by step without DPDK: the bursts and the service call run over a plain
// buffer standing in for the packet region, with node:crypto's HMAC where
// the shim's would be, a bump allocator for the mbufs of what it sends
// (answers, segments for the stack and the client) and two fixed clocks. Each test is a short story (a HANDOFF frame on the fabric
// → the SYN to the stack → the stack's handshake → HANDOFF_ACK → a copy
// later) that checks what reaches the stack, what goes back to the
// director (decoded as the director would, addresses and checksums
// included), and the counters. These are the stories the agent control
// Worker's tests told; the poll loop tells them now.

import assert from "node:assert/strict";
import { createHmac, timingSafeEqual } from "node:crypto";
import { DESC_WORDS, DROP } from "../../../native/mod.ts";
import {
  agent_fabric_burst,
  agent_install_flow,
  agent_server_burst,
  create_agent_state,
  DEFAULT_AGENT_TIMERS,
  type HandoffIo,
} from "../../../dataplane/agent/mod.ts";
import { agent_service } from "../../../dataplane/agent/service.ts";
import { C } from "../../../dataplane/agent/state.ts";
import {
  decode_message,
  encode_message,
  FLOW_END_IDLE_TIMEOUT,
  type FlowKey,
  type HandoffKey,
  type HandoffMessage,
  import_handoff_key,
  NACK_BAD_REQUEST,
  NACK_TABLE_FULL,
  parse_key_text,
} from "../../../dataplane/wire/mod.ts";
import {
  build_tcp,
  build_udp,
  describe_frame,
  ip_to_u32,
  mac_to_bytes,
  TCP_FLAG_ACK,
  TCP_FLAG_RST,
  TCP_FLAG_SYN,
} from "../../../dataplane/mod.ts";
import { mulberry32 } from "../../support/random.ts";

const KEY_HEX = "33".repeat(32);
const RAW_KEY = parse_key_text(KEY_HEX);
const KEY = await import_handoff_key(RAW_KEY);
const OTHER_KEY = await import_handoff_key(parse_key_text("44".repeat(32)));
const AGENT = 3;
const WALL = 1_754_000_000_000;
const EPOCH = 0xdecafbad;
const PORT = 7201;

const DIRECTOR_MAC = "02:b7:00:00:00:02";
const ROUTER_MAC = "02:b7:00:00:00:fe";
const SERVER_MAC = "02:b7:00:00:01:01";
const AGENT_MAC = "02:b7:00:00:02:01";
const DIRECTOR_IP = "198.18.0.2";
const SERVER_IP = "198.18.0.11";
const CLIENT_IP = "198.18.0.1";
const VIP = "198.18.0.100";

const FLOW: FlowKey = {
  client_ip: ip_to_u32(CLIENT_IP),
  vip: ip_to_u32(VIP),
  client_port: 40000,
  vip_port: 80,
};
const REQUEST = new TextEncoder().encode("GET / HTTP/1.1\r\nHost: vip\r\n\r\n");
const CLIENT_ISN = 1000;
const STACK_ISN = 3_000_000_000;

function handoff(id: number, key: FlowKey = FLOW, request = REQUEST): HandoffMessage {
  return {
    type: "handoff",
    epoch: EPOCH,
    id,
    key,
    state: {
      client_mac: mac_to_bytes("02:b7:00:00:00:01"),
      client_isn: CLIENT_ISN,
      director_isn: 5000,
      client_next_seq: (CLIENT_ISN + 1 + request.length) >>> 0,
      director_next_seq: 5001,
      client_window: 502,
      client_mss: 1460,
      director_mss: 1460,
      client_wscale: 7,
      director_wscale: 7,
      sack_permitted: true,
      timestamps: false,
      client_tsval: 0,
      director_tsval: 0,
      request,
    },
  };
}

interface Sent {
  offset: number;
  length: number;
  port: number;
}

/** How the director frames a datagram: from its MAC (or a router's), address and port. */
interface FrameOptions {
  key?: HandoffKey;
  agent?: number;
  /** The sender's clock; the agent's wall clock unless given. */
  sent?: number;
  src_ip?: string;
  src_port?: number;
  src_mac?: string;
  dst_ip?: string;
  dst_port?: number;
  /** The sender's limit (a director configured for larger datagrams than the agent). */
  max_datagram?: number;
  /** Changes the datagram after it is signed (and before it is framed). */
  bend?: (datagram: Uint8Array) => Uint8Array;
  /** Changes the frame after it is built. */
  bend_frame?: (frame: Uint8Array) => Uint8Array;
}

/** An agent over a plain buffer, with the shim's jobs done in TypeScript; clocks move when told. */
function agent(
  config: { directors?: { ip: number; port: number }[] | null; vips?: string[] } = {},
) {
  const bytes = new Uint8Array(1 << 20);
  const clock = { now: 0, wall: WALL };
  const answers: Sent[] = [];
  const to_stack: Uint8Array[] = [];
  const to_client: Uint8Array[] = [];
  /** Frames claimed since the agent last ran: sorted by settle() once it has written them. */
  const claimed: Sent[] = [];
  const settle = () => {
    for (const sent of claimed.splice(0)) {
      const frame = bytes.slice(sent.offset, sent.offset + sent.length);
      if (sent.port === 1) to_stack.push(frame);
      else if (frame[23] === 17) answers.push(sent); // UDP: a datagram to the director
      else to_client.push(frame);
    }
  };
  let next_mbuf = 1 << 16;
  const hmac = (offset: number, length: number) =>
    createHmac("sha256", RAW_KEY).update(bytes.subarray(offset, offset + length)).digest();
  const io: HandoffIo = {
    bytes,
    claim: (length, port) => {
      const offset = next_mbuf + 2; // an odd place, as in an mbuf
      next_mbuf += 2048;
      claimed.push({ offset, length, port });
      return offset;
    },
    discard: () => void claimed.pop(),
    sign: (offset, length, tag_offset) => {
      bytes.set(hmac(offset, length), tag_offset);
      return 0;
    },
    verify: (offset, length, tag_offset) =>
      timingSafeEqual(hmac(offset, length), bytes.subarray(tag_offset, tag_offset + 32)) ? 1 : 0,
    wall_clock: () => clock.wall,
  };
  const state = create_agent_state({
    fabric_port: 0,
    server_port: 1,
    server_mac: mac_to_bytes(SERVER_MAC),
    agent_mac: mac_to_bytes(AGENT_MAC),
    ...DEFAULT_AGENT_TIMERS,
    flow_capacity: 64,
    max_request: 1360,
    idle_timeout_ms: 60_000,
    vips: (config.vips ?? [VIP]).map(ip_to_u32),
    address: ip_to_u32(SERVER_IP),
    handoff_port: PORT,
    agent_id: AGENT,
    directors: config.directors === null
      ? undefined
      : config.directors ?? [{ ip: ip_to_u32(DIRECTOR_IP), port: PORT }],
    freshness_ms: 10_000,
    max_datagram: 1472,
  }, { io });

  const desc = new Int32Array(DESC_WORDS * 4);
  /** One frame into a burst (at region offset 6), its action afterwards. */
  const burst = (side: "fabric" | "server", frame: Uint8Array): number => {
    bytes.set(frame, 6);
    desc[0] = 6;
    desc[1] = frame.length;
    if (side === "fabric") agent_fabric_burst(state, bytes, desc, 1, clock.now);
    else agent_server_burst(state, bytes, desc, 1, clock.now);
    settle();
    return desc[2];
  };
  const frame_of = async (message: HandoffMessage, options: FrameOptions = {}) => {
    let datagram = await encode_message(message, options.key ?? KEY, {
      agent: options.agent ?? AGENT,
      now: options.sent ?? clock.wall,
      max_datagram: options.max_datagram,
    });
    if (options.bend) datagram = options.bend(datagram);
    const frame = build_udp({
      src_mac: options.src_mac ?? DIRECTOR_MAC,
      dst_mac: SERVER_MAC,
      src_ip: options.src_ip ?? DIRECTOR_IP,
      dst_ip: options.dst_ip ?? SERVER_IP,
      src_port: options.src_port ?? PORT,
      dst_port: options.dst_port ?? PORT,
      payload: datagram,
    });
    return options.bend_frame ? options.bend_frame(frame) : frame;
  };
  /** The director sends: its key, naming agent 3, stamped at the agent's wall clock unless told. */
  const from_director = async (message: HandoffMessage, options: FrameOptions = {}) => {
    const action = burst("fabric", await frame_of(message, options));
    assert.equal(action, DROP, "a hand-off frame never reaches the server");
  };
  /** What the agent answered, decoded as the director would (agent 3's key, naming agent 3). */
  const replies = async (to: { mac?: string; port?: number } = {}) => {
    const out = [];
    for (const { offset, length, port } of answers.splice(0)) {
      assert.equal(port, 0, "answers leave by the fabric port");
      const frame = bytes.slice(offset, offset + length);
      const d = describe_frame(frame);
      assert.equal(d.src_mac, SERVER_MAC, "from the server's MAC");
      assert.equal(d.dst_mac, to.mac ?? DIRECTOR_MAC, "to the MAC the HANDOFF came from");
      assert.equal(d.ipv4?.src_ip, SERVER_IP);
      assert.equal(d.ipv4?.dst_ip, DIRECTOR_IP);
      assert.ok(d.ipv4?.checksum_ok, "IPv4 checksum");
      assert.equal(d.udp?.src_port, PORT);
      assert.equal(d.udp?.dst_port, to.port ?? PORT);
      assert.ok(d.udp?.checksum_ok, "UDP checksum");
      const result = await decode_message(frame.subarray(42), KEY, {
        agent: AGENT,
        now: clock.wall,
      });
      assert.ok(result.ok, `the director reads the agent's reply (${!result.ok && result.reason})`);
      out.push({ ...result.message, sent_at: result.sent_at });
    }
    return out;
  };
  /** The service call (timers), and what it sent sorted out. */
  const service = () => {
    agent_service(state, clock.now);
    settle();
  };
  /** The stack's handshake for the SYN the service call sent: SYN/ACK, then the request's ACK. */
  const stack_accepts = () => {
    service();
    const syn = to_stack.splice(0);
    assert.equal(syn.length, 1, "the SYN went to the stack");
    assert.equal(describe_frame(syn[0]).tcp?.flags, TCP_FLAG_SYN);
    const from_stack = (seq: number, ack: number, flags: number) =>
      build_tcp({
        src_mac: SERVER_MAC,
        dst_mac: "02:b7:00:00:00:01",
        src_ip: VIP,
        dst_ip: CLIENT_IP,
        src_port: 80,
        dst_port: 40000,
        seq,
        ack,
        flags,
        window: 65160,
        options: flags & TCP_FLAG_SYN
          ? [{ kind: "mss", value: 1460 }, { kind: "sack_permitted" }, { kind: "nop" }, {
            kind: "wscale",
            shift: 7,
          }]
          : [],
      });
    assert.equal(
      burst("server", from_stack(STACK_ISN, CLIENT_ISN + 1, TCP_FLAG_SYN | TCP_FLAG_ACK)),
      DROP,
    );
    service();
    assert.equal(to_stack.splice(0).length, 1, "the request went to the stack");
    burst("server", from_stack(STACK_ISN + 1, CLIENT_ISN + 1 + REQUEST.length, TCP_FLAG_ACK));
  };
  const counter = (name: keyof typeof C) => state.counters[C[name]];
  return {
    state,
    clock,
    answers,
    to_stack,
    to_client,
    burst,
    frame_of,
    from_director,
    replies,
    stack_accepts,
    counter,
    service,
  };
}

Deno.test("in-band hand-off: adopted in the pass that read it; a copy after its flow ended is a replay", async () => {
  const a = agent();
  await a.from_director(handoff(1));
  assert.equal(a.counter("handoff_rx_ok"), 1);
  assert.equal(a.counter("handoffs_received"), 1);
  assert.equal(a.state.table.count, 1, "the flow is in the table from that same burst");
  // a retransmission while it is being adopted: not adopted twice, not answered yet
  await a.from_director(handoff(1));
  assert.equal(a.counter("handoffs_duplicate"), 1);
  a.stack_accepts();
  const [ack] = await a.replies();
  assert.deepEqual([ack.type, ack.epoch, ack.id, ack.key], ["handoff_ack", EPOCH, 1, FLOW]);
  assert.equal(ack.sent_at, WALL >>> 0, "stamped with the agent's wall clock");
  // a retransmission after the ACK (which the director may have lost): the ACK again
  await a.from_director(handoff(1));
  assert.equal((await a.replies())[0].type, "handoff_ack");
  // the flow goes idle and ends; the FLOW_END goes to the director
  a.clock.now = 61_000;
  a.clock.wall += 61_000;
  a.service();
  const [end] = await a.replies();
  assert.equal(end.type, "flow_end");
  if (end.type === "flow_end") assert.equal(end.reason, FLOW_END_IDLE_TIMEOUT);
  // and an RST each way, written in place like the answers
  const flags = (frames: Uint8Array[]) => frames.splice(0).map((f) => describe_frame(f).tcp?.flags);
  assert.deepEqual(flags(a.to_client), [TCP_FLAG_RST | TCP_FLAG_ACK], "an RST to the client");
  assert.deepEqual(flags(a.to_stack), [TCP_FLAG_RST], "an RST to the stack");
  // a copy of the HANDOFF, authentic and fresh (a retransmission captured and replayed): dropped
  await a.from_director(handoff(1));
  assert.equal(a.state.table.count, 0, "not adopted again");
  assert.equal(a.counter("handoffs_replayed"), 1);
  assert.deepEqual(await a.replies(), [], "nothing answered to a replay of an ended hand-off");
  // a new hand-off of the same 4-tuple (port reuse) is a new id: it is adopted
  await a.from_director(handoff(2));
  assert.equal(a.state.table.count, 1);
  assert.equal(a.counter("handoffs_received"), 4);
});

Deno.test("in-band hand-off: a refused hand-off's copy gets the same NACK, without adoption", async () => {
  const a = agent();
  a.state.free_request_count = 0; // every request buffer in use: NACK table_full
  await a.from_director(handoff(4));
  const [nack] = await a.replies();
  assert.deepEqual([nack.type, "reason" in nack && nack.reason], ["handoff_nack", NACK_TABLE_FULL]);
  await a.from_director(handoff(4));
  const [again] = await a.replies();
  assert.deepEqual([again.type, again.id, "reason" in again && again.reason], [
    "handoff_nack",
    4,
    NACK_TABLE_FULL,
  ]);
  assert.equal(a.counter("handoffs_replayed"), 1);
  assert.equal(a.counter("handoffs_received"), 1, "adoption saw it once");
  assert.equal(a.counter("nacks_sent"), 2);
});

Deno.test("in-band hand-off: a cancel resets the stack's half and makes a late HANDOFF copy a replay", async () => {
  const a = agent();
  await a.from_director(handoff(9));
  await a.from_director({ type: "handoff_cancel", epoch: EPOCH, id: 9, key: FLOW });
  assert.equal(a.counter("cancels_received"), 1);
  assert.equal(a.counter("cancelled"), 1);
  assert.equal(a.state.table.count, 0);
  assert.equal(a.to_stack.length, 1, "an RST to the stack");
  await a.from_director(handoff(9));
  assert.equal(a.state.table.count, 0);
  assert.equal(a.counter("handoffs_replayed"), 1);
  // a cancel for another hand-off of a live 4-tuple leaves that flow alone
  await a.from_director(handoff(10));
  await a.from_director({ type: "handoff_cancel", epoch: EPOCH, id: 11, key: FLOW });
  assert.equal(a.state.table.count, 1);
  assert.equal(a.counter("cancelled"), 1);
  assert.deepEqual(await a.replies(), [], "a cancel is not answered");
});

Deno.test("in-band hand-off: an id below the replay window is never adopted, a live flow's copy still answered", async () => {
  const a = agent();
  const other = (port: number): FlowKey => ({ ...FLOW, client_port: port });
  await a.from_director(handoff(1));
  // the director has handed out a window's worth of ids since (to other servers)
  await a.from_director(handoff(2 + (1 << 17), other(40001)));
  assert.equal(a.state.table.count, 2);
  // a retransmission of the first, whose flow is being adopted here: a duplicate, as before
  await a.from_director(handoff(1));
  assert.equal(a.counter("handoffs_duplicate"), 1);
  assert.equal(a.counter("handoffs_too_old"), 0);
  // an id that old with no flow here cannot be told from a replay: dropped, unanswered
  await a.from_director(handoff(2, other(40002)));
  assert.equal(a.counter("handoffs_too_old"), 1);
  assert.equal(a.state.table.count, 2, "not adopted");
  assert.equal(a.counter("handoffs_received"), 3, "adoption saw the two and the duplicate only");
  assert.deepEqual(await a.replies(), []);
});

Deno.test("in-band hand-off: replay entries go once every copy would be stale anyway", async () => {
  const a = agent();
  await a.from_director({ type: "handoff_cancel", epoch: EPOCH, id: 1, key: FLOW });
  const captured = await a.frame_of(handoff(1));
  a.clock.now += 20_000;
  a.clock.wall += 20_000;
  a.service();
  assert.equal(a.state.replays.count, 0, "the epoch is held 2 × freshness, then freed");
  assert.equal(a.burst("fabric", captured), DROP);
  assert.equal(a.counter("handoff_rx_stale"), 1, "the captured copy is now stale");
  assert.equal(a.state.table.count, 0);
});

const DROPS: {
  description: string;
  frame: (a: ReturnType<typeof agent>) => Promise<Uint8Array>;
  counter: keyof typeof C;
}[] = [
  {
    description: "from a host that is not a configured director (no HMAC computed)",
    frame: (a) => a.frame_of(handoff(1), { src_ip: "198.18.0.66", key: OTHER_KEY }),
    counter: "handoff_rx_unknown_source",
  },
  {
    description: "from the director's host but another port",
    frame: (a) => a.frame_of(handoff(1), { src_port: 7299 }),
    counter: "handoff_rx_unknown_source",
  },
  {
    description: "for another agent, under a key both share",
    frame: (a) => a.frame_of(handoff(1), { agent: 4 }),
    counter: "handoff_rx_wrong_agent",
  },
  {
    description: "for another agent, under that agent's key",
    frame: (a) => a.frame_of(handoff(1), { agent: 4, key: OTHER_KEY }),
    counter: "handoff_rx_bad_mac",
  },
  {
    description: "with one bit of its tag flipped",
    frame: (a) =>
      a.frame_of(handoff(1), {
        bend: (d) => {
          d[d.length - 1] ^= 1;
          return d;
        },
      }),
    counter: "handoff_rx_bad_mac",
  },
  {
    description: "sent 10.001 s before the agent's clock",
    frame: (a) => a.frame_of(handoff(1), { sent: WALL - 10_001 }),
    counter: "handoff_rx_stale",
  },
  {
    description: "stamped 10.001 s ahead of the agent's clock",
    frame: (a) => a.frame_of(handoff(1), { sent: WALL + 10_001 }),
    counter: "handoff_rx_stale",
  },
  {
    description: "of the old version (1)",
    frame: (a) =>
      a.frame_of(handoff(1), {
        bend: (d) => {
          d[2] = 1;
          return d;
        },
      }),
    counter: "handoff_rx_bad_version",
  },
  {
    description: "cut short (the UDP datagram ends inside the tag)",
    frame: (a) => a.frame_of(handoff(1), { bend: (d) => d.slice(0, d.length - 5) }),
    counter: "handoff_rx_truncated",
  },
  {
    description: "over max_datagram",
    frame: (a) => a.frame_of(handoff(1, FLOW, new Uint8Array(1400)), { max_datagram: 8000 }),
    counter: "handoff_rx_oversized",
  },
  {
    description: "with an IPv4 total length beyond the frame",
    frame: (a) =>
      a.frame_of(handoff(1), {
        bend_frame: (f) => {
          f[16] += 1;
          return f;
        },
      }),
    counter: "handoff_rx_bad_frame",
  },
];

for (const row of DROPS) {
  Deno.test(`in-band hand-off: a HANDOFF ${row.description} → ${row.counter}, nothing adopted`, async () => {
    const a = agent();
    assert.equal(a.burst("fabric", await row.frame(a)), DROP, "consumed, never the server's");
    assert.equal(a.state.table.count, 0);
    assert.equal(a.answers.length, 0, "nothing is answered to a bad datagram");
    assert.equal(a.counter(row.counter), 1);
    assert.equal(a.counter("handoff_rx_ok"), 0);
    assert.equal(a.counter("frames_dropped"), 1, "one dropped frame, one reason");
  });
}

Deno.test("in-band hand-off: without a directors list any sender's authentic datagram is read", async () => {
  const a = agent({ directors: null });
  await a.from_director(handoff(1), { src_ip: DIRECTOR_IP, src_port: 40123, src_mac: ROUTER_MAC });
  assert.equal(a.state.table.count, 1);
  // answers go back to the MAC the frame came from (a router on an L3 fabric) and its port
  a.stack_accepts();
  const [ack] = await a.replies({ mac: ROUTER_MAC, port: 40123 });
  assert.equal(ack.type, "handoff_ack");
});

const REFUSALS: { description: string; key: Partial<FlowKey>; counter: keyof typeof C }[] = [
  {
    description: "a VIP the server does not hold",
    key: { vip: ip_to_u32("198.18.0.11") },
    counter: "refused_wrong_vip",
  },
  {
    description: "a loopback client",
    key: { client_ip: ip_to_u32("127.0.0.1") },
    counter: "refused_bad_client",
  },
  {
    description: "a broadcast client",
    key: { client_ip: 0xffff_ffff },
    counter: "refused_bad_client",
  },
  {
    description: "a multicast client",
    key: { client_ip: ip_to_u32("224.0.0.5") },
    counter: "refused_bad_client",
  },
  {
    description: "the VIP as the client",
    key: { client_ip: FLOW.vip },
    counter: "refused_bad_client",
  },
];

for (const row of REFUSALS) {
  Deno.test(`in-band hand-off: an authentic HANDOFF for ${row.description} → NACK, ${row.counter}`, async () => {
    const a = agent();
    await a.from_director(handoff(5, { ...FLOW, ...row.key }));
    assert.equal(a.counter("handoffs_received"), 0, "adoption never sees it");
    const [nack] = await a.replies();
    assert.deepEqual([nack.type, "reason" in nack && nack.reason], [
      "handoff_nack",
      NACK_BAD_REQUEST,
    ]);
    assert.deepEqual(nack.key, { ...FLOW, ...row.key });
    assert.equal(a.counter(row.counter), 1);
    // its retransmission gets the same answer, still without adoption
    await a.from_director(handoff(5, { ...FLOW, ...row.key }));
    assert.equal((await a.replies())[0].type, "handoff_nack");
    assert.equal(a.counter("handoffs_received"), 0);
    assert.equal(a.state.table.count, 0);
  });
}

Deno.test("in-band hand-off: a request over max_request → NACK bad_request, counted", async () => {
  const a = agent();
  a.state.config.max_request = 16;
  await a.from_director(handoff(6));
  const [nack] = await a.replies();
  assert.deepEqual([nack.type, "reason" in nack && nack.reason], [
    "handoff_nack",
    NACK_BAD_REQUEST,
  ]);
  assert.equal(a.counter("refused_too_large"), 1);
  assert.equal(a.state.table.count, 0);
});

Deno.test("in-band hand-off: FLOW_END is re-stamped when retransmitted and stops at its own ACK", async () => {
  const a = agent();
  await a.from_director(handoff(1));
  a.stack_accepts();
  await a.replies();
  a.clock.now = 61_000;
  a.clock.wall += 61_000;
  a.service();
  const [first] = await a.replies();
  assert.equal(first.type, "flow_end");
  a.clock.now += 500;
  a.clock.wall += 500;
  a.service();
  const [second] = await a.replies();
  assert.equal(second.type, "flow_end");
  assert.equal(second.sent_at - first.sent_at, 500, "a fresh timestamp on the copy");
  // an ACK naming an older hand-off of this 4-tuple does not stop it
  await a.from_director({ type: "flow_end_ack", epoch: EPOCH, id: 0, key: FLOW });
  assert.equal(a.counter("flow_end_acks_unmatched"), 1);
  await a.from_director({ type: "flow_end_ack", epoch: EPOCH, id: 1, key: FLOW });
  assert.equal(a.counter("flow_ends_acked"), 1);
  assert.equal(a.counter("flow_ends_pending"), 0);
  a.clock.now += 10_000;
  a.clock.wall += 10_000;
  a.service();
  assert.deepEqual(await a.replies(), []);
  assert.equal(a.counter("flow_end_retransmits"), 1);
});

Deno.test("in-band hand-off: an ACK or NACK sent to the agent is counted, not acted on", async () => {
  const a = agent();
  await a.from_director({ type: "handoff_ack", epoch: EPOCH, id: 1, key: FLOW });
  assert.equal(a.counter("unexpected_messages"), 1);
  assert.deepEqual(await a.replies(), []);
});

Deno.test("in-band hand-off: a flow installed without a hand-off has no director to tell", () => {
  const a = agent();
  agent_install_flow(a.state, {
    ...FLOW,
    client_mac: mac_to_bytes("02:b7:00:00:00:01"),
    client_isn: 1,
    server_isn: 2,
    director_next_seq: 3,
    ts_delta: 0,
    server_wscale: 0,
    director_wscale: 0,
    sack_permitted: false,
    timestamps: false,
  }, 0);
  a.clock.now = 61_000;
  a.service();
  assert.equal(a.counter("ended_idle"), 1);
  assert.equal(a.counter("answers_without_director"), 1);
  assert.equal(a.answers.length, 0);
});

Deno.test("in-band hand-off: other UDP to the server passes untouched", async () => {
  const a = agent();
  const other_port = build_udp({
    src_mac: DIRECTOR_MAC,
    dst_mac: SERVER_MAC,
    src_ip: DIRECTOR_IP,
    dst_ip: SERVER_IP,
    src_port: PORT,
    dst_port: 53,
    payload: 40,
  });
  assert.equal(a.burst("fabric", other_port), 1, "another port: the server's");
  const other_host = await a.frame_of(handoff(1), { dst_ip: "198.18.0.12" });
  assert.equal(a.burst("fabric", other_host), 1, "the hand-off port of another address");
  const fragment = await a.frame_of(handoff(1), {
    bend_frame: (f) => {
      f[20] = 0x20; // MF: the first fragment of a larger datagram
      return f;
    },
  });
  assert.equal(
    a.burst("fabric", fragment),
    1,
    "a fragment is not read (the agent reassembles none)",
  );
  assert.equal(a.counter("passed_to_server"), 3);
  assert.equal(a.counter("handoff_rx_ok"), 0);
});

Deno.test("in-band hand-off: a wrong key in the shim's place fails closed", async () => {
  const a = agent();
  a.state.io.verify = () => -1; // no key in the slot
  await a.from_director(handoff(1));
  assert.equal(a.counter("handoff_rx_bad_mac"), 1);
  a.state.io.verify = () => 1;
  a.state.io.sign = () => -1;
  await a.from_director(handoff(2), { key: KEY });
  a.stack_accepts();
  assert.equal(a.counter("answers_unsigned"), 1, "an answer that cannot be signed is not sent");
  assert.equal(a.answers.length, 0);
});

Deno.test("in-band hand-off: 3,000 mutated HANDOFF frames: each consumed and counted once, none adopted", async () => {
  const a = agent();
  const valid = await a.frame_of(handoff(1));
  const random = mulberry32(0xba70);
  const datagram_at = 42;
  for (let n = 0; n < 3000; n++) {
    const frame = valid.slice();
    // flips anywhere in the datagram (header, body, tag), and now and then a shorter one
    for (let k = 1 + Math.floor(random() * 4); k > 0; k--) {
      const at = datagram_at + Math.floor(random() * (frame.length - datagram_at));
      frame[at] ^= 1 << Math.floor(random() * 8);
    }
    let bent = frame;
    if (random() < 0.2) {
      const cut = Math.floor(random() * (frame.length - datagram_at));
      bent = frame.slice(0, datagram_at + cut);
      // the IPv4 and UDP lengths say so (a datagram sent short), the checksums are not read
      bent[16] = (bent.length - 14) >> 8;
      bent[17] = (bent.length - 14) & 0xff;
      bent[38] = (bent.length - 34) >> 8;
      bent[39] = (bent.length - 34) & 0xff;
    }
    assert.equal(a.burst("fabric", bent), DROP);
  }
  const results = Object.keys(C).filter((name) => name.startsWith("handoff_rx_"));
  const counted = results.reduce((sum, name) => sum + a.counter(name as keyof typeof C), 0);
  assert.equal(counted, 3000, "one result per frame");
  assert.equal(a.counter("handoff_rx_ok"), 0, "a changed datagram never authenticates");
  assert.ok(a.counter("handoff_rx_bad_mac") > 1000, "most reach the tag and fail there");
  assert.equal(a.state.table.count, 0);
  assert.equal(a.answers.length, 0);
  assert.equal(a.counter("frames_dropped"), 3000);
});
