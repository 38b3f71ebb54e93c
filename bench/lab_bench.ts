// `deno task bench -- --lab` (or `deno run -A bench/lab_bench.ts`): baton
// beside HAProxy doing the same URL-hash routing, in one lab and one run.
// Reads top to bottom: options → lab up → per round every baton setup (each
// process form × idle mode) then HAProxy (interleaved, so drift on a shared
// host hits all alike) → medians and ratios → table (lab_report.ts) → JSON →
// tear-down, also when anything fails.
//
// Each setup gets the same load: light-load latency first (sequential curls,
// each a new connection, through the VIP and straight to the servers), then
// wrk with "Connection: close" (every request a new TCP connection, for baton
// every request a hand-off) over many URLs, the CPU time of every process
// doing the routing over exactly that wrk interval, and one 10 MB download
// through the VIP.

import { parseArgs } from "node:util";
import {
  type DpdkProcess,
  type Lab,
  lab_down,
  LAB_FORMS,
  lab_up,
  type LabForm,
  type LabProcess,
  start_lab_processes,
  write_lab_form,
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
  measure_light_load,
  measure_wrk,
  run_wrk_close,
  sleep,
  vip_neighbour_mac,
  wait_for_vip,
  wrk_script,
  type WrkSettings,
} from "./lab_measure.ts";
import {
  baton_setup,
  empty_row,
  format_table,
  format_targets,
  HAPROXY_SETUP,
  type IdleMode,
  median_parts,
  progress_line,
  type Ratios,
  round_ratios,
  type RunRow,
  type Setup,
  type SetupSummary,
  summarise,
} from "./lab_report.ts";

const USAGE = `usage: deno task bench -- --lab [--forms F] [--idle M] [--runs R] [--seconds S]
         [--connections C] [--light N] [--quick] [--json FILE]
       deno run -A bench/lab_bench.ts [same options]
  --forms F         baton's process forms, comma-separated (default one,per-role):
                      one       one process: director and the 3 agents (--role=director,agent)
                      per-role  a director process (dir0) and an agent process (the 6 agent ports)
  --idle M          baton's --idle modes, comma-separated (default busy,adaptive)
  --runs R          rounds; each round runs every form × idle, then HAProxy (default 3)
  --seconds S       measured wrk seconds per setup and round (default 10)
  --connections C   wrk connections (default 50)
  --light N         sequential curls for light-load latency, per target (default 100)
  --quick           smoke test: 1 round of 4 s
  --json FILE       also write the results as JSON`;

const PREFIX = "btb-";
const SERVERS = 3;
const WRK_THREADS = 2;
/** baton's first health checks take a round of its 1 s interval; start-up of Deno before that. */
const READY_TIMEOUT_MS = 20_000;
/** After the warm-up, before the light-load curls: the host settles, an adaptive poller backs off. */
const SETTLE_MS = 500;
const EAL_NAME = "labbench";
const IDLE_MODES: readonly IdleMode[] = ["busy", "adaptive"];
const HAPROXY_PROCESS = { comm: /^haproxy$/, cmdline: /^haproxy -db / };

/** What the straight curls cross, for the header and the JSON. */
const STRAIGHT_PATH = "client eth0 → br0 → agent's fabric port (baton, the same run) → " +
  "agent pass-through → server eth0; the reply back the same way";

interface LabBenchOptions {
  forms: LabForm[];
  idles: IdleMode[];
  runs: number;
  seconds: number;
  warmup_seconds: number;
  connections: number;
  light: number;
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
    const setups = [
      ...options.forms.flatMap((form) => options.idles.map((idle) => baton_setup(form, idle))),
      HAPROXY_SETUP,
    ];
    print_header(options, setups);
    await lab_down({ prefix: PREFIX });
    lab = await lab_up(SERVERS, { prefix: PREFIX });
    // Never two owners of the VIP: a leftover address from a killed run goes first.
    await remove_vip(lab);
    const forms = new Map<LabForm, LabProcess[]>();
    for (const form of options.forms) {
      await Deno.mkdir(`${dir}/${form}`);
      forms.set(form, await write_lab_form(lab, `${dir}/${form}`, form));
    }
    const paths = { haproxy: `${dir}/haproxy.cfg`, wrk: `${dir}/urls.lua` };
    await Deno.writeTextFile(paths.haproxy, haproxy_config(lab));
    await Deno.writeTextFile(paths.wrk, wrk_script());
    const wrk: WrkSettings = {
      threads: WRK_THREADS,
      connections: options.connections,
      seconds: options.seconds,
    };
    const load: Load = {
      script: paths.wrk,
      wrk,
      warmup: { ...wrk, seconds: options.warmup_seconds },
      light: options.light,
    };

