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
