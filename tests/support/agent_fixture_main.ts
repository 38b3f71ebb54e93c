// A DPDK process for the agent's packet fixtures: two net_pcap ports
// (port 0 = fabric side, port 1 = server side) whose tx_pcaps record what
// the agent sends each way. The case is a list of steps run in one process,
// because a flow must live from its hand-off (or its installation as
// ESTABLISHED) through its segments to its end. net_pcap rx hands out a
// whole file at once, so the harness injects each step's frames itself: it
// copies them into real mbufs of the runner's slot and calls the agent's
// bursts and tx_burst, exactly what agent_round does after rx_burst, then
// agent_round (with empty rx pcaps) for the rest: hand-offs, timers, the
// frames the agent makes, events. The clock is the step's `now` (installed
// flows were last seen at 0), so time-outs are reproducible.
//
// usage: deno run -A agent_fixture_main.ts CASE.json   (see agent_fixture_test.ts)
// stdout (last line): {"counters", "steps": [{"to_fabric", "to_server", "events"}]} as JSON.

import { close_fixture_ports, open_fixture_ports } from "./fixture_ports.ts";
import {
  agent_fabric_burst,
  agent_install_flow,
  agent_round,
  agent_runner_counters,
  agent_server_burst,
  create_agent_runner,
  DEFAULT_AGENT_TIMERS,
} from "../../dataplane/agent/mod.ts";
import {
  AGENT_EVENT_REASON,
  AGENT_EVENT_TYPE,
  AGENT_EVENT_WORDS,
} from "../../dataplane/wire/mod.ts";
import { ip_to_u32, mac_to_bytes } from "../../dataplane/mod.ts";

interface FixtureFlow {
  client_ip: string;
  vip: string;
  client_port: number;
  vip_port: number;
  client_mac: string;
  client_isn: number;
  server_isn: number;
  director_next_seq: number;
  ts_delta: number;
  server_wscale: number;
  director_wscale: number;
  sack_permitted: boolean;
  timestamps: boolean;
  stack_ack?: number;
  stack_window?: number;
  stack_next?: number;
}

interface FixtureStep {
  /** The clock (ms) for this step's bursts and service. */
  now: number;
  /** A hand-off record (hex), as the control Worker puts it on the adoption ring. */
  handoff?: string;
  /** Frames (hex) into the fabric port, then into the server port, one burst each. */
  fabric?: string[];
  server?: string[];
}

interface FixtureCase {
  dir: string;
  server_mac: string;
  timers?: Partial<typeof DEFAULT_AGENT_TIMERS>;
  /** The VIPs configured for the agent, and how long after start it resets orphans. */
  vips?: string[];
  orphan_reset_ms?: number;
  flows: FixtureFlow[];
  steps: FixtureStep[];
}

const spec: FixtureCase = JSON.parse(await Deno.readTextFile(Deno.args[0]));
const fixture = open_fixture_ports("agentfix", [
  `net_pcap0,rx_pcap=${spec.dir}/fabric_in.pcap,tx_pcap=${spec.dir}/fabric_out.pcap`,
  `net_pcap1,rx_pcap=${spec.dir}/server_in.pcap,tx_pcap=${spec.dir}/server_out.pcap`,
]);
const { native, ports } = fixture;
const adoption_ring = native.ring_create("fixture_adopt", 64);
const event_ring = native.ring_create("fixture_events", 64);
const runner = create_agent_runner(native, {
  spec: {
    fabric_port: 0,
    server_port: 1,
    emit_slot: 1,
    server_mac: Array.from(mac_to_bytes(spec.server_mac)),
    agent_mac: Array.from(ports[0].mac),
    ...DEFAULT_AGENT_TIMERS,
    ...spec.timers,
    // small, so one service sweep (64 slots) sees every flow
    flow_capacity: 64,
    vips: spec.vips?.map(ip_to_u32),
    orphan_reset_ms: spec.orphan_reset_ms,
    adoption_ring,
    event_ring,
  },
  slot: 0,
  queue: 0,
  burst: 32,
});
for (const flow of spec.flows) {
  agent_install_flow(runner.state, {
    ...flow,
    client_ip: ip_to_u32(flow.client_ip),
    vip: ip_to_u32(flow.vip),
    client_mac: mac_to_bytes(flow.client_mac),
  }, 0);
}

/** Frames into real mbufs, through one of the agent's bursts, out the real ports. */
function inject(
  frames: Uint8Array[],
  burst: typeof agent_fabric_burst,
  now: number,
): void {
  if (frames.length === 0) return;
  const bytes = runner.bytes;
  for (let i = 0; i < frames.length; i++) {
    const offset = native.alloc(runner.slot, i, frames[i].length);
    if (offset < 0) throw new Error("mbuf pool empty");
    bytes.set(frames[i], offset);
  }
  burst(runner.state, bytes, runner.desc, frames.length, now);
  native.tx_burst(runner.queue, runner.slot, frames.length);
}

const event_bytes = new Uint8Array(AGENT_EVENT_WORDS * 4);
const event_words = new Int32Array(event_bytes.buffer);
const steps: { to_fabric: number; to_server: number; events: number[][] }[] = [];
let fabric_before = 0;
let server_before = 0;
for (const step of spec.steps) {
  if (step.handoff !== undefined && !native.ring_enqueue(adoption_ring, from_hex(step.handoff))) {
    throw new Error("adoption ring full");
  }
  inject((step.fabric ?? []).map(from_hex), agent_fabric_burst, step.now);
  inject((step.server ?? []).map(from_hex), agent_server_burst, step.now);
  // the rest of a runner round: rx (the pcaps are empty), hand-offs, timers, emitted frames, events
  agent_round(runner, step.now);
  const events: number[][] = [];
  while (native.ring_dequeue(event_ring, event_bytes) >= 0) {
    events.push([event_words[AGENT_EVENT_TYPE], event_words[AGENT_EVENT_REASON]]);
  }
  const fabric_tx = native.port_stats(0).tx_packets;
  const server_tx = native.port_stats(1).tx_packets;
  steps.push({
    to_fabric: fabric_tx - fabric_before,
    to_server: server_tx - server_before,
    events,
  });
  fabric_before = fabric_tx;
  server_before = server_tx;
}
console.log(JSON.stringify({ counters: agent_runner_counters(runner), steps }));
close_fixture_ports(fixture);

function from_hex(hex: string): Uint8Array {
  const bytes = new Uint8Array(hex.length / 2);
  for (let i = 0; i < bytes.length; i++) bytes[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return bytes;
}
