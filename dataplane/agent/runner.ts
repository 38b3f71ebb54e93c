// One round of an agent pipeline, as a dataplane Worker (or a fixture
// harness) runs it: a burst from each side of the bump in the wire, the
// hand-offs the control Worker queued, timers, then the frames the agent
// made and the events for the control Worker. Everything here is made once;
// a round allocates only when a hand-off or a timer makes a frame.

import type { Native } from "../../native/mod.ts";
import { create_emitter, type Emitter } from "../emitter.ts";
import { AGENT_COUNTER_NAMES, type AgentState, create_agent_state } from "./state.ts";
import { agent_adopt } from "./adoption.ts";
import { agent_fabric_burst, agent_server_burst } from "./burst.ts";
import { agent_service } from "./service.ts";
import { next_agent_event } from "./events.ts";
import type { AgentPipelineSpec } from "../worker_protocol.ts";
import { AGENT_EVENT_WORDS } from "../wire/mod.ts";

const ADOPTIONS_PER_ROUND = 16;
const EVENTS_PER_ROUND = 64;

export interface AgentRunner {
  state: AgentState;
  native: Native;
  bytes: Uint8Array;
  slot: number;
  desc: Int32Array;
  emitter: Emitter;
  queue: number;
  burst: number;
  spec: AgentPipelineSpec;
  adoption_buffer: Uint8Array;
  event: Int32Array;
  event_bytes: Uint8Array;
  events_lost: number;
}

export function create_agent_runner(
  native: Native,
  options: {
    spec: AgentPipelineSpec;
    slot: number;
    queue: number;
    burst: number;
    counters?: Float64Array;
  },
): AgentRunner {
  const { spec } = options;
  const state = create_agent_state({
    fabric_port: spec.fabric_port,
    server_port: spec.server_port,
    server_mac: Uint8Array.from(spec.server_mac),
    agent_mac: Uint8Array.from(spec.agent_mac),
    flow_capacity: spec.flow_capacity,
    max_request: spec.max_request,
    max_adopting: spec.max_adopting,
    rto_ms: spec.rto_ms,
    adopt_timeout_ms: spec.adopt_timeout_ms,
    linger_ms: spec.linger_ms,
    idle_timeout_ms: spec.idle_timeout_ms,
    vips: spec.vips,
    orphans_until: spec.orphan_reset_ms ? performance.now() + spec.orphan_reset_ms : 0,
  }, { counters: options.counters });
  const bytes = native.region();
  const event = new Int32Array(AGENT_EVENT_WORDS);
  const runner: AgentRunner = {
    state,
    native,
    bytes,
    slot: options.slot,
    desc: native.slot_descriptors(options.slot),
    emitter: create_emitter(native, { slot: spec.emit_slot, queue: options.queue }),
    queue: options.queue,
    burst: options.burst,
    spec,
    adoption_buffer: new Uint8Array(64 + spec.max_request),
    event,
    event_bytes: new Uint8Array(event.buffer),
    events_lost: 0,
  };
  return runner;
}

/** One round; returns how many frames were received. */
export function agent_round(runner: AgentRunner, now: number): number {
  const { native, state, bytes, desc, slot, queue, burst, spec } = runner;
  const from_fabric = native.rx_burst(spec.fabric_port, queue, slot, burst);
  if (from_fabric > 0) {
    agent_fabric_burst(state, bytes, desc, from_fabric, now);
    native.tx_burst(queue, slot, from_fabric);
  }
  const from_server = native.rx_burst(spec.server_port, queue, slot, burst);
  if (from_server > 0) {
    agent_server_burst(state, bytes, desc, from_server, now);
    native.tx_burst(queue, slot, from_server);
  }
  for (let k = 0; k < ADOPTIONS_PER_ROUND; k++) {
    const length = native.ring_dequeue(spec.adoption_ring, runner.adoption_buffer);
    if (length < 0) break;
    agent_adopt(state, runner.adoption_buffer.subarray(0, length), now, runner.emitter.emit);
  }
  agent_service(state, now, runner.emitter.emit);
  runner.emitter.flush();
  for (let k = 0; k < EVENTS_PER_ROUND && next_agent_event(state, runner.event); k++) {
    if (!native.ring_enqueue(spec.event_ring, runner.event_bytes)) runner.events_lost++;
  }
  return from_fabric + from_server;
}

/** The agent's counters by name. */
export function agent_runner_counters(runner: AgentRunner): Record<string, number> {
  return Object.fromEntries(AGENT_COUNTER_NAMES.map((name, i) => [name, runner.state.counters[i]]));
}
