// What crosses between the main thread (control/roles.ts) and the
// director's control Worker: the start spec, the messages the main thread
// sends, the replies it gets, and the stats snapshot (shown by the metrics
// endpoint). Plain data only, so it survives structured cloning.

import type { DirectorSection } from "../config.ts";

export interface DirectorControlSpec {
  /** The section as configured; each server carries its agent's id and key. */
  director: DirectorSection;
  max_datagram: number;
  /** How far an agent's datagram's timestamp may be from this host's clock. */
  freshness_ms: number;
  /** The MSS the dataplane announces (fabric MTU − 40). */
  mss: number;
  request_ring: number;
  verdict_ring: number;
  event_ring: number;
}

export type DirectorControlMessage =
  | { type: "start"; spec: DirectorControlSpec }
  | { type: "drain" }
  | { type: "stats" }
  | { type: "stop" };

export interface ServerStats {
  name: string;
  healthy: boolean;
  selections: number;
  handoff_failures: number;
  consecutive_failures: number;
  active_flows: number;
}

/** Cumulative buckets: counts[i] hand-offs took at most bounds_ms[i]; the last bound is +Inf. */
export interface LatencyHistogram {
  bounds_ms: number[];
  counts: number[];
  sum_ms: number;
  count: number;
}

export interface DirectorControlStats {
  counters: Record<string, number>;
  servers: ServerStats[];
  /** Hand-off latency (HANDOFF sent → ACK), milliseconds, over the last 4096 hand-offs. */
  latency_p50_ms: number;
  latency_p99_ms: number;
  /** Every hand-off's latency since start, as a cumulative histogram (what aggregates across directors). */
  latency_histogram: LatencyHistogram;
  pending: number;
  forwarding: number;
}

export type DirectorControlReply =
  | { type: "listening"; address: string }
  | { type: "failed"; error: string }
  | { type: "stats"; stats: DirectorControlStats }
  | { type: "stopped"; stats: DirectorControlStats };
