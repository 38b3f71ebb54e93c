// The lab bench's rows and what is made of them: one RunRow per system and
// round as lab_bench.ts measured it, each system's medians over its rounds
// (summarise), baton ÷ HAProxy as the median of per-round ratios
// (round_ratios, so both sides of a ratio ran back to back), the progress
// line and the table. A median or ratio that no round measured is null and
// shows as "-". The pktgen bench's report is report.ts.

import { median } from "./run.ts";

export type System = "baton" | "haproxy";

export interface RunRow {
  system: System;
  round: number;
  /** The process measured: its pid, comm and command line. */
  pid: number | null;
  comm: string | null;
  cmdline: string | null;
  /** New connections per second answered 2xx (wrk's completed requests minus non-2xx). */
  conn_per_s: number | null;
  /** wrk's own Requests/sec, which counts non-2xx answers too. */
  wrk_requests_per_s: number | null;
  requests: number | null;
  wrk_seconds: number | null;
  socket_errors: number | null;
  non_2xx: number | null;
  cpu_percent: number | null;
  /** Connections per second of CPU time the process used: conn/s ÷ (CPU % / 100). */
  conn_per_cpu_s: number | null;
  host_busy_percent: number | null;
  threads: Record<string, number>;
  /** The same CPU by part of the system (baton: dataplane, director control, agent controls...). */
  cpu_by_part: Record<string, number>;
  /** The MAC the client resolved the VIP to: dir0's for both systems, or the path is not the one compared. */
  vip_mac: string | null;
  download_mb_s: number | null;
  download_ok: boolean;
  /** Bytes dir0 (the director's port, HAProxy's VIP) sent during the 10 MB download. */
  front_tx_bytes: number | null;
  exit_code: number | null;
  /** The process's last summary lines (baton: per-server selections, hand-off latency). */
  summary: string[];
  error: string | null;
}

export interface SystemSummary {
  system: System;
  runs: number;
  conn_per_s: number | null;
  cpu_percent: number | null;
  conn_per_cpu_s: number | null;
  download_mb_s: number | null;
  front_tx_bytes: number | null;
  host_busy_percent: number | null;
  socket_errors: number;
  non_2xx: number;
  ok: boolean;
  problems: string[];
}

export interface Ratios {
  conn_per_s: number | null;
  cpu_percent: number | null;
  conn_per_cpu_s: number | null;
  download_mb_s: number | null;
}

export function empty_row(system: System, round: number): RunRow {
  return {
    system,
    round,
    pid: null,
    comm: null,
    cmdline: null,
    conn_per_s: null,
    wrk_requests_per_s: null,
    requests: null,
    wrk_seconds: null,
    socket_errors: null,
    non_2xx: null,
    cpu_percent: null,
    conn_per_cpu_s: null,
    host_busy_percent: null,
    threads: {},
    cpu_by_part: {},
    vip_mac: null,
    download_mb_s: null,
    download_ok: false,
    front_tx_bytes: null,
    exit_code: null,
    summary: [],
    error: null,
  };
}

export function summarise(system: System, rows: RunRow[]): SystemSummary {
  const problems: string[] = [];
  for (const r of rows) {
    if (r.error) problems.push(`round ${r.round + 1}: ${r.error.split("\n")[0]}`);
    if (r.socket_errors) problems.push(`round ${r.round + 1}: ${r.socket_errors} socket errors`);
    if (r.non_2xx) problems.push(`round ${r.round + 1}: ${r.non_2xx} non-2xx responses`);
  }
  if (rows.length === 0) problems.push("never ran");
  const pick = (key: keyof RunRow) => median_of(rows.map((r) => r[key] as number | null));
  const summary: SystemSummary = {
    system,
    runs: rows.length,
    conn_per_s: pick("conn_per_s"),
    cpu_percent: pick("cpu_percent"),
    conn_per_cpu_s: pick("conn_per_cpu_s"),
    download_mb_s: pick("download_mb_s"),
    front_tx_bytes: pick("front_tx_bytes"),
    host_busy_percent: pick("host_busy_percent"),
    socket_errors: rows.reduce((n, r) => n + (r.socket_errors ?? 0), 0),
    non_2xx: rows.reduce((n, r) => n + (r.non_2xx ?? 0), 0),
    ok: false,
    problems,
  };
  if (summary.conn_per_s === null || summary.conn_per_s <= 0) problems.push("no conn/s figure");
  summary.ok = problems.length === 0;
  return summary;
}

/** Median over rounds of baton ÷ HAProxy within the same round (the two ran back to back). */
export function round_ratios(rows: RunRow[]): Ratios {
  const ratio = (key: keyof Ratios) => {
    const values: number[] = [];
    for (const b of rows.filter((r) => r.system === "baton")) {
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
    conn_per_s: ratio("conn_per_s"),
    cpu_percent: ratio("cpu_percent"),
    conn_per_cpu_s: ratio("conn_per_cpu_s"),
    download_mb_s: ratio("download_mb_s"),
  };
}

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
  const head = `round ${row.round + 1}/${rounds}  ${row.system.padEnd(8)}`;
  if (row.conn_per_s === null) return `${head} error: ${row.error?.split("\n")[0]}`;
  const parts = [
    `${row.conn_per_s.toFixed(0).padStart(6)} conn/s`,
    `cpu ${fixed(row.cpu_percent, 1)}%`,
    `${fixed(row.conn_per_cpu_s, 0)} conn/cpu-s`,
    `10MB ${fixed(row.download_mb_s, 1)} MB/s`,
    `host busy ${fixed(row.host_busy_percent, 0)}%`,
    `errors ${row.socket_errors}/${row.non_2xx} non-2xx`,
  ];
  return `${head} ${parts.join("  ")}` + (row.error ? `  (${row.error.split("\n")[0]})` : "");
}

export function format_table(summaries: SystemSummary[], ratios: Ratios): string {
  const header = [
    "system",
    "conn/s",
    "CPU % (1 core)",
    "conn per CPU-s",
    "10 MB MB/s",
    "dir0 tx in 10 MB",
    "host busy %",
    "errors",
  ];
  const lines: string[][] = [header];
  for (const s of summaries) {
    lines.push([
      s.system,
      fixed(s.conn_per_s, 0),
      fixed(s.cpu_percent, 1),
      fixed(s.conn_per_cpu_s, 0),
      fixed(s.download_mb_s, 1),
      s.front_tx_bytes === null ? "-" : `${(s.front_tx_bytes / 1e6).toFixed(2)} MB`,
      fixed(s.host_busy_percent, 0),
      `${s.socket_errors}/${s.non_2xx}`,
    ]);
  }
  lines.push([
    "baton/haproxy",
    ratio_text(ratios.conn_per_s),
    ratio_text(ratios.cpu_percent),
    ratio_text(ratios.conn_per_cpu_s),
    ratio_text(ratios.download_mb_s),
    "",
    "",
    "",
  ]);
  const widths = header.map((_, i) => Math.max(...lines.map((l) => l[i].length)));
  const render = (l: string[]) =>
    l.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]) : cell.padStart(widths[i]))).join("  ");
  return [
    "medians over rounds; conn/s counts 2xx answers only; ratio = median of the per-round " +
    "ratios; errors = socket errors/non-2xx",
    render(lines[0]),
    widths.map((w) => "-".repeat(w)).join("  "),
    ...lines.slice(1).map(render),
  ].join("\n");
}

function ratio_text(value: number | null): string {
  return value === null ? "-" : `${value.toFixed(2)}×`;
}

function fixed(value: number | null, digits: number): string {
  return value === null ? "-" : value.toFixed(digits);
}
