// The lab bench's rows and what is made of them: one RunRow per setup (a
// baton form × idle mode, or HAProxy) and round as lab_bench.ts measured it,
// each setup's medians over its rounds (summarise), baton ÷ HAProxy as the
// median of per-round ratios (round_ratios, so both sides of a ratio ran in
// the same round), light-load latency beside "straight" measured in the same
// round, the progress line, the table and the targets of issue 9. A median
// or ratio that no round measured is null and shows as "-". The pktgen
// bench's report is report.ts.

import type { LabForm } from "../control/lab/mod.ts";
import type { LightLoad } from "./lab_measure.ts";
import { median } from "./run.ts";

export type System = "baton" | "haproxy";
export type IdleMode = "busy" | "adaptive";

/** One configuration the bench runs each round. */
export interface Setup {
  /** "baton one/busy", "baton per-role/adaptive", ..., "haproxy". */
  id: string;
  system: System;
  form: LabForm | null;
  idle: IdleMode | null;
}

export function baton_setup(form: LabForm, idle: IdleMode): Setup {
  return { id: `baton ${form}/${idle}`, system: "baton", form, idle };
}

export const HAPROXY_SETUP: Setup = { id: "haproxy", system: "haproxy", form: null, idle: null };

/** One process of a setup as /proc showed it, and its share of the CPU over the wrk interval. */
export interface MeasuredProcess {
  /** baton: "all" (one process), "director" or "agents"; "haproxy". */
  name: string;
  roles: string[];
  pid: number;
  comm: string;
  cmdline: string;
  cpu_percent: number | null;
  /** Thread name → % of one core. */
  threads: Record<string, number>;
}

export interface RunRow {
  setup: string;
  system: System;
  form: LabForm | null;
  idle: IdleMode | null;
  round: number;
  processes: MeasuredProcess[];
  /** New connections per second answered 2xx (wrk's completed requests minus non-2xx). */
  conn_per_s: number | null;
  /** wrk's own Requests/sec, which counts non-2xx answers too. */
  wrk_requests_per_s: number | null;
  requests: number | null;
  wrk_seconds: number | null;
  socket_errors: number | null;
  non_2xx: number | null;
  /** All the setup's processes together, % of one core over the wrk interval. */
  cpu_percent: number | null;
  /** CPU seconds (all processes) per 1,000 answered connections: (CPU % / 100) ÷ conn/s × 1000. */
  cpu_s_per_1000: number | null;
  /** Connections per second of CPU time: conn/s ÷ (CPU % / 100). */
  conn_per_cpu_s: number | null;
  host_busy_percent: number | null;
  /** The same CPU by process and part ("director: dataplane Worker", ...). */
  cpu_by_part: Record<string, number>;
  /** Light load through the VIP: sequential curls, one new connection each. */
  light: LightLoad | null;
  /** The same, straight to the servers' own addresses, interleaved with `light` (baton runs only). */
  straight: LightLoad | null;
  /** The MAC the client resolved the VIP to: dir0's for every setup, or the path is not the one compared. */
  vip_mac: string | null;
  download_mb_s: number | null;
  download_ok: boolean;
  /** Bytes dir0 (the director's port, HAProxy's VIP) sent during the 10 MB download. */
  front_tx_bytes: number | null;
  /** Each process's exit code, in the order of `processes`' start. */
  exit_codes: number[];
  /** The processes' last summary lines (baton: counters, per-server selections, hand-off latency). */
  summary: string[];
  error: string | null;
}

export interface SetupSummary {
  setup: string;
  system: System;
  form: LabForm | null;
  idle: IdleMode | null;
  runs: number;
  conn_per_s: number | null;
  cpu_percent: number | null;
  cpu_s_per_1000: number | null;
  conn_per_cpu_s: number | null;
  light_p50_ms: number | null;
  light_p90_ms: number | null;
  /** Straight p50 of the same round (its own run for baton; the round's baton runs for HAProxy). */
  straight_p50_ms: number | null;
  /** Median over rounds of light p50 − straight p50 of the same round. */
  delta_p50_ms: number | null;
  download_mb_s: number | null;
  front_tx_bytes: number | null;
  host_busy_percent: number | null;
  socket_errors: number;
  non_2xx: number;
  light_failures: number;
  ok: boolean;
  problems: string[];
}

/** A baton setup ÷ HAProxy, medians of per-round ratios. */
export interface Ratios {
  setup: string;
  conn_per_s: number | null;
  cpu_percent: number | null;
  cpu_s_per_1000: number | null;
  download_mb_s: number | null;
}

export function empty_row(setup: Setup, round: number): RunRow {
  return {
    setup: setup.id,
    system: setup.system,
    form: setup.form,
    idle: setup.idle,
    round,
    processes: [],
    conn_per_s: null,
    wrk_requests_per_s: null,
    requests: null,
    wrk_seconds: null,
    socket_errors: null,
    non_2xx: null,
    cpu_percent: null,
    cpu_s_per_1000: null,
    conn_per_cpu_s: null,
    host_busy_percent: null,
    cpu_by_part: {},
    light: null,
    straight: null,
    vip_mac: null,
    download_mb_s: null,
    download_ok: false,
    front_tx_bytes: null,
    exit_codes: [],
    summary: [],
    error: null,
  };
}

