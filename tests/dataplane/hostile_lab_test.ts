// Hostile traffic against the whole path on real parts (issue: the director
// and agent as internet-facing boxes): a packet-level attacker in the
// client namespace (tests/support/hostile_client.py) beside real curl, the
// director and two agents in one baton process, nginx servers behind them.
// Each step says what an attacker tries and what must still hold.

import assert from "node:assert/strict";
import {
  curl_many,
  type DpdkProcess,
  in_namespace,
  type Lab,
  lab_down,
  lab_interfaces,
  lab_up,
  latest_snapshot,
  next_snapshot,
  spawn_in_namespace,
  start_baton_in_lab,
  write_lab_config,
} from "../../control/lab/mod.ts";

const PREFIX = "bth-";
const HOSTILE = new URL("../support/hostile_client.py", import.meta.url).pathname;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function hostile(lab: Lab, args: string[]): Promise<Record<string, unknown>> {
  return await hostile_in(lab.client.ns, args);
}

async function hostile_in(ns: string, args: string[]): Promise<Record<string, unknown>> {
  const result = await in_namespace(ns, ["/usr/bin/python3", HOSTILE, ...args]);
  assert.equal(result.code, 0, `hostile_client ${args[0]}: ${result.stderr}`);
  return JSON.parse(result.stdout.trim().split("\n").at(-1)!);
}

/** The director's dataplane counters from the last stats period (waits for a fresh one). */
async function director_counters(baton: DpdkProcess): Promise<Record<string, number>> {
  return (await next_snapshot(baton)).director?.dataplane ?? {};
}

async function serves_everything(lab: Lab, tag: string, count: number): Promise<number> {
  const urls = Array.from({ length: count }, (_, i) => `http://${lab.vip}/${tag}/${i}`);
  const fetched = await curl_many(lab, urls, { timeout_s: 5 });
  return fetched.filter((f) => f.code === 200).length;
}

