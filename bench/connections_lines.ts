// What a connection bench's process (connections_main.ts) prints and its
// parent (connections_run.ts) reads: one line per stats period and one
// summary line, each a prefix and JSON, defined once here.

export const PERIOD_PREFIX = "connections-period ";
export const SUMMARY_PREFIX = "connections-summary ";

/** One stats period. */
export interface PeriodRecord {
  period: number;
  seconds: number;
  /** Connections the role completed in the period. */
  completed: number;
  role_seconds: number;
  generator_seconds: number;
  rounds: number;
  frames_in: number;
  frames_out: number;
}

/** One of the role's HMACs per connection, timed on its own. */
export interface HmacCost {
  what: string;
  verify: boolean;
  bytes: number;
  ns: number;
}

export interface ConnectionSummary {
  role: string;
  settings: { connections: number; burst: number; agents: number; stats_period_s: number };
  periods: PeriodRecord[];
  /** The last connections finished after the generator stopped starting new ones. */
  drained: boolean;
  drain_ms: number;
  hmac: HmacCost[];
  role_counters: Record<string, number>;
  generator_counters: Record<string, number>;
  /** What did not add up; empty: every frame accounted for. */
  problems: string[];
}
