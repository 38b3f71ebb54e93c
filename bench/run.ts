// Runs one forwarder process and turns what it prints into numbers: the
// per-period Rx-pps blocks (testpmd's format, which baton prints too) for
// throughput, and /proc/PID/stat for the idle CPU figure. Whatever happens,
// the child is stopped (SIGINT, then SIGKILL) before these functions return.

import { type DpdkProcess, parse_throughput, spawn_dpdk } from "../control/lab/mod.ts";
import { idle_command, type Scenario, scenario_command } from "./scenarios.ts";

/** Both vdevs have two ports; a stats period prints one block per port. */
export const PORTS = 2;
/**
 * Periods thrown away before measuring: period 0 is the first display, which
 * has no previous sample and always reads 0; period 1 still holds start-up
 * (JIT warm-up in baton, cache warm-up in both).
 */
export const WARMUP_PERIODS = 2;
/** baton starts Deno, compiles and spawns Workers; on a busy 2-vCPU host this can take a while. */
const STARTUP_TIMEOUT_MS = 60_000;
const POLL_MS = 200;

export interface RunOptions {
  round: number;
  seconds: number;
  stats_period_s: number;
  /** Aborting (Ctrl-C on the bench) stops the child at once. */
  signal?: AbortSignal;
}

export interface RunResult {
  round: number;
  /** Sum of Rx-pps over the ports, one entry per stats period, warm-up included. */
  total_pps_per_period: number[];
  /** The median of the measured (post-warm-up) periods; null when there were none. */
  median_pps: number | null;
  /** First period (after the initial zero display) in which nothing was received. */
  stalled_period: number | null;
  exit_code: number | null;
  error: string | null;
}

export async function run_throughput(scenario: Scenario, options: RunOptions): Promise<RunResult> {
  const file_prefix = `bt-bench-${scenario.id}-r${options.round}-${Deno.pid}`;
  const command = scenario_command(scenario, {
    file_prefix,
    stats_period_s: options.stats_period_s,
  });
  const periods_wanted = WARMUP_PERIODS +
    Math.max(1, Math.round(options.seconds / options.stats_period_s));
  const result: RunResult = {
    round: options.round,
    total_pps_per_period: [],
    median_pps: null,
    stalled_period: null,
    exit_code: null,
    error: null,
  };
  let proc: DpdkProcess | null = null;
  try {
    proc = spawn_dpdk(command);
    const child = proc;
    await with_abort(child, options.signal, async () => {
      await wait_until_up(child);
      const deadline_ms = performance.now() + 30_000 +
        (periods_wanted + 5) * options.stats_period_s * 1000;
      for (;;) {
        const arrived = period_totals(child.output()).length;
        if (arrived >= periods_wanted) break;
        if (performance.now() > deadline_ms) {
          throw new Error(`only ${arrived} of ${periods_wanted} stats periods arrived`);
        }
        const code = await Promise.race([child.exited, sleep(POLL_MS).then(() => null)]);
        if (code !== null) {
          const why = options.signal?.aborted
            ? "stopped: the bench was interrupted"
            : `exited early (code ${code})`;
          throw new Error(`${why}; output:\n${tail(child.output())}`);
        }
      }
    });
  } catch (err) {
    result.error = (err as Error).message;
  } finally {
    if (proc) {
      result.exit_code = await proc.stop();
      await remove_runtime_dir(file_prefix);
    }
  }
  const totals = period_totals(proc?.output() ?? "").slice(0, periods_wanted);
  result.total_pps_per_period = totals;
  const measured = totals.slice(WARMUP_PERIODS);
  if (measured.length > 0) result.median_pps = median(measured);
  const stalled = totals.findIndex((pps, period) => period > 0 && pps === 0);
  if (stalled >= 0) result.stalled_period = stalled;
  return result;
}

/** Per-period total Rx-pps: the port blocks of one period summed; an incomplete last period is dropped. */
export function period_totals(output: string): number[] {
  const { rx_pps } = parse_throughput(output);
  const totals: number[] = [];
  for (let at = 0; at + PORTS <= rx_pps.length; at += PORTS) {
    let sum = 0;
    for (let port = 0; port < PORTS; port++) sum += rx_pps[at + port];
    totals.push(sum);
  }
  return totals;
}

export interface IdleOptions {
  seconds: number;
  stats_period_s: number;
  signal?: AbortSignal;
}

