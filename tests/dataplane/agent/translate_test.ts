// The agent's translate fast paths. Server → client (translate_parse.ts,
// translate.ts: translate_stack_segments) against its definition, the general path
// (parse_frame, translate_to_client and the burst's bookkeeping: burst.ts
// stack_frame). Random flows and random frames from the stack (options
// none, NOP NOP TS and every layout the fast path must hand back, flags,
// sequence numbers around the wrap and around the stack's last ACK, window
// scales, padding, tags, IP options, fragments, other protocols, frames of
// no flow) go through agent_server_burst on one agent and frame by frame
// through the general path on a twin agent; the regions, the actions, the
// counters and every flow's words must come out identical, and every
// translated segment that came in with good checksums leaves with good
// ones (recomputed in full, never copied). Client → server (NOP NOP TS,
// translate_to_server's fast branch) against frames built with the
// translated fields and full checksums. Seeded, so a failure names the
// round that reproduces it.

import assert from "node:assert/strict";
import {
  build_arp,
  build_tcp,
  build_udp,
  create_parse_out,
  ETHERTYPE,
  ETHERTYPE_IPV4,
  flow_lookup,
  flow_remove_at,
  IP_HEADER_LENGTH,
  IP_PROTOCOL,
  IP_PROTOCOL_TCP,
  ipv4_checksum_ok,
  L3_OFFSET,
  L4_OFFSET,
  parse_frame,
  PARSE_OK,
  tcp_checksum_ok,
  type TcpOption,
  u32_to_ip,
  VLAN_TCI,
} from "../../../dataplane/mod.ts";
import {
  AGENT_COUNTER_NAMES,
  agent_fabric_burst,
  agent_install_flow,
  agent_server_burst,
  type AgentState,
  create_agent_state,
  DEFAULT_AGENT_TIMERS,
} from "../../../dataplane/agent/mod.ts";
import { stack_frame } from "../../../dataplane/agent/burst.ts";
import { restored_tsecr } from "../../../dataplane/mod.ts";
import { translate_stack_segments } from "../../../dataplane/agent/translate.ts";
import { parse_tcp_segment, region_view } from "../../../dataplane/agent/translate_parse.ts";
import {
  C,
  F_STACK_NO_SACK,
  F_STACK_UNSCALED,
  STATE_CLOSING,
  STATE_ESTABLISHED,
  STATE_REFUSING,
  STATE_REQUEST_SENT,
  STATE_SYN_SENT,
  V_CLIENT_WSCALE,
  V_FLAGS,
  V_SERVER_TSVAL,
  V_STATE,
  VALUES_PER_FLOW,
} from "../../../dataplane/agent/state.ts";
import { dropped_in_burst } from "../../../dataplane/mod.ts";
import { DESC_WORDS, DROP } from "../../../native/mod.ts";

const VIP = 0xc612_0064; // 198.18.0.100
const VIP_PORT = 80;
const SERVER_MAC = Uint8Array.of(2, 0xb7, 0, 0, 1, 1);
const AGENT_MAC = Uint8Array.of(2, 0xb7, 0, 0, 1, 2);
const FABRIC_PORT = 0;
const SERVER_PORT = 1;

/** mulberry32: a small seeded generator, so a failing round can be replayed. */
function rng(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    u32: () => Math.floor(next() * 4294967296) >>> 0,
    int: (n: number) => Math.floor(next() * n),
    chance: (p: number) => next() < p,
    pick: <T>(list: readonly T[]) => list[Math.floor(next() * list.length)],
  };
}
type Rng = ReturnType<typeof rng>;

interface TestFlow {
  vip: number;
  client_ip: number;
  client_port: number;
  client_mac: Uint8Array;
  client_isn: number;
  server_isn: number;
  director_next_seq: number;
  ts_delta: number;
  ts_route?: number;
  server_wscale: number;
  director_wscale: number;
  sack_permitted: boolean;
  timestamps: boolean;
  stack_ack: number;
  stack_window: number;
  stack_next: number;
  closing: boolean;
}

