// What the main isolate tells a dataplane Worker, and what it answers.
// Messages are plain data (structured clone); counters and the stop flag
// live in SharedArrayBuffers so the poll loop never waits on a message.

export type PipelineKind = "io" | "mac" | "macswap" | "rewrite";

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
  /** Which block of the counters buffer is this pipeline's. */
  counters_index: number;
  /** mac mode: the tx port's MAC and the peer's. */
  src_mac?: number[];
  dst_mac?: number[];
  /** rewrite mode. */
  dst_ip?: number;
  seq_delta?: number;
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
