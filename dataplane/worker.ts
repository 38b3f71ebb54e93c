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
  agent_install_flow,
  agent_round,
  agent_server_burst,
  type AgentRunner,
  type AgentState,
  create_agent_runner,
  create_agent_state,
  DEFAULT_AGENT_TIMERS,
} from "./agent/mod.ts";
import {
  generated_flow,
  GENERATOR_CLIENT_MAC,
  GENERATOR_SERVER_MAC,
  GENERATOR_VIP,
  GENERATOR_VIP_PORT,
} from "./generator.ts";
import { ip_to_u32, mac_to_bytes } from "./packet.ts";
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
  io_burst,
  mac_burst,
  macswap_burst,
  rewrite_burst,
} from "./forward_modes.ts";
import {
  CONTROL_STOP,
  CONTROL_WORDS_PER_WORKER,
  type PipelineSpec,
  type WorkerSpec,
  type WorkerStatus,
} from "./worker_protocol.ts";

const KIND_IO = 0;
const KIND_MAC = 1;
const KIND_MACSWAP = 2;
const KIND_REWRITE = 3;
const KIND_TRANSLATE = 4;

/** A pipeline as the loop uses it: plain numbers and typed arrays, made once. */
interface Pipeline {
  kind: number;
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
    prepare(p, spec, { desc: native.slot_descriptors(p.slot), bytes })
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

function prepare(
  p: PipelineSpec,
  spec: WorkerSpec,
  regions: { desc: Int32Array; bytes: Uint8Array },
): Pipeline {
  const { desc, bytes } = regions;
  const kinds = {
    io: KIND_IO,
    mac: KIND_MAC,
    macswap: KIND_MACSWAP,
    rewrite: KIND_REWRITE,
    translate: KIND_TRANSLATE,
    agent: -1,
    director: -1,
  };
  return {
    kind: kinds[p.kind],
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
    agent: p.kind === "translate" ? translate_state(p, spec) : undefined,
  };
}

/**
 * translate (a benchmark mode): the agent's server → client fast path over
 * the generator's flows, each installed as an ESTABLISHED hand-off.
 */
function translate_state(p: PipelineSpec, spec: WorkerSpec): AgentState {
  const state = create_agent_state({
    ...DEFAULT_AGENT_TIMERS,
    fabric_port: p.tx_port,
    server_port: p.rx_port,
    server_mac: mac_to_bytes(GENERATOR_SERVER_MAC),
    agent_mac: Uint8Array.from(p.src_mac ?? [0, 0, 0, 0, 0, 0]),
    max_adopting: 1,
    max_request: 1,
  }, {
    counters: new Float64Array(
      spec.counters,
      (p.counters_offset + COUNTER_WORDS) * 8,
      AGENT_COUNTER_WORDS,
    ),
  });
  const now = performance.now();
  for (let i = 0; i < (p.translate_flows ?? 0); i++) {
    const flow = generated_flow(i);
    agent_install_flow(state, {
      client_ip: ip_to_u32(flow.client_ip),
      vip: ip_to_u32(GENERATOR_VIP),
      client_port: flow.client_port,
      vip_port: GENERATOR_VIP_PORT,
      client_mac: mac_to_bytes(GENERATOR_CLIENT_MAC),
      client_isn: flow.client_isn,
      server_isn: flow.server_isn,
      director_next_seq: (0x7000_0000 + i) >>> 0,
      ts_delta: 123_456,
      server_wscale: 7,
      director_wscale: 7,
      sack_permitted: true,
      timestamps: true,
    }, now);
  }
  return state;
}

function poll(
  native: ReturnType<typeof open_native>,
  bytes: Uint8Array,
  pipelines: Pipeline[],
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
      switch (p.kind) {
        case KIND_IO:
          io_burst(p.desc, n, p.tx_port);
          break;
        case KIND_MAC:
          mac_burst(bytes, p.desc, n, p);
          break;
        case KIND_MACSWAP:
          macswap_burst(bytes, p.desc, n, p);
          break;
        case KIND_REWRITE:
          rewrite_burst(bytes, p.desc, n, p);
          break;
        case KIND_TRANSLATE:
          agent_server_burst(p.agent!, bytes, p.desc, n, performance.now());
          break;
      }
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
