// Real clients in the lab's client namespace: curl for downloads (with the
// sha256 of what arrived) and wrk for many small requests. Used by the lab
// tests and the demo; results are parsed from the tools' own output.

import { in_namespace } from "./shell.ts";
import type { Lab } from "./topology.ts";

export interface Download {
  ok: boolean;
  sha256: string;
  bytes: number;
  seconds: number;
  http_code: number;
  error: string;
}

/** Downloads url from the client namespace; the body is hashed, never stored. */
export async function curl_download(
  lab: Lab,
  url: string,
  options: { timeout_s?: number } = {},
): Promise<Download> {
  const timeout = options.timeout_s ?? 60;
  // The body goes to sha256sum (stdout); curl's -w summary goes to stderr.
  const script = `set -o pipefail; curl -sS --max-time ${timeout} ` +
    `-w '%{stderr}%{http_code} %{size_download} %{time_total}\\n' '${url}' | sha256sum`;
  const result = await in_namespace(lab.client.ns, ["bash", "-c", script]);
  const sha = /^([0-9a-f]{64})/.exec(result.stdout)?.[1] ?? "";
  const summary = /(\d{3}) (\d+) ([\d.]+)\s*$/.exec(result.stderr);
  return {
    ok: result.code === 0 && summary !== null && summary[1] === "200",
    sha256: sha,
    bytes: summary ? Number(summary[2]) : 0,
    seconds: summary ? Number(summary[3]) : 0,
    http_code: summary ? Number(summary[1]) : 0,
    error: result.code === 0 ? "" : result.stderr.trim().slice(0, 500),
  };
}

export interface WrkResult {
  requests: number;
  seconds: number;
  requests_per_s: number;
  socket_errors: number;
  non_2xx: number;
  raw: string;
}

/** Runs wrk from the client namespace and parses its summary. */
export async function run_wrk(
  lab: Lab,
  url: string,
  options: { connections?: number; seconds?: number; threads?: number; headers?: string[] } = {},
): Promise<WrkResult> {
  const { connections = 10, seconds = 5, threads = 1, headers = [] } = options;
  const args = ["wrk", `-t${threads}`, `-c${connections}`, `-d${seconds}s`, "--timeout", "5s"];
  for (const h of headers) args.push("-H", h);
  args.push(url);
  const result = await in_namespace(lab.client.ns, args);
  if (result.code !== 0) throw new Error(`wrk failed (${result.code}): ${result.stderr}`);
  return parse_wrk(result.stdout);
}

export function parse_wrk(raw: string): WrkResult {
  const summary = /(\d+) requests in ([\d.]+)(m?s|m)\b/.exec(raw);
  const errors = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(raw);
  const non_2xx = /Non-2xx or 3xx responses: (\d+)/.exec(raw);
  const rate = /Requests\/sec:\s+([\d.]+)/.exec(raw);
  if (!summary) throw new Error(`wrk: no summary in output:\n${raw}`);
  const unit = summary[3];
  const seconds = Number(summary[2]) * (unit === "ms" ? 0.001 : unit === "m" ? 60 : 1);
  return {
    requests: Number(summary[1]),
    seconds,
    requests_per_s: rate ? Number(rate[1]) : 0,
    socket_errors: errors ? errors.slice(1).reduce((n, v) => n + Number(v), 0) : 0,
    non_2xx: non_2xx ? Number(non_2xx[1]) : 0,
    raw,
  };
}

export interface Fetched {
  url: string;
  code: number;
  /** The server's X-Served-By header ("srvN"). */
  served_by: string;
  body: string;
  /** New connections curl opened for this transfer (0: reused). */
  connects: number;
}

/**
 * Fetches every URL with one curl process from the client namespace: each
 * on a connection of its own (Connection: close), or all on one keep-alive
 * connection. Transfers that fail are reported with code 0.
 */
export async function curl_many(
  lab: Lab,
  urls: string[],
  options: { keep_alive?: boolean; timeout_s?: number } = {},
): Promise<Fetched[]> {
  const marker = "@@baton@@";
  const args = [
    "curl",
    "-sS",
    "--max-time",
    String(options.timeout_s ?? 10),
    "-w",
    `\n${marker} %{http_code} %header{x-served-by} %{num_connects} %{url_effective}\n`,
  ];
  if (!options.keep_alive) args.push("-H", "Connection: close");
  const result = await in_namespace(lab.client.ns, [...args, ...urls]);
  const fetched: Fetched[] = [];
  let body = "";
  for (const line of result.stdout.split("\n")) {
    if (line.startsWith(marker)) {
      const [, code, served_by, connects, url] = line.split(" ");
      fetched.push({ url, code: Number(code), served_by, body, connects: Number(connects) });
      body = "";
    } else if (line !== "") {
      body += line + "\n";
    }
  }
  return fetched;
}

/**
 * TCP connections the client namespace's kernel opened so far (Tcp
 * ActiveOpens in /proc/net/snmp): what a workload opened, counted by the
 * client itself, to reconcile with the hand-offs the director counts.
 */
export async function client_connections_opened(lab: Lab): Promise<number> {
  const result = await in_namespace(lab.client.ns, ["cat", "/proc/net/snmp"]);
  const lines = result.stdout.split("\n").filter((line) => line.startsWith("Tcp:"));
  if (lines.length < 2) throw new Error("no Tcp lines in the client's /proc/net/snmp");
  const names = lines[0].split(/\s+/);
  const values = lines[1].split(/\s+/);
  const at = names.indexOf("ActiveOpens");
  if (at < 0) throw new Error("no ActiveOpens in the client's /proc/net/snmp");
  return Number(values[at]);
}
