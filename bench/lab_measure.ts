// What the lab bench measures and how, the same for baton and HAProxy: wrk
// with a new TCP connection per request over many distinct URLs, the CPU
// time the system's processes (one, or baton's per-role pair) spent during
// exactly that wrk run (/proc/PID/stat, summed), the host's busy share in
// the same interval (2 shared cores: context for the figure), light-load
// latency (sequential curls, one new connection each, through the VIP and
// straight to the servers, interleaved), a 10 MB download, and the bytes the
// front port sent meanwhile.

import {
  curl_download,
  in_namespace,
  type Lab,
  parse_wrk,
  type WrkResult,
} from "../control/lab/mod.ts";
import { median } from "./run.ts";

/** URLs cycle over this many paths, so URL hashing spreads them over every server. */
export const DISTINCT_PATHS = 1000;

export interface WrkSettings {
  threads: number;
  connections: number;
  seconds: number;
}

export interface CpuSample {
  /** utime + stime of the whole thread group, clock ticks. */
  ticks: number;
  /** Per thread name (comm; the thread whose id is the pid: "main"): ticks, to show where the time went. */
  threads: Map<string, number>;
}

interface HostSample {
  /** /proc/stat: busy and total jiffies over all CPUs. */
  busy: number;
  total: number;
  at_ms: number;
}

export interface MeasuredCpu {
  pid: number;
  cpu_ticks: number;
  /** This process's CPU time over the wrk interval, in % of one core. */
  cpu_percent: number;
  /** Thread name → % of one core, largest first (threads sharing a name are summed). */
  threads: Record<string, number>;
}

export interface MeasuredWrk {
  wrk: WrkResult;
  seconds: number;
  /** Summed over every process measured. */
  cpu_ticks: number;
  /** All the processes' CPU time over the wrk interval, in % of one core. */
  cpu_percent: number;
  /** Every CPU of the host, busy share over the same interval (%). */
  host_busy_percent: number;
  /** Each process's share, in the order of the pids given. */
  processes: MeasuredCpu[];
}

/** Sequential curls to one target, each a new connection: curl's time_total. */
export interface LightLoad {
  samples: number;
  /** Curls that did not answer 200 (left out of the percentiles). */
  failures: number;
  p50_ms: number | null;
  p90_ms: number | null;
  min_ms: number | null;
  max_ms: number | null;
}

export interface MeasuredDownload {
  ok: boolean;
  bytes: number;
  seconds: number;
  mb_per_s: number;
  sha256_ok: boolean;
  /** Bytes the front port (dir0) transmitted during the download: DSR shows here. */
  front_tx_bytes: number;
  error: string;
}

/**
 * wrk's Lua hook: every request a different path from a fixed cycle. wrk
 * keeps the -H headers (Connection: close) when the path alone is given.
 */
export function wrk_script(): string {
  return `-- baton lab bench: ${DISTINCT_PATHS} distinct URLs, so URL hashing uses every server
local counter = 0
request = function()
  counter = counter + 1
  return wrk.format(nil, "/lab/" .. (counter % ${DISTINCT_PATHS}) .. "/index.html")
end
`;
}

/** wrk from the client namespace, with the given script and Connection: close. */
export async function run_wrk_close(
  lab: Lab,
  script_path: string,
  settings: WrkSettings,
): Promise<WrkResult> {
  const args = [
    "wrk",
    `-t${settings.threads}`,
    `-c${settings.connections}`,
    `-d${settings.seconds}s`,
    "--timeout",
    "5s",
    "-H",
    "Connection: close",
    "-s",
    script_path,
    `http://${lab.vip}/`,
  ];
  const result = await in_namespace(lab.client.ns, args);
  if (result.code !== 0) throw new Error(`wrk failed (${result.code}): ${result.stderr}`);
  return parse_wrk(result.stdout);
}

