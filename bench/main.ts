// `deno task bench`: pktgen-style throughput of baton beside dpdk-testpmd on
// net_null and net_ring, the director's hand-offs and the agent's adoptions
// per second on net_ring (each role beside a generator playing its peers),
// plus baton's CPU use when idle. Reads top to bottom: options →
// interleaved rounds of every scenario → idle CPU → tables → JSON → exit
// code (non-zero when any scenario produced no trustworthy number).

import { parseArgs } from "node:util";
import { measure_idle_cpu, run_throughput, type RunResult, WARMUP_PERIODS } from "./run.ts";
import { CONNECTION_SCENARIOS, FORWARDING_CORES, FRAME_BYTES, SCENARIOS } from "./scenarios.ts";
import { format_table, GBPS_CONVENTION, type ScenarioSummary, summarise } from "./report.ts";
import { type ConnectionRun, run_connections } from "./connections_run.ts";
import {
  type ConnectionScenarioSummary,
  format_connection_table,
  summarise_connections,
} from "./connections_report.ts";

const USAGE = `usage: deno task bench [--seconds S] [--runs R] [--quick] [--json FILE] [--only TEXT]
  --seconds S   measured seconds per run, after ${WARMUP_PERIODS} warm-up periods (default 6)
  --runs R      rounds; each round runs every scenario once, interleaved (default 3)
  --quick       smoke test: 1 round of 3 s
  --json FILE   also write the results as JSON
  --only TEXT   only scenarios whose id contains TEXT (e.g. null, ring, rewrite, handoff);
                several, comma-separated, for any of them
  --idle-seconds S   length of the idle CPU measurement (default 5)
       deno task bench -- --lab [...]    baton beside HAProxy in the lab (--help there)
       deno task bench -- --ecmp [--runs R] [--seconds S]   conn/s with 1 and 2 directors
                                         behind ECMP (the ECMP lab, BIRD, needs root)`;

const STATS_PERIOD_S = 1;
const IDLE_TARGET_PERCENT = 5;

interface BenchOptions {
  seconds: number;
  runs: number;
  idle_seconds: number;
  json: string | null;
  only: string | null;
}

async function main(argv: string[]): Promise<number> {
  const options = parse_options(argv);
  const abort = new AbortController();
  const on_sigint = () => {
    console.log("\nbench: interrupted, stopping the running forwarder");
    abort.abort();
  };
  Deno.addSignalListener("SIGINT", on_sigint);
  try {
    print_header(options);
    const wanted = (id: string) =>
      !options.only || options.only.split(",").some((text) => id.includes(text));
    const scenarios = SCENARIOS.filter((s) => wanted(s.id));
    const connection_scenarios = CONNECTION_SCENARIOS.filter((s) => wanted(s.id));
    const runs = new Map<string, RunResult[]>(scenarios.map((s) => [s.id, []]));
    const connection_runs = new Map<string, ConnectionRun[]>(
      connection_scenarios.map((s) => [s.id, []]),
    );
    for (let round = 0; round < options.runs && !abort.signal.aborted; round++) {
      // Interleaved: testpmd, baton, baton, ... per round, so drift hits every row alike.
      for (const scenario of scenarios) {
        if (abort.signal.aborted) break;
        const result = await run_throughput(scenario, {
          round,
          seconds: options.seconds,
          stats_period_s: STATS_PERIOD_S,
          signal: abort.signal,
        });
        runs.get(scenario.id)!.push(result);
        console.log(progress_line(round, options.runs, scenario.id, result));
      }
      for (const scenario of connection_scenarios) {
        if (abort.signal.aborted) break;
        const result = await run_connections(scenario, {
          round,
          seconds: options.seconds,
          stats_period_s: STATS_PERIOD_S,
          signal: abort.signal,
        });
        connection_runs.get(scenario.id)!.push(result);
        console.log(
          connection_progress_line(round, options.runs, scenario.id, scenario.unit, result),
        );
      }
    }
    const idle = abort.signal.aborted ? null : await measure_idle_cpu({
      seconds: options.idle_seconds,
      stats_period_s: STATS_PERIOD_S,
      signal: abort.signal,
    });

    const summaries = summarise(scenarios, runs);
    const testpmd_ring = runs.get("ring-testpmd-macswap") ?? [];
    const connection_summaries = summarise_connections(
      connection_scenarios,
      connection_runs,
      testpmd_ring,
    );
    console.log("");
    for (const vdev of ["net_null", "net_ring"] as const) {
      if (summaries.some((s) => s.vdev === vdev)) console.log(format_table(vdev, summaries) + "\n");
    }
    if (connection_summaries.length > 0) {
      const testpmd = summaries.find((s) => s.id === "ring-testpmd-macswap")?.mpps_median ?? null;
      console.log(format_connection_table(connection_summaries, testpmd) + "\n");
    }
    console.log(
      "targets: baton macswap ≥ 0.85× testpmd macswap, baton rewrite ≥ 0.50× testpmd macswap " +
        "(same vdev, same round; ratio = median over rounds); director ≥ 200k hand-offs/s " +
        "per core (DPVS's full-NAT connections/s per worker)",
    );
    const idle_ok = idle?.percent_of_one_core != null;
    if (idle) console.log(idle_line(idle));

    if (options.json) await write_json(options, summaries, connection_summaries, idle);
    const failed = [...summaries, ...connection_summaries].filter((s) => !s.ok);
    for (const s of failed) console.log(`bench: ${s.id} failed: ${s.problems.join("; ")}`);
    if (abort.signal.aborted) return 130;
    return failed.length > 0 || !idle_ok ? 1 : 0;
  } finally {
    Deno.removeSignalListener("SIGINT", on_sigint);
  }
}