export interface IdleResult {
  /** CPU time of the whole process (all threads) over the interval, in % of one core. */
  percent_of_one_core: number | null;
  seconds: number;
  cpu_ticks: number | null;
  clock_ticks_per_s: number;
  /** What /proc/PID/comm said, to show the figure is baton's (deno's), not a wrapper's. */
  comm: string | null;
  exit_code: number | null;
  error: string | null;
}

/** baton io on idle net_ring ports: its poll loop should back off and leave the core alone. */
export async function measure_idle_cpu(options: IdleOptions): Promise<IdleResult> {
  const file_prefix = `bt-bench-idle-${Deno.pid}`;
  const clock_ticks_per_s = await clock_ticks();
  const result: IdleResult = {
    percent_of_one_core: null,
    seconds: options.seconds,
    cpu_ticks: null,
    clock_ticks_per_s,
    comm: null,
    exit_code: null,
    error: null,
  };
  let proc: DpdkProcess | null = null;
  try {
    proc = spawn_dpdk(idle_command({ file_prefix, stats_period_s: options.stats_period_s }));
    const child = proc;
    await with_abort(child, options.signal, async () => {
      // The first stats block is printed once the Workers poll: from here on it is "up".
      await wait_until_up(child);
      // spawn_dpdk runs the deno binary itself (no shell, no netns wrapper), so this PID is baton.
      const pid = child.child.pid;
      result.comm = (await Deno.readTextFile(`/proc/${pid}/comm`)).trim();
      const start_ticks = await process_cpu_ticks(pid);
      const start_ms = performance.now();
      const exited = await Promise.race([
        child.exited.then(() => true),
        sleep(options.seconds * 1000).then(() => false),
      ]);
      if (exited) {
        throw new Error(`exited during the idle interval; output:\n${tail(child.output())}`);
      }
      const ticks = (await process_cpu_ticks(pid)) - start_ticks;
      const elapsed_s = (performance.now() - start_ms) / 1000;
      result.seconds = elapsed_s;
      result.cpu_ticks = ticks;
      result.percent_of_one_core = (100 * ticks) / clock_ticks_per_s / elapsed_s;
    });
  } catch (err) {
    result.error = (err as Error).message;
  } finally {
    if (proc) {
      result.exit_code = await proc.stop();
      await remove_runtime_dir(file_prefix);
    }
  }
  return result;
}

/**
 * The first stats block, or the reason there will be none. Races the exit
 * itself: DpdkProcess.wait_for only notices an exit on the next output, so
 * a child that dies at start-up would otherwise cost the whole timeout.
 */
async function wait_until_up(proc: DpdkProcess): Promise<void> {
  const died = proc.exited.then((code) => {
    throw new Error(
      `exited (code ${code}) before its first stats block; output:\n${tail(proc.output())}`,
    );
  });
  died.catch(() => {}); // only observed when it wins the race
  await Promise.race([proc.wait_for(/Rx-pps:/, STARTUP_TIMEOUT_MS), died]);
}

/** utime + stime from /proc/PID/stat: the whole thread group, in clock ticks. */
async function process_cpu_ticks(pid: number): Promise<number> {
  const stat = await Deno.readTextFile(`/proc/${pid}/stat`);
  // comm (field 2) is in parentheses and may hold spaces: count fields after the last ')'.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // fields[0] is field 3 (state); utime is field 14, stime field 15.
  return Number(fields[11]) + Number(fields[12]);
}

async function clock_ticks(): Promise<number> {
  try {
    const { stdout, success } = await new Deno.Command("getconf", { args: ["CLK_TCK"] }).output();
    const value = Number(new TextDecoder().decode(stdout).trim());
    if (success && value > 0) return value;
  } catch { /* no getconf: Linux's USER_HZ is 100 everywhere that matters */ }
  return 100;
}

/** Runs body; an abort of the bench stops the child, which makes body's waits reject. */
async function with_abort(
  proc: DpdkProcess,
  signal: AbortSignal | undefined,
  body: () => Promise<void>,
): Promise<void> {
  if (signal?.aborted) throw new Error("aborted");
  const on_abort = () => void proc.stop();
  signal?.addEventListener("abort", on_abort);
  try {
    await body();
  } finally {
    signal?.removeEventListener("abort", on_abort);
  }
}

/** EAL leaves /var/run/dpdk/<prefix> behind even with --no-huge; ours are unique, so tidy them. */
async function remove_runtime_dir(file_prefix: string): Promise<void> {
  try {
    await Deno.remove(`/var/run/dpdk/${file_prefix}`, { recursive: true });
  } catch { /* never created, or already gone */ }
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function tail(text: string, lines = 30): string {
  return text.split("\n").slice(-lines).join("\n");
}
