// SIGHUP reloads the director's config in a running lab (real namespaces,
// DPDK af_packet, nginx): a request produces exactly one access log line
// with the right fields; an invalid config is refused with its field named
// and nothing changes; then a reload that removes the very server a paced
// 10 MB download is on and changes another server's weight: the download
// completes intact (its flow keeps its server's MAC and entry, and that
// agent's FLOW_END is still accepted), and requests after the reload never
// reach the removed server and follow the new weights, in the per-server
// hand-off counts of the snapshot and in what curl was answered by.

import assert from "node:assert/strict";
import {
  curl_many,
  in_namespace,
  type Lab,
  lab_down,
  lab_interfaces,
  lab_up,
  next_snapshot,
  start_baton_in_lab,
  write_lab_config,
} from "../../control/lab/mod.ts";
import type { Snapshot } from "../../control/mod.ts";

const PREFIX = "btr2-";
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

type ServerStat = NonNullable<Snapshot["director"]>["control"]["servers"][number];

function servers_of(snapshot: Snapshot): ServerStat[] {
  assert.ok(snapshot.director, "the snapshot has the director");
  return snapshot.director.control.servers;
}

/** Which server answers url: one byte of it (a range request), its X-Served-By. */
async function served_by(lab: Lab, url: string): Promise<string> {
  const result = await in_namespace(lab.client.ns, [
    "curl",
    "-sS",
    "--max-time",
    "10",
    "-r",
    "0-0",
    "-o",
    "/dev/null",
    "-w",
    "%{http_code} %header{x-served-by}",
    url,
  ]);
  assert.equal(result.code, 0, result.stderr);
  const [code, server] = result.stdout.trim().split(" ");
  assert.match(code, /^20[06]$/, url);
  return server;
}