function random_flow(r: Rng, k: number): TestFlow {
  const server_wscale = r.pick([0, 0, 1, 7, 7, 9, 14]);
  return {
    vip: VIP,
    client_ip: (0xc612_1000 + k * 7 + r.int(3)) >>> 0,
    client_port: 1024 + k * 13 + r.int(7),
    client_mac: Uint8Array.of(2, r.int(256), r.int(256), r.int(256), r.int(256), r.int(256)),
    client_isn: r.u32(),
    server_isn: r.u32(),
    director_next_seq: r.u32(),
    ts_delta: r.chance(0.2) ? 0 : r.chance(0.5) ? r.int(1000) - 500 : r.u32() | 0,
    ...(r.chance(0.3) ? { ts_route: r.int(256) } : {}),
    server_wscale,
    director_wscale: r.chance(0.6) ? server_wscale : r.pick([0, 2, 7, 14]),
    sack_permitted: r.chance(0.7),
    timestamps: r.chance(0.8),
    stack_ack: r.u32(),
    stack_window: r.int(0x10000) << server_wscale,
    stack_next: r.u32(),
    closing: r.chance(0.15),
  };
}

function agent_with(flows: readonly TestFlow[], flow_capacity = 256): AgentState {
  const state = create_agent_state({
    ...DEFAULT_AGENT_TIMERS,
    flow_capacity,
    fabric_port: FABRIC_PORT,
    server_port: SERVER_PORT,
    server_mac: SERVER_MAC,
    agent_mac: AGENT_MAC,
    max_adopting: 1,
    max_request: 1,
  });
  for (const f of flows) install(state, f);
  return state;
}

function install(state: AgentState, f: TestFlow) {
  const index = agent_install_flow(state, { ...f, vip_port: VIP_PORT }, 0);
  assert.ok(index >= 0);
  if (f.closing) state.table.values[index * VALUES_PER_FLOW + V_STATE] = STATE_CLOSING;
}

// TCP options from the stack: the two layouts the fast path takes, and the
// ones it must hand back (TS elsewhere, SACK, MSS, EOL padding, NOPs only).
function random_options(r: Rng): TcpOption[] {
  const ts = (): TcpOption => ({ kind: "timestamp", tsval: r.u32(), tsecr: r.u32() });
  const sack = (): TcpOption => ({
    kind: "sack",
    blocks: Array.from({ length: 1 + r.int(3) }, () => [r.u32(), r.u32()] as [number, number]),
  });
  const nop: TcpOption = { kind: "nop" };
  switch (r.int(10)) {
    case 0:
    case 1:
      return [];
    case 2:
    case 3:
    case 4:
      return [nop, nop, ts()];
    case 5:
      return [ts(), nop, nop];
    case 6:
      return [nop, nop, ts(), nop, nop, sack()];
    case 7:
      return [nop, nop, sack()];
    case 8:
      return [{ kind: "mss", value: 1460 }];
    default:
      return [nop, nop, nop, nop];
  }
}

const FLAGS = [0x10, 0x10, 0x10, 0x18, 0x18, 0x11, 0x19, 0x14, 0x04, 0x12, 0x00, 0x01];

