// A DPDK process for the agent's packet fixtures: two net_pcap ports
// (port 0 = fabric side, port 1 = server side) read the case's input pcaps
// and write its output pcaps; the agent's real pipeline (agent_round, the
// same code a dataplane Worker runs) translates them, with the case's flows
// installed as ESTABLISHED. Prints the agent's counters as one JSON line.
//
// usage: deno run -A agent_fixture_main.ts CASE.json   (see agent_fixture_test.ts)

import { close_fixture_ports, open_fixture_ports } from "./fixture_ports.ts";
import {
  agent_install_flow,
  agent_round,
  agent_runner_counters,
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
  server_wscale: number;
  director_wscale: number;
  sack_permitted: boolean;
  timestamps: boolean;
}

interface FixtureCase {
  dir: string;
  server_mac: string;
  flows: FixtureFlow[];
}

const spec: FixtureCase = JSON.parse(await Deno.readTextFile(Deno.args[0]));
const fixture = open_fixture_ports("agentfix", [
  `net_pcap0,rx_pcap=${spec.dir}/fabric_in.pcap,tx_pcap=${spec.dir}/fabric_out.pcap`,
  `net_pcap1,rx_pcap=${spec.dir}/server_in.pcap,tx_pcap=${spec.dir}/server_out.pcap`,
]);
const { native, ports } = fixture;
const runner = create_agent_runner(native, {
  spec: {
    fabric_port: 0,
    server_port: 1,
    emit_slot: 1,
    server_mac: Array.from(mac_to_bytes(spec.server_mac)),
    agent_mac: Array.from(ports[0].mac),
    ...DEFAULT_AGENT_TIMERS,
    flow_capacity: 1024,
    adoption_ring: native.ring_create("fixture_adopt", 64),
    event_ring: native.ring_create("fixture_events", 64),
  },
  slot: 0,
  queue: 0,
  burst: 32,
});
const now = performance.now();
for (const flow of spec.flows) {
  agent_install_flow(runner.state, {
    ...flow,
    client_ip: ip_to_u32(flow.client_ip),
    vip: ip_to_u32(flow.vip),
    client_mac: mac_to_bytes(flow.client_mac),
  }, now);
}
// pcap rx hands out the whole file at once; a few empty rounds mean it is done
for (let empty = 0; empty < 20;) {
  empty = agent_round(runner, performance.now()) === 0 ? empty + 1 : 0;
}
console.log(JSON.stringify(agent_runner_counters(runner)));
close_fixture_ports(fixture);
