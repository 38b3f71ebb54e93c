// The lab bench as a smoke test: one quick round must bring the lab up, run
// baton and HAProxy under the same wrk load without a single failed request,
// tear everything down and leave both rows in the JSON. No speed thresholds:
// on a shared 2-vCPU host a timed assertion would only measure the neighbours.

import assert from "node:assert/strict";
import { lab_status } from "../../control/lab/mod.ts";

const LAB_BENCH = new URL("../../bench/lab_bench.ts", import.meta.url).pathname;
const PREFIX = "btb-";

interface Row {
  system: string;
  conn_per_s: number | null;
  socket_errors: number | null;
  non_2xx: number | null;
  cpu_percent: number | null;
  download_ok: boolean;
  error: string | null;
}

interface LabBenchJson {
  systems: { system: string; ok: boolean; problems: string[]; conn_per_s: number | null }[];
  runs: Row[];
}

Deno.test({
  name: "lab bench --quick: baton and HAProxy both serve every request; the lab is gone after",
  // The bench's children (baton, HAProxy, wrk) are its own; their pipes outlive nothing here.
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const json_path = await Deno.makeTempFile({ prefix: "baton-lab-bench-", suffix: ".json" });
    try {
      const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", LAB_BENCH, "--quick", "--json", json_path],
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      }).output();
      const output = new TextDecoder().decode(stdout) + new TextDecoder().decode(stderr);
      assert.equal(code, 0, `lab bench exited with ${code}:\n${output}`);

      const report: LabBenchJson = JSON.parse(await Deno.readTextFile(json_path));
      for (const system of ["baton", "haproxy"]) {
        const rows = report.runs.filter((r) => r.system === system);
        assert.equal(rows.length, 1, `${system}: one quick round`);
        const [row] = rows;
        assert.equal(row.error, null, `${system}: ${row.error}`);
        assert.ok(row.conn_per_s !== null && row.conn_per_s > 0, `${system}: no conn/s`);
        assert.equal(row.socket_errors, 0, `${system}: wrk socket errors`);
        assert.equal(row.non_2xx, 0, `${system}: non-2xx responses`);
        assert.ok(row.cpu_percent !== null && row.cpu_percent > 0, `${system}: no CPU figure`);
        assert.ok(row.download_ok, `${system}: 10 MB download`);
        const summary = report.systems.find((s) => s.system === system);
        assert.ok(summary?.ok, `${system}: ${summary?.problems.join("; ")}`);
      }
      const status = await lab_status({ prefix: PREFIX });
      assert.ok(!status.up, "the bench's lab is torn down");
      assert.ok(status.namespaces.every((ns) => !ns.exists), "no namespace left behind");
    } finally {
      await Deno.remove(json_path).catch(() => {});
    }
  },
});