/** A frame from the stack: mostly segments of the flows, and everything else it may send. */
function random_frame(r: Rng, flows: readonly TestFlow[]): Uint8Array {
  const f = r.pick(flows);
  const segment = {
    src_mac: "02:b7:00:00:01:01",
    dst_mac: "02:b7:00:00:01:02",
    src_ip: u32_to_ip(f.vip),
    dst_ip: u32_to_ip(f.client_ip),
    src_port: VIP_PORT,
    dst_port: f.client_port,
    // around the wrap, around the stack's last ACK, or anywhere
    seq: r.pick([r.u32(), (f.server_isn + 1 + r.int(100000)) >>> 0, 0xffff_ffff - r.int(3000)]),
    ack: r.pick([
      r.u32(),
      f.stack_ack,
      (f.stack_ack + 1 + r.int(1000)) >>> 0,
      (f.stack_ack - 1 - r.int(1000)) >>> 0,
      (f.stack_ack + 0x8000_0000) >>> 0,
    ]),
    flags: r.pick(FLAGS),
    window: r.chance(0.2) ? 0xffff : r.int(0x10000),
    options: random_options(r),
    payload: r.chance(0.3) ? 0 : r.chance(0.5) ? 1 + r.int(64) : 1 + r.int(1400),
  };
  switch (r.int(40)) {
    case 0: // a 4-tuple no flow has
      return build_tcp({ ...segment, dst_port: 9 });
    case 1: // the stack's own traffic, not TCP
      return build_udp({ ...segment, payload: 20 });
    case 2:
      return build_arp({
        operation: "request",
        sender_mac: "02:b7:00:00:01:01",
        sender_ip: u32_to_ip(VIP),
        target_ip: "198.18.0.1",
        pad_to: 60,
      });
    case 3:
      return build_tcp({ ...segment, vlan: 7 });
    case 4:
      return build_tcp({ ...segment, ip_options: Uint8Array.of(1, 1, 1, 0) });
    case 5: // a fragment: more fragments follow
      return build_tcp({ ...segment, fragment: 0x2000 });
    case 6: // Ethernet padding after the IP packet
      return build_tcp({ ...segment, payload: 0, options: [], pad_to: 60 + r.int(40) });
    case 7: { // lengths that lie: truncated, or a TCP header longer than the packet
      const frame = build_tcp(segment);
      if (r.chance(0.5)) return frame.subarray(0, 14 + 20 + r.int(40));
      frame[14 + 20 + 12] = 0xf0;
      return frame;
    }
    case 8: { // a broken checksum: translated all the same, and consistently
      const frame = build_tcp(segment);
      frame[14 + 20 + 16] ^= 0x5a;
      return frame;
    }
    default:
      return build_tcp(segment);
  }
}

/** Frames laid in one region at offsets of either parity, as mbufs may be, with a descriptor table. */
function lay_out(r: Rng, frames: readonly Uint8Array[]) {
  const stride = 2048;
  const bytes = new Uint8Array(stride * (frames.length + 1));
  const desc = new Int32Array(frames.length * DESC_WORDS);
  frames.forEach((frame, i) => {
    const offset = 64 + i * stride + r.int(4);
    bytes.set(frame, offset);
    desc[i * DESC_WORDS] = offset;
    desc[i * DESC_WORDS + 1] = frame.length;
    desc[i * DESC_WORDS + 2] = DROP;
  });
  return { bytes, desc };
}

/** The general path over a whole burst: what agent_server_burst is with no fast path. */
function general_burst(
  state: AgentState,
  bytes: Uint8Array,
  desc: Int32Array,
  n: number,
  now: number,
) {
  state.counters[C.server_rx] += n;
  state.now = now;
  for (let i = 0; i < n; i++) stack_frame(state, bytes, desc, i * DESC_WORDS, now);
  state.counters[C.frames_dropped] += dropped_in_burst(desc, n);
}

function assert_same_flows(fast: AgentState, general: AgentState, flows: readonly TestFlow[]) {
  for (const f of flows) {
    const a = flow_lookup(fast.table, f.client_ip, f.vip, f.client_port, VIP_PORT);
    const b = flow_lookup(general.table, f.client_ip, f.vip, f.client_port, VIP_PORT);
    assert.ok(a >= 0 && b >= 0);
    assert.deepEqual(
      fast.table.values.subarray(a * VALUES_PER_FLOW, (a + 1) * VALUES_PER_FLOW),
      general.table.values.subarray(b * VALUES_PER_FLOW, (b + 1) * VALUES_PER_FLOW),
    );
    assert.equal(fast.table.last_seen[a], general.table.last_seen[b]);
  }
}

