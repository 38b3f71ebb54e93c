// 100,000 mutated frames at the director and at the agents, on real parts:
// seeds are the lab's own flows captured at the client (ARP, handshakes,
// requests, data, ACKs, FINs), mutated by tests/support/fuzz_frames.py
// (bit flips, truncation, lying lengths, edge ports, every flag, random
// options, VLAN tags, fragments, random EtherTypes) and sent from the
// client namespace to the director's MAC, the servers' MACs (the agents'
// fabric side) and broadcast. Afterwards every process is alive, service is
// correct, and every frame a role dropped has its one counted reason.

import assert from "node:assert/strict";
import {
  curl_many,
  in_namespace,
  lab_down,
  lab_interfaces,
  lab_up,
  next_snapshot,
  start_baton_in_lab,
  start_client_capture,
  write_lab_config,
} from "../../control/lab/mod.ts";
import { DIRECTOR_DROP_REASONS } from "../../dataplane/director/mod.ts";
import { AGENT_DROP_REASONS } from "../../dataplane/agent/mod.ts";

const PREFIX = "btz-";
const FUZZ = new URL("../support/fuzz_frames.py", import.meta.url).pathname;
const FRAMES = 100_000;
const PPS = 20_000;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A fresh snapshot: waits for the next stats period after now. */
interface KernelRx {
  packets: number;
  dropped: number;
}

/** Every interface's kernel receive counters in a namespace (ip -s -j link). */
async function kernel_rx(ns: string): Promise<Map<string, KernelRx>> {
  const shown = await in_namespace(ns, ["ip", "-s", "-j", "link", "show"]);
  assert.equal(shown.code, 0, shown.stderr);
  const links = JSON.parse(shown.stdout) as {
    ifname: string;
    stats64: { rx: { packets: number; dropped: number } };
  }[];
  return new Map(links.map((l) => [l.ifname, l.stats64.rx]));
}

function diff(a: KernelRx, b: KernelRx): KernelRx {
  return { packets: b.packets - a.packets, dropped: b.dropped - a.dropped };
}

function sum(counters: Record<string, number>, names: readonly string[]): number {
  return names.reduce((n, name) => n + (counters[name] ?? 0), 0);
}

