// The testpmd-compatible command line: what parses, what each bad option
// says, and that the process exits non-zero naming the option.

import assert from "node:assert/strict";
import {
  CliError,
  default_peer_mac,
  parse_app_options,
  parse_command_line,
  topology_tx_port,
} from "../../control/mod.ts";
import { baton_command, spawn_dpdk } from "../../control/lab/mod.ts";

Deno.test("a testpmd command line splits at -- and parses both value forms", () => {
  const { eal_args, app } = parse_command_line([
    "-l",
    "0,1",
    "--vdev",
    "net_null0",
    "--",
    "--forward-mode=macswap",
    "--port-topology",
    "chained",
    "--eth-peer=1,02:AA:bb:cc:dd:ee",
    "--nb-cores=1",
    "--rxq=2",
    "--txq=2",
    "--rxd=512",
    "--txd",
    "256",
    "--burst=64",
    "--mbuf-size=2048",
    "--total-num-mbufs=16384",
    "--stats-period=1",
    "--no-flush-rx",
    "--tx-first",
  ]);
  assert.deepEqual(eal_args, ["-l", "0,1", "--vdev", "net_null0"]);
  assert.equal(app.forward_mode, "macswap");
  assert.equal(app.port_topology, "chained");
  assert.deepEqual([...app.eth_peers.get(1)!], [0x02, 0xaa, 0xbb, 0xcc, 0xdd, 0xee]);
  assert.equal(app.rxq, 2);
  assert.equal(app.txd, 256);
  assert.equal(app.burst, 64);
  assert.equal(app.total_num_mbufs, 16384);
  assert.equal(app.stats_period, 1);
  assert.equal(app.no_flush_rx, true);
  assert.equal(app.tx_first, true);
});

Deno.test("--idle: busy or adaptive, adaptive by default", () => {
  const rows: { args: string[]; idle: string }[] = [
    { args: [], idle: "adaptive" },
    { args: ["--idle=busy"], idle: "busy" },
    { args: ["--idle=adaptive"], idle: "adaptive" },
    { args: ["--idle", "busy"], idle: "busy" },
  ];
  for (const row of rows) {
    assert.equal(parse_app_options(row.args).idle, row.idle, row.args.join(" "));
  }
});

Deno.test("defaults are testpmd's", () => {
  const app = parse_app_options([]);
  assert.equal(app.forward_mode, "io");
  assert.equal(app.port_topology, "paired");
  assert.equal(app.burst, 32);
  assert.equal(app.rxd, 1024);
  assert.equal(app.mbuf_size, 2176);
  assert.deepEqual([...default_peer_mac(3)], [2, 0, 0, 0, 0, 3]);
});

const bad_options: { args: string[]; error: RegExp }[] = [
  { args: ["--frobnicate=1"], error: /unknown option '--frobnicate'/ },
  { args: ["--forward-mode=csum"], error: /--forward-mode: 'csum' is not one of io, mac/ },
  { args: ["--port-topology=ring"], error: /--port-topology: 'ring' is not one of/ },
  { args: ["--burst=0"], error: /--burst: 0 is out of range \(1\.\.512\)/ },
  { args: ["--burst=abc"], error: /--burst: 'abc' is not a whole number/ },
  { args: ["--rxq"], error: /--rxq needs a value/ },
  { args: ["--eth-peer=0"], error: /--eth-peer: expected N,XX:XX/ },
  { args: ["--eth-peer=0,02:00:00"], error: /is not a MAC address/ },
  { args: ["--no-flush-rx=1"], error: /--no-flush-rx takes no value/ },
  { args: ["-i"], error: /^-i: interactive mode is not supported/ },
  { args: ["stray"], error: /unexpected argument 'stray'/ },
  { args: ["--vip=198.18.0.300x"], error: /--vip: '198.18.0.300x' is not an IPv4/ },
  { args: ["--role=router"], error: /--role: 'router' is not one of forward, director, agent/ },
  { args: ["--idle=bogus"], error: /--idle: 'bogus' is not one of busy, adaptive/ },
  { args: ["--idle"], error: /--idle needs a value/ },
];

for (const c of bad_options) {
  Deno.test(`bad option ${c.args.join(" ")} → ${c.error.source}`, () => {
    assert.throws(() => parse_app_options(c.args), (err: Error) => {
      assert.ok(err instanceof CliError);
      assert.match(err.message, c.error);
      return true;
    });
  });
}

Deno.test("port topologies map rx to tx ports as testpmd does", () => {
  const cases: [string, number, number, number][] = [
    ["paired", 0, 4, 1],
    ["paired", 1, 4, 0],
    ["paired", 3, 4, 2],
    ["paired", 2, 3, 2], // odd last port loops onto itself
    ["chained", 0, 3, 1],
    ["chained", 2, 3, 0],
    ["chained", 0, 1, 0],
    ["loop", 2, 4, 2],
  ];
  for (const [topology, rx, nb, tx] of cases) {
    assert.equal(
      topology_tx_port(rx, nb, topology as "paired" | "chained" | "loop"),
      tx,
      `${topology} ${rx}/${nb}`,
    );
  }
});

Deno.test("the process exits 2 and names an unknown option", async () => {
  const process = spawn_dpdk(baton_command(["--no-pci", "--", "--frobnicate"]));
  assert.equal(await process.exited, 2);
  assert.match(process.output(), /baton: unknown option '--frobnicate'/);
});

Deno.test("the process exits 2 and names a bad --idle value", async () => {
  const process = spawn_dpdk(baton_command(["--no-pci", "--", "--idle=bogus"]));
  assert.equal(await process.exited, 2);
  assert.match(process.output(), /baton: --idle: 'bogus' is not one of busy, adaptive/);
});

Deno.test("the process exits 1 with one clear line when no port exists", async () => {
  const process = spawn_dpdk(baton_command([
    "--no-huge",
    "-m",
    "128",
    "--no-pci",
    "--file-prefix",
    `bt-cli-noport-${Deno.pid}`,
    "--",
    "--forward-mode=io",
  ]));
  assert.equal(await process.exited, 1);
  assert.match(process.output(), /baton: no DPDK ports: give some with --vdev/);
});