Deno.test("fast path: the same bytes, actions, counters and flow words as the general path", () => {
  let translated_fast = 0;
  let checked_checksums = 0;
  for (let round = 0; round < 400; round++) {
    const r = rng(round);
    const flows = Array.from({ length: 1 + r.int(8) }, (_, k) => random_flow(r, k));
    const fast = agent_with(flows);
    const general = agent_with(flows);
    // several bursts, so later segments meet the state earlier ones left
    for (let burst = 0; burst < 4; burst++) {
      const frames = Array.from({ length: 1 + r.int(32) }, () => random_frame(r, flows));
      const layout = lay_out(r, frames);
      const a = { bytes: layout.bytes.slice(), desc: layout.desc.slice() };
      const b = { bytes: layout.bytes.slice(), desc: layout.desc.slice() };
      const now = 1000 + round * 10 + burst;
      agent_server_burst(fast, a.bytes, a.desc, frames.length, now);
      general_burst(general, b.bytes, b.desc, frames.length, now);
      const where = `round ${round}, burst ${burst}`;
      assert.deepEqual(a.desc, b.desc, `actions, ${where}`);
      assert.deepEqual(a.bytes, b.bytes, `bytes, ${where}`);
      assert.deepEqual(
        Object.fromEntries(AGENT_COUNTER_NAMES.map((name, i) => [name, fast.counters[i]])),
        Object.fromEntries(AGENT_COUNTER_NAMES.map((name, i) => [name, general.counters[i]])),
        `counters, ${where}`,
      );
      assert_same_flows(fast, general, flows);
      // translated segments that came in with good checksums leave with good ones
      const out = create_parse_out();
      frames.forEach((frame, i) => {
        const o = layout.desc[i * DESC_WORDS];
        if (a.desc[i * DESC_WORDS + 2] !== FABRIC_PORT) return;
        if (parse_frame(frame, 0, frame.length, out) !== PARSE_OK) return;
        if (out[ETHERTYPE] !== ETHERTYPE_IPV4 || out[IP_PROTOCOL] !== IP_PROTOCOL_TCP) return;
        if (!tcp_checksum_ok(frame, out[L3_OFFSET])) return;
        const after = a.bytes.subarray(o, o + frame.length);
        assert.ok(tcp_checksum_ok(after, out[L3_OFFSET]), `TCP checksum, ${where}, frame ${i}`);
        assert.ok(ipv4_checksum_ok(after, out[L3_OFFSET]), `IPv4 checksum, ${where}, frame ${i}`);
        checked_checksums++;
      });
    }
    translated_fast += fast.counters[C.translated_to_client];
  }
  // the random frames did exercise the translation (not only the hand-backs)
  assert.ok(translated_fast > 2000, `only ${translated_fast} segments translated`);
  assert.ok(checked_checksums > 2000, `only ${checked_checksums} checksums checked`);
});

Deno.test("fast path: hands back, untouched, a segment of a flow still adopting or refused", () => {
  for (const flow_state of [STATE_SYN_SENT, STATE_REQUEST_SENT, STATE_REFUSING]) {
    const r = rng(flow_state);
    // a segment the fast path takes on an established flow (checked below)
    const flow = { ...random_flow(r, 0), closing: false, timestamps: true };
    const state = agent_with([flow]);
    const index = flow_lookup(state.table, flow.client_ip, VIP, flow.client_port, VIP_PORT);
    state.table.values[index * VALUES_PER_FLOW + V_STATE] = flow_state;
    const frame = build_tcp({
      src_ip: u32_to_ip(VIP),
      dst_ip: u32_to_ip(flow.client_ip),
      src_port: VIP_PORT,
      dst_port: flow.client_port,
      seq: 1,
      ack: 2,
      options: [{ kind: "nop" }, { kind: "nop" }, { kind: "timestamp", tsval: 3, tsecr: 4 }],
    });
    const { bytes, desc } = lay_out(r, [frame]);
    const before = bytes.slice();
    const values_before = state.table.values.slice();
    assert.equal(translate_stack_segments(state, region_view(bytes), desc, 0, 1, 5), 0);
    assert.deepEqual(bytes, before);
    assert.equal(desc[2], DROP);
    assert.deepEqual(state.table.values, values_before);
    assert.equal(state.counters[C.translated_to_client], 0);
    // the same segment once the flow is established: taken
    state.table.values[index * VALUES_PER_FLOW + V_STATE] = STATE_ESTABLISHED;
    assert.equal(translate_stack_segments(state, region_view(bytes), desc, 0, 1, 5), 1);
    assert.equal(desc[2], FABRIC_PORT);
    assert.equal(state.counters[C.translated_to_client], 1);
  }
});