Deno.test({
  name: "lab: 100,000 mutated frames at the director and the agents; all alive, all accounted",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await lab_down({ prefix: PREFIX });
    const lab = await lab_up(2, { prefix: PREFIX });
    const dir = await Deno.makeTempDir({ prefix: "baton-fuzz-" });
    const config = await write_lab_config(lab, dir, { health_interval_ms: 500 });
    const baton = await start_baton_in_lab(lab, {
      interfaces: lab_interfaces(lab),
      app: ["--role=director,agent", `--config=${config}`, "--stats-period=1"],
      name: "fuzz",
    });
    try {
      await sleep(1200);
      // seeds: the lab's own traffic as the client sees it
      const seeds = `${dir}/seeds.pcap`;
      const capture = await start_client_capture(lab, seeds, "tcp or arp");
      const warm = await curl_many(
        lab,
        Array.from({ length: 30 }, (_, i) => `http://${lab.vip}/seed/${i}?q=${i}`),
      );
      assert.ok(warm.every((f) => f.code === 200), "the seed traffic is served");
      await in_namespace(lab.client.ns, [
        "curl",
        "-sS",
        "-o",
        "/dev/null",
        "-r",
        "0-200000",
        `http://${lab.vip}${lab.big_file.path}`,
      ]);
      await sleep(1000); // tcpdump reads what its buffer holds before it is stopped
      const captured = await capture.stop();
      assert.ok(captured.captured > 200, `seed frames: ${captured.captured} (${captured.stderr})`);

      const before = await next_snapshot(baton);
      const kernel_before = await kernel_rx(lab.namespaces.dp);
      const macs = [lab.director_mac, ...lab.servers.map((s) => s.mac), "ff:ff:ff:ff:ff:ff"];
      const run = await in_namespace(lab.client.ns, [
        "/usr/bin/python3",
        FUZZ,
        lab.client.if,
        lab.client.mac,
        seeds,
        String(FRAMES),
        String(PPS),
        macs.join(","),
        // hand-off-shaped frames too (random and near-valid datagrams): the in-band receive paths
        JSON.stringify({
          port: 7201,
          director_ip: lab.director_ip,
          targets: {
            ...Object.fromEntries(lab.servers.map((s) => [s.mac, s.ip])),
            [lab.director_mac]: [lab.director_ip, lab.servers[0].ip],
          },
        }),
      ]);
      assert.equal(run.code, 0, run.stderr);
      const fuzz = JSON.parse(run.stdout.trim().split("\n").at(-1)!);
      assert.equal(fuzz.sent, FRAMES);
      await sleep(1500); // what is queued drains; the sweep runs
      const after = await next_snapshot(baton);
      const kernel_after = await kernel_rx(lab.namespaces.dp);

      // alive and serving correctly
      assert.doesNotMatch(baton.output(), /internal error|uncaught/);
      const urls = Array.from({ length: 40 }, (_, i) => `http://${lab.vip}/after/${i}`);
      const fetched = await curl_many(lab, urls, { timeout_s: 5 });
      assert.equal(fetched.filter((f) => f.code === 200).length, 40, "serves after the fuzz");
      for (const f of fetched) {
        assert.equal(f.body, `server ${f.served_by.slice(3)}\n`, "each server its own content");
      }

      // every frame a role dropped has its one reason
      const d_before = before.director!.dataplane;
      const d_after = after.director!.dataplane;
      const delta = (
        a: Record<string, number>,
        b: Record<string, number>,
        names: readonly string[],
      ) => sum(b, names) - sum(a, names);
      const director_rx = d_after.rx - d_before.rx;
      const director_dropped = d_after.frames_dropped - d_before.frames_dropped;
      const changed = Object.keys(d_after).filter((k) => d_after[k] !== d_before[k])
        .map((k) => `${k}+${d_after[k] - d_before[k]}`).join(" ");
      assert.equal(
        delta(d_before, d_after, DIRECTOR_DROP_REASONS),
        director_dropped,
        `director: the drop reasons add up to the frames dropped (${changed})`,
      );
      const per_mac = fuzz.per_mac as Record<string, number>;
      const broadcast = per_mac["ff:ff:ff:ff:ff:ff"];
      // From the wire to the burst: the kernel hands the port (af_packet) what
      // it does not drop itself; measured here, it keeps back most IP
      // fragments on these veths (about 3% of this mix; net_pcap fixture rows
      // cover fragments instead). Everything the port received went through the
      // director's burst, exactly.
      const port_rx = after.ports[0].stats.rx_packets - before.ports[0].stats.rx_packets;
      const dir0 = diff(kernel_before.get(lab.director_if)!, kernel_after.get(lab.director_if)!);
      assert.ok(dir0.packets >= per_mac[lab.director_mac.toLowerCase()] + broadcast, "all arrived");
      const wire_to_port = port_rx / (dir0.packets - dir0.dropped);
      assert.ok(wire_to_port > 0.9, `the port got ${port_rx} of ${dir0.packets - dir0.dropped}`);
      assert.equal(director_rx, port_rx, "the director's burst saw every frame of its port");
      const agent_lines: string[] = [];
      lab.servers.forEach((server, i) => {
        const a = before.agents[i].dataplane;
        const b = after.agents[i].dataplane;
        const dropped = b.frames_dropped - a.frames_dropped;
        assert.equal(
          delta(a, b, AGENT_DROP_REASONS),
          dropped,
          `agent ${i}: the drop reasons add up to the frames dropped`,
        );
        const rx = b.fabric_rx - a.fabric_rx;
        const fabric = diff(
          kernel_before.get(server.agent_fabric_if)!,
          kernel_after.get(server.agent_fabric_if)!,
        );
        assert.ok(fabric.packets >= per_mac[server.mac.toLowerCase()] + broadcast, "all arrived");
        const past_kernel = rx / (fabric.packets - fabric.dropped);
        assert.ok(past_kernel > 0.9, `agent ${i}: ${rx} of ${fabric.packets - fabric.dropped}`);
        agent_lines.push(
          `agent ${i}: fabric rx ${rx} of ${fabric.packets} on its interface (${
            (100 * past_kernel).toFixed(1)
          }% past the kernel), dropped ${dropped}`,
        );
      });
      console.log(
        `fuzz: ${FRAMES} frames in ${fuzz.seconds} s (${JSON.stringify(fuzz.mutations)}); ` +
          `director rx ${director_rx} of ${dir0.packets} on its interface (${
            (100 * wire_to_port).toFixed(1)
          }% past the kernel), dropped ${director_dropped}; ${agent_lines.join("; ")}`,
      );
    } finally {
      await baton.stop();
      await lab_down({ prefix: PREFIX });
      await Deno.remove(dir, { recursive: true });
    }
  },
});
