// No handed-off connection is lost when a director dies: the ECMP lab
// (lab up 3 --directors 2: real BIRD, BFD in the dataplane, Linux
// multipath with L4 hashing, DPDK af_packet, nginx) under 20 paced 10 MiB
// downloads and a stream of new connections, while directors are killed
// with SIGKILL and started again, one after the other, many times. Every
// download must finish with big.bin's sha256; new connections (whose
// clients retry, as browsers do) must succeed at 99 % or more; the
// router's next-hop set must lose the dead director within 1 s of each
// kill. The flows of a dead director, and those ECMP moves to a restarted
// one, are carried on by the TSval routing code (clients with timestamps)
// or by asking the agents (a client without them). Last, one director
// alone crashes and restarts during a download.
//
// Everything it starts is stopped by pid or removed in `finally`.

import assert from "node:assert/strict";
import {
  type DpdkProcess,
  type EcmpSite,
  type FailoverReport,
  in_namespace,
  type Lab,
  lab_down,
  lab_up,
  latest_snapshot,
  run_failover_traffic,
  start_ecmp_site,
} from "../../../control/lab/mod.ts";

const PREFIX = "btk-";
const APP = ["--stats-period=1"];

/** A director counter summed over every run of it (each restart starts at 0). */
class DirectorTally {
  #done = new Map<string, number>();
  add(baton: DpdkProcess | undefined) {
    const counters = baton && latest_snapshot(baton)?.director?.dataplane;
    if (!counters) return;
    for (const [name, value] of Object.entries(counters)) {
      this.#done.set(name, (this.#done.get(name) ?? 0) + value);
    }
  }
  get(name: string): number {
    return this.#done.get(name) ?? 0;
  }
}

function summary(report: FailoverReport, converge_ms: number[]): string {
  const total = report.new_ok + report.new_failed;
  return `downloads ${report.downloads_ok}/${report.downloads_ok + report.downloads_failed}` +
    ` intact; new connections ${report.new_ok}/${total}` +
    ` (${
      (100 * report.new_ok / total).toFixed(2)
    } %); ${converge_ms.length} kills, next hop gone in` +
    ` max ${Math.max(...converge_ms).toFixed(0)} ms, median ${
      [...converge_ms].sort((a, b) => a - b)[Math.floor(converge_ms.length / 2)].toFixed(0)
    } ms; ${(report.elapsed_ms / 1000).toFixed(1)} s`;
}