function parse_options(argv: string[]): BenchOptions {
  const { values } = parseArgs({
    args: argv,
    options: {
      seconds: { type: "string" },
      runs: { type: "string" },
      quick: { type: "boolean", default: false },
      json: { type: "string" },
      only: { type: "string" },
      "idle-seconds": { type: "string" },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.help) {
    console.log(USAGE);
    Deno.exit(0);
  }
  return {
    seconds: positive("--seconds", values.seconds, values.quick ? 3 : 6),
    runs: positive("--runs", values.runs, values.quick ? 1 : 3),
    idle_seconds: positive("--idle-seconds", values["idle-seconds"], 5),
    json: values.json ?? null,
    only: values.only ?? null,
  };
}

function positive(name: string, text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!Number.isInteger(value) || value < 1) {
    console.error(`bench: ${name} wants a positive integer, got ${text}\n${USAGE}`);
    Deno.exit(2);
  }
  return value;
}

function print_header(options: BenchOptions) {
  console.log(
    `baton bench: ${options.runs} round(s) × ${options.seconds} s per scenario ` +
      `(+${WARMUP_PERIODS} warm-up periods of ${STATS_PERIOD_S} s), ${FRAME_BYTES}-byte frames, ` +
      `${FORWARDING_CORES} forwarding core (-l 0,1), ${navigator.hardwareConcurrency} CPUs here`,
  );
  console.log(`per run: median of the per-period total Rx-pps (sum of both ports)`);
  console.log(`${GBPS_CONVENTION}\n`);
}

function progress_line(round: number, rounds: number, id: string, result: RunResult): string {
  const mpps = result.median_pps === null ? "-" : (result.median_pps / 1e6).toFixed(2);
  const notes = [
    result.error ? `error: ${result.error.split("\n")[0]}` : "",
    result.stalled_period !== null ? `STALLED in period ${result.stalled_period}` : "",
  ].filter(Boolean);
  return `round ${round + 1}/${rounds}  ${id.padEnd(22)} ${mpps.padStart(7)} Mpps` +
    (notes.length ? `  (${notes.join("; ")})` : "");
}

function connection_progress_line(
  round: number,
  rounds: number,
  id: string,
  unit: string,
  run: ConnectionRun,
): string {
  const k = (value: number | null) => value === null ? "-" : `${(value / 1000).toFixed(1)}k`;
  const notes = [
    run.error ? `error: ${run.error.split("\n")[0]}` : "",
    run.problems.length > 0 ? `${run.problems.length} problem(s): ${run.problems[0]}` : "",
  ].filter(Boolean);
  return `round ${round + 1}/${rounds}  ${id.padEnd(22)} ${
    k(run.per_second).padStart(7)
  } ${unit}/s, ` +
    `${k(run.per_core)}/s per core of the role` + (notes.length ? `  (${notes.join("; ")})` : "");
}

function idle_line(idle: Awaited<ReturnType<typeof measure_idle_cpu>>): string {
  if (idle.percent_of_one_core === null) {
    return `idle CPU: no figure (${idle.error?.split("\n")[0]})`;
  }
  const verdict = idle.percent_of_one_core < IDLE_TARGET_PERCENT ? "pass" : "short";
  return `idle CPU: baton io on 2 idle net_ring ports, ${
    idle.seconds.toFixed(1)
  } s after start-up: ` +
    `${idle.percent_of_one_core.toFixed(2)}% of one core (${idle.cpu_ticks} ticks at ` +
    `${idle.clock_ticks_per_s} Hz, pid comm "${idle.comm}"); target < ${IDLE_TARGET_PERCENT}%: ${verdict}`;
}

async function write_json(
  options: BenchOptions,
  summaries: ScenarioSummary[],
  connection_summaries: ConnectionScenarioSummary[],
  idle: Awaited<ReturnType<typeof measure_idle_cpu>> | null,
) {
  const report = {
    finished_at: new Date().toISOString(),
    settings: {
      seconds: options.seconds,
      runs: options.runs,
      stats_period_s: STATS_PERIOD_S,
      warmup_periods: WARMUP_PERIODS,
      frame_bytes: FRAME_BYTES,
      forwarding_cores: FORWARDING_CORES,
      gbps_convention: GBPS_CONVENTION,
      cpus: navigator.hardwareConcurrency,
    },
    scenarios: summaries,
    connection_scenarios: connection_summaries,
    idle_cpu: idle === null ? null : {
      ...idle,
      target_percent: IDLE_TARGET_PERCENT,
      pass: idle.percent_of_one_core !== null && idle.percent_of_one_core < IDLE_TARGET_PERCENT,
    },
  };
  await Deno.writeTextFile(options.json!, JSON.stringify(report, null, 2) + "\n");
  console.log(`bench: wrote ${options.json}`);
}

if (import.meta.main) {
  // `deno task bench -- ARGS` passes its "--" through: drop it
  const args = Deno.args[0] === "--" ? Deno.args.slice(1) : Deno.args;
  // --ecmp: connections per second through the ECMP lab with one and two directors.
  if (args.includes("--ecmp")) {
    const { ecmp_bench_main } = await import("./ecmp_bench.ts");
    Deno.exit(await ecmp_bench_main(args.filter((arg) => arg !== "--ecmp")));
  }
  // --lab: the lab bench instead (baton's director beside HAProxy in namespaces).
  if (args.includes("--lab")) {
    const { lab_bench_main } = await import("./lab_bench.ts");
    Deno.exit(await lab_bench_main(args.filter((arg) => arg !== "--lab")));
  }
  Deno.exit(await main(args));
}
