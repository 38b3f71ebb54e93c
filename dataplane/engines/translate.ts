// translate (a benchmark mode): the agent's real server → client fast path
// over the generator's flows, each installed once as an ESTABLISHED
// hand-off. Its counters are the forwarding counters followed by the
// agent's. The burst is the agent's own (allocates nothing, never throws).

import {
  AGENT_COUNTER_WORDS,
  agent_install_flow,
  agent_server_burst,
  create_agent_state,
  DEFAULT_AGENT_TIMERS,
} from "../agent/mod.ts";
import {
  generated_flow,
  GENERATOR_CLIENT_MAC,
  GENERATOR_SERVER_MAC,
  GENERATOR_VIP,
  GENERATOR_VIP_PORT,
} from "../generator.ts";
import { ip_to_u32, mac_to_bytes } from "../packet.ts";
import type { PipelineSpec } from "../worker_protocol.ts";
import { COUNTER_WORDS } from "./counters.ts";
import type { ForwardEngine, ForwardPipeline } from "./engine.ts";

export const translate_engine = {
  name: "translate",
  counter_words: COUNTER_WORDS + AGENT_COUNTER_WORDS,
  begin: install_generated_flows,
  burst: (p, bytes, n) => agent_server_burst(p.agent!, bytes, p.desc, n, burst_clock()),
} as const satisfies ForwardEngine;

/** Bursts between two clock reads. */
const CLOCK_EVERY = 16;
let bursts_since_clock = CLOCK_EVERY;
let clock_ms = 0;

/**
 * The agent's clock for a burst: performance.now() costs about 100 ns here
 * (an op call), 3 ns a packet when read per 32-frame burst, so it is read
 * every CLOCK_EVERY bursts. A burst takes microseconds and the agent's
 * timers are milliseconds (linger, idle time-out), so nothing sees the lag.
 */
function burst_clock(): number {
  if (++bursts_since_clock >= CLOCK_EVERY) {
    bursts_since_clock = 0;
    clock_ms = performance.now();
  }
  return clock_ms;
}

function install_generated_flows(
  pipeline: ForwardPipeline,
  p: PipelineSpec,
  counters: SharedArrayBuffer,
): void {
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
      counters,
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
  pipeline.agent = state;
}
