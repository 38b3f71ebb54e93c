// Turns the raw runs into what a reader wants: per scenario the median over
// runs, its spread, line rate, and the ratio to testpmd macswap on the same
// vdev, compared round by round (the runs are interleaved, so a round's
// testpmd and baton saw the same machine), then printed as a pktgen-like table.

import type { RunResult } from "./run.ts";
import { median } from "./run.ts";
import {
  FORWARDING_CORES,
  FRAME_BYTES,
  type Scenario,
  scenario_frame_bytes,
  type Vdev,
} from "./scenarios.ts";

/** Preamble (7) + SFD (1) + inter-frame gap (12): what each frame costs on a line beyond itself. */
export const WIRE_OVERHEAD_BYTES = 20;
export const GBPS_CONVENTION =
  `Gbps = pps × (${FRAME_BYTES} + ${WIRE_OVERHEAD_BYTES}) B × 8: the ${FRAME_BYTES}-byte frame ` +
  `(FCS counted inside it) plus ${WIRE_OVERHEAD_BYTES} B preamble/SFD/IFG, as pktgen counts line rate`;

export type Verdict = "baseline" | "pass" | "short" | "n/a";

export interface ScenarioSummary {
  id: string;
  vdev: Vdev;
  program: string;
  mode: string;
  forwarding_cores: number;
  frame_bytes: number;
  mpps_median: number | null;
  mpps_min: number | null;
  mpps_max: number | null;
  gbps: number | null;
  mpps_per_core: number | null;
  /** Median over rounds of (this run / the baseline's run in the same round). */
  ratio_to_testpmd: number | null;
  target_ratio: number | null;
  verdict: Verdict;
  /** False when any run failed or stalled: its numbers are not to be trusted. */
  ok: boolean;
  problems: string[];
  runs: RunResult[];
}

export function summarise(
  scenarios: Scenario[],
  runs: Map<string, RunResult[]>,
): ScenarioSummary[] {
  return scenarios.map((scenario) => {
    const own = runs.get(scenario.id) ?? [];
    const medians = own.map((r) => r.median_pps).filter((pps): pps is number => pps !== null);
    const mpps = medians.length > 0 ? median(medians) / 1e6 : null;
    const baseline = scenarios.find((s) => s.vdev === scenario.vdev && s.baseline);
    const ratio = baseline ? round_ratio(own, runs.get(baseline.id) ?? []) : null;
    const problems = run_problems(own);
    if (own.length === 0) problems.push("never ran");
    else if (medians.length === 0) problems.push("no run produced a number");
    return {
      id: scenario.id,
      vdev: scenario.vdev,
      program: scenario.program,
      mode: scenario.mode,
      forwarding_cores: FORWARDING_CORES,
      frame_bytes: scenario_frame_bytes(scenario),
      mpps_median: mpps,
      mpps_min: medians.length > 0 ? Math.min(...medians) / 1e6 : null,
      mpps_max: medians.length > 0 ? Math.max(...medians) / 1e6 : null,
      gbps: mpps === null
        ? null
        : (mpps * 1e6 * (scenario_frame_bytes(scenario) + WIRE_OVERHEAD_BYTES) * 8) / 1e9,
      mpps_per_core: mpps === null ? null : mpps / FORWARDING_CORES,
      ratio_to_testpmd: ratio,
      target_ratio: scenario.target_ratio,
      verdict: verdict(scenario, ratio),
      ok: problems.length === 0,
      problems,
      runs: own,
    };
  });
}

function round_ratio(own: RunResult[], baseline: RunResult[]): number | null {
  const ratios: number[] = [];
  for (const run of own) {
    const base = baseline.find((b) => b.round === run.round);
    if (run.median_pps !== null && base?.median_pps) ratios.push(run.median_pps / base.median_pps);
  }
  return ratios.length > 0 ? median(ratios) : null;
}

function verdict(scenario: Scenario, ratio: number | null): Verdict {
  if (scenario.baseline) return "baseline";
  if (ratio === null || scenario.target_ratio === null) return "n/a";
  return ratio >= scenario.target_ratio ? "pass" : "short";
}

function run_problems(runs: RunResult[]): string[] {
  const problems: string[] = [];
  for (const run of runs) {
    if (run.error) problems.push(`round ${run.round + 1}: ${first_line(run.error)}`);
    if (run.stalled_period !== null) {
      problems.push(
        `round ${
          run.round + 1
        }: frames stopped circulating (0 pps in period ${run.stalled_period})`,
      );
    }
  }
  return problems;
}

/** Non-fatal oddities worth a line under the table. */
export function run_warnings(summary: ScenarioSummary): string[] {
  return summary.runs
    .filter((run) => run.exit_code !== null && run.exit_code !== 0)
    .map((run) => `round ${run.round + 1}: exited with code ${run.exit_code} after SIGINT`);
}

export function format_table(vdev: Vdev, summaries: ScenarioSummary[]): string {
  const rows = summaries.filter((s) => s.vdev === vdev);
  const header = [
    "program",
    "mode",
    "Mpps",
    "min–max",
    "Gbps",
    "Mpps/core",
    "×testpmd",
    "target",
    "verdict",
  ];
  const body = rows.map((s) => [
    s.program,
    s.frame_bytes === FRAME_BYTES ? s.mode : `${s.mode} (${s.frame_bytes} B)`,
    fixed(s.mpps_median, 2),
    s.mpps_min === null || s.mpps_max === null
      ? "-"
      : `${fixed(s.mpps_min, 2)}–${fixed(s.mpps_max, 2)}`,
    fixed(s.gbps, 2),
    fixed(s.mpps_per_core, 2),
    fixed(s.ratio_to_testpmd, 2),
    s.target_ratio === null ? "-" : `≥${s.target_ratio.toFixed(2)}`,
    s.ok ? s.verdict : `${s.verdict} (FAILED)`,
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((row) => row[i].length)));
  const line = (cells: string[]) =>
    "  " + cells.map((c, i) => (i < 2 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join("  ");
  const lines = [
    `${vdev} — 2 ports (${vdev}0, ${vdev}1), ${FRAME_BYTES}-byte frames, ` +
    `${FORWARDING_CORES} forwarding core`,
    line(header),
    "  " + widths.map((w) => "-".repeat(w)).join("  "),
    ...body.map(line),
  ];
  for (const s of rows) {
    for (const problem of s.problems) lines.push(`  ! ${s.program} ${s.mode}: ${problem}`);
    for (const warning of run_warnings(s)) lines.push(`  ~ ${s.program} ${s.mode}: ${warning}`);
  }
  return lines.join("\n");
}

function fixed(value: number | null, digits: number): string {
  return value === null ? "-" : value.toFixed(digits);
}

function first_line(text: string): string {
  return text.split("\n")[0];
}