/**
 * The straight p50 a row is compared with: its own (a baton run measured both
 * interleaved), else the median of the same round's baton runs (HAProxy's run
 * cannot reach the servers straight: only a running agent forwards to them).
 */
export function straight_p50_for(row: RunRow, rows: RunRow[]): number | null {
  if (row.straight) return row.straight.p50_ms;
  return median_of(
    rows.filter((r) => r.round === row.round && r.straight).map((r) => r.straight!.p50_ms),
  );
}

export function summarise(setup: Setup, rows: RunRow[], all_rows: RunRow[]): SetupSummary {
  const problems: string[] = [];
  for (const r of rows) {
    const at = `round ${r.round + 1}`;
    if (r.error) problems.push(`${at}: ${r.error.split("\n")[0]}`);
    if (r.socket_errors) problems.push(`${at}: ${r.socket_errors} socket errors`);
    if (r.non_2xx) problems.push(`${at}: ${r.non_2xx} non-2xx responses`);
    if (r.light?.failures) problems.push(`${at}: ${r.light.failures} light-load curls failed`);
    if (r.straight?.failures) {
      problems.push(`${at}: ${r.straight.failures} straight curls failed`);
    }
  }
  if (rows.length === 0) problems.push("never ran");
  const pick = (value: (r: RunRow) => number | null | undefined) =>
    median_of(rows.map((r) => value(r) ?? null));
  const summary: SetupSummary = {
    setup: setup.id,
    system: setup.system,
    form: setup.form,
    idle: setup.idle,
    runs: rows.length,
    conn_per_s: pick((r) => r.conn_per_s),
    cpu_percent: pick((r) => r.cpu_percent),
    cpu_s_per_1000: pick((r) => r.cpu_s_per_1000),
    conn_per_cpu_s: pick((r) => r.conn_per_cpu_s),
    light_p50_ms: pick((r) => r.light?.p50_ms),
    light_p90_ms: pick((r) => r.light?.p90_ms),
    straight_p50_ms: pick((r) => straight_p50_for(r, all_rows)),
    delta_p50_ms: pick((r) => {
      const straight = straight_p50_for(r, all_rows);
      const light = r.light?.p50_ms;
      return typeof light === "number" && straight !== null ? light - straight : null;
    }),
    download_mb_s: pick((r) => r.download_mb_s),
    front_tx_bytes: pick((r) => r.front_tx_bytes),
    host_busy_percent: pick((r) => r.host_busy_percent),
    socket_errors: rows.reduce((n, r) => n + (r.socket_errors ?? 0), 0),
    non_2xx: rows.reduce((n, r) => n + (r.non_2xx ?? 0), 0),
    light_failures: rows.reduce((n, r) => n + (r.light?.failures ?? 0), 0),
    ok: false,
    problems,
  };
  if (summary.conn_per_s === null || summary.conn_per_s <= 0) problems.push("no conn/s figure");
  if (summary.light_p50_ms === null) problems.push("no light-load figure");
  summary.ok = problems.length === 0;
  return summary;
}

/** For each baton setup: median over rounds of it ÷ HAProxy in the same round. */
export function round_ratios(rows: RunRow[]): Ratios[] {
  const setups = [...new Set(rows.filter((r) => r.system === "baton").map((r) => r.setup))];
  return setups.map((setup) => {
    const ratio = (key: "conn_per_s" | "cpu_percent" | "cpu_s_per_1000" | "download_mb_s") => {
      const values: number[] = [];
      for (const b of rows.filter((r) => r.setup === setup)) {
        const h = rows.find((r) => r.system === "haproxy" && r.round === b.round);
        const top = b[key];
        const bottom = h?.[key];
        if (typeof top === "number" && typeof bottom === "number" && bottom > 0) {
          values.push(top / bottom);
        }
      }
      return values.length ? median(values) : null;
    };
    return {
      setup,
      conn_per_s: ratio("conn_per_s"),
      cpu_percent: ratio("cpu_percent"),
      cpu_s_per_1000: ratio("cpu_s_per_1000"),
      download_mb_s: ratio("download_mb_s"),
    };
  });
}

/** A setup's CPU by process and part, medians over its rounds, largest first. */
export function median_parts(rows: RunRow[]): string | null {
  const names = [...new Set(rows.flatMap((r) => Object.keys(r.cpu_by_part)))];
  if (names.length === 0) return null;
  const medians = names.map((name) =>
    [name, median_of(rows.map((r) => r.cpu_by_part[name] ?? 0)) ?? 0] as const
  );
  return medians.sort((a, b) => b[1] - a[1]).map(([name, v]) => `${name} ${v.toFixed(1)}`)
    .join(", ");
}

function median_of(values: (number | null)[]): number | null {
  const present = values.filter((v): v is number => typeof v === "number");
  return present.length ? median(present) : null;
}