/** Runs wrk and charges the CPU time each of `pids` used in the meantime. */
export async function measure_wrk(
  lab: Lab,
  pids: number[],
  script_path: string,
  settings: WrkSettings,
): Promise<MeasuredWrk> {
  const hz = await clock_ticks();
  const host_before = await sample_host();
  const before = await Promise.all(pids.map(sample_cpu));
  const wrk = await run_wrk_close(lab, script_path, settings);
  const after = await Promise.all(pids.map(sample_cpu));
  const host_after = await sample_host();
  const seconds = (host_after.at_ms - host_before.at_ms) / 1000;
  const percent = (ticks: number) => (100 * ticks) / hz / seconds;
  const processes = pids.map((pid, i): MeasuredCpu => {
    const threads: [string, number][] = [];
    for (const [name, end] of after[i].threads) {
      const used = end - (before[i].threads.get(name) ?? 0);
      if (used > 0) threads.push([name, round2(percent(used))]);
    }
    threads.sort((a, b) => b[1] - a[1]);
    const cpu_ticks = after[i].ticks - before[i].ticks;
    return {
      pid,
      cpu_ticks,
      cpu_percent: percent(cpu_ticks),
      threads: Object.fromEntries(threads),
    };
  });
  const cpu_ticks = processes.reduce((sum, p) => sum + p.cpu_ticks, 0);
  const host_total = host_after.total - host_before.total;
  return {
    wrk,
    seconds,
    cpu_ticks,
    cpu_percent: percent(cpu_ticks),
    host_busy_percent: host_total > 0
      ? (100 * (host_after.busy - host_before.busy)) / host_total
      : 0,
    processes,
  };
}

/** Curls at each target first (ARP, server caches) that no percentile counts. */
const LIGHT_LOAD_WARMUP = 3;

/**
 * `count` sequential curls from the client namespace to each target, each a
 * new connection ("Connection: close"), interleaved one by one (target A's
 * i-th, then B's i-th) so drift hits every target alike; nothing else runs
 * meanwhile, and each curl is its own process, so a few milliseconds pass
 * between connections (a poll loop that backs off when idle has time to).
 * `url(i)` gives the i-th URL of a target.
 */
export async function measure_light_load(
  lab: Lab,
  targets: Record<string, (i: number) => string>,
  count: number,
): Promise<Record<string, LightLoad>> {
  const names = Object.keys(targets);
  const times = new Map(names.map((name) => [name, [] as number[]]));
  const failures = new Map(names.map((name) => [name, 0]));
  for (let i = -LIGHT_LOAD_WARMUP; i < count; i++) {
    for (const name of names) {
      // warm-up curls take URLs past the measured ones
      const ms = await curl_time_ms(lab, targets[name](i < 0 ? count - i : i));
      if (i < 0) continue;
      if (ms === null) failures.set(name, failures.get(name)! + 1);
      else times.get(name)!.push(ms);
    }
  }
  return Object.fromEntries(names.map((name) => {
    const sorted = times.get(name)!.sort((a, b) => a - b);
    const at = (q: number) =>
      sorted.length ? round3(sorted[Math.ceil(q * sorted.length) - 1]) : null;
    return [name, {
      samples: sorted.length,
      failures: failures.get(name)!,
      p50_ms: sorted.length ? round3(median(sorted)) : null,
      p90_ms: at(0.9),
      min_ms: sorted.length ? round3(sorted[0]) : null,
      max_ms: sorted.length ? round3(sorted[sorted.length - 1]) : null,
    }];
  }));
}

/** One curl, a new connection: its time_total in ms, or null unless it answered 200. */
async function curl_time_ms(lab: Lab, url: string): Promise<number | null> {
  const result = await in_namespace(lab.client.ns, [
    "curl",
    "-s",
    "-o",
    "/dev/null",
    "--max-time",
    "2",
    "-H",
    "Connection: close",
    "-w",
    "%{http_code} %{time_total}",
    url,
  ]);
  const answer = /^(\d{3}) ([\d.]+)$/.exec(result.stdout.trim());
  if (result.code !== 0 || !answer || answer[1] !== "200") return null;
  return Number(answer[2]) * 1000;
}

/** One 10 MB download through the VIP, checked against the lab's sha256. */
export async function measure_download(lab: Lab): Promise<MeasuredDownload> {
  const before = await interface_tx_bytes(lab.namespaces.dp, lab.director_if);
  const download = await curl_download(lab, `http://${lab.vip}${lab.big_file.path}`);
  const after = await interface_tx_bytes(lab.namespaces.dp, lab.director_if);
  const sha256_ok = download.sha256 === lab.big_file.sha256;
  return {
    ok: download.ok && sha256_ok && download.bytes === lab.big_file.size,
    bytes: download.bytes,
    seconds: download.seconds,
    mb_per_s: download.seconds > 0 ? download.bytes / download.seconds / 1e6 : 0,
    sha256_ok,
    front_tx_bytes: after - before,
    error: download.error,
  };
}

