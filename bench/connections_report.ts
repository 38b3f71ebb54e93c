// The connection scenarios' rows: per scenario the median over runs of
// connections per second (the loop: the role and its generator on one
// core), per core (the role's own share of that core), the role's and the
// generator's cost per connection, the HMAC's part, and the frames through
// the role per connection. A connection rate has no testpmd peer, so the
// only comparison with testpmd is per frame: the role's time per frame it
// receives (answering it included) beside testpmd macswap's on net_ring in
// the same round (1 / its Mpps).

import { median, type RunResult } from "./run.ts";
import type { ConnectionScenario } from "./scenarios.ts";
import type { ConnectionRun } from "./connections_run.ts";

export type ConnectionVerdict = "pass" | "short" | "n/a";

export interface ConnectionScenarioSummary {
  id: string;
  vdev: string;
  role: string;
  unit: string;
  connections_in_flight: number;
  burst: number;
  agents: number;
  per_second_median: number | null;
  per_second_min: number | null;
  per_second_max: number | null;
  per_core_median: number | null;
  per_core_min: number | null;
  per_core_max: number | null;
  role_ns_per_connection: number | null;
  generator_ns_per_connection: number | null;
  generator_share: number | null;
  hmac_ns_per_connection: number | null;
  /** The HMAC's share of the role's cost per connection. */
  hmac_share: number | null;
  frames_in_per_connection: number | null;
  frames_out_per_connection: number | null;
  /** The role's time per frame it receives (its answers included). */
  role_ns_per_frame: number | null;
  /** That, over testpmd macswap's ns per frame on net_ring in the same round (median over rounds). */
  frame_cost_ratio_to_testpmd: number | null;
  target_per_core: number | null;
  verdict: ConnectionVerdict;
  ok: boolean;
  problems: string[];
  runs: ConnectionRun[];
}

export function summarise_connections(
  scenarios: ConnectionScenario[],
  runs: Map<string, ConnectionRun[]>,
  testpmd_ring: RunResult[],
): ConnectionScenarioSummary[] {
  return scenarios.map((scenario) => {
    const own = runs.get(scenario.id) ?? [];
    const of = (pick: (run: ConnectionRun) => number | null) =>
      own.map(pick).filter((v): v is number => v !== null);
    const per_second = of((r) => r.per_second);
    const per_core = of((r) => r.per_core);
    const role_ns = middle(of((r) => r.role_ns));
    const hmac_ns = middle(of((r) => r.hmac_ns));
    const frames_in = middle(of((r) => r.frames_in));
    const ratios: number[] = [];
    for (const run of own) {
      const base = testpmd_ring.find((b) => b.round === run.round)?.median_pps;
      if (run.role_ns !== null && run.frames_in && base) {
        ratios.push((run.role_ns / run.frames_in) / (1e9 / base));
      }
    }
    const problems: string[] = [];
    for (const run of own) {
      if (run.error) problems.push(`round ${run.round + 1}: ${run.error.split("\n")[0]}`);
      for (const p of run.problems) problems.push(`round ${run.round + 1}: ${p}`);
    }
    if (own.length === 0) problems.push("never ran");
    else if (per_core.length === 0) problems.push("no run produced a number");
    const core = middle(per_core);
    return {
      id: scenario.id,
      vdev: scenario.vdev,
      role: scenario.role,
      unit: scenario.unit,
      connections_in_flight: scenario.connections,
      burst: scenario.burst,
      agents: scenario.agents,
      per_second_median: middle(per_second),
      per_second_min: per_second.length ? Math.min(...per_second) : null,
      per_second_max: per_second.length ? Math.max(...per_second) : null,
      per_core_median: core,
      per_core_min: per_core.length ? Math.min(...per_core) : null,
      per_core_max: per_core.length ? Math.max(...per_core) : null,
      role_ns_per_connection: role_ns,
      generator_ns_per_connection: middle(of((r) => r.generator_ns)),
      generator_share: middle(of((r) => r.generator_share)),
      hmac_ns_per_connection: hmac_ns,
      hmac_share: hmac_ns !== null && role_ns ? hmac_ns / role_ns : null,
      frames_in_per_connection: frames_in,
      frames_out_per_connection: middle(of((r) => r.frames_out)),
      role_ns_per_frame: role_ns !== null && frames_in ? role_ns / frames_in : null,
      frame_cost_ratio_to_testpmd: middle(ratios),
      target_per_core: scenario.target_per_core,
      verdict: scenario.target_per_core === null || core === null
        ? "n/a"
        : core >= scenario.target_per_core
        ? "pass"
        : "short",
      ok: problems.length === 0,
      problems,
      runs: own,
    };
  });
}

