// Several directors behind ECMP with a real routing daemon: the ECMP lab
// (lab up 3 --directors 2) with real BIRD 2 (eBGP from each director's host
// to a router, static VIP routes via the director with BFD to it), real
// namespaces and DPDK af_packet ports. The router's kernel route to the VIP
// gets one next hop per director; curl through the router reaches the VIP
// and both directors hand off; kill -9 of one director takes its next hop
// away within 1 s (BFD in the dataplane went silent), a restart brings it
// back, SIGTERM withdraws it before the process exits (the director disables
// its BIRD protocol first); and under paced downloads and a stream of new
// connections, a director killed and restarted in the middle.
//
// Everything it starts (namespaces, BIRD, nginx, DPDK processes) is stopped
// by pid or removed in `finally`, also when a step fails.

import assert from "node:assert/strict";
import {
  type DpdkProcess,
  type EcmpSite,
  in_namespace,
  type Lab,
  lab_down,
  lab_up,
  latest_snapshot,
  next_snapshot,
  router_next_hops,
  run_failover_traffic,
  start_ecmp_site,
  wait_for_next_hops,
} from "../../../control/lab/mod.ts";

const PREFIX = "bte-";
const APP = ["--stats-period=1"];

/** Waits until the router's route to the VIP has `count` next hops: how long, and which. */
async function until_next_hops(
  lab: Lab,
  count: number,
  timeout_ms: number,
): Promise<{ ms: number; hops: string[] }> {
  const ms = await wait_for_next_hops(lab.ecmp!, lab.vip, { count, timeout_ms });
  return { ms, hops: await router_next_hops(lab.ecmp!, lab.vip) };
}

function handoffs(baton: DpdkProcess): number {
  return latest_snapshot(baton)?.director?.dataplane.handoffs_acked ?? 0;
}

