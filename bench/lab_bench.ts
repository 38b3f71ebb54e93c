// `deno task bench -- --lab` (or `deno run -A bench/lab_bench.ts`): baton's
// director beside HAProxy doing the same URL-hash routing, in one lab and one
// run. Reads top to bottom: options → lab up → per round baton then HAProxy
// (interleaved, so drift on a shared host hits both alike) → medians and
// ratios → table (lab_report.ts) → JSON → tear-down, also when anything fails.
//
// Each system gets the same load: wrk with "Connection: close" (every request
// a new TCP connection, for baton every request a hand-off) over many URLs,
// the CPU time of the one process doing the routing over exactly that wrk
// interval, and one 10 MB download through the VIP.

import { parseArgs } from "node:util";
import {
  type DpdkProcess,
  type Lab,
  lab_down,
  lab_interfaces,
  lab_up,
  start_baton_in_lab,
  write_lab_config,
} from "../control/lab/mod.ts";
import {
  add_vip,
  forget_vip_neighbour,
  haproxy_config,
  HAPROXY_THREADS,
  type HaproxyProcess,
  remove_vip,
  start_haproxy,
} from "./lab_haproxy.ts";
import {
  describe_pid,
  DISTINCT_PATHS,
  measure_download,
  measure_wrk,
  run_wrk_close,
  vip_neighbour_mac,
  wait_for_vip,
  wrk_script,
  type WrkSettings,
} from "./lab_measure.ts";
import {
  empty_row,
  format_table,
  median_parts,
  progress_line,
  type Ratios,
  round_ratios,
  type RunRow,
  summarise,
  type System,
  type SystemSummary,
} from "./lab_report.ts";

const USAGE = `usage: deno task bench -- --lab [--runs R] [--seconds S] [--quick] [--json FILE]
       deno run -A bench/lab_bench.ts [same options]
  --runs R          rounds; each round runs baton, then HAProxy (default 3)
  --seconds S       measured wrk seconds per system and round (default 10)
  --connections C   wrk connections (default 50)
  --quick           smoke test: 1 round of 4 s
  --json FILE       also write the results as JSON`;

const PREFIX = "btb-";
const SERVERS = 3;
const WRK_THREADS = 2;
/** baton's first health checks take a round of its 1 s interval; start-up of Deno before that. */
const READY_TIMEOUT_MS = 20_000;
const EAL_NAME = "labbench";
/** What /proc must say about the measured pid (comm, then command line). */
const BATON_PROCESS = { comm: /^deno$/, cmdline: /control\/main\.ts.*--role=director,agent/ };
const HAPROXY_PROCESS = { comm: /^haproxy$/, cmdline: /^haproxy -db / };

const SYSTEMS: System[] = ["baton", "haproxy"];

interface LabBenchOptions {
  runs: number;
  seconds: number;
  warmup_seconds: number;
  connections: number;
  json: string | null;
}