/**
 * Polls the VIP until it answers 200: baton's director needs its first health
 * checks, HAProxy its bind. Throws after timeout_ms.
 */
export async function wait_for_vip(lab: Lab, timeout_ms: number): Promise<void> {
  const deadline = Date.now() + timeout_ms;
  let last = "";
  while (Date.now() < deadline) {
    const result = await in_namespace(lab.client.ns, [
      "curl",
      "-s",
      "-o",
      "/dev/null",
      "-w",
      "%{http_code}",
      "--max-time",
      "2",
      "-H",
      "Connection: close",
      `http://${lab.vip}/ready`,
    ]);
    last = `${result.stdout.trim()} ${result.stderr.trim()}`.trim();
    if (result.stdout.trim() === "200") return;
    await sleep(200);
  }
  throw new Error(`the VIP ${lab.vip} did not answer 200 within ${timeout_ms} ms (last: ${last})`);
}

/** Kernel counter of an interface (af_packet transmissions count too: they use the device queue). */
export async function interface_tx_bytes(ns: string, iface: string): Promise<number> {
  const result = await in_namespace(ns, ["ip", "-j", "-s", "link", "show", "dev", iface], {
    check: true,
  });
  const [link] = JSON.parse(result.stdout) as { stats64?: { tx?: { bytes?: number } } }[];
  return link?.stats64?.tx?.bytes ?? 0;
}

/** The client's neighbour entry for the VIP: which MAC its frames went to. */
export async function vip_neighbour_mac(lab: Lab): Promise<string | null> {
  const result = await in_namespace(lab.client.ns, [
    "ip",
    "-j",
    "neigh",
    "show",
    "to",
    lab.vip,
    "dev",
    lab.client.if,
  ]);
  if (result.code !== 0 || result.stdout.trim() === "") return null;
  const [entry] = JSON.parse(result.stdout) as { lladdr?: string }[];
  return entry?.lladdr ?? null;
}

/** What /proc says a pid is: its comm and command line (to show the figure is the right process). */
export async function describe_pid(pid: number): Promise<{ comm: string; cmdline: string }> {
  const comm = (await Deno.readTextFile(`/proc/${pid}/comm`)).trim();
  const cmdline = (await Deno.readTextFile(`/proc/${pid}/cmdline`)).replaceAll("\0", " ").trim();
  return { comm, cmdline };
}

async function sample_cpu(pid: number): Promise<CpuSample> {
  const ticks = stat_ticks(await Deno.readTextFile(`/proc/${pid}/stat`));
  const threads = new Map<string, number>();
  for await (const entry of Deno.readDir(`/proc/${pid}/task`)) {
    try {
      const stat = await Deno.readTextFile(`/proc/${pid}/task/${entry.name}/stat`);
      // the main thread shares its comm with the process (and with threads it spawned unnamed)
      const name = entry.name === String(pid)
        ? "main"
        : stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
      threads.set(name, (threads.get(name) ?? 0) + stat_ticks(stat));
    } catch { /* the thread ended between readDir and read */ }
  }
  return { ticks, threads };
}

async function sample_host(): Promise<HostSample> {
  const at_ms = performance.now();
  const host = (await Deno.readTextFile("/proc/stat")).split("\n")[0].trim().split(/\s+/)
    .slice(1).map(Number);
  // user nice system idle iowait irq softirq steal: idle + iowait are not busy
  const total = host.slice(0, 8).reduce((a, b) => a + b, 0);
  return { busy: total - host[3] - host[4], total, at_ms };
}

/** utime + stime (fields 14 and 15) of a /proc stat line; comm may hold spaces and ')'. */
function stat_ticks(stat: string): number {
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return Number(fields[11]) + Number(fields[12]);
}

let clock_ticks_cache = 0;

async function clock_ticks(): Promise<number> {
  if (clock_ticks_cache) return clock_ticks_cache;
  clock_ticks_cache = 100; // Linux's USER_HZ wherever getconf is missing
  try {
    const { stdout, success } = await new Deno.Command("getconf", { args: ["CLK_TCK"] }).output();
    const value = Number(new TextDecoder().decode(stdout).trim());
    if (success && value > 0) clock_ticks_cache = value;
  } catch { /* keep 100 */ }
  return clock_ticks_cache;
}

function round2(value: number): number {
  return Math.round(value * 100) / 100;
}

function round3(value: number): number {
  return Math.round(value * 1000) / 1000;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
