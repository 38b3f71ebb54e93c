// A real Prometheus server scrapes every director and agent of the ECMP lab
// (lab up 3 --directors 2): two director processes, each with its own
// metrics address (control network, :9111 and :9112), and the agents
// process (:9101), all listening in the dp namespace, where Prometheus runs
// too, scraping every 1 s. After curl traffic from the client through the
// router (both directors hand off), its HTTP API's answers equal what each
// baton process itself reports: acknowledged hand-offs summed by director
// (the `director` label, director.name: by default its address; exactly
// two values), the latency histogram summed by le across directors (+Inf
// is every acknowledged hand-off), and the adoptions summed by agent (the
// `agent` label: their ids). Prometheus and every baton are stopped by pid,
// the lab torn down and the temp dir removed, also on failure.

import assert from "node:assert/strict";
import {
  curl_many,
  type DpdkProcess,
  in_namespace,
  type Lab,
  lab_down,
  lab_up,
  next_snapshot,
  router_next_hops,
  spawn_in_namespace,
  start_lab_process,
  wait_for_next_hops,
  write_ecmp_lab_configs,
} from "../../control/lab/mod.ts";
import type { Snapshot } from "../../control/mod.ts";

const PREFIX = "btp-";
const APP = ["--stats-period=1"];
const PROMETHEUS = "127.0.0.1:19090";
const REQUESTS = 60;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface Vector {
  metric: Record<string, string>;
  value: [number, string];
}

/** An instant query through Prometheus's HTTP API (from the dp namespace). */
async function query(lab: Lab, promql: string): Promise<Vector[]> {
  const result = await in_namespace(lab.namespaces.dp, [
    "curl",
    "-sS",
    "--max-time",
    "5",
    "--get",
    "--data-urlencode",
    `query=${promql}`,
    `http://${PROMETHEUS}/api/v1/query`,
  ]);
  assert.equal(result.code, 0, result.stderr);
  const body = JSON.parse(result.stdout);
  assert.equal(body.status, "success", result.stdout);
  return body.data.result as Vector[];
}

/** A vector as [label value, number] pairs, sorted by label value. */
function by_label(vector: Vector[], label: string): [string, number][] {
  return vector
    .map((v): [string, number] => [v.metric[label], Number(v.value[1])])
    .sort(([a], [b]) => a.localeCompare(b));
}

/** Polls until check passes on Prometheus's answers (its scrapes catch up), or throws its last failure. */
async function eventually(check: () => Promise<void>, timeout_ms = 15_000): Promise<void> {
  const deadline = performance.now() + timeout_ms;
  for (;;) {
    try {
      return await check();
    } catch (err) {
      if (performance.now() > deadline) throw err;
      await sleep(500);
    }
  }
}

/** Waits until the router's route to the VIP has `count` next hops; which they are. */
async function until_next_hops(lab: Lab, count: number, timeout_ms: number): Promise<string[]> {
  await wait_for_next_hops(lab.ecmp!, lab.vip, { count, timeout_ms });
  return await router_next_hops(lab.ecmp!, lab.vip);
}

/** The metrics address a process's config names (where it listens, in the dp namespace). */
async function metrics_address(config: string): Promise<string> {
  return JSON.parse(await Deno.readTextFile(config)).metrics;
}

