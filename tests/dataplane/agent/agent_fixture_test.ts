// Packet fixtures for the agent's translation, Katran style: each row is
// {description, flow, input frame on one side, expected frame on the other
// side (or none), expected counters}. A real DPDK process
// (tests/support/agent_fixture_main.ts) reads the input through net_pcap
// and writes the output; expected frames come from the same builder with
// checksums computed in full, so byte equality checks every incremental
// checksum update against a full recompute.

import assert from "node:assert/strict";
import {
  build_arp,
  build_tcp,
  describe_frame,
  type TcpOption,
  type TcpSpec,
} from "../../../dataplane/mod.ts";
import { read_pcap, write_pcap } from "../../support/pcap.ts";

const HARNESS = new URL("../../support/agent_fixture_main.ts", import.meta.url).pathname;

const CLIENT_MAC = "02:b7:00:00:00:01";
const DIRECTOR_MAC = "02:b7:00:00:00:02";
const SERVER_MAC = "02:b7:00:00:01:01";
const CLIENT_IP = "198.18.0.1";
const VIP = "198.18.0.100";
const CLIENT_PORT = 40000;

interface Flow {
  client_isn: number;
  server_isn: number;
  director_isn: number;
  ts_delta: number;
  server_wscale: number;
  director_wscale: number;
  sack_permitted: boolean;
  timestamps: boolean;
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

async function run_case(row: FixtureRow) {
  const dir = await Deno.makeTempDir({ prefix: "baton-agentfix-" });
  try {
    const flow = { ...BASE, ...row.flow };
    const empty = write_pcap([]);
    await Deno.writeFile(
      `${dir}/fabric_in.pcap`,
      row.side === "fabric" ? write_pcap([row.input]) : empty,
    );
    await Deno.writeFile(
      `${dir}/server_in.pcap`,
      row.side === "server" ? write_pcap([row.input]) : empty,
    );
    const flows = row.no_flow ? [] : [{
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
    }];
    await Deno.writeTextFile(
      `${dir}/case.json`,
      JSON.stringify({ dir, server_mac: SERVER_MAC, flows }),
    );
    const result = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", HARNESS, `${dir}/case.json`],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stdout = new TextDecoder().decode(result.stdout);
    assert.equal(result.code, 0, new TextDecoder().decode(result.stderr) + stdout);
    const counters = JSON.parse(stdout.trim().split("\n").at(-1)!);
    const out_side = row.side === "fabric" ? "server" : "fabric";
    const output = read_pcap(await Deno.readFile(`${dir}/${out_side}_out.pcap`)).map((r) =>
      r.frame
    );
    const back = read_pcap(await Deno.readFile(`${dir}/${row.side}_out.pcap`));
    return { counters, output, back };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

for (const row of rows()) {
  Deno.test({
    name: `agent fixture: ${row.description}`,
    sanitizeResources: false,
    async fn() {
      const { counters, output, back } = await run_case(row);
      assert.equal(back.length, 0, "nothing goes back out the side it came from");
      if (row.expect === null) {
        assert.equal(output.length, 0, "dropped");
      } else {
        assert.equal(output.length, 1, "one frame out");
        assert.deepEqual(describe_frame(output[0]), describe_frame(row.expect), "fields");
        assert.deepEqual(output[0], row.expect, "bytes, checksums included");
      }
      for (const [name, value] of Object.entries(row.counters)) {
        assert.equal(counters[name], value, `counter ${name}`);
      }
    },
  });
}
