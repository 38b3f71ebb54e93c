// A DPDK process for the agent's packet fixtures: two net_pcap ports
// (port 0 = fabric side, port 1 = server side) whose tx_pcaps record what
// the agent sends each way: to the client, to the stack, and its answers
// to the director (HANDOFF_ACK / NACK / FLOW_END frames, on the fabric
// port like everything towards the client). The case is a list of steps
// run in one process, because a flow must live from its hand-off (a
// HANDOFF frame on the fabric port, or its installation as ESTABLISHED)
// through its segments to its end. net_pcap rx hands out a whole file at
// once, so the harness injects each step's frames itself: it copies them
// into real mbufs of the runner's slot and calls the agent's bursts and
// tx_burst, exactly what agent_round does after rx_burst, then agent_round
// (with empty rx pcaps) for the rest: timers, the frames the agent makes.
// The monotonic clock is the step's `now` (installed flows were last seen
// at 0) and the wall clock `wall + now`, so time-outs and timestamps are
// reproducible; tags are the shim's HMAC under the case's key.
//
// usage: deno run -A agent_fixture_main.ts CASE.json   (see agent_fixture_test.ts)
// stdout (last line): {"counters", "steps": [{"to_fabric", "to_server"}]} as JSON.

import { close_fixture_ports, open_fixture_ports } from "./fixture_ports.ts";
import {
  agent_fabric_burst,
  agent_install_flow,
  AGENT_KEY_SLOT_BASE,
  agent_round,
  agent_runner_counters,
  agent_server_burst,
  create_agent_runner,
  DEFAULT_AGENT_TIMERS,
} from "../../dataplane/agent/mod.ts";
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
  ts_route?: number;
  server_wscale: number;
  director_wscale: number;
  sack_permitted: boolean;
  timestamps: boolean;
  stack_ack?: number;
  stack_window?: number;
  stack_next?: number;
  epoch?: number;
  id?: number;
  /** Where its FLOW_END goes (as if it had come by a HANDOFF from there). */
  director?: { mac: string; ip: string; port: number };
}

interface FixtureStep {
  /** The clock (ms) for this step's bursts and service. */
  now: number;
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
  /** The agent's hand-off configuration; `wall` is the wall clock at now = 0. */
  agent: {
    address: string;
    handoff_port: number;
    agent_id: number;
    key: string;
    directors?: { ip: string; port: number }[];
    freshness_ms: number;
    max_datagram: number;
    wall: number;
  };
  flows: FixtureFlow[];
  steps: FixtureStep[];
}

const spec: FixtureCase = JSON.parse(await Deno.readTextFile(Deno.args[0]));
const fixture = open_fixture_ports("agentfix", [
  `net_pcap0,rx_pcap=${spec.dir}/fabric_in.pcap,tx_pcap=${spec.dir}/fabric_out.pcap`,
  `net_pcap1,rx_pcap=${spec.dir}/server_in.pcap,tx_pcap=${spec.dir}/server_out.pcap`,
]);
const { native, ports } = fixture;
// the agent's own key, in the shim before its pipeline starts (as control/roles.ts does)
native.hmac_key_set(AGENT_KEY_SLOT_BASE, from_hex(spec.agent.key));
let now = 0;
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
    address: ip_to_u32(spec.agent.address),
    handoff_port: spec.agent.handoff_port,
    directors: spec.agent.directors?.map((d) => ({ ip: ip_to_u32(d.ip), port: d.port })),
    agent_id: spec.agent.agent_id,
    key_slot: AGENT_KEY_SLOT_BASE,
    freshness_ms: spec.agent.freshness_ms,
    max_datagram: spec.agent.max_datagram,
    replay_window: 64,
  },
  slot: 0,
  queue: 0,
  burst: 32,
  wall_clock: () => spec.agent.wall + now,
  now: 0,
});
for (const flow of spec.flows) {
  agent_install_flow(runner.state, {
    ...flow,
    client_ip: ip_to_u32(flow.client_ip),
    vip: ip_to_u32(flow.vip),
    client_mac: mac_to_bytes(flow.client_mac),
    director: flow.director && {
      mac: mac_to_bytes(flow.director.mac),
      ip: ip_to_u32(flow.director.ip),
      port: flow.director.port,
    },
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

const steps: { to_fabric: number; to_server: number }[] = [];
let fabric_before = 0;
let server_before = 0;
for (const step of spec.steps) {
  now = step.now;
  inject((step.fabric ?? []).map(from_hex), agent_fabric_burst, step.now);
  inject((step.server ?? []).map(from_hex), agent_server_burst, step.now);
  // the rest of a runner round: rx (the pcaps are empty), timers, and the frames the
  // agent made (answers written during the bursts wait in the emitter for this send)
  agent_round(runner, step.now);
  const fabric_tx = native.port_stats(0).tx_packets;
  const server_tx = native.port_stats(1).tx_packets;
  steps.push({ to_fabric: fabric_tx - fabric_before, to_server: server_tx - server_before });
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
