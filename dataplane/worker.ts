// A dataplane Worker: one per forwarding lcore. It pins itself to its core,
// registers with EAL (else mempool caches are bypassed), then polls its
// pipelines one burst at a time until the main isolate says stop. When
// every pipeline comes back empty for a while it sleeps, a little longer
// each time, so an idle baton does not burn a core; the first frame resets
// that.

/// <reference lib="deno.worker" />

import { open_native } from "../native/mod.ts";
import {
  AGENT_COUNTER_WORDS,
  agent_round,
  type AgentRunner,
  create_agent_runner,
} from "./agent/mod.ts";
import {
  create_director_runner,
  DIRECTOR_COUNTER_WORDS,
  director_round,
  type DirectorRunner,
} from "./director/mod.ts";
import {
  COUNTER_BURSTS,
  COUNTER_DROPPED,
  COUNTER_IDLE_SLEEPS,
  COUNTER_RX,
  COUNTER_TX,
  COUNTER_WORDS,
  forward_engine,
  type ForwardMode,
  type ForwardPipeline,
} from "./engines/mod.ts";
import {
  CONTROL_STOP,
  CONTROL_WORDS_PER_WORKER,
  type PipelineSpec,
  type WorkerSpec,
  type WorkerStatus,
} from "./worker_protocol.ts";

self.onmessage = (event: MessageEvent<WorkerSpec>) => {
  const spec = event.data;
  try {
    run(spec);
    self.postMessage({ state: "stopped" } satisfies WorkerStatus);
  } catch (err) {
    self.postMessage({ state: "failed", error: (err as Error).message } satisfies WorkerStatus);
  }
  self.close();
};

function run(spec: WorkerSpec): void {
  const native = open_native();
  native.thread_register(spec.cpu);
  const control = new Int32Array(spec.control, spec.index * CONTROL_WORDS_PER_WORKER * 4);
  const bytes = native.region();
  const forwarders = spec.pipelines.filter((p) => p.kind !== "agent" && p.kind !== "director");
  const pipelines = forwarders.map((p) =>
    begin_forwarding(p, spec, { desc: native.slot_descriptors(p.slot), bytes })
  );
  const agents = spec.pipelines.filter((p) => p.kind === "agent").map((p) =>
    create_agent_runner(native, {
      spec: p.agent!,
      slot: p.slot,
      queue: p.rx_queue,
      burst: p.burst,
      counters: new Float64Array(spec.counters, p.counters_offset * 8, AGENT_COUNTER_WORDS),
    })
  );
  const directors = spec.pipelines.filter((p) => p.kind === "director").map((p) =>
    create_director_runner(native, {
      spec: p.director!,
      slot: p.slot,
      queue: p.rx_queue,
      burst: p.burst,
      counters: new Float64Array(spec.counters, p.counters_offset * 8, DIRECTOR_COUNTER_WORDS),
    })
  );
  self.postMessage({ state: "running" } satisfies WorkerStatus);
  try {
    poll(native, bytes, pipelines, { agents, directors }, control, spec);
  } finally {
    native.thread_unregister();
  }
}

/** A forwarding pipeline's loop state, made once; then its engine's begin step. */
function begin_forwarding(
  p: PipelineSpec,
  spec: WorkerSpec,
  regions: { desc: Int32Array; bytes: Uint8Array },
): ForwardPipeline {
  const { desc, bytes } = regions;
  const engine = forward_engine(p.kind as ForwardMode);
  const pipeline: ForwardPipeline = {
    engine,
    slot: p.slot,
    rx_port: p.rx_port,
    rx_queue: p.rx_queue,
    tx_port: p.tx_port,
    tx_queue: p.tx_queue,
    burst: p.burst,
    desc,
    counters: new Float64Array(spec.counters, p.counters_offset * 8, COUNTER_WORDS),
    words: new Uint16Array(bytes.buffer, bytes.byteOffset, bytes.byteLength >> 1),
    src_mac: Uint8Array.from(p.src_mac ?? [0, 0, 0, 0, 0, 0]),
    dst_mac: Uint8Array.from(p.dst_mac ?? [0, 0, 0, 0, 0, 0]),
    dst_ip: p.dst_ip ?? 0,
    seq_delta: p.seq_delta ?? 0,
    agent: undefined,
  };
  engine.begin?.(pipeline, p, spec.counters);
  return pipeline;
}

function poll(
  native: ReturnType<typeof open_native>,
  bytes: Uint8Array,
  pipelines: ForwardPipeline[],
  roles: { agents: AgentRunner[]; directors: DirectorRunner[] },
  control: Int32Array,
  spec: WorkerSpec,
): void {
  const { rx_burst, tx_burst } = native;
  let empty_rounds = 0;
  let sleep_ms = spec.idle.min_sleep_ms;
  while (Atomics.load(control, CONTROL_STOP) === 0) {
    let received = 0;
    const { agents, directors } = roles;
    if (agents.length + directors.length > 0) {
      const now = performance.now();
      for (let k = 0; k < directors.length; k++) received += director_round(directors[k], now);
      for (let k = 0; k < agents.length; k++) received += agent_round(agents[k], now);
    }
    for (let k = 0; k < pipelines.length; k++) {
      const p = pipelines[k];
      const n = rx_burst(p.rx_port, p.rx_queue, p.slot, p.burst);
      if (n === 0) continue;
      received += n;
      p.engine.burst(p, bytes, n);
      const sent = tx_burst(p.tx_queue, p.slot, n);
      const c = p.counters;
      c[COUNTER_RX] += n;
      c[COUNTER_TX] += sent;
      c[COUNTER_DROPPED] += n - sent;
      c[COUNTER_BURSTS]++;
    }
    if (received > 0) {
      empty_rounds = 0;
      sleep_ms = spec.idle.min_sleep_ms;
      continue;
    }
    if (++empty_rounds < spec.idle.spin_rounds) continue;
    // Idle: sleep, doubling up to the cap; wakes at once when told to stop.
    Atomics.wait(control, CONTROL_STOP, 0, sleep_ms);
    if (pipelines.length > 0) pipelines[0].counters[COUNTER_IDLE_SLEEPS]++;
    sleep_ms = Math.min(sleep_ms * 2, spec.idle.max_sleep_ms);
  }
}