Deno.test({
  name: "lab: SIGHUP reloads servers and weights under a live download; access log lines",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    await lab_down({ prefix: PREFIX });
    const lab = await lab_up(3, { prefix: PREFIX });
    const dir = await Deno.makeTempDir({ prefix: "baton-reload-lab-" });
    const config_path = await write_lab_config(lab, dir, { health_interval_ms: 500 });
    const config = JSON.parse(await Deno.readTextFile(config_path));
    const access_log = `${dir}/access.log`;
    config.director.access_log = access_log;
    const write_config = (c: unknown) =>
      Deno.writeTextFile(config_path, JSON.stringify(c, null, 2) + "\n");
    await write_config(config);
    const baton = await start_baton_in_lab(lab, {
      interfaces: lab_interfaces(lab),
      app: ["--role=director,agent", `--config=${config_path}`, "--stats-period=1"],
      name: "reload",
    });
    const vip = `http://${lab.vip}`;
    try {
      await sleep(1200); // first health checks

      await t.step("one request: exactly one access log line, with its fields", async () => {
        const before = Date.now();
        const server = await served_by(lab, `${vip}/access/one?x=1`);
        await sleep(400); // the writer drains every 100 ms
        const lines = (await Deno.readTextFile(access_log)).split("\n").filter((l) => l);
        assert.equal(lines.length, 1, lines.join("\n"));
        const line = JSON.parse(lines[0]);
        assert.deepEqual(Object.keys(line), [
          "time",
          "client",
          "vip",
          "host",
          "path",
          "server",
          "handoff_ms",
          "outcome",
          "status",
        ]);
        const time = Date.parse(line.time);
        assert.match(line.time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
        assert.ok(time >= before - 5 && time <= Date.now(), line.time);
        assert.match(line.client, new RegExp(`^${lab.client.ip.replaceAll(".", "\\.")}:\\d+$`));
        assert.equal(line.vip, `${lab.vip}:80`);
        assert.equal(line.host, lab.vip);
        assert.equal(line.path, "/access/one?x=1");
        assert.equal(line.server, server);
        assert.equal(line.outcome, "acked");
        assert.equal(line.status, null);
        assert.ok(typeof line.handoff_ms === "number" && line.handoff_ms >= 0, line.handoff_ms);
      });

      // the server big.bin lands on is the one the reload removes, mid-download
      const removed = await served_by(lab, `${vip}${lab.big_file.path}`);
      const others = lab.servers.map((s) => `srv${s.id}`).filter((name) => name !== removed);
      const heavier = others[0];

      await t.step(
        "an invalid config is refused with its field named; nothing changes",
        async () => {
          const bad = structuredClone(config);
          bad.director.servers[1].weight = "heavy";
          await write_config(bad);
          const seen = baton.output().length;
          baton.child.kill("SIGHUP");
          await baton.wait_for(
            /reload refused: director\.servers\[1\]\.weight: must be a whole/,
            5000,
          );
          const fixed = structuredClone(config);
          fixed.director.flows = 1024;
          await write_config(fixed);
          baton.child.kill("SIGHUP");
          await baton.wait_for(/reload refused: director\.flows: cannot change on reload/, 5000);
          assert.doesNotMatch(baton.output().slice(seen), /^reload: /m);
          const snapshot = await next_snapshot(baton);
          assert.deepEqual(servers_of(snapshot).map((s) => s.removed), [false, false, false]);
          await write_config(config);
        },
      );

      await t.step("a paced download across the reload completes intact", async () => {
        // a small receive buffer keeps the transfer on the wire as slow as curl reads
        const rmem = await in_namespace(lab.client.ns, [
          "sysctl",
          "-w",
          "net.ipv4.tcp_rmem=4096 65536 65536",
        ]);
        assert.equal(rmem.code, 0, rmem.stderr);
        // about 5 s at 2 MB/s: the reload lands in the middle
        const download = in_namespace(lab.client.ns, [
          "bash",
          "-c",
          `set -o pipefail; curl -sS --max-time 60 --limit-rate 2M ` +
          `-o >(sha256sum >&2) -w '%{http_code} %{size_download}' ${vip}${lab.big_file.path}`,
        ]);
        await sleep(1500);
        const next = structuredClone(config);
        next.director.servers = config.director.servers
          .filter((s: { name: string }) => s.name !== removed)
          .map((s: { name: string; weight: number }) => ({
            ...s,
            weight: s.name === heavier ? 4 : 1,
          }));
        await write_config(next);
        baton.child.kill("SIGHUP");
        await baton.wait_for(new RegExp(`reload: .*${removed} removed`), 5000);
        assert.match(baton.output(), new RegExp(`reload: .*${heavier} weight 1 → 4`));
        const result = await download;
        assert.equal(result.code, 0, result.stderr);
        assert.equal(result.stdout, `200 ${lab.big_file.size}`);
        assert.equal(result.stderr.slice(0, 64), lab.big_file.sha256, "the download is intact");
      });

      await t.step("the removed server's flow ended by its agent's FLOW_END", async () => {
        await sleep(2500); // the agent lingers 1 s, then its FLOW_END
        const snapshot = await next_snapshot(baton);
        const entry = servers_of(snapshot).find((s) => s.name === removed)!;
        assert.equal(entry.removed, true);
        assert.equal(entry.active_flows, 0, "its flow ended");
        const dataplane = snapshot.director!.dataplane;
        assert.equal(dataplane.flows_forwarding, 0);
        assert.ok(dataplane.flow_ends > 0);
      });

      await t.step(
        "new requests never reach the removed server and follow the weights",
        async () => {
          const before = servers_of(await next_snapshot(baton));
          const urls = Array.from({ length: 600 }, (_, i) => `${vip}/after/${i}/x.html`);
          const fetched = await curl_many(lab, urls);
          assert.equal(fetched.length, urls.length);
          const counts = new Map<string, number>();
          for (const f of fetched) {
            assert.equal(f.code, 200, f.url);
            assert.notEqual(f.served_by, removed, `${f.url} reached the removed server`);
            counts.set(f.served_by, (counts.get(f.served_by) ?? 0) + 1);
          }
          await sleep(1100);
          const after = servers_of(await next_snapshot(baton));
          const handed = new Map(
            after.map((s, i) => [s.name, s.selections - (before[i]?.selections ?? 0)]),
          );
          console.log(
            `after the reload: ${[...handed].map(([n, c]) => `${n}=${c}`).join(" ")} ` +
              `(curl: ${[...counts].map(([n, c]) => `${n}=${c}`).join(" ")})`,
          );
          assert.equal(handed.get(removed), 0, "no hand-off to the removed server");
          for (const name of others) assert.equal(handed.get(name), counts.get(name), name);
          // weights 4:1 over the two left: 480 and 120 expected
          const heavy = handed.get(heavier)!;
          assert.ok(Math.abs(heavy - 480) <= 0.1 * 480, `${heavier}: ${heavy} of 600`);
        },
      );

      await t.step("every hand-off made one access log line", async () => {
        await sleep(300);
        const lines = (await Deno.readTextFile(access_log)).split("\n").filter((l) => l)
          .map((l) => JSON.parse(l));
        const snapshot = await next_snapshot(baton);
        const acked = snapshot.director!.control.counters.handoffs_acked;
        assert.equal(lines.filter((l) => l.outcome === "acked").length, acked);
        assert.equal(snapshot.director!.access_log?.dropped, 0);
      });
    } finally {
      await baton.stop();
      await lab_down({ prefix: PREFIX });
      await Deno.remove(dir, { recursive: true });
    }
  },
});