Deno.test({
  name:
    "ECMP lab: a real Prometheus scrapes 2 directors and the agents; its sums equal baton's own",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    await lab_down({ prefix: PREFIX }); // leftovers from an interrupted run
    const dir = await Deno.makeTempDir({ prefix: "baton-prometheus-lab-" });
    let prometheus: Deno.ChildProcess | undefined;
    const running: DpdkProcess[] = [];
    try {
      const lab = await lab_up(3, { prefix: PREFIX, directors: 2 });
      const processes = await write_ecmp_lab_configs(lab, dir, { health_interval_ms: 500 });
      // agents first, so the VIP answers once a director does
      const agents = await start_lab_process(lab, processes.agents, { name: "prom", app: APP });
      running.push(agents);
      const directors: DpdkProcess[] = [];
      for (const process of processes.directors) {
        const baton = await start_lab_process(lab, process, { name: "prom", app: APP });
        running.push(baton);
        directors.push(baton);
      }

      const targets = [
        await metrics_address(processes.agents.config),
        ...await Promise.all(processes.directors.map((p) => metrics_address(p.config))),
      ];
      assert.equal(new Set(targets).size, 3, `one metrics address per process: ${targets}`);
      await Deno.mkdir(`${dir}/tsdb`);
      await Deno.writeTextFile(
        `${dir}/prometheus.yml`,
        [
          "global:",
          "  scrape_interval: 1s",
          "  evaluation_interval: 1s",
          "scrape_configs:",
          "  - job_name: baton",
          "    static_configs:",
          `      - targets: [${targets.map((a) => `"${a}"`).join(", ")}]`,
          "",
        ].join("\n"),
      );
      prometheus = spawn_in_namespace(lab.namespaces.dp, [
        "/usr/bin/prometheus",
        `--config.file=${dir}/prometheus.yml`,
        `--storage.tsdb.path=${dir}/tsdb`,
        `--web.listen-address=${PROMETHEUS}`,
      ], { stdout: "null", stderr: "null" });

      await t.step("the router's route to the VIP has one next hop per director", async () => {
        const hops = await until_next_hops(lab, 2, 30_000);
        assert.deepEqual(hops, lab.ecmp!.directors.map((d) => d.ip));
      });

      await t.step("Prometheus scrapes all three endpoints", async () => {
        await eventually(async () => {
          const up = await query(lab, "up");
          assert.deepEqual(
            up.filter((v) => v.value[1] === "1").map((v) => v.metric.instance).sort(),
            [...targets].sort(),
          );
        }, 30_000);
        console.log(`  scraping ${targets.join(", ")}`);
      });

      // each URL a new connection (Connection: close); the router hashes by L4
      const urls = Array.from({ length: REQUESTS }, (_, i) => `http://${lab.vip}/prom/${i}`);
      const fetched = await curl_many(lab, urls);
      assert.equal(fetched.filter((f) => f.code === 200).length, urls.length);
      await sleep(1500); // the last hand-offs' counters settle
      const snapshots: Snapshot[] = [];
      for (const d of directors) snapshots.push(await next_snapshot(d));
      const agents_snapshot = await next_snapshot(agents);
      // each director's name (its `director` label) and its own acknowledged hand-offs
      const acked_by_director = snapshots
        .map((
          s,
        ): [string, number] => [s.director!.name!, s.director!.control.counters.handoffs_acked])
        .sort(([a], [b]) => a.localeCompare(b));
      const acked = acked_by_director.reduce((sum, [, n]) => sum + n, 0);
      console.log(
        `  hand-offs acknowledged by director: ${
          acked_by_director.map(([name, n]) => `${name} ${n}`).join(", ")
        } (${acked} for ${REQUESTS} requests)`,
      );

      await t.step("both directors handed off", () => {
        const dataplane = snapshots.map((s) => s.director!.dataplane.handoffs_acked);
        assert.ok(
          dataplane.every((n) => n > 0),
          `each director's own handoffs_acked: ${dataplane}`,
        );
        assert.ok(acked_by_director.every(([, n]) => n > 0), `${acked_by_director}`);
        assert.equal(new Set(acked_by_director.map(([name]) => name)).size, 2, "two names");
        assert.ok(acked >= REQUESTS, `${acked} hand-offs acknowledged`);
      });

      await t.step(
        "hand-offs by director: Prometheus's sums equal each director's count",
        async () => {
          await eventually(async () => {
            const by_director = await query(
              lab,
              'sum by (director) (baton_director_handoffs_total{outcome="acked"})',
            );
            assert.equal(by_director.length, 2, "exactly two director label values");
            assert.deepEqual(by_label(by_director, "director"), acked_by_director);
          });
          const total = await query(lab, 'sum(baton_director_handoffs_total{outcome="acked"})');
          assert.equal(Number(total[0]?.value[1]), acked, "the site's total");
        },
      );

      await t.step("the latency histogram sums by le across directors", async () => {
        await eventually(async () => {
          const buckets = await query(
            lab,
            "sum by (le) (baton_director_handoff_latency_seconds_bucket)",
          );
          const inf = buckets.find((v) => v.metric.le === "+Inf");
          assert.equal(Number(inf?.value[1]), acked, "every acknowledged hand-off is counted");
          assert.ok(buckets.length > 2, "buckets by le");
          const p99 = await query(
            lab,
            "histogram_quantile(0.99, sum by (le) (baton_director_handoff_latency_seconds_bucket))",
          );
          assert.ok(Number(p99[0]?.value[1]) > 0, "a p99 across directors");
          console.log(
            `  +Inf bucket across directors ${inf?.value[1]}, p99 ${
              (1000 * Number(p99[0].value[1])).toFixed(2)
            } ms`,
          );
        });
      });

      await t.step("adoptions by agent id: Prometheus's values equal the agents'", async () => {
        const expected = agents_snapshot.agents
          .map((a): [string, number] => [String(a.id), a.dataplane.adopted])
          .sort(([a], [b]) => a.localeCompare(b));
        assert.deepEqual(
          expected.map(([id]) => id),
          lab.servers.map((s) => String(s.id)).sort(),
          "labelled by the agents' ids",
        );
        const total = expected.reduce((sum, [, n]) => sum + n, 0);
        assert.equal(total, acked, "each hand-off acknowledged was one adoption");
        await eventually(async () => {
          const adopted = await query(lab, "sum by (agent) (baton_agent_adopted_total)");
          assert.deepEqual(by_label(adopted, "agent"), expected);
        });
        console.log(`  adoptions by agent: ${expected.map(([id, n]) => `${id} ${n}`).join(", ")}`);
      });
    } finally {
      if (prometheus) {
        // by its pid (ip netns exec execs it in place)
        try {
          Deno.kill(prometheus.pid, "SIGTERM");
        } catch { /* already gone */ }
        const exited = await Promise.race([prometheus.status, sleep(10_000).then(() => null)]);
        if (exited === null) {
          Deno.kill(prometheus.pid, "SIGKILL");
          await prometheus.status;
        }
      }
      for (const baton of running) await baton.stop();
      await lab_down({ prefix: PREFIX });
      await Deno.remove(dir, { recursive: true });
    }
    const left = await new Deno.Command("ip", { args: ["netns", "list"] }).output();
    assert.doesNotMatch(new TextDecoder().decode(left.stdout), /^btp-/m);
  },
});
