// The bench as a smoke test: one quick round of every scenario must start,
// forward and stop cleanly and leave numbers in the JSON. Only "numbers
// exist and are positive" is checked: speed is the bench's business, and a
// timed assertion on a shared 2-vCPU host would only measure the neighbours.

import assert from "node:assert/strict";

const BENCH_MAIN = new URL("../../bench/main.ts", import.meta.url).pathname;
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
      assert.ok(report.idle_cpu, "no idle CPU measurement");
      assert.equal(typeof report.idle_cpu.percent_of_one_core, "number");
    } finally {
      await Deno.remove(json_path).catch(() => {});
    }
  },
});
