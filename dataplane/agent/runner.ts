// One round of an agent pipeline, as a dataplane Worker (or a fixture
// harness) runs it: a burst from each side of the bump in the wire (the
// fabric burst reads the hand-off datagrams and adopts in the same pass),
// timers, then the frames the agent made (SYNs and requests to the stack,
// HANDOFF_ACK / NACK / FLOW_END to the director) in one burst. The runner
// wires the agent's hand-off path to the shim: answers are claimed from
// the emitter's slot and written in place, as are the segments the agent
// makes for the stack and the client; tags are computed and checked by the
// shim's HMAC over the mbufs (key slot spec.key_slot, set by the main
// isolate before the Workers start). Everything here is made once; a round
// allocates nothing.

import type { Native } from "../../native/mod.ts";
import { create_emitter, type Emitter } from "../emitter.ts";
import {
  AGENT_COUNTER_NAMES,
  type AgentState,
  create_agent_state,
  type HandoffIo,
} from "./state.ts";
import { agent_fabric_burst, agent_server_burst } from "./burst.ts";
import { agent_service } from "./service.ts";
import type { AgentPipelineSpec } from "../worker_protocol.ts";

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
}

export function create_agent_runner(
  native: Native,
  options: {
    spec: AgentPipelineSpec;
    slot: number;
    queue: number;
    burst: number;
    counters?: Float64Array;
    /** The wall clock datagrams are stamped and checked with; Date.now unless set (fixtures). */
    wall_clock?: () => number;
    /** The caller's monotonic clock at start (the rounds' `now`); performance.now() unless set. */
    now?: number;
  },
): AgentRunner {
  const { spec } = options;
  const bytes = native.region();
  const emitter = create_emitter(native, { slot: spec.emit_slot, queue: options.queue });
  const key_slot = spec.key_slot;
  const io: HandoffIo = {
    bytes,
    claim: emitter.claim,
    discard: emitter.discard,
    sign: (offset, length, tag_offset) => native.hmac_region(key_slot, offset, length, tag_offset),
    verify: (offset, length, tag_offset) =>
      native.hmac_verify_region(key_slot, offset, length, tag_offset),
    wall_clock: options.wall_clock ?? Date.now,
  };
  const now = options.now ?? performance.now();
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
    orphans_until: spec.orphan_reset_ms ? now + spec.orphan_reset_ms : 0,
    address: spec.address,
    handoff_port: spec.handoff_port,
    agent_id: spec.agent_id,
    directors: spec.directors,
    freshness_ms: spec.freshness_ms,
    max_datagram: spec.max_datagram,
    replay_window: spec.replay_window,
  }, { counters: options.counters, io, now });
  return {
    state,
    native,
    bytes,
    slot: options.slot,
    desc: native.slot_descriptors(options.slot),
    emitter,
    queue: options.queue,
    burst: options.burst,
    spec,
  };
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
  agent_service(state, now);
  runner.emitter.flush();
  return from_fabric + from_server;
}

/** The agent's counters by name. */
export function agent_runner_counters(runner: AgentRunner): Record<string, number> {
  return Object.fromEntries(AGENT_COUNTER_NAMES.map((name, i) => [name, runner.state.counters[i]]));
}
