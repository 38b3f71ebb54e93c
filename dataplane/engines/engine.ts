// What a forwarding engine is (testpmd's struct fwd_engine): a name, the
// counter words its pipelines use, an optional set-up step run once per
// pipeline in the Worker, and the burst function the poll loop calls. The
// pipeline is the one object every engine's burst takes, so the poll loop's
// call site sees one shape whatever the mode.

import type { AgentState } from "../agent/mod.ts";
import type { PipelineSpec } from "../worker_protocol.ts";

/** Bytes of an untagged Ethernet header. */
export const ETHER_HEADER = 14;

/** A forwarding pipeline as the poll loop uses it: plain numbers and typed arrays, made once. */
export interface ForwardPipeline {
  engine: ForwardEngine;
  slot: number;
  rx_port: number;
  rx_queue: number;
  tx_port: number;
  tx_queue: number;
  burst: number;
  desc: Int32Array;
  counters: Float64Array;
  /** The region as 16-bit words (same memory as bytes). */
  words: Uint16Array;
  src_mac: Uint8Array;
  dst_mac: Uint8Array;
  dst_ip: number;
  seq_delta: number;
  /** translate: the agent's state, holding generated ESTABLISHED flows. */
  agent: AgentState | undefined;
}

export interface ForwardEngine {
  /** --forward-mode=NAME. */
  name: string;
  /** Counter words per pipeline (the forwarding counters first, then the engine's own). */
  counter_words: number;
  /** Once per pipeline, in its Worker, before polling. */
  begin?: (pipeline: ForwardPipeline, spec: PipelineSpec, counters: SharedArrayBuffer) => void;
  /** Hot path: one burst of n frames, rewritten in place; sets each frame's action. */
  burst: (pipeline: ForwardPipeline, bytes: Uint8Array, n: number) => void;
}
