// A dataplane Worker: one per forwarding lcore. It pins itself to its core,
// registers with EAL (else mempool caches are bypassed), then polls its
// pipelines one burst at a time until the main isolate says stop. With
// --idle=busy it never pauses (testpmd's way). With --idle=adaptive, once
// every pipeline has come back empty for spin_us it waits: on rx
// interrupts when every rx queue it polls has them (l3fwd-power's way),
// else in short sleeps that grow while nothing comes; a frame, or an
// interrupt, starts the spin again.

/// <reference lib="deno.worker" />

import { type Native, open_native, WOKE_TIMEOUT } from "../native/mod.ts";
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
  type IdlePolicy,
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
  native: Native,
  bytes: Uint8Array,
  pipelines: ForwardPipeline[],
  roles: { agents: AgentRunner[]; directors: DirectorRunner[] },
  control: Int32Array,
  spec: WorkerSpec,
): void {
  const { rx_burst, tx_burst } = native;
  const idle = begin_idle(native, spec, pipelines.length > 0 ? pipelines[0].counters : undefined);
  try {
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
      if (received > 0) idle_reset(native, idle);
      else if (!idle.busy) idle_backoff(native, idle, control);
    }
  } finally {
    if (!idle.busy) native.idle_end();
  }
}

/** A poll loop's idle state (adaptive); the policy's numbers in the units the loop uses. */
interface Idle {
  busy: boolean;
  /** Every rx queue the Worker polls raises rx interrupts: waits are on them. */
  interrupts: boolean;
  spin_ms: number;
  min_sleep_ms: number;
  max_sleep_ms: number;
  interrupt_wait_us: number;
  /** performance.now() until which empty rounds keep polling; 0: the spin has not begun. */
  spin_until: number;
  /** Rx interrupts are on: the next empty round waits. */
  armed: boolean;
  sleep_ms: number;
  /** Where sleeps are counted (COUNTER_IDLE_SLEEPS), when the Worker has a forwarding pipeline. */
  counters: Float64Array | undefined;
}

/** Watches every rx queue the Worker polls (each with rx interrupts where its port has them). */
function begin_idle(native: Native, spec: WorkerSpec, counters: Float64Array | undefined): Idle {
  const policy: IdlePolicy = spec.idle;
  const idle: Idle = {
    busy: policy.mode === "busy",
    interrupts: false,
    spin_ms: policy.spin_us / 1000,
    min_sleep_ms: policy.min_sleep_us / 1000,
    max_sleep_ms: policy.max_sleep_us / 1000,
    interrupt_wait_us: policy.interrupt_wait_us,
    spin_until: 0,
    armed: false,
    sleep_ms: policy.min_sleep_us / 1000,
    counters,
  };
  if (idle.busy) return idle;
  native.idle_begin({ timer_slack_ns: policy.timer_slack_ns });
  const queues: [number, number][] = [];
  for (const p of spec.pipelines) {
    if (p.kind === "agent") {
      queues.push([p.agent!.fabric_port, p.rx_queue], [p.agent!.server_port, p.rx_queue]);
    } else if (p.kind === "director") {
      queues.push([p.director!.port, p.rx_queue]);
    } else {
      queues.push([p.rx_port, p.rx_queue]);
    }
  }
  let every_queue = queues.length > 0;
  for (const [port, queue] of queues) {
    every_queue = native.idle_watch_queue(port, queue) && every_queue;
  }
  idle.interrupts = every_queue;
  return idle;
}

/** A round received frames: poll closely again. */
function idle_reset(native: Native, idle: Idle): void {
  if (idle.armed) {
    native.idle_disarm();
    idle.armed = false;
  }
  idle.spin_until = 0;
  idle.sleep_ms = idle.min_sleep_ms;
}

/**
 * An empty round: keep polling until spin_ms after the last frame; then, with
 * rx interrupts, turn them on and poll once more (a frame that came before
 * raised none) before waiting on them; without, sleep, the sleep doubling up
 * to its cap while nothing comes. The stop flag ends a sleep at once.
 */
function idle_backoff(native: Native, idle: Idle, control: Int32Array): void {
  const now = performance.now();
  if (idle.spin_until === 0) {
    idle.spin_until = now + idle.spin_ms;
    return;
  }
  if (now < idle.spin_until) return;
  if (idle.interrupts) {
    if (!idle.armed) {
      native.idle_arm();
      idle.armed = true;
      return;
    }
    idle.armed = false;
    const woke = native.idle_wait(idle.interrupt_wait_us);
    if (idle.counters) idle.counters[COUNTER_IDLE_SLEEPS]++;
    if (woke !== WOKE_TIMEOUT) idle.spin_until = 0;
    return;
  }
  Atomics.wait(control, CONTROL_STOP, 0, idle.sleep_ms);
  if (idle.counters) idle.counters[COUNTER_IDLE_SLEEPS]++;
  idle.sleep_ms = Math.min(idle.sleep_ms * 2, idle.max_sleep_ms);
}
