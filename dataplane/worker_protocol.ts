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
  /** The director's fabric address (u32): hand-offs go out from it. */
  address: number;
  handoff_port: number;
  /** L3 fabric: the router's MAC hand-offs are sent to; none: each server's MAC. */
  gateway_mac?: number[];
  /** This run's hand-off epoch (random per start). */
  epoch: number;
  handoff_rto_ms: number;
  handoff_tries: number;
  freshness_ms: number;
  max_datagram: number;
  /** The selection the control Worker publishes (selection_table.ts). */
  selection: SharedArrayBuffer;
  /** Per-server numbers the dataplane keeps (wire/server_stats.ts). */
  server_stats: SharedArrayBuffer;
  /** The access log ring (wire/access_log_ring.ts) the director writes outcomes to; none: off. */
  access_log?: SharedArrayBuffer;
  /** BFD on the director's address (director/bfd.ts): its timers; none: BFD off. */
  bfd?: { min_rx_ms: number; min_tx_ms: number; multiplier: number };
  vips: { ip: number; ports: number[]; l4: boolean }[];
  /** SYN cookie key bytes (≥ 8); the same at every director of a site. */
  cookie_key: number[];
  /** The TSval routing codes' key bytes (≥ 8; ts_route.ts); the same at every director. */
  route_key: number[];
  /** Added to the wall clock's ms for TSval; the same at every director. */
  ts_offset: number;
  mss: number;
  max_header: number;
  /** Request bytes a hand-off may carry (head + body or pipelined bytes after it); ≥ max_header. */
  max_request?: number;
  request_timeout_ms: number;
  idle_timeout_ms: number;
  flow_capacity: number;
  max_reading: number;
  /** HTTP responses the director sends itself, status → bytes. */
  responses: Record<string, number[]>;
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
  /**
   * The server's own fabric address (u32): hand-off datagrams to it at
   * handoff_port are the agent's (never the server's), and its answers
   * come from it.
   */
  address: number;
  handoff_port: number;
  /** Senders hand-offs are read from (ip u32, UDP port, 0 = any); absent: any sender. */
  directors?: { ip: number; port: number }[];
  /** This agent's id: datagrams naming another are dropped, its own name it. */
  agent_id: number;
  /** The shim's HMAC key slot holding this agent's own key (AGENT_KEY_SLOT_BASE + i). */
  key_slot: number;
  /** How far a datagram's timestamp may be from this host's wall clock, either way. */
  freshness_ms: number;
  /** Largest hand-off datagram (UDP payload). */
  max_datagram: number;
  /** Ids per director epoch the replay cache covers (replay_cache.ts); its default unless set. */
  replay_window?: number;
}

/** --idle: busy polls without pause (testpmd's way: a core per poll loop); adaptive waits when idle. */
export type IdleMode = "busy" | "adaptive";
export const IDLE_MODES: readonly IdleMode[] = ["busy", "adaptive"];

/** What a poll loop does when every pipeline comes back empty (dataplane/worker.ts). */
export interface IdlePolicy {
  mode: IdleMode;
  /** adaptive: keep polling this long after the last frame or wake-up before waiting. */
  spin_us: number;
  /** adaptive, without rx interrupts: the first sleep; doubled after each empty one up to the cap. */
  min_sleep_us: number;
  max_sleep_us: number;
  /** adaptive, rx interrupts on every queue: the longest wait (for timers and the stop flag). */
  interrupt_wait_us: number;
  /** The poll loop thread's timer slack (Linux's default, 50 µs, stretches every short sleep). */
  timer_slack_ns: number;
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

/**
 * --idle=adaptive. Measured on the 2-vCPU lab VM (Firecracker, kernel 6.18):
 * - A sleep costs its thread ~20 µs of CPU whatever its length (~17-30 µs,
 *   plain C nanosleep alike), so idle CPU ≈ 20 µs × sleeps per second: under
 *   5% of a core means no more than ~2000 sleeps/s.
 * - What Atomics.wait(…, t) and nanosleep really sleep (median, the same for
 *   both): 20 µs → 102, 50 → 133, 100 → 193, 200 → 293 µs with Linux's default
 *   50 µs timer slack; 39-53, 71-83, 126-133, 235-241 µs with 1 µs slack. So
 *   the Worker sleeps in Atomics.wait (the stop flag still ends it at once)
 *   with its thread's slack at 1 µs.
 * - Idle CPU of the poll loop (net_ring, nothing arriving, 10 s): a steady
 *   sleep of 250 µs 7.2-8.3%, 500 µs 3.0-4.1%, 750 µs 3.3%, 1 ms 3.0%; the
 *   old policy (50 µs doubling to 1 ms) 1.6-2.6%; busy 98-99%. A whole idle
 *   baton (forward io): adaptive 3.5-4.1%, busy 87-99%; on net_tap, waiting
 *   on rx interrupts, 1.9%. While other tenants load the host a sleep costs
 *   up to ~40 µs: 500 µs then measured 4.2-7.0%, 750 µs 3.4-4.7%.
 * - Frame → Worker delay, mean (median), gaps jittered ±50%: after 20 ms of
 *   nothing 270-313 µs (249-309) against 603-615 (589-604) for the old
 *   policy; 2 ms after the last frame 270-292 (257-297) against 608-923
 *   (502-514); 50 µs after it 16-24 (1) against 102-294 (81-84); busy 1-9 µs.
 * Hence: spin 100 µs after the last frame (what follows that closely is
 * caught at once), then sleep from 20 µs doubling to 750 µs: 500 µs was the
 * shortest cap under 5% on a quiet host, but `deno task bench` measured 6.0%
 * with it on the shared host (2026-12-02), and 750 µs keeps under 5% loaded. With rx interrupts on every queue the wait needs no
 * cap for frames; 2 ms bounds how late a timer (hand-off retransmission,
 * RTO) or the stop flag is seen.
 */
export const DEFAULT_IDLE: IdlePolicy = {
  mode: "adaptive",
  spin_us: 100,
  min_sleep_us: 20,
  max_sleep_us: 750,
  interrupt_wait_us: 2_000,
  timer_slack_ns: 1_000,
};

/** The policy for an --idle mode. */
export function idle_policy(mode: IdleMode): IdlePolicy {
  return { ...DEFAULT_IDLE, mode };
}
