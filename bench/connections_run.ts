// Runs one connection scenario's process (connections_main.ts) and turns
// its lines into one run's numbers: per stats period after the warm-up,
// connections completed per second of the loop (role and generator
// together on one core) and per second of the role's own share of it, the
// role's and the generator's cost per connection, the frames through the
// role per connection, and the HMAC's part of the role's cost. The child
// exits by itself after its periods and a drain; if it does not, it is
// stopped (SIGINT, then SIGKILL) before this returns.

import { type DpdkProcess, spawn_dpdk } from "../control/lab/mod.ts";
import { median, WARMUP_PERIODS } from "./run.ts";
import { connection_command, type ConnectionScenario } from "./scenarios.ts";
import { type ConnectionSummary, type PeriodRecord, SUMMARY_PREFIX } from "./connections_lines.ts";

const STARTUP_MARGIN_MS = 60_000;

export interface ConnectionRunOptions {
  round: number;
  seconds: number;
  stats_period_s: number;
  signal?: AbortSignal;
  /** Extra flags for the child's deno (e.g. --cpu-prof). */
  deno_flags?: string[];
}

export interface ConnectionRun {
  round: number;
  /** Medians over the measured periods; null when there were none. */
  per_second: number | null;
  /** Completed per second of the role's own time: its rate per core. */
  per_core: number | null;
  role_ns: number | null;
  generator_ns: number | null;
  /** The generator's share of the loop's time. */
  generator_share: number | null;
  frames_in: number | null;
  frames_out: number | null;
  /** The role's HMACs per connection, as measured in the child (sum over its messages). */
  hmac_ns: number | null;
  measured_periods: PeriodRecord[];
  /** Every frame accounted for once drained: what did not add up. */
  problems: string[];
  summary: ConnectionSummary | null;
  exit_code: number | null;
  error: string | null;
}

export async function run_connections(
  scenario: ConnectionScenario,
  options: ConnectionRunOptions,
): Promise<ConnectionRun> {
  const file_prefix = `bt-bench-${scenario.id}-r${options.round}-${Deno.pid}`;
  const seconds = options.seconds + WARMUP_PERIODS * options.stats_period_s;
  const command = connection_command(scenario, {
    file_prefix,
    stats_period_s: options.stats_period_s,
    seconds,
    deno_flags: options.deno_flags,
  });
  const run: ConnectionRun = {
    round: options.round,
    per_second: null,
    per_core: null,
    role_ns: null,
    generator_ns: null,
    generator_share: null,
    frames_in: null,
    frames_out: null,
    hmac_ns: null,
    measured_periods: [],
    problems: [],
    summary: null,
    exit_code: null,
    error: null,
  };
  let proc: DpdkProcess | null = null;
  try {
    proc = spawn_dpdk(command);
    const child = proc;
    const on_abort = () => void child.stop();
    options.signal?.addEventListener("abort", on_abort);
    try {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const limit = new Promise<null>((resolve) => {
        timer = setTimeout(() => resolve(null), seconds * 1000 + STARTUP_MARGIN_MS);
      });
      const code = await Promise.race([child.exited, limit]);
      clearTimeout(timer);
      if (code === null) throw new Error(`no summary after ${seconds} s (+ start-up margin)`);
      run.exit_code = code;
      if (options.signal?.aborted) throw new Error("stopped: the bench was interrupted");
      if (code !== 0) throw new Error(`exited with code ${code}; output:\n${tail(child.output())}`);
    } finally {
      options.signal?.removeEventListener("abort", on_abort);
    }
    const line = child.output().split("\n").find((l) => l.startsWith(SUMMARY_PREFIX));
    if (!line) throw new Error(`no summary line; output:\n${tail(child.output())}`);
    const summary: ConnectionSummary = JSON.parse(line.slice(SUMMARY_PREFIX.length));
    fill(run, summary);
  } catch (err) {
    run.error = (err as Error).message;
  } finally {
    if (proc && run.exit_code === null) run.exit_code = await proc.stop();
  }
  return run;
}

function fill(run: ConnectionRun, summary: ConnectionSummary): void {
  run.summary = summary;
  run.problems = summary.problems;
  const measured = summary.periods.slice(WARMUP_PERIODS).filter((p) => p.completed > 0);
  run.measured_periods = measured;
  if (measured.length === 0) {
    run.problems = [...run.problems, "no connection completed after the warm-up"];
    return;
  }
  run.per_second = median(measured.map((p) => p.completed / p.seconds));
  run.per_core = median(measured.map((p) => p.completed / p.role_seconds));
  run.role_ns = median(measured.map((p) => (p.role_seconds * 1e9) / p.completed));
  run.generator_ns = median(measured.map((p) => (p.generator_seconds * 1e9) / p.completed));
  run.generator_share = median(
    measured.map((p) => p.generator_seconds / (p.generator_seconds + p.role_seconds)),
  );
  run.frames_in = median(measured.map((p) => p.frames_in / p.completed));
  run.frames_out = median(measured.map((p) => p.frames_out / p.completed));
  run.hmac_ns = summary.hmac.length > 0 ? summary.hmac.reduce((sum, h) => sum + h.ns, 0) : null;
}

function tail(text: string, lines = 30): string {
  return text.split("\n").slice(-lines).join("\n");
}