/** Runs the whole bench; returns the exit code (0 only when every run gave clean numbers). */
export async function lab_bench_main(argv: string[]): Promise<number> {
  const options = parse_options(argv);
  if (Deno.uid() !== 0) {
    console.error("lab bench: must run as root (namespaces, veths, af_packet)");
    return 2;
  }
  let interrupted = false;
  let stop_current: (() => Promise<unknown>) | null = null;
  const on_sigint = () => {
    console.log("\nlab bench: interrupted, stopping and tearing the lab down");
    interrupted = true;
    void stop_current?.();
  };
  Deno.addSignalListener("SIGINT", on_sigint);
  const dir = await Deno.makeTempDir({ prefix: "baton-lab-bench-" });
  let lab: Lab | null = null;
  try {
    print_header(options);
    await lab_down({ prefix: PREFIX });
    lab = await lab_up(SERVERS, { prefix: PREFIX });
    // Never two owners of the VIP: a leftover address from a killed run goes first.
    await remove_vip(lab);
    const paths = {
      baton: await write_lab_config(lab, dir),
      haproxy: `${dir}/haproxy.cfg`,
      wrk: `${dir}/urls.lua`,
    };
    await Deno.writeTextFile(paths.haproxy, haproxy_config(lab));
    await Deno.writeTextFile(paths.wrk, wrk_script());
    const wrk: WrkSettings = {
      threads: WRK_THREADS,
      connections: options.connections,
      seconds: options.seconds,
    };
    const warmup: WrkSettings = { ...wrk, seconds: options.warmup_seconds };

    const rows: RunRow[] = [];
    for (let round = 0; round < options.runs && !interrupted; round++) {
      for (const system of SYSTEMS) {
        if (interrupted) break;
        const row = empty_row(system, round);
        const set_stop = (stop: (() => Promise<unknown>) | null) => (stop_current = stop);
        try {
          if (system === "baton") {
            await run_baton(lab, paths.baton, paths.wrk, wrk, warmup, row, set_stop);
          } else {
            await run_haproxy(lab, paths.haproxy, paths.wrk, wrk, warmup, row, set_stop);
          }
        } catch (err) {
          row.error = interrupted ? "interrupted" : (err as Error).message;
        } finally {
          stop_current = null;
        }
        rows.push(row);
        console.log(progress_line(row, options.runs));
      }
    }

    const summaries = SYSTEMS.map((system) =>
      summarise(
        system,
        rows.filter((r) => r.system === system),
      )
    );
    const ratios = round_ratios(rows);
    console.log("\n" + format_table(summaries, ratios));
    const parts = median_parts(rows.filter((r) => r.system === "baton"));
    if (parts) console.log(`baton CPU by thread (median, % of one core): ${parts}`);
    if (options.json) await write_json(options, rows, summaries, ratios);
    for (const s of summaries) {
      if (!s.ok) console.log(`lab bench: ${s.system}: ${s.problems.join("; ")}`);
    }
    if (interrupted) return 130;
    return summaries.every((s) => s.ok) ? 0 : 1;
  } catch (err) {
    console.error(`lab bench: ${(err as Error).stack ?? err}`);
    return 1;
  } finally {
    Deno.removeSignalListener("SIGINT", on_sigint);
    if (lab) await remove_vip(lab).catch(() => {});
    await lab_down({ prefix: PREFIX }).catch((err) =>
      console.error(`lab bench: tear-down: ${(err as Error).message}`)
    );
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

async function run_baton(
  lab: Lab,
  config: string,
  script: string,
  wrk: WrkSettings,
  warmup: WrkSettings,
  row: RunRow,
  set_stop: (stop: (() => Promise<unknown>) | null) => void,
): Promise<void> {
  let baton: DpdkProcess | null = null;
  try {
    baton = await start_baton_in_lab(lab, {
      interfaces: lab_interfaces(lab),
      app: ["--role=director,agent", `--config=${config}`, "--stats-period=1"],
      name: EAL_NAME,
    });
    const process = baton;
    set_stop(() => process.stop());
    // spawn_dpdk runs `ip netns exec <dp> deno ...`, which execs: the child pid is deno's.
    await measure_process(lab, baton.child.pid, BATON_PROCESS, script, wrk, warmup, row);
  } finally {
    if (baton) {
      row.exit_code = await baton.stop();
      row.summary = baton.output().split("\n").filter((line) =>
        /^director (servers|control counters)|^agent \d control counters/.test(line)
      );
      if (row.exit_code !== 0 && !row.error) {
        row.error = `baton exited with ${row.exit_code}: ${tail(baton.output(), 10)}`;
      }
    }
  }
}

async function run_haproxy(
  lab: Lab,
  config: string,
  script: string,
  wrk: WrkSettings,
  warmup: WrkSettings,
  row: RunRow,
  set_stop: (stop: (() => Promise<unknown>) | null) => void,
): Promise<void> {
  let haproxy: HaproxyProcess | null = null;
  try {
    await add_vip(lab);
    haproxy = await start_haproxy(lab, config);
    const process = haproxy;
    set_stop(() => process.stop());
    await measure_process(lab, haproxy.pid, HAPROXY_PROCESS, script, wrk, warmup, row);
  } finally {
    if (haproxy) {
      row.exit_code = await haproxy.stop();
      const out = haproxy.output().trim();
      row.summary = out ? tail(out, 5).split("\n") : [];
      // SIGTERM is how it is stopped: 143 (or 0) is a clean stop.
      if (row.exit_code !== 0 && row.exit_code !== 143 && !row.error) {
        row.error = `haproxy exited with ${row.exit_code}: ${tail(out, 10)}`;
      }
    }
    await remove_vip(lab);
  }
}

/** The measurement both systems share, once the process answers at the VIP. */
async function measure_process(
  lab: Lab,
  pid: number,
  expected: { comm: RegExp; cmdline: RegExp },
  script: string,
  wrk: WrkSettings,
  warmup: WrkSettings,
  row: RunRow,
): Promise<void> {
  await forget_vip_neighbour(lab);
  await wait_for_vip(lab, READY_TIMEOUT_MS);
  // Only once it answers: until `ip netns exec` has exec'd, the pid still reads as "ip".
  const who = await describe_pid(pid);
  row.pid = pid;
  row.comm = who.comm;
  row.cmdline = who.cmdline.slice(0, 300);
  if (!expected.comm.test(who.comm) || !expected.cmdline.test(who.cmdline)) {
    throw new Error(`pid ${pid} is '${who.comm}: ${who.cmdline}', not the ${row.system} process`);
  }
  // Warm-up: baton's JIT and both systems' caches, connections, ARP entries.
  await run_wrk_close(lab, script, warmup);
  const measured = await measure_wrk(lab, pid, script, wrk);
  // Only answered-2xx connections count: a 503 from an overloaded director is no hand-off.
  const good = measured.wrk.requests - measured.wrk.non_2xx;
  row.conn_per_s = measured.wrk.seconds > 0 ? good / measured.wrk.seconds : 0;
  row.wrk_requests_per_s = measured.wrk.requests_per_s;
  row.requests = measured.wrk.requests;
  row.wrk_seconds = measured.wrk.seconds;
  row.socket_errors = measured.wrk.socket_errors;
  row.non_2xx = measured.wrk.non_2xx;
  row.cpu_percent = measured.cpu_percent;
  row.conn_per_cpu_s = measured.cpu_percent > 0
    ? row.conn_per_s / (measured.cpu_percent / 100)
    : null;
  row.host_busy_percent = measured.host_busy_percent;
  row.threads = measured.threads;
  row.cpu_by_part = cpu_by_part(row.system, measured.threads);
  row.vip_mac = await vip_neighbour_mac(lab);
  if (row.vip_mac !== lab.director_mac) {
    throw new Error(`the client sent to ${row.vip_mac}, not dir0 (${lab.director_mac})`);
  }
  const download = await measure_download(lab);
  row.download_ok = download.ok;
  row.download_mb_s = download.ok ? download.mb_per_s : null;
  row.front_tx_bytes = download.front_tx_bytes;
  if (!download.ok) {
    row.error = `10 MB download failed: ${download.error || `${download.bytes} bytes`}` +
      (download.sha256_ok ? "" : " (sha256 mismatch)");
  }
}

/**
 * Names baton's threads by what runs on them. Deno names Worker threads
 * worker-N in creation order, and roles.ts creates the director's control
 * Worker, then one per agent, then the dataplane Worker (the lcore).
 */
export function cpu_by_part(
  system: System,
  threads: Record<string, number>,
): Record<string, number> {
  if (system === "haproxy") return { ...threads };
  const parts: Record<string, number> = {};
  const add = (part: string, value: number) => {
    parts[part] = Math.round(((parts[part] ?? 0) + value) * 100) / 100;
  };
  for (const [name, percent] of Object.entries(threads)) {
    const worker = /^worker-(\d+)$/.exec(name);
    const n = worker ? Number(worker[1]) : 0;
    if (n === 1) add("director control", percent);
    else if (n >= 2 && n <= 1 + SERVERS) add("agent controls", percent);
    else if (n === 2 + SERVERS) add("dataplane lcore", percent);
    else if (name.startsWith("V8 ")) add("V8 platform (GC, JIT)", percent);
    else add("main + runtime", percent);
  }
  return parts;
}

// ---------------------------------------------------------------------------
// Output (the rows' summaries, ratios and table: lab_report.ts)

function print_header(options: LabBenchOptions) {
  console.log(
    `baton lab bench: director + ${SERVERS} agents (one baton process) vs HAProxy ` +
      `(nbthread ${HAPROXY_THREADS}), same lab "${PREFIX}", ${SERVERS} nginx servers, ` +
      `${navigator.hardwareConcurrency} CPUs here`,
  );
  console.log(
    `load: wrk -t${WRK_THREADS} -c${options.connections} -d${options.seconds}s ` +
      `-H "Connection: close" over ${DISTINCT_PATHS} URLs (every request a new TCP connection; ` +
      `for baton a hand-off), after ${options.warmup_seconds} s warm-up; ` +
      `${options.runs} round(s), baton then HAProxy each round`,
  );
  console.log(
    "path: baton's responses bypass the director (DSR: server → agent → client); " +
      "with HAProxy every byte crosses it (client ↔ HAProxy ↔ server)",
  );
  console.log(
    "CPU: utime+stime of the routing process over the wrk interval, % of one core. baton's " +
      "figure covers the director AND the 3 agents (one process: one dataplane lcore plus " +
      "control threads), so it includes forwarding every response; HAProxy: 1 thread, " +
      "compared against baton's one dataplane core. wrk and nginx share the same CPUs.\n",
  );
}

async function write_json(
  options: LabBenchOptions,
  rows: RunRow[],
  summaries: SystemSummary[],
  ratios: Ratios,
) {
  const report = {
    finished_at: new Date().toISOString(),
    settings: {
      prefix: PREFIX,
      servers: SERVERS,
      runs: options.runs,
      wrk: {
        threads: WRK_THREADS,
        connections: options.connections,
        seconds: options.seconds,
        warmup_seconds: options.warmup_seconds,
        headers: ["Connection: close"],
        distinct_paths: DISTINCT_PATHS,
      },
      haproxy_threads: HAPROXY_THREADS,
      cpus: navigator.hardwareConcurrency,
    },
    systems: summaries,
    ratios_baton_over_haproxy: ratios,
    runs: rows,
  };
  await Deno.writeTextFile(options.json!, JSON.stringify(report, null, 2) + "\n");
  console.log(`lab bench: wrote ${options.json}`);
}

function tail(text: string, lines: number): string {
  return text.split("\n").slice(-lines).join("\n");
}

// ---------------------------------------------------------------------------
// Options

function parse_options(argv: string[]): LabBenchOptions {
  const { values } = parseArgs({
    // `deno task bench -- --lab ...` hands the "--" through; it ends no options here.
    args: argv.filter((arg) => arg !== "--"),
    options: {
      runs: { type: "string" },
      seconds: { type: "string" },
      connections: { type: "string" },
      quick: { type: "boolean", default: false },
      json: { type: "string" },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.help) {
    console.log(USAGE);
    Deno.exit(0);
  }
  return {
    runs: positive("--runs", values.runs, values.quick ? 1 : 3),
    seconds: positive("--seconds", values.seconds, values.quick ? 4 : 10),
    warmup_seconds: values.quick ? 1 : 2,
    connections: positive("--connections", values.connections, 50),
    json: values.json ?? null,
  };
}

function positive(name: string, text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!Number.isInteger(value) || value < 1) {
    console.error(`lab bench: ${name} wants a positive integer, got ${text}\n${USAGE}`);
    Deno.exit(2);
  }
  return value;
}

if (import.meta.main) {
  Deno.exit(await lab_bench_main(Deno.args));
}
