// What the lab bench measures and how, the same for baton and HAProxy: wrk
// with a new TCP connection per request over many distinct URLs, the CPU
// time one process spent during exactly that wrk run (/proc/PID/stat), the
// host's busy share in the same interval (2 shared cores: context for the
// figure), a 10 MB download, and the bytes the front port sent meanwhile.

import {
  curl_download,
  in_namespace,
  type Lab,
  parse_wrk,
  type WrkResult,
} from "../control/lab/mod.ts";

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
  /** Per thread name (comm): ticks, to show where the time went. */
  threads: Map<string, number>;
  /** /proc/stat: busy and total jiffies over all CPUs. */
  host_busy: number;
  host_total: number;
  at_ms: number;
}

export interface MeasuredWrk {
  wrk: WrkResult;
  seconds: number;
  cpu_ticks: number;
  /** The process's CPU time over the wrk interval, in % of one core. */
  cpu_percent: number;
  /** Every CPU of the host, busy share over the same interval (%). */
  host_busy_percent: number;
  /** Thread name → % of one core, largest first (threads sharing a name are summed). */
  threads: Record<string, number>;
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

/** Runs wrk and charges the CPU time `pid` used in the meantime. */
export async function measure_wrk(
  lab: Lab,
  pid: number,
  script_path: string,
  settings: WrkSettings,
): Promise<MeasuredWrk> {
  const hz = await clock_ticks();
  const before = await sample_cpu(pid);
  const wrk = await run_wrk_close(lab, script_path, settings);
  const after = await sample_cpu(pid);
  const seconds = (after.at_ms - before.at_ms) / 1000;
  const ticks = after.ticks - before.ticks;
  const threads: [string, number][] = [];
  for (const [name, end] of after.threads) {
    const used = end - (before.threads.get(name) ?? 0);
    if (used > 0) threads.push([name, round2((100 * used) / hz / seconds)]);
  }
  threads.sort((a, b) => b[1] - a[1]);
  const host_total = after.host_total - before.host_total;
  return {
    wrk,
    seconds,
    cpu_ticks: ticks,
    cpu_percent: (100 * ticks) / hz / seconds,
    host_busy_percent: host_total > 0
      ? (100 * (after.host_busy - before.host_busy)) / host_total
      : 0,
    threads: Object.fromEntries(threads),
  };
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
  const at_ms = performance.now();
  const ticks = stat_ticks(await Deno.readTextFile(`/proc/${pid}/stat`));
  const threads = new Map<string, number>();
  for await (const entry of Deno.readDir(`/proc/${pid}/task`)) {
    try {
      const stat = await Deno.readTextFile(`/proc/${pid}/task/${entry.name}/stat`);
      const name = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
      threads.set(name, (threads.get(name) ?? 0) + stat_ticks(stat));
    } catch { /* the thread ended between readDir and read */ }
  }
  const host = (await Deno.readTextFile("/proc/stat")).split("\n")[0].trim().split(/\s+/)
    .slice(1).map(Number);
  // user nice system idle iowait irq softirq steal: idle + iowait are not busy
  const host_total = host.slice(0, 8).reduce((a, b) => a + b, 0);
  const host_busy = host_total - host[3] - host[4];
  return { ticks, threads, host_busy, host_total, at_ms };
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

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
