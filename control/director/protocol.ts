// What crosses between the main thread (control/roles.ts) and the
// director's control Worker: the start spec, the messages the main thread
// sends, the replies it gets, and the stats snapshot (shown by the metrics
// endpoint and the demo). Plain data only, so it survives structured
// cloning. The Worker never sees a packet: it publishes the selection
// (servers, weights, health, draining) to the dataplane through shared
// memory and reads back the per-server numbers the dataplane keeps.

import type { DirectorSection } from "../config.ts";
import type { ServerEntry } from "./reload.ts";

export interface DirectorControlSpec {
  /** The section as configured. */
  director: DirectorSection;
  /** Each server's HMAC key slot in the shim (roles.ts set the keys). */
  key_slots: number[];
  /** The selection table the dataplane reads (selection_table.ts). */
  selection: SharedArrayBuffer;
  /** What the dataplane counts per server (wire/server_stats.ts). */
  server_stats: SharedArrayBuffer;
}

export type DirectorControlMessage =
  | { type: "start"; spec: DirectorControlSpec }
  | { type: "drain" }
  | { type: "stats" }
  | DirectorReloadMessage
  | { type: "stop" };

/**
 * A planned reload (reload.ts): the new section and every server entry by
 * index (key slot = key_slots_base + index; the main thread set new keys).
 */
export interface DirectorReloadMessage {
  type: "reload";
  director: DirectorSection;
  entries: ServerEntry[];
  key_slot_base: number;
  /** VIPs removed by this reload: kept without ports until their flows are gone. */
  retired_vips: string[];
}

export interface ServerStats {
  name: string;
  /** Removed by a reload: its entry stays while its flows may live. */
  removed: boolean;
  healthy: boolean;
  selections: number;
  handoff_failures: number;
  /** Failed health checks or hand-offs since the last success. */
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

/** What the control Worker itself knows: its counters and the servers' health. */
export interface DirectorControlReport {
  counters: Record<string, number>;
  servers: ServerStats[];
}

/**
 * The director's numbers as the metrics and the demo show them: the control
 * Worker's report joined with the dataplane's hand-off counters (stats.ts).
 */
export interface DirectorControlStats {
  counters: Record<string, number>;
  servers: ServerStats[];
  /** Hand-off latency (HANDOFF sent → ACK), milliseconds, from the histogram. */
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
  | { type: "stats"; stats: DirectorControlReport }
  | { type: "reloaded"; stats: DirectorControlReport }
  | { type: "stopped"; stats: DirectorControlReport };
