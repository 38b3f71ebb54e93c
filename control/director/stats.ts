// The director's numbers: the control Worker's own counters and the
// servers' health (its report), and the whole picture the metrics and the
// demo show (director_stats), which joins that report with the hand-off
// counters and the latency histogram the dataplane keeps among its
// counters. A snapshot is a copy: nothing in it aliases live state.

import type { DirectorControl } from "./context.ts";
import type { DirectorControlReport, DirectorControlStats, LatencyHistogram } from "./protocol.ts";
import {
  DECODE_FAILURES,
  LATENCY_BOUNDS_MS,
  LATENCY_BUCKET_NAMES,
  latency_quantile,
  read_server_stats,
} from "../../dataplane/wire/mod.ts";
import { handoff_failures } from "./servers.ts";

/** The control Worker's counters of one run, all zero. */
export function new_control_counters(): Record<string, number> & { internal_errors: number } {
  return {
    health_checks: 0,
    health_failures: 0,
    /** Times a server left the selection for fail_after hand-off failures in a row. */
    taken_out_by_handoffs: 0,
    /** Selection snapshots written for the poll loops. */
    publishes: 0,
    /** Config reloads applied (SIGHUP). */
    reloads: 0,
    internal_errors: 0,
  };
}

export function director_control_report(ctl: DirectorControl): DirectorControlReport {
  return {
    counters: { ...ctl.counters },
    servers: ctl.servers.map((s, i) => {
      const stats = read_server_stats(ctl.server_stats, i);
      return {
        name: s.name,
        removed: s.removed,
        healthy: s.healthy,
        selections: stats.selections,
        handoff_failures: stats.handoff_failures,
        consecutive_failures: Math.max(s.failed_checks, handoff_failures(ctl, i)),
        active_flows: stats.active_flows,
      };
    }),
  };
}

/** The dataplane's hand-off counters that the director's stats show by these names. */
const HANDOFF_COUNTERS = [
  "handoffs_sent",
  "handoff_retransmits",
  "handoffs_acked",
  "handoffs_nacked",
  "handoff_timeouts",
  "fallbacks",
  "cancels_sent",
  "late_acks",
  "answers_unmatched",
  "flow_ends",
  "flow_end_repeats",
  "flow_ends_unmatched",
  "refused_draining",
  "fail_open",
  "unexpected_messages",
  "committed_kept",
  "handoffs_committed",
  "responses_400",
  "responses_503",
  "requests_complete",
] as const;

/** The director as a whole: the control Worker's report and the dataplane's counters. */
export function director_stats(
  report: DirectorControlReport,
  dataplane: Record<string, number>,
): DirectorControlStats {
  const counters: Record<string, number> = { ...report.counters };
  for (const name of HANDOFF_COUNTERS) counters[name] = dataplane[name] ?? 0;
  for (const [name, value] of Object.entries(dataplane)) {
    if (name.startsWith("nack_")) counters[name] = value;
  }
  counters.decode_ok = dataplane.handoff_rx_ok ?? 0;
  counters.decode_unknown_source = dataplane.handoff_rx_unknown_source ?? 0;
  for (const failure of DECODE_FAILURES) {
    counters[`decode_${failure}`] = dataplane[`handoff_rx_${failure}`] ?? 0;
  }
  const buckets = LATENCY_BUCKET_NAMES.map((name) => dataplane[name] ?? 0);
  return {
    counters,
    servers: report.servers,
    latency_p50_ms: latency_quantile(buckets, 0.5),
    latency_p99_ms: latency_quantile(buckets, 0.99),
    latency_histogram: latency_histogram(buckets, dataplane.latency_sum_ms ?? 0),
    pending: dataplane.handoffs_pending ?? 0,
    forwarding: dataplane.flows_forwarding ?? 0,
  };
}

function latency_histogram(buckets: number[], sum_ms: number): LatencyHistogram {
  const counts: number[] = [];
  let cumulative = 0;
  for (const n of buckets) counts.push(cumulative += n);
  return { bounds_ms: [...LATENCY_BOUNDS_MS, Infinity], counts, sum_ms, count: cumulative };
}