Deno.test("parse_tcp_segment accepts exactly parse_frame's untagged IPv4 (IHL 5) TCP", () => {
  const out = create_parse_out();
  let accepted = 0;
  for (let round = 0; round < 20000; round++) {
    const r = rng(100_000 + round);
    const flows = [random_flow(r, 0)];
    const frame = random_frame(r, flows).slice();
    // damage a header byte or the length now and then
    if (r.chance(0.5)) frame[r.int(Math.min(frame.length, 60))] = r.int(256);
    const len = r.chance(0.2) ? r.int(frame.length + 1) : frame.length;
    const offset = 3 + r.int(2);
    const bytes = new Uint8Array(offset + frame.length + 8);
    bytes.set(frame, offset);
    const tcp = parse_tcp_segment(region_view(bytes), offset, len);
    const general = parse_frame(bytes, offset, len, out) === PARSE_OK &&
      out[ETHERTYPE] === ETHERTYPE_IPV4 && out[VLAN_TCI] === -1 &&
      out[L3_OFFSET] === offset + 14 && out[IP_HEADER_LENGTH] === 20 &&
      out[IP_PROTOCOL] === IP_PROTOCOL_TCP;
    assert.equal(tcp >= 0, general, `round ${round}`);
    if (tcp >= 0) {
      assert.equal(tcp, out[L4_OFFSET]);
      accepted++;
    }
  }
  assert.ok(accepted > 5000 && accepted < 19000, `${accepted} accepted`);
});

Deno.test("flow cache: the table's answer through removals, backward shifts and new flows", () => {
  // a small table, so flows share probe chains and a removal shifts others
  // into freed slots the cache still names
  for (let round = 0; round < 200; round++) {
    const r = rng(300_000 + round);
    // keys from a small space: flows that share a client address, a port or a VIP
    const taken = new Set<string>();
    const small_key_flow = (): TestFlow => {
      for (;;) {
        const f = {
          ...random_flow(r, 0),
          vip: r.pick([VIP, VIP + 1]),
          client_ip: r.pick([0xc612_1001, 0xc612_1002]),
          client_port: 1000 + r.int(4),
        };
        const key = `${f.vip} ${f.client_ip} ${f.client_port}`;
        if (!taken.has(key)) {
          taken.add(key);
          return f;
        }
      }
    };
    let flows = Array.from({ length: 10 }, small_key_flow);
    const gone_flows: TestFlow[] = [];
    const fast = agent_with(flows, 16);
    const general = agent_with(flows, 16);
    for (let burst = 0; burst < 12; burst++) {
      // segments of the flows, and of flows removed a moment ago
      const frames = Array.from(
        { length: 1 + r.int(24) },
        () => random_frame(r, [...flows, ...gone_flows]),
      );
      const layout = lay_out(r, frames);
      const a = { bytes: layout.bytes.slice(), desc: layout.desc.slice() };
      const b = { bytes: layout.bytes.slice(), desc: layout.desc.slice() };
      agent_server_burst(fast, a.bytes, a.desc, frames.length, burst);
      general_burst(general, b.bytes, b.desc, frames.length, burst);
      const where = `round ${round}, burst ${burst}`;
      assert.deepEqual(a.desc, b.desc, `actions, ${where}`);
      assert.deepEqual(a.bytes, b.bytes, `bytes, ${where}`);
      assert.deepEqual(fast.counters, general.counters, `counters, ${where}`);
      // remove a few flows (both agents), then install new ones
      for (let k = r.int(4); k > 0 && flows.length > 1; k--) {
        const [gone] = flows.splice(r.int(flows.length), 1);
        gone_flows.push(gone);
        taken.delete(`${gone.vip} ${gone.client_ip} ${gone.client_port}`);
        for (const state of [fast, general]) {
          const index = flow_lookup(
            state.table,
            gone.client_ip,
            gone.vip,
            gone.client_port,
            VIP_PORT,
          );
          flow_remove_at(state.table, index);
        }
      }
      while (flows.length < 10 && r.chance(0.7)) {
        const f = small_key_flow();
        flows = [...flows, f];
        install(fast, f);
        install(general, f);
      }
      assert_same_flows(fast, general, flows);
    }
  }
});