Deno.test({
  name: "lab: hostile traffic at the director and the agents; the box keeps serving",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    await lab_down({ prefix: PREFIX });
    const lab = await lab_up(2, { prefix: PREFIX });
    const dir = await Deno.makeTempDir({ prefix: "baton-hostile-" });
    const config = await write_lab_config(lab, dir, { health_interval_ms: 500 });
    const baton = await start_baton_in_lab(lab, {
      interfaces: lab_interfaces(lab),
      app: ["--role=director,agent", `--config=${config}`, "--stats-period=1"],
      name: "hostile",
    });
    const attacker = [lab.client.if, lab.client.mac, lab.director_mac];
    try {
      await sleep(1200);
      assert.equal(await serves_everything(lab, "before", 10), 10, "serves before the attack");

      await t.step(
        "spoofed RSTs, FINs and SYNs into a live paced download: it completes intact",
        async () => {
          // a small receive buffer keeps the transfer on the wire as slow as curl reads it
          await in_namespace(lab.client.ns, ["sysctl", "-w", "net.ipv4.tcp_rmem=4096 65536 65536"]);
          const download = in_namespace(lab.client.ns, [
            "bash",
            "-c",
            `set -o pipefail; curl -sS --max-time 60 --limit-rate 2M http://${lab.vip}${lab.big_file.path} | sha256sum`,
          ]);
          await sleep(1500);
          const ss = await in_namespace(lab.client.ns, [
            "ss",
            "-tnH",
            "state",
            "established",
            "dst",
            `${lab.vip}:80`,
          ]);
          const local = /\S+:(\d+)\s+\S+:80\s*$/m.exec(ss.stdout);
          assert.ok(local, `the download's connection: ${ss.stdout}`);
          const tuple = [lab.client.ip, lab.vip, local[1], "80"];
          for (const kind of ["rst", "fin", "syn"]) {
            const sent = await hostile(lab, ["spoof", ...attacker, ...tuple, kind, "300"]);
            assert.equal(sent.sent, 300);
          }
          const result = await download;
          assert.equal(result.code, 0, result.stderr);
          assert.equal(result.stdout.slice(0, 64), lab.big_file.sha256, "the download is intact");
        },
      );

      await t.step(
        "sources the hand-off cannot carry get no SYN/ACK; the process lives and serves",
        async () => {
          const before = await director_counters(baton);
          const seen = await hostile(lab, ["port0", ...attacker, lab.client.ip, lab.vip, "80"]);
          assert.deepEqual(
            seen.syn_acks,
            [],
            "no handshake with port 0, 0.0.0.0, multicast, the VIP, class E",
          );
          assert.equal(await serves_everything(lab, "after-port0", 20), 20);
          const after = await director_counters(baton);
          const dropped = (after.dropped_bad_source ?? 0) - (before.dropped_bad_source ?? 0);
          assert.ok(dropped >= 5, `dropped_bad_source +${dropped}`);
        },
      );

      await t.step(
        "a half-open flood beside a legitimate request loop: the loop is served",
        async () => {
          const flood = hostile(lab, ["flood", ...attacker, lab.vip, "80", "3000", "8"]);
          await sleep(500);
          const served = await serves_everything(lab, "during-flood", 200);
          const flooded = await flood;
          assert.ok(
            (flooded.completed as number) > 1500,
            `flood handshakes: ${JSON.stringify(flooded)}`,
          );
          assert.ok(served >= 198, `${served}/200 legitimate requests served during the flood`);
          const counters = await director_counters(baton);
          console.log(
            `flood: ${JSON.stringify(flooded)}; served ${served}/200; director: ` +
              Object.entries(counters).filter(([k]) => /reading|table_full|408|bad_source/.test(k))
                .map(([k, v]) => `${k}=${v}`).join(" "),
          );
        },
      );

      await t.step(
        "a replayed and a re-targeted hand-off datagram: counted, no adoption",
        async () => {
          // capture the HANDOFFs to agent 1 (server 1) on the fabric: the bridge port towards it
          const pcap = `${dir}/handoffs.pcap`;
          const server1 = lab.servers[0];
          const capture = spawn_in_namespace(lab.namespaces.switch, [
            "tcpdump",
            "-i",
            server1.agent_fabric_peer_if,
            "-n",
            "-U",
            "-Z",
            "root",
            "-w",
            pcap,
            `udp dst port 7201 and dst host ${server1.ip}`,
          ], { stdout: "null", stderr: "piped" });
          await sleep(1000);
          // URLs until one lands on server 1
          const fetched = await curl_many(
            lab,
            Array.from({ length: 12 }, (_, i) => `http://${lab.vip}/replay/${i}`),
          );
          assert.ok(
            fetched.some((f) => f.served_by === `srv${server1.id}`),
            "a hand-off to server 1",
          );
          await sleep(2500); // the flows end (FIN, linger) before the replay
          capture.kill("SIGINT");
          await capture.status;
          const before = latest_snapshot(baton)!;
          // from the client's port, keeping the director's source address, as an attacker on
          // the fabric would; the second time re-targeted to server 2
          const server2 = lab.servers[1];
          const replay = (retarget: string[]) =>
            hostile(lab, ["replay", pcap, lab.client.if, lab.client.mac, "7201", ...retarget]);
          const replayed = await replay([]);
          const retargeted = await replay([server2.mac, server2.ip]);
          assert.ok((replayed.replayed as number) >= 1, JSON.stringify(replayed));
          await sleep(1500);
          const after = await next_snapshot(baton);
          const delta = (agent: number, name: string) =>
            (after.agents[agent].dataplane[name] ?? 0) -
            (before.agents[agent].dataplane[name] ?? 0);
          assert.equal(delta(0, "adopted"), 0, "no replayed adoption at agent 1");
          assert.equal(delta(1, "adopted"), 0, "no re-targeted adoption at agent 2");
          assert.ok(delta(0, "handoffs_replayed") >= 1, "the replay is counted");
          const refused_at_2 = delta(1, "handoff_rx_bad_mac") + delta(1, "handoff_rx_wrong_agent");
          assert.equal(
            refused_at_2,
            retargeted.replayed,
            "every re-targeted datagram refused at agent 2",
          );
        },
      );
      assert.equal(await serves_everything(lab, "after", 10), 10, "serves after the attack");
      assert.match(baton.output(), /NIC statistics/, "still running");
    } finally {
      await baton.stop();
      await lab_down({ prefix: PREFIX });
      await Deno.remove(dir, { recursive: true });
    }
  },
});
