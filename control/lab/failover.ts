// Traffic for failover tests in the ECMP lab: K paced downloads of the
// lab's big file through the router to the VIP (curl --limit-rate, so each
// lasts a few seconds and is live when a director dies), each checked
// against big.bin's sha256 (content.ts), and beside them a stream of new
// short requests whose clients retry (curl --retry), as real clients do.
// An optional action (kill a director, restart it) runs at a given time in
// the middle. Reports what completed; asserts nothing (the test does).

import { in_namespace } from "./shell.ts";
import type { Lab } from "./topology.ts";

export interface FailoverOptions {
  /** Paced downloads of big.bin (K), all started at once. */
  downloads: number;
  /** curl --limit-rate for each download (default "2M": about 5 s for 10 MiB). */
  limit_rate?: string;
  /** New short requests per second, for duration_ms. */
  requests_per_second: number;
  duration_ms: number;
  /** Runs at_ms after the start, while downloads and requests are under way. */
  action?: { at_ms: number; run: () => Promise<void> };
}

export interface FailoverReport {
  downloads_ok: number;
  downloads_failed: number;
  new_ok: number;
  new_failed: number;
  /** One line per failure: which request and what curl said. */
  failures: string[];
  elapsed_ms: number;
}

export async function run_failover_traffic(
  lab: Lab,
  options: FailoverOptions,
): Promise<FailoverReport> {
  const report: FailoverReport = {
    downloads_ok: 0,
    downloads_failed: 0,
    new_ok: 0,
    new_failed: 0,
    failures: [],
    elapsed_ms: 0,
  };
  const started = performance.now();
  const rate = options.limit_rate ?? "2M";
  const downloads = Array.from({ length: options.downloads }, async (_, i) => {
    // a query per download spreads them over the servers (the URL hash keeps the query)
    const url = `http://${lab.vip}${lab.big_file.path}?download=${i}`;
    const result = await in_namespace(lab.client.ns, [
      "sh",
      "-c",
      `curl -sS --max-time 120 --limit-rate ${rate} '${url}' | sha256sum`,
    ]);
    const sha = result.stdout.split(" ")[0];
    if (result.code === 0 && sha === lab.big_file.sha256) report.downloads_ok++;
    else {
      report.downloads_failed++;
      report.failures.push(`download ${i}: sha256 ${sha.slice(0, 12)}…: ${result.stderr.trim()}`);
    }
  });
  const requests: Promise<void>[] = [];
  const gap_ms = 1000 / options.requests_per_second;
  const stream = (async () => {
    for (let n = 0; performance.now() - started < options.duration_ms; n++) {
      requests.push(short_request(lab, n, report));
      const next = started + (n + 1) * gap_ms;
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, next - performance.now())));
    }
  })();
  const action = options.action
    ? (async () => {
      await new Promise((resolve) => setTimeout(resolve, options.action!.at_ms));
      await options.action!.run();
    })()
    : Promise.resolve();
  await Promise.all([...downloads, stream, action]);
  await Promise.all(requests);
  report.elapsed_ms = performance.now() - started;
  return report;
}

/** One new connection's request, with the retries a client makes (a fresh port each time). */
async function short_request(lab: Lab, n: number, report: FailoverReport): Promise<void> {
  const result = await in_namespace(lab.client.ns, [
    "curl",
    "-sS",
    "-o",
    "/dev/null",
    "-w",
    "%{http_code}",
    "--connect-timeout",
    "1",
    "--max-time",
    "4",
    "--retry",
    "5",
    "--retry-delay",
    "1",
    "--retry-all-errors",
    `http://${lab.vip}${lab.small_file.path}?n=${n}`,
  ]);
  if (result.code === 0 && result.stdout.trim() === "200") report.new_ok++;
  else {
    report.new_failed++;
    report.failures.push(`request ${n}: ${result.stdout.trim()} ${result.stderr.trim()}`);
  }
}
