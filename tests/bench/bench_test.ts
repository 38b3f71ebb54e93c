// The bench as a smoke test: one quick round of every scenario must start,
// forward and stop cleanly and leave numbers in the JSON. Only "numbers
// exist and are positive" is checked: speed is the bench's business, and a
// timed assertion on a shared 2-vCPU host would only measure the neighbours.
// The connection scenarios are also run on their own, briefly, and must
// account for every connection: the director acknowledged every hand-off
// it sent, the agent adopted every hand-off it got, every flow ended, and
// every frame either role dropped has its reason.

import assert from "node:assert/strict";
import { run_connections } from "../../bench/connections_run.ts";
import { CONNECTION_SCENARIOS } from "../../bench/scenarios.ts";

const BENCH_MAIN = new URL("../../bench/main.ts", import.meta.url).pathname;
const CONNECTION_SCENARIO_IDS = ["ring-baton-handoff", "ring-baton-adopt"];
const SCENARIO_IDS = [
  "null-testpmd-macswap",
  "null-baton-macswap",
  "null-baton-rewrite",
  "null-baton-translate",
  "ring-testpmd-macswap",
  "ring-baton-macswap",
  "ring-baton-rewrite",
  "ring-baton-translate",
];

interface BenchJson {
  scenarios: { id: string; mpps_median: number | null; ok: boolean; problems: string[] }[];
  connection_scenarios: {
    id: string;
    per_second_median: number | null;
    per_core_median: number | null;
    ok: boolean;
    problems: string[];
  }[];
  idle_cpu: { percent_of_one_core: number | null } | null;
}

Deno.test({
  name: "bench --quick: every scenario forwards and the idle CPU figure is measured",
  // The bench's children are DPDK processes; their pipes and timers belong to them.
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const json_path = await Deno.makeTempFile({ prefix: "baton-bench-", suffix: ".json" });
    try {
      const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", BENCH_MAIN, "--quick", "--json", json_path],
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      }).output();
      const output = new TextDecoder().decode(stdout) + new TextDecoder().decode(stderr);
      assert.equal(code, 0, `bench exited with ${code}:\n${output}`);

      const report: BenchJson = JSON.parse(await Deno.readTextFile(json_path));
      assert.deepEqual(report.scenarios.map((s) => s.id).sort(), [...SCENARIO_IDS].sort());
      for (const scenario of report.scenarios) {
        assert.ok(scenario.ok, `${scenario.id}: ${scenario.problems.join("; ")}`);
        assert.ok(
          scenario.mpps_median !== null && scenario.mpps_median > 0,
          `${scenario.id}: no throughput`,
        );
      }
      assert.deepEqual(
        report.connection_scenarios.map((s) => s.id).sort(),
        [...CONNECTION_SCENARIO_IDS].sort(),
      );
      for (const scenario of report.connection_scenarios) {
        assert.ok(scenario.ok, `${scenario.id}: ${scenario.problems.join("; ")}`);
        assert.ok(
          scenario.per_second_median !== null && scenario.per_second_median > 0 &&
            scenario.per_core_median !== null && scenario.per_core_median > 0,
          `${scenario.id}: no connections`,
        );
      }
      assert.ok(report.idle_cpu, "no idle CPU measurement");
      assert.equal(typeof report.idle_cpu.percent_of_one_core, "number");
    } finally {
      await Deno.remove(json_path).catch(() => {});
    }
  },
});

Deno.test({
  name: "connection benches: every hand-off and adoption is made, answered and accounted for",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    for (const scenario of CONNECTION_SCENARIOS) {
      const run = await run_connections(scenario, { round: 0, seconds: 1, stats_period_s: 1 });
      assert.equal(run.error, null, `${scenario.id}: ${run.error}`);
      assert.ok(run.summary, `${scenario.id}: no summary`);
      const { role_counters: role, generator_counters: generator } = run.summary;
      // the generator stopped, the last connections drained, and everything adds up
      assert.ok(run.summary.drained, `${scenario.id}: connections left in flight`);
      assert.deepEqual(run.problems, [], `${scenario.id}: ${run.problems.join("; ")}`);
      if (scenario.role === "director") {
        assert.ok(role.handoffs_sent > 0, "no hand-offs");
        assert.equal(role.handoffs_acked, role.handoffs_sent);
        // every connection the generator started was handed off and ended by its FLOW_END
        assert.equal(role.syn_cookies_sent, generator.syns_sent);
        assert.equal(role.flow_ends, generator.syns_sent);
        assert.equal(role.flows, 0);
      } else {
        assert.ok(role.adopted > 0, "no adoptions");
        assert.equal(generator.in_flight, 0);
        assert.equal(role.adopted, generator.handoffs_sent);
        assert.equal(role.acks_sent, role.adopted);
        assert.equal(role.flow_ends_acked, role.adopted);
        assert.equal(role.flows, 0);
      }
      assert.ok(run.per_core !== null && run.per_core > 0, `${scenario.id}: no rate`);
    }
  },
});