export function progress_line(row: RunRow, rounds: number): string {
  const head = `round ${row.round + 1}/${rounds}  ${row.setup.padEnd(23)}`;
  if (row.conn_per_s === null) return `${head} error: ${row.error?.split("\n")[0]}`;
  const parts = [
    `${row.conn_per_s.toFixed(0).padStart(6)} conn/s`,
    `cpu ${fixed(row.cpu_percent, 1)}%`,
    `${fixed(row.cpu_s_per_1000, 3)} cpu-s/1k`,
    `light p50 ${fixed(row.light?.p50_ms ?? null, 2)} ms` +
    (row.straight ? ` (straight ${fixed(row.straight.p50_ms, 2)})` : ""),
    `10MB ${fixed(row.download_mb_s, 1)} MB/s`,
    `host busy ${fixed(row.host_busy_percent, 0)}%`,
    `errors ${row.socket_errors}/${row.non_2xx} non-2xx`,
  ];
  return `${head} ${parts.join("  ")}` + (row.error ? `  (${row.error.split("\n")[0]})` : "");
}

export function format_table(summaries: SetupSummary[], ratios: Ratios[]): string {
  const header = [
    "setup",
    "conn/s",
    "CPU % (all procs)",
    "CPU s/1k conn",
    "conn/s ÷ HAProxy",
    "CPU/1k ÷ HAProxy",
    "light p50 ms",
    "p90 ms",
    "straight p50",
    "Δ p50 ms",
    "10 MB MB/s",
    "dir0 tx in 10 MB",
    "host busy %",
    "errors",
  ];
  const lines: string[][] = [header];
  for (const s of summaries) {
    const r = ratios.find((x) => x.setup === s.setup);
    lines.push([
      s.setup,
      fixed(s.conn_per_s, 0),
      fixed(s.cpu_percent, 1),
      fixed(s.cpu_s_per_1000, 3),
      s.system === "haproxy" ? "1" : ratio_text(r?.conn_per_s ?? null),
      s.system === "haproxy" ? "1" : ratio_text(r?.cpu_s_per_1000 ?? null),
      fixed(s.light_p50_ms, 2),
      fixed(s.light_p90_ms, 2),
      fixed(s.straight_p50_ms, 2),
      signed(s.delta_p50_ms, 2),
      fixed(s.download_mb_s, 1),
      s.front_tx_bytes === null ? "-" : `${(s.front_tx_bytes / 1e6).toFixed(2)} MB`,
      fixed(s.host_busy_percent, 0),
      `${s.socket_errors}/${s.non_2xx}`,
    ]);
  }
  const widths = header.map((_, i) => Math.max(...lines.map((l) => l[i].length)));
  const render = (l: string[]) =>
    l.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]) : cell.padStart(widths[i]))).join("  ");
  return [
    "medians over rounds; conn/s counts 2xx answers only; CPU sums every process of the setup " +
    "over the wrk interval; ÷ HAProxy = median of the per-round ratios; errors = socket " +
    "errors/non-2xx",
    "light = 100 sequential curls through the VIP, each a new connection, curl time_total; " +
    "straight = the same interleaved with them, to the servers' own addresses (client → bridge → " +
    "the agent's pass-through in that same baton run → server; HAProxy's row: the round's " +
    "baton runs' straight); Δ = median over rounds of light p50 − straight p50",
    render(lines[0]),
    widths.map((w) => "-".repeat(w)).join("  "),
    ...lines.slice(1).map(render),
  ].join("\n");
}

/** Issue 9's lab-bench targets, one line per baton setup: met, missed, or not measured. */
export function format_targets(summaries: SetupSummary[], ratios: Ratios[]): string {
  const verdict = (value: number | null, ok: (v: number) => boolean, text: string) =>
    value === null ? `${text} -` : `${text} ${ok(value) ? "met" : "missed"}`;
  return summaries.filter((s) => s.system === "baton").map((s) => {
    const r = ratios.find((x) => x.setup === s.setup);
    return `targets ${s.setup}: ` + [
      verdict(
        r?.conn_per_s ?? null,
        (v) => v >= 1.5,
        `conn/s ≥ 1.5× HAProxy (${ratio_text(r?.conn_per_s ?? null)})`,
      ),
      verdict(
        r?.cpu_s_per_1000 ?? null,
        (v) => v <= 1,
        `CPU/1k ≤ HAProxy (${ratio_text(r?.cpu_s_per_1000 ?? null)})`,
      ),
      verdict(
        s.delta_p50_ms,
        (v) => v <= 0.3,
        `light p50 within 0.3 ms of straight (${signed(s.delta_p50_ms, 2)} ms)`,
      ),
    ].join("; ");
  }).join("\n");
}

function ratio_text(value: number | null): string {
  return value === null ? "-" : `${value.toFixed(2)}×`;
}

function fixed(value: number | null, digits: number): string {
  return value === null ? "-" : value.toFixed(digits);
}

function signed(value: number | null, digits: number): string {
  return value === null ? "-" : `${value >= 0 ? "+" : ""}${value.toFixed(digits)}`;
}