Deno.test({
  name: "ECMP lab: 2 directors behind BIRD; BFD failover, restart, SIGTERM withdrawal, traffic",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn(t) {
    await lab_down({ prefix: PREFIX }); // leftovers from an interrupted run
    const dir = await Deno.makeTempDir({ prefix: "baton-ecmp-" });
    let site: EcmpSite | undefined;
    try {
      const lab = await lab_up(3, { prefix: PREFIX, directors: 2 });
      const the_site = site = await start_ecmp_site(lab, { dir, name: "bte", app: APP });
      const directors = the_site.directors;
      const start = (k: number) => the_site.start(k);
      await start(1);
      await start(2);

      await t.step(
        "the router's kernel route to the VIP gets one next hop per director",
        async () => {
          const { ms, hops } = await until_next_hops(lab, 2, 30_000);
          assert.deepEqual(hops, ["198.18.0.2", "198.18.0.3"]);
          console.log(`  2 next hops ${ms.toFixed(0)} ms after both directors forwarded`);
        },
      );

      await t.step("curl through the router reaches the VIP; both directors hand off", async () => {
        const before = directors.map((d) => handoffs(d!));
        const result = await in_namespace(lab.client.ns, [
          "sh",
          "-c",
          `for i in $(seq 1 60); do curl -sS -o /dev/null -w '%{http_code}\\n' ` +
          `--max-time 5 http://${lab.vip}/ecmp/$i; done`,
        ]);
        assert.equal(result.code, 0, result.stderr);
        const codes = result.stdout.trim().split("\n");
        assert.equal(codes.length, 60);
        assert.ok(codes.every((c) => c === "200"), `codes: ${codes.join(" ")}`);
        const after = [];
        for (const d of directors) {
          after.push((await next_snapshot(d!)).director!.dataplane.handoffs_acked);
        }
        const per_director = after.map((n, i) => n - before[i]);
        console.log(`  hand-offs per director: ${per_director.join(", ")} (of 60)`);
        assert.ok(per_director.every((n) => n > 0), `each director used: ${per_director}`);
        assert.equal(per_director[0] + per_director[1], 60);
        const bfd = directors.map((d) => latest_snapshot(d!)!.director!.dataplane.bfd_sessions_up);
        assert.deepEqual(bfd, [1, 1], "each director has its BIRD's BFD session Up");
      });

      await t.step("kill -9 director 2: its next hop is gone within 1 s", async () => {
        const victim = directors[1]!;
        victim.child.kill("SIGKILL");
        const { ms, hops } = await until_next_hops(lab, 1, 5000);
        await victim.exited;
        console.log(`  kill -9 → router down to ${hops} in ${ms.toFixed(0)} ms`);
        assert.deepEqual(hops, ["198.18.0.2"]);
        assert.ok(ms < 1000, `converged in ${ms.toFixed(0)} ms`);
        const ok = await in_namespace(lab.client.ns, [
          "curl",
          "-sS",
          "--max-time",
          "5",
          `http://${lab.vip}/after-kill`,
        ]);
        assert.equal(ok.code, 0, ok.stderr);
      });

      await t.step("restart director 2: back to two next hops", async () => {
        const t0 = performance.now();
        await start(2);
        const { ms } = await until_next_hops(lab, 2, 30_000);
        console.log(
          `  restart → 2 next hops ${(performance.now() - t0).toFixed(0)} ms after the start ` +
            `(${ms.toFixed(0)} ms after it forwarded)`,
        );
      });

      await t.step(
        "SIGTERM director 2: its route is withdrawn before its process exits",
        async () => {
          const victim = directors[1]!;
          let exited_at = 0;
          const exited = victim.exited.then((code) => {
            exited_at = performance.now();
            return code;
          });
          const t0 = performance.now();
          victim.child.kill("SIGTERM");
          const { ms, hops } = await until_next_hops(lab, 1, 10_000);
          const withdrawn_at = performance.now();
          assert.deepEqual(hops, ["198.18.0.2"]);
          assert.equal(exited_at, 0, "the process was still running when the route went");
          assert.equal(await exited, 0);
          console.log(
            `  SIGTERM → withdrawn in ${ms.toFixed(0)} ms, process exited ` +
              `${(exited_at - withdrawn_at).toFixed(0)} ms after that (${
                (exited_at - t0).toFixed(0)
              } ms after the signal)`,
          );
          assert.match(victim.output(), /bird baton_vips disabled/);
        },
      );

      await t.step("failover under load: kill -9 a director mid-way and restart it", async () => {
        await start(2);
        await until_next_hops(lab, 2, 30_000);
        const events: string[] = [];
        const report = await run_failover_traffic(lab, {
          downloads: 6,
          limit_rate: "2M",
          requests_per_second: 20,
          duration_ms: 10_000,
          action: {
            at_ms: 2500,
            run: async () => {
              const carried = latest_snapshot(directors[1]!)?.director?.dataplane;
              events.push(
                `director 2 forwarding ${carried?.flows_forwarding} flows ` +
                  `(${carried?.handoffs_acked} hand-offs so far) when killed`,
              );
              const t0 = performance.now();
              directors[1]!.child.kill("SIGKILL");
              const down = await until_next_hops(lab, 1, 5000);
              events.push(`killed director 2, router converged in ${down.ms.toFixed(0)} ms`);
              await new Promise((resolve) => setTimeout(resolve, 1500));
              await start(2);
              const up = await until_next_hops(lab, 2, 30_000);
              events.push(
                `restarted director 2, 2 next hops ${
                  (performance.now() - t0).toFixed(0)
                } ms after the kill (${up.ms.toFixed(0)} ms after it forwarded)`,
              );
            },
          },
        });
        const total = report.new_ok + report.new_failed;
        console.log(`  ${events.join("; ")}`);
        console.log(
          `  failover report: ${
            JSON.stringify({ ...report, failures: report.failures.length })
          }; new connections ok ${(100 * report.new_ok / total).toFixed(1)} %`,
        );
        for (const line of report.failures.slice(0, 10)) console.log(`    ${line}`);
        assert.equal(report.downloads_failed, 0, "every download complete, sha256 matching");
        assert.ok(report.new_ok / total >= 0.99, `${report.new_ok}/${total} new connections`);
      });
    } finally {
      await site?.stop_all();
      await lab_down({ prefix: PREFIX });
      await Deno.remove(dir, { recursive: true });
    }
    const left = await new Deno.Command("ip", { args: ["netns", "list"] }).output();
    assert.doesNotMatch(new TextDecoder().decode(left.stdout), /^bte-/m);
  },
});
