// Port statistics printed the way dpdk-testpmd prints them, so that
// whatever reads testpmd's output (people, the bench) reads baton's too.

import type { PortStats } from "../native/mod.ts";

interface Previous {
  at_ns: number;
  rx_packets: number;
  tx_packets: number;
  rx_bytes: number;
  tx_bytes: number;
}

/** Remembers the last sample per port, to show throughput since the last display. */
export interface StatsDisplay {
  previous: Map<number, Previous>;
}

export function new_stats_display(): StatsDisplay {
  return { previous: new Map() };
}

export interface Throughput {
  rx_pps: number;
  tx_pps: number;
  rx_bps: number;
  tx_bps: number;
}

/** Rates since the previous call for this port (zero the first time). */
export function throughput(display: StatsDisplay, port: number, stats: PortStats): Throughput {
  const now = performance.now() * 1e6;
  const prev = display.previous.get(port);
  display.previous.set(port, { at_ns: now, ...stats });
  if (!prev) return { rx_pps: 0, tx_pps: 0, rx_bps: 0, tx_bps: 0 };
  const seconds = (now - prev.at_ns) / 1e9;
  const rate = (delta: number) => (seconds > 0 ? Math.floor(delta / seconds) : 0);
  return {
    rx_pps: rate(stats.rx_packets - prev.rx_packets),
    tx_pps: rate(stats.tx_packets - prev.tx_packets),
    rx_bps: rate((stats.rx_bytes - prev.rx_bytes) * 8),
    tx_bps: rate((stats.tx_bytes - prev.tx_bytes) * 8),
  };
}

/** testpmd's nic_stats_display block for one port. */
export function format_nic_stats(port: number, stats: PortStats, rate: Throughput): string {
  const col = (label: string, value: number, width = 11) =>
    `${label}${String(value).padEnd(width)}`;
  return [
    `  ######################## NIC statistics for port ${port}  ########################`,
    `  ${col("RX-packets: ", stats.rx_packets)}${col("RX-missed: ", stats.rx_missed)}` +
    `RX-bytes:  ${stats.rx_bytes}`,
    `  RX-errors: ${stats.rx_errors}`,
    `  RX-nombuf:  ${String(stats.rx_nombuf).padEnd(10)}`,
    `  ${col("TX-packets: ", stats.tx_packets)}${col("TX-errors: ", stats.tx_errors)}` +
    `TX-bytes:  ${stats.tx_bytes}`,
    "",
    "  Throughput (since last show)",
    `  Rx-pps: ${String(rate.rx_pps).padStart(12)}          Rx-bps: ${
      String(rate.rx_bps).padStart(12)
    }`,
    `  Tx-pps: ${String(rate.tx_pps).padStart(12)}          Tx-bps: ${
      String(rate.tx_bps).padStart(12)
    }`,
    "  ############################################################################",
  ].join("\n");
}

/** testpmd's end-of-run block for one port. */
export function format_forward_stats(
  port: number,
  totals: { rx_packets: number; rx_dropped: number; tx_packets: number; tx_dropped: number },
): string {
  const rx_total = totals.rx_packets + totals.rx_dropped;
  const tx_total = totals.tx_packets + totals.tx_dropped;
  return [
    `  ---------------------- Forward statistics for port ${port}  ----------------------`,
    `  RX-packets: ${String(totals.rx_packets).padEnd(14)} RX-dropped: ${
      String(totals.rx_dropped).padEnd(14)
    } RX-total: ${rx_total}`,
    `  TX-packets: ${String(totals.tx_packets).padEnd(14)} TX-dropped: ${
      String(totals.tx_dropped).padEnd(14)
    } TX-total: ${tx_total}`,
    "  ----------------------------------------------------------------------------",
  ].join("\n");
}

/** One port's figures as read back from a testpmd-format stats block. */
export interface ParsedPortStats {
  port: number;
  rx_packets: number;
  tx_packets: number;
  rx_bytes: number;
  tx_bytes: number;
  rx_missed: number;
  rx_pps: number;
  tx_pps: number;
  rx_bps: number;
  tx_bps: number;
}

/** The latest stats block of each port in testpmd-format output (baton's or testpmd's). */
export function parse_latest_port_stats(output: string): ParsedPortStats[] {
  const latest = new Map<number, ParsedPortStats>();
  const block = new RegExp(
    String.raw`NIC statistics for port (\d+)\s+#+\s+RX-packets: (\d+)\s+RX-missed: (\d+)\s+` +
      String.raw`RX-bytes:\s+(\d+)[\s\S]*?TX-packets: (\d+)\s+TX-errors: \d+\s+TX-bytes:\s+(\d+)` +
      String.raw`[\s\S]*?Rx-pps:\s+(\d+)\s+Rx-bps:\s+(\d+)\s+Tx-pps:\s+(\d+)\s+Tx-bps:\s+(\d+)`,
    "g",
  );
  for (const m of output.matchAll(block)) {
    const port = Number(m[1]);
    latest.set(port, {
      port,
      rx_packets: Number(m[2]),
      rx_missed: Number(m[3]),
      rx_bytes: Number(m[4]),
      tx_packets: Number(m[5]),
      tx_bytes: Number(m[6]),
      rx_pps: Number(m[7]),
      rx_bps: Number(m[8]),
      tx_pps: Number(m[9]),
      tx_bps: Number(m[10]),
    });
  }
  return [...latest.values()].sort((a, b) => a.port - b.port);
}
