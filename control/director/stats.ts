// The director control Worker's numbers: its counters (fixed names first,
// nack_<reason> added as NACKs arrive, decode_<failure> from the datagram
// decoder), the hand-off latency samples, and the stats() snapshot the main
// thread asks for. A snapshot is a copy: nothing in it aliases live state.

import type { DirectorControl } from "./context.ts";
import type { DirectorControlStats, LatencyHistogram } from "./protocol.ts";

/** Hand-off latencies kept for the percentiles. */
export const LATENCY_SAMPLES = 4096;

/** Histogram bucket bounds (ms): from a fast in-band hand-off to a retransmitted one. */
export const LATENCY_BOUNDS_MS = [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500];

/** Per-bucket (not cumulative) counts, one more than the bounds for +Inf. */
export function new_latency_buckets(): Float64Array {
  return new Float64Array(LATENCY_BOUNDS_MS.length + 1);
}

/** The counters of one run, all zero, in the order the metrics show them. */
export function new_control_counters(): Record<string, number> & { internal_errors: number } {
  return {
    requests: 0,
    handoffs_sent: 0,
    handoff_retransmits: 0,
    handoffs_acked: 0,
    handoffs_nacked: 0,
    handoff_timeouts: 0,
    fallbacks: 0,
    responses_400: 0,
    responses_503: 0,
    bad_records: 0,
    flow_ends: 0,
    /** A FLOW_END of a hand-off whose flow is gone here already: acknowledged, no teardown. */
    flow_end_repeats: 0,
    /** A FLOW_END naming another hand-off than the flow's (or another epoch, or agent): ignored. */
    flow_ends_unmatched: 0,
    /** An ACK/NACK naming no hand-off this director sent to that agent for that flow: ignored. */
    answers_unmatched: 0,
    flows_gone: 0,
    refused_draining: 0,
    unexpected_messages: 0,
    send_errors: 0,
    verdict_ring_full: 0,
    health_checks: 0,
    health_failures: 0,
    fail_open: 0,
    cancels_sent: 0,
    late_acks: 0,
    /** A datagram that could not be built (counted and dropped, never thrown). */
    encode_failures: 0,
    internal_errors: 0,
    handoffs_committed: 0,
    unexpected_events: 0,
    committed_kept: 0,
  };
}

/** One hand-off's latency (HANDOFF first sent → its ACK), in ms. */
export function note_latency(ctl: DirectorControl, ms: number): void {
  ctl.latencies[ctl.latency_count++ % LATENCY_SAMPLES] = ms;
  let bucket = 0;
  while (bucket < LATENCY_BOUNDS_MS.length && ms > LATENCY_BOUNDS_MS[bucket]) bucket++;
  ctl.latency_buckets[bucket]++;
  ctl.latency_sum_ms += ms;
}

export function director_control_stats(ctl: DirectorControl): DirectorControlStats {
  const n = Math.min(ctl.latency_count, LATENCY_SAMPLES);
  const sorted = Array.from(ctl.latencies.subarray(0, n)).sort((a, b) => a - b);
  const at = (q: number) => (n === 0 ? 0 : sorted[Math.min(n - 1, Math.floor(q * n))]);
  const decoded = Object.fromEntries(
    Object.entries(ctl.decode_counters).map(([reason, v]) => [`decode_${reason}`, v]),
  );
  return {
    counters: { ...ctl.counters, ...decoded },
    servers: ctl.servers.map((s) => ({
      name: s.name,
      healthy: s.healthy,
      selections: s.selections,
      handoff_failures: s.handoff_failures,
      consecutive_failures: s.consecutive_failures,
      active_flows: s.active_flows,
    })),
    latency_p50_ms: at(0.5),
    latency_p99_ms: at(0.99),
    latency_histogram: latency_histogram(ctl),
    pending: ctl.pending.size,
    forwarding: ctl.forwarding.size,
  };
}

function latency_histogram(ctl: DirectorControl): LatencyHistogram {
  const counts: number[] = [];
  let cumulative = 0;
  for (const n of ctl.latency_buckets) counts.push(cumulative += n);
  return {
    bounds_ms: [...LATENCY_BOUNDS_MS, Infinity],
    counts,
    sum_ms: ctl.latency_sum_ms,
    count: cumulative,
  };
}
