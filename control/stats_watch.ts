// `deno task stats -- HOST:PORT`: baton's Prometheus metrics as a live table,
// refreshed every second, with per-second rates for the counters. Run it
// where the metrics address is reachable (in the lab: inside the dp
// namespace, e.g. `ip netns exec bt-dp deno task stats -- 198.19.0.1:9100`).

import { parse_prometheus } from "./metrics.ts";

const INTERVAL_MS = 1000;

async function main(args: string[]): Promise<number> {
  const address = args.find((a) => !a.startsWith("-"));
  const once = args.includes("--once");
  if (!address || !/^[\w.-]+:\d+$/.test(address)) {
    console.error("usage: deno task stats -- HOST:PORT [--once]   (baton's metrics address)");
    return 2;
  }
  const url = `http://${address}/metrics`;
  let previous: Map<string, number> | undefined;
  let previous_at = 0;
  for (;;) {
    let text: string;
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(2000) });
      text = await response.text();
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
    } catch (err) {
      console.error(`baton stats: cannot read ${url}: ${(err as Error).message}`);
      if (once) return 1;
      await new Promise((resolve) => setTimeout(resolve, INTERVAL_MS));
      continue;
    }
    const now = performance.now();
    const values = parse_prometheus(text);
    const rows = [...values].map(([series, value]) => {
      const rate = previous?.has(series) && series.includes("_total")
        ? ((value - previous.get(series)!) * 1000) / (now - previous_at)
        : undefined;
      return `${series.padEnd(90)} ${String(value).padStart(14)}${
        rate === undefined ? "" : `  ${rate.toFixed(1).padStart(12)}/s`
      }`;
    });
    if (Deno.stdout.isTerminal()) console.log("\x1b[2J\x1b[H" + `baton metrics from ${url}\n`);
    console.log(rows.join("\n"));
    if (once) return 0;
    previous = values;
    previous_at = now;
    await new Promise((resolve) => setTimeout(resolve, INTERVAL_MS));
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
