// What the main isolate tells a dataplane Worker, and what it answers.
// Messages are plain data (structured clone); counters and the stop flag
// live in SharedArrayBuffers so the poll loop never waits on a message.

import { AGENT_COUNTER_WORDS } from "./agent/mod.ts";
import { DIRECTOR_COUNTER_WORDS } from "./director/mod.ts";
import { forward_engine, type ForwardMode } from "./engines/mod.ts";

/** A forwarding engine (engines/mod.ts), or a hand-off role's pipeline. */
export type PipelineKind = ForwardMode | "agent" | "director";

/** Counter words (float64) a pipeline of this kind uses in the counters buffer. */
export function pipeline_counter_words(kind: PipelineKind): number {
  if (kind === "agent") return AGENT_COUNTER_WORDS;
  if (kind === "director") return DIRECTOR_COUNTER_WORDS;
  return forward_engine(kind).counter_words;
}

/** One rx queue → processing → tx port chain, run by one Worker. */
export interface PipelineSpec {
  kind: PipelineKind;
  /** The shim's descriptor slot this pipeline owns (unique per process). */
  slot: number;
  rx_port: number;
  rx_queue: number;
  tx_port: number;
  tx_queue: number;
  burst: number;
  /** Where this pipeline's counters start in the counters buffer (float64 words). */
  counters_offset: number;
  /** mac mode: the tx port's MAC and the peer's. */
  src_mac?: number[];
  dst_mac?: number[];
  /** rewrite mode. */
  dst_ip?: number;
  seq_delta?: number;
  /** translate: how many generated flows (dataplane/generator.ts) the agent state holds. */
  translate_flows?: number;
  /** agent: both ports of the bump in the wire (rx_port is the fabric port). */
  agent?: AgentPipelineSpec;
  director?: DirectorPipelineSpec;
}

/** What a director pipeline needs; plain data so it crosses to the Worker. */
export interface DirectorPipelineSpec {
  port: number;
  emit_slot: number;
  director_mac: number[];
  vips: { ip: number; ports: number[]; l4: boolean }[];
  /** SYN cookie key bytes (≥ 8). */
  cookie_key: number[];
  mss: number;
  max_header: number;
  /** Request bytes a hand-off may carry (head + body or pipelined bytes after it); ≥ max_header. */
  max_request?: number;
  request_timeout_ms: number;
  idle_timeout_ms: number;
  handoff_timeout_ms: number;
  flow_capacity: number;
  max_reading: number;
  /** HTTP responses the director sends itself, status → bytes. */
  responses: Record<string, number[]>;
  request_ring: number;
  verdict_ring: number;
  event_ring: number;
}

/** What an agent pipeline needs; plain data so it crosses to the Worker. */
export interface AgentPipelineSpec {
  fabric_port: number;
  server_port: number;
  /** A second descriptor slot, for the frames the agent makes. */
  emit_slot: number;
  server_mac: number[];
  agent_mac: number[];
  flow_capacity: number;
  max_request: number;
  max_adopting: number;
  rto_ms: number;
  adopt_timeout_ms: number;
  linger_ms: number;
  idle_timeout_ms: number;
  /** The VIPs the server holds (host order), when configured: known from the start. */
  vips?: number[];
  /**
   * With vips: for this long after start, segments of flows the agent does
   * not know are taken for flows of its earlier run and reset both ways
   * (dataplane/agent/orphans.ts). 0 or absent: never.
   */
  orphan_reset_ms?: number;
  /** Rings (shim ids): control → dataplane adoption requests, dataplane → control events. */
  adoption_ring: number;
  event_ring: number;
}

export interface IdlePolicy {
  /** Empty polls of all pipelines before the first sleep. */
  spin_rounds: number;
  min_sleep_ms: number;
  max_sleep_ms: number;
}

export interface WorkerSpec {
  /** Worker number, also its block in the control buffer. */
  index: number;
  /** CPU to pin to. */
  cpu: number;
  pipelines: PipelineSpec[];
  control: SharedArrayBuffer;
  counters: SharedArrayBuffer;
  idle: IdlePolicy;
}

export type WorkerStatus =
  | { state: "running" }
  | { state: "stopped" }
  | { state: "failed"; error: string };

/** Int32 words per Worker in the control buffer. */
export const CONTROL_WORDS_PER_WORKER = 4;
/** Control word: non-zero tells the Worker to stop. */
export const CONTROL_STOP = 0;

/** Sleep 50 µs after 256 empty rounds, doubling up to 1 ms: under 5% of a core when idle. */
export const DEFAULT_IDLE: IdlePolicy = { spin_rounds: 256, min_sleep_ms: 0.05, max_sleep_ms: 1 };