function middle(values: number[]): number | null {
  return values.length > 0 ? median(values) : null;
}

export function format_connection_table(
  rows: ConnectionScenarioSummary[],
  testpmd_ring_mpps: number | null,
): string {
  const header = [
    "role",
    "per s (loop)",
    "min–max",
    "per core (role)",
    "ns/conn role",
    "ns/conn gen",
    "HMAC ns (share)",
    "frames in+out",
    "ns/frame",
    "×testpmd",
    "target",
    "verdict",
  ];
  const body = rows.map((s) => [
    `${s.role} ${s.unit}`,
    thousands(s.per_second_median),
    s.per_second_min === null || s.per_second_max === null
      ? "-"
      : `${thousands(s.per_second_min)}–${thousands(s.per_second_max)}`,
    thousands(s.per_core_median),
    fixed(s.role_ns_per_connection, 0),
    s.generator_ns_per_connection === null
      ? "-"
      : `${fixed(s.generator_ns_per_connection, 0)} (${percent(s.generator_share)})`,
    s.hmac_ns_per_connection === null
      ? "-"
      : `${fixed(s.hmac_ns_per_connection, 0)} (${percent(s.hmac_share)})`,
    s.frames_in_per_connection === null
      ? "-"
      : `${fixed(s.frames_in_per_connection, 1)}+${fixed(s.frames_out_per_connection, 1)}`,
    fixed(s.role_ns_per_frame, 0),
    s.frame_cost_ratio_to_testpmd === null ? "-" : `${s.frame_cost_ratio_to_testpmd.toFixed(0)}×`,
    s.target_per_core === null ? "-" : `≥${thousands(s.target_per_core)}`,
    s.ok ? s.verdict : `${s.verdict} (FAILED)`,
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((row) => row[i].length)));
  const line = (cells: string[]) =>
    "  " + cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join("  ");
  const lines = [
    "net_ring — connections: the role's real runner and a generator playing its peers, " +
    "taking turns in one loop on one core (lcore 1)",
    line(header),
    "  " + widths.map((w) => "-".repeat(w)).join("  "),
    ...body.map(line),
    "  per s (loop): connections completed per second of the loop, generator included; " +
    "per core (role): per second of the role's own share of the core;",
    "  ns/conn: the role's and the generator's time per connection (generator: its share " +
    "of the loop); HMAC: the role's signs and verifies, each timed alone on an mbuf;",
    "  frames in+out: through the role per connection; ns/frame: the role's time per frame " +
    "it receives; ×testpmd: that over testpmd macswap's on net_ring, same round" +
    (testpmd_ring_mpps === null
      ? " (not run)"
      : ` (${(1000 / testpmd_ring_mpps).toFixed(1)} ns at ${testpmd_ring_mpps.toFixed(2)} Mpps)`),
  ];
  for (const s of rows) for (const problem of s.problems) lines.push(`  ! ${s.id}: ${problem}`);
  return lines.join("\n");
}

function thousands(value: number | null): string {
  return value === null ? "-" : `${(value / 1000).toFixed(1)}k`;
}

function fixed(value: number | null, digits: number): string {
  return value === null ? "-" : value.toFixed(digits);
}

function percent(value: number | null): string {
  return value === null ? "-" : `${(value * 100).toFixed(0)}%`;
}