    const rows: RunRow[] = [];
    for (let round = 0; round < options.runs && !interrupted; round++) {
      for (const setup of setups) {
        if (interrupted) break;
        const row = empty_row(setup, round);
        const set_stop = (stop: (() => Promise<unknown>) | null) => (stop_current = stop);
        try {
          if (setup.system === "baton") {
            await run_baton(lab, forms.get(setup.form!)!, setup.idle!, load, row, set_stop);
          } else {
            await run_haproxy(lab, paths.haproxy, load, row, set_stop);
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

    const summaries = setups.map((setup) =>
      summarise(setup, rows.filter((r) => r.setup === setup.id), rows)
    );
    const ratios = round_ratios(rows);
    console.log("\n" + format_table(summaries, ratios));
    console.log(format_targets(summaries, ratios));
    for (const setup of setups.filter((s) => s.system === "baton")) {
      const parts = median_parts(rows.filter((r) => r.setup === setup.id));
      if (parts) {
        console.log(`${setup.id} CPU by process: thread (median, % of one core): ${parts}`);
      }
    }
    if (options.json) await write_json(options, setups, rows, summaries, ratios);
    for (const s of summaries) {
      if (!s.ok) console.log(`lab bench: ${s.setup}: ${s.problems.join("; ")}`);
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

/** What every setup is given: the wrk script and settings, and the light-load curls per target. */
interface Load {
  script: string;
  wrk: WrkSettings;
  warmup: WrkSettings;
  light: number;
}

/** A process the measurement reads: its pid and what /proc must say it is. */
interface Measured {
  name: string;
  roles: string[];
  pid: number;
  expected: { comm: RegExp; cmdline: RegExp };
}

async function run_baton(
  lab: Lab,
  processes: LabProcess[],
  idle: IdleMode,
  load: Load,
  row: RunRow,
  set_stop: (stop: (() => Promise<unknown>) | null) => void,
): Promise<void> {
  let started: { process: LabProcess; baton: DpdkProcess }[] = [];
  const stop_all = () => Promise.all(started.map(({ baton }) => baton.stop()));
  try {
    started = await start_lab_processes(lab, processes, {
      name: EAL_NAME,
      app: [`--idle=${idle}`, "--stats-period=1"],
    });
    set_stop(stop_all);
    // spawn_dpdk runs `ip netns exec <dp> deno ...`, which execs: the child pid is deno's.
    const measured = started.map(({ process, baton }): Measured => ({
      name: process.name,
      roles: process.roles,
      pid: baton.child.pid,
      expected: {
        comm: /^deno$/,
        cmdline: new RegExp(
          "control/main\\.ts .*" + escape_regex(
            ` -- --role=${process.roles.join(",")} --config=${process.config} --idle=${idle}`,
          ),
        ),
      },
    }));
    await measure_setup(lab, measured, load, row);
  } finally {
    row.exit_codes = await stop_all();
    for (const [i, { process, baton }] of started.entries()) {
      row.summary.push(
        ...baton.output().split("\n").filter((line) =>
          /^director (servers|counters|control counters)|^agent \d+ counters/.test(line)
        ).map((line) => `${process.name}: ${line}`),
      );
      if (row.exit_codes[i] !== 0 && !row.error) {
        row.error = `baton (${process.name}) exited with ${row.exit_codes[i]}: ` +
          tail(baton.output(), 10);
      }
    }
  }
}

async function run_haproxy(
  lab: Lab,
  config: string,
  load: Load,
  row: RunRow,
  set_stop: (stop: (() => Promise<unknown>) | null) => void,
): Promise<void> {
  let haproxy: HaproxyProcess | null = null;
  try {
    await add_vip(lab);
    haproxy = await start_haproxy(lab, config);
    const process = haproxy;
    set_stop(() => process.stop());
    await measure_setup(
      lab,
      [{ name: "haproxy", roles: [], pid: haproxy.pid, expected: HAPROXY_PROCESS }],
      load,
      row,
    );
  } finally {
    if (haproxy) {
      const code = await haproxy.stop();
      row.exit_codes = [code];
      const out = haproxy.output().trim();
      row.summary = out ? tail(out, 5).split("\n") : [];
      // SIGTERM is how it is stopped: 143 (or 0) is a clean stop.
      if (code !== 0 && code !== 143 && !row.error) {
        row.error = `haproxy exited with ${code}: ${tail(out, 10)}`;
      }
    }
    await remove_vip(lab);
  }
}

/** The measurement every setup shares, once its processes answer at the VIP. */
async function measure_setup(
  lab: Lab,
  processes: Measured[],
  load: Load,
  row: RunRow,
): Promise<void> {
  await forget_vip_neighbour(lab);
  await wait_for_vip(lab, READY_TIMEOUT_MS);
  // Only once it answers: until `ip netns exec` has exec'd, the pid still reads as "ip".
  for (const p of processes) {
    const who = await describe_pid(p.pid);
    row.processes.push({
      name: p.name,
      roles: p.roles,
      pid: p.pid,
      comm: who.comm,
      cmdline: who.cmdline,
      cpu_percent: null,
      threads: {},
    });
    if (!p.expected.comm.test(who.comm) || !p.expected.cmdline.test(who.cmdline)) {
      throw new Error(
        `pid ${p.pid} is '${who.comm}: ${who.cmdline}', not ${row.setup} (${p.name})`,
      );
    }
  }
  // Warm-up: baton's JIT and every system's caches, connections, ARP entries.
  await run_wrk_close(lab, load.script, load.warmup);
  await sleep(SETTLE_MS);

  // Light load: one connection at a time. Straight only while baton runs: its
  // agents are the only path from the client to the servers' own addresses.
  const vip = (i: number) => `http://${lab.vip}/lab/${i % DISTINCT_PATHS}/index.html`;
  const straight = (i: number) =>
    `http://${lab.servers[i % lab.servers.length].ip}/lab/${i % DISTINCT_PATHS}/index.html`;
  const light = await measure_light_load(
    lab,
    row.system === "baton" ? { vip, straight } : { vip },
    load.light,
  );
  row.light = light.vip;
  row.straight = light.straight ?? null;

  const measured = await measure_wrk(lab, processes.map((p) => p.pid), load.script, load.wrk);
  // Only answered-2xx connections count: a 503 from an overloaded director is no hand-off.
  const good = measured.wrk.requests - measured.wrk.non_2xx;
  row.conn_per_s = measured.wrk.seconds > 0 ? good / measured.wrk.seconds : 0;
  row.wrk_requests_per_s = measured.wrk.requests_per_s;
  row.requests = measured.wrk.requests;
  row.wrk_seconds = measured.wrk.seconds;
  row.socket_errors = measured.wrk.socket_errors;
  row.non_2xx = measured.wrk.non_2xx;
  row.cpu_percent = measured.cpu_percent;
  row.cpu_s_per_1000 = row.conn_per_s > 0
    ? (measured.cpu_percent / 100) / row.conn_per_s * 1000
    : null;
  row.conn_per_cpu_s = measured.cpu_percent > 0
    ? row.conn_per_s / (measured.cpu_percent / 100)
    : null;
  row.host_busy_percent = measured.host_busy_percent;
  measured.processes.forEach((m, i) => {
    row.processes[i].cpu_percent = m.cpu_percent;
    row.processes[i].threads = m.threads;
  });
  row.cpu_by_part = cpu_by_part(row.processes);
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
 * Names each process's threads by what runs on them, keyed "process: part".
 * Deno names Worker threads worker-N in creation order, and roles.ts creates
 * the director's control Worker (only where the process is a director), then
 * the dataplane Worker(s), one per forwarding lcore; agents have no control
 * Worker. The main thread is "main" (lab_measure.ts, by thread id); V8's
 * platform threads are "V8 ..."; everything else (tokio, EAL's interrupt,
 * multi-process and telemetry threads) is the runtime. HAProxy's threads
 * keep their own names.
 */
export function cpu_by_part(
  processes: { name: string; roles: string[]; threads: Record<string, number> }[],
): Record<string, number> {
  const parts: Record<string, number> = {};
  const add = (part: string, value: number) => {
    parts[part] = Math.round(((parts[part] ?? 0) + value) * 100) / 100;
  };
  for (const process of processes) {
    if (!process.roles.length) {
      for (const [name, percent] of Object.entries(process.threads)) {
        add(`${process.name}: ${name}`, percent);
      }
      continue;
    }
    const control_workers = process.roles.includes("director") ? 1 : 0;
    for (const [name, percent] of Object.entries(process.threads)) {
      const worker = /^worker-(\d+)$/.exec(name);
      let part = "runtime + EAL threads";
      if (worker) {
        part = Number(worker[1]) <= control_workers
          ? "director control Worker"
          : "dataplane Worker";
      } else if (name === "main") part = "main";
      else if (name.startsWith("V8 ")) part = "V8 platform (GC, JIT)";
      add(`${process.name}: ${part}`, percent);
    }
  }
  return parts;
}

// ---------------------------------------------------------------------------
// Output (the rows' summaries, ratios and table: lab_report.ts)

/** What each form runs, for the header and the JSON. */
const FORM_TEXT: Record<LabForm, string> = {
  one: `one process: director + ${SERVERS} agents (--role=director,agent, 7 ports), ` +
    "main lcore 0, dataplane Worker on lcore 1",
  "per-role": "a director process (--role=director, dir0; main lcore 0, polls on 1) and an " +
    `agent process (--role=agent, the ${2 * SERVERS} agent ports; main lcore 1, polls on 0)`,
};

function print_header(options: LabBenchOptions, setups: Setup[]) {
  console.log(
    `baton lab bench: baton vs HAProxy (nbthread ${HAPROXY_THREADS}), same lab "${PREFIX}", ` +
      `${SERVERS} nginx servers, ${navigator.hardwareConcurrency} CPUs here`,
  );
  for (const form of options.forms) console.log(`baton form ${form}: ${FORM_TEXT[form]}`);
  console.log(`baton --idle: ${options.idles.join(", ")}`);
  console.log(
    `load: wrk -t${WRK_THREADS} -c${options.connections} -d${options.seconds}s ` +
      `-H "Connection: close" over ${DISTINCT_PATHS} URLs (every request a new TCP connection; ` +
      `for baton a hand-off), after ${options.warmup_seconds} s warm-up; ` +
      `${options.runs} round(s), each round ${setups.map((s) => s.id).join(" → ")}`,
  );
  console.log(
    `light load: ${options.light} sequential curls per target after the warm-up, each a new ` +
      `connection (-H "Connection: close", time_total), through the VIP and interleaved with ` +
      `them straight to the servers' own addresses (${STRAIGHT_PATH})`,
  );
  console.log(
    "path: baton's responses bypass the director (DSR: server → agent → client); " +
      "with HAProxy every byte crosses it (client ↔ HAProxy ↔ server)",
  );
  console.log(
    "CPU: utime+stime over the wrk interval of every process of the setup together (baton " +
      "per-role: both), % of one core; it covers the director AND the agents, so it includes " +
      "forwarding every response; HAProxy: 1 process, 1 thread. wrk and nginx share the same " +
      "CPUs.\n",
  );
}

async function write_json(
  options: LabBenchOptions,
  setups: Setup[],
  rows: RunRow[],
  summaries: SetupSummary[],
  ratios: Ratios[],
) {
  const report = {
    finished_at: new Date().toISOString(),
    settings: {
      prefix: PREFIX,
      servers: SERVERS,
      runs: options.runs,
      setups,
      forms: Object.fromEntries(options.forms.map((f) => [f, FORM_TEXT[f]])),
      idle_modes: options.idles,
      wrk: {
        threads: WRK_THREADS,
        connections: options.connections,
        seconds: options.seconds,
        warmup_seconds: options.warmup_seconds,
        headers: ["Connection: close"],
        distinct_paths: DISTINCT_PATHS,
      },
      light_load: {
        curls_per_target: options.light,
        headers: ["Connection: close"],
        metric: "curl time_total",
        straight_path: STRAIGHT_PATH,
      },
      haproxy_threads: HAPROXY_THREADS,
      cpus: navigator.hardwareConcurrency,
    },
    setups: summaries,
    ratios_baton_over_haproxy: ratios,
    runs: rows,
  };
  await Deno.writeTextFile(options.json!, JSON.stringify(report, null, 2) + "\n");
  console.log(`lab bench: wrote ${options.json}`);
}

function escape_regex(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
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
      forms: { type: "string" },
      idle: { type: "string" },
      runs: { type: "string" },
      seconds: { type: "string" },
      connections: { type: "string" },
      light: { type: "string" },
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
    forms: list("--forms", values.forms, LAB_FORMS),
    idles: list("--idle", values.idle, IDLE_MODES),
    runs: positive("--runs", values.runs, values.quick ? 1 : 3),
    seconds: positive("--seconds", values.seconds, values.quick ? 4 : 10),
    warmup_seconds: values.quick ? 1 : 2,
    connections: positive("--connections", values.connections, 50),
    light: positive("--light", values.light, 100),
    json: values.json ?? null,
  };
}

/** A comma-separated choice from `allowed` (all of them when not given), in the order given. */
function list<T extends string>(
  name: string,
  text: string | undefined,
  allowed: readonly T[],
): T[] {
  if (text === undefined) return [...allowed];
  const chosen = [...new Set(text.split(",").map((item) => item.trim()))];
  const wrong = chosen.filter((item) => !(allowed as readonly string[]).includes(item));
  if (chosen.length === 0 || wrong.length > 0 || chosen.includes("")) {
    console.error(
      `lab bench: ${name} takes one or more of ${allowed.join(",")}, got '${text}'\n${USAGE}`,
    );
    Deno.exit(2);
  }
  return chosen as T[];
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