Deno.test("client → server: every option layout, translated as a frame built with the new fields", () => {
  let fast_layouts = 0;
  for (let round = 0; round < 3000; round++) {
    const r = rng(200_000 + round);
    const f = random_flow(r, 0);
    const state = agent_with([f]);
    const index = flow_lookup(state.table, f.client_ip, VIP, f.client_port, VIP_PORT);
    const v = index * VALUES_PER_FLOW;
    const values = state.table.values;
    // a stack that declined window scaling, or SACK (adoption sets these)
    const client_wscale = r.int(16);
    if (r.chance(0.3)) {
      values[v + V_FLAGS] |= F_STACK_UNSCALED;
      values[v + V_CLIENT_WSCALE] = client_wscale;
    }
    const no_sack = r.chance(0.3);
    if (no_sack) values[v + V_FLAGS] |= F_STACK_NO_SACK;
    const isn_delta = (f.server_isn + 1 - f.director_next_seq) | 0;
    const tsval = r.u32();
    const tsecr = r.u32();
    const blocks = Array.from(
      { length: 1 + r.int(3) },
      () => [r.u32(), r.u32()] as [number, number],
    );
    const nop: TcpOption = { kind: "nop" };
    const layout = r.int(4);
    const options = (tsecr: number, blocks: Array<[number, number]>): TcpOption[] => {
      const ts: TcpOption = { kind: "timestamp", tsval, tsecr };
      if (layout === 0) return [nop, nop, ts];
      if (layout === 1) return [ts, nop, nop];
      if (layout === 2) return [];
      return [nop, nop, ts, nop, nop, { kind: "sack", blocks }];
    };
    const flags = r.pick([0x10, 0x10, 0x18, 0x11, 0x00, 0x02]);
    const window = r.int(0x10000);
    const ack = r.u32();
    const segment = {
      src_mac: "02:b7:00:00:00:01",
      dst_mac: "02:b7:00:00:01:02", // the agent's: it sends it on to the stack's
      src_ip: u32_to_ip(f.client_ip),
      dst_ip: u32_to_ip(VIP),
      src_port: f.client_port,
      dst_port: VIP_PORT,
      seq: r.u32(),
      flags,
      payload: r.int(3) === 0 ? 0 : 1 + r.int(600),
    };
    const input = build_tcp({ ...segment, ack, window, options: options(tsecr, blocks) });
    // what the stack must see: its own sequence space and clock, its MAC
    const translated_ack = (flags & 0x10) !== 0 ? (ack + isn_delta) >>> 0 : ack;
    const translated_window = (values[v + V_FLAGS] & F_STACK_UNSCALED) !== 0 && (flags & 0x02) === 0
      ? Math.min(0xffff, window * (1 << Math.min(14, client_wscale)))
      : window;
    const translated_blocks = blocks.map(([left, right]) =>
      [(left + isn_delta) >>> 0, (right + isn_delta) >>> 0] as [number, number]
    );
    // a routed flow's TSecr comes back as the latest TSval it can echo (ts_route.ts)
    const translated_tsecr = f.ts_route === undefined
      ? (tsecr - f.ts_delta) >>> 0
      : restored_tsecr(tsecr, f.ts_delta, values[v + V_SERVER_TSVAL]) >>> 0;
    let expect_options = options(translated_tsecr, translated_blocks);
    if (layout === 3 && no_sack) {
      // the SACK option overwritten with NOPs, in place
      expect_options = [...expect_options.slice(0, 5), ...Array(2 + 8 * blocks.length).fill(nop)];
    }
    const expect = build_tcp({
      ...segment,
      dst_mac: "02:b7:00:00:01:01",
      ack: translated_ack,
      window: translated_window,
      options: expect_options,
    });
    const { bytes, desc } = lay_out(r, [input]);
    agent_fabric_burst(state, bytes, desc, 1, 10);
    const o = desc[0];
    assert.equal(desc[2], SERVER_PORT, `round ${round}`);
    assert.deepEqual(
      bytes.subarray(o, o + input.length),
      expect,
      `round ${round}, layout ${layout}`,
    );
    if (layout === 0) fast_layouts++;
  }
  assert.ok(fast_layouts > 500);
});