Deno.test({
  name: "failover: directors killed -9 again and again under 20 paced downloads; none is lost",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn(t) {
    await lab_down({ prefix: PREFIX }); // leftovers from an interrupted run
    const tally = new DirectorTally();
    const dir = await Deno.makeTempDir({ prefix: "baton-failover-" });
    let lab: Lab | undefined;
    let site: EcmpSite | undefined;
    try {
      lab = await lab_up(3, { prefix: PREFIX, directors: 2 });
      const the_lab = lab;
      const the_site = site = await start_ecmp_site(lab, { dir, name: "btk", app: APP });
      const directors = the_site.directors;
      /** `kills` times: kill -9 director 2, 1, 2, ... and start it again once the router forgot it. */
      const kill_cycles = (kills: number, converge_ms: number[]) => async () => {
        for (let i = 0; i < kills; i++) {
          const k = 2 - (i % 2);
          tally.add(directors[k - 1]);
          converge_ms.push(await the_site.kill(k, { next_hops: 1 }));
          await new Promise((resolve) => setTimeout(resolve, 300));
          await the_site.start(k);
          await the_site.next_hops(2);
          await new Promise((resolve) => setTimeout(resolve, 500));
        }
      };
      await the_site.start(1);
      await the_site.start(2);
      await the_site.next_hops(2);

      await t.step(
        "2 directors, clients with timestamps: 14 kills under 20 downloads",
        async () => {
          const converge_ms: number[] = [];
          const report = await run_failover_traffic(the_lab, {
            downloads: 20,
            // about 70 s each for 10 MiB: every download lives through every kill
            limit_rate: "150K",
            requests_per_second: 10,
            duration_ms: 60_000,
            action: { at_ms: 2000, run: kill_cycles(14, converge_ms) },
          });
          for (const d of directors) tally.add(d);
          console.log(`  ${summary(report, converge_ms)}`);
          console.log(
            `  carried by the TSval code: ${tally.get("carried_by_tsval")} packets; ` +
              `agents asked: ${tally.get("dropped_asked_owner")}`,
          );
          for (const line of report.failures.slice(0, 10)) console.log(`    ${line}`);
          assert.equal(report.downloads_ok, 20, "every download complete, sha256 matching");
          assert.ok(
            report.new_ok / (report.new_ok + report.new_failed) >= 0.99,
            `${report.new_ok} of ${report.new_ok + report.new_failed} new connections`,
          );
          assert.equal(converge_ms.length, 14);
          assert.ok(Math.max(...converge_ms) < 1000, `next hop gone in ${converge_ms} ms`);
          assert.ok(tally.get("carried_by_tsval") > 0, "the dead directors' flows were carried on");
        },
      );

      await t.step("a client without timestamps: 4 kills under 20 downloads", async () => {
        const before = tally.get("flows_recovered");
        await in_namespace(the_lab.client.ns, ["sysctl", "-qw", "net.ipv4.tcp_timestamps=0"]);
        try {
          const converge_ms: number[] = [];
          const report = await run_failover_traffic(the_lab, {
            downloads: 20,
            limit_rate: "500K",
            requests_per_second: 10,
            duration_ms: 18_000,
            action: { at_ms: 2000, run: kill_cycles(4, converge_ms) },
          });
          for (const d of directors) tally.add(d);
          const recovered = tally.get("flows_recovered") - before;
          console.log(`  ${summary(report, converge_ms)}`);
          console.log(`  flows recovered by asking the agents: ${recovered}`);
          for (const line of report.failures.slice(0, 10)) console.log(`    ${line}`);
          assert.equal(report.downloads_ok, 20, "every download complete, sha256 matching");
          assert.ok(report.new_ok / (report.new_ok + report.new_failed) >= 0.99);
          assert.ok(Math.max(...converge_ms) < 1000, `next hop gone in ${converge_ms} ms`);
          assert.ok(recovered > 0, "flows without timestamps were found by asking the agents");
        } finally {
          await in_namespace(the_lab.client.ns, ["sysctl", "-qw", "net.ipv4.tcp_timestamps=1"]);
        }
      });

      await t.step("one director alone crashes and restarts during a download", async () => {
        // director 2 leaves for good (SIGTERM: withdrawn first); director 1 is all there is
        const leaving = directors[1]!;
        leaving.child.kill("SIGTERM");
        await leaving.exited;
        directors[1] = undefined;
        await the_site.next_hops(1, 10_000);
        const converge_ms: number[] = [];
        const report = await run_failover_traffic(the_lab, {
          downloads: 1,
          limit_rate: "1M",
          requests_per_second: 1,
          duration_ms: 1000,
          action: {
            at_ms: 2500,
            run: async () => {
              converge_ms.push(await the_site.kill(1, { next_hops: 0 }));
              await the_site.start(1);
              await the_site.next_hops(1);
            },
          },
        });
        console.log(`  ${summary(report, converge_ms)}`);
        for (const line of report.failures.slice(0, 10)) console.log(`    ${line}`);
        assert.equal(report.downloads_ok, 1, "the download completes intact");
      });
    } finally {
      await site?.stop_all();
      if (lab) {
        await in_namespace(lab.client.ns, ["sysctl", "-qw", "net.ipv4.tcp_timestamps=1"])
          .catch(() => {});
      }
      await lab_down({ prefix: PREFIX });
      await Deno.remove(dir, { recursive: true });
    }
    const left = await new Deno.Command("ip", { args: ["netns", "list"] }).output();
    assert.doesNotMatch(new TextDecoder().decode(left.stdout), /^btk-/m);
  },
});
