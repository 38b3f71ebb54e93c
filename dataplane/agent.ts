// The agent role: a bump in the wire in front of one server. Read top to
// bottom: options and config, EAL, pool, ports, rings, the control Worker
// (hand-off datagrams), the dataplane Worker (the agent pipeline), run until
// a signal, stop both, close the ports, final counters.

import { open_native } from "../native/mod.ts";
import type { AppOptions } from "../control/cli.ts";
import { load_config } from "../control/config.ts";
import type { AgentControlReply, AgentControlSpec } from "../control/agent_control.ts";
import { max_request_bytes } from "../control/handoff.ts";
import { format_nic_stats, new_stats_display, throughput } from "../control/stats.ts";
import {
  close_ports,
  configure_ports,
  create_pool,
  discover_ports,
  format_mac,
  forwarding_cpus,
  init_eal,
  listen_for_stop,
  type PortInfo,
  run_until,
  SetupError,
  start_workers,
  stop_workers,
} from "./engine.ts";
import { AGENT_COUNTER_NAMES, DEFAULT_AGENT_TIMERS } from "./agent_path.ts";
import type { PipelineSpec } from "./worker_protocol.ts";

export async function agent_main(eal_args: string[], app: AppOptions): Promise<number> {
  const stop = listen_for_stop();
  if (!app.config) throw new SetupError("--role=agent needs --config=FILE");
  const config = await load_config(app.config, { role: "agent" });
  const agent = config.agent!;
  const native = open_native();
  init_eal(native, eal_args);
  try {
    const ports = discover_ports(native, eal_args);
    for (
      const [field, id] of [["fabric_port", agent.fabric_port], [
        "server_port",
        agent.server_port,
      ]] as const
    ) {
      if (!ports.some((p) => p.id === id)) {
        throw new SetupError(`agent.${field}: port ${id} does not exist (${ports.length} ports)`);
      }
    }
    const cpus = forwarding_cpus(native, 1);
    create_pool(native, app, ports.length, cpus.length + 1);
    configure_ports(native, ports, app);
    print_ports(ports, agent.fabric_port, agent.server_port);

    const adoption_ring = native.ring_create("baton_agent_adopt", 4096);
    const event_ring = native.ring_create("baton_agent_events", 4096);
    const max_request = max_request_bytes(config.max_datagram);
    const control = await start_control_worker({
      host: agent.control.host,
      port: agent.control.port,
      key: config.key,
      max_datagram: config.max_datagram,
      max_request,
      adoption_ring,
      event_ring,
    });

    const fabric = ports.find((p) => p.id === agent.fabric_port)!;
    const pipeline: PipelineSpec = {
      kind: "agent",
      slot: 0,
      rx_port: agent.fabric_port,
      rx_queue: 0,
      tx_port: agent.server_port,
      tx_queue: 0,
      burst: app.burst,
      counters_offset: 0,
      agent: {
        fabric_port: agent.fabric_port,
        server_port: agent.server_port,
        emit_slot: 1,
        server_mac: Array.from(agent.server_mac),
        agent_mac: Array.from(fabric.mac),
        flow_capacity: agent.flows,
        max_request,
        max_adopting: DEFAULT_AGENT_TIMERS.max_adopting,
        rto_ms: agent.rto_ms,
        adopt_timeout_ms: agent.adopt_timeout_ms,
        linger_ms: agent.linger_ms,
        idle_timeout_ms: agent.idle_timeout_ms,
        adoption_ring,
        event_ring,
      },
    };
    const running = await start_workers(cpus, [[pipeline]]);
    console.log(
      `agent: hand-offs on udp ${agent.control.host}:${agent.control.port}, server ${
        format_mac(agent.server_mac)
      } behind port ${agent.server_port}`,
    );

    const display = new_stats_display();
    const counters = () =>
      Object.fromEntries(AGENT_COUNTER_NAMES.map((name, i) => [name, running.counters[i]]));
    const show = () => {
      for (const port of ports) {
        const stats = native.port_stats(port.id);
        console.log(format_nic_stats(port.id, stats, throughput(display, port.id, stats)));
      }
      console.log(`agent counters: ${format_counters(counters())}`);
    };
    show();
    const signal = await run_until(stop, app.stats_period, show);
    console.log(`\nSignal ${signal} received, stopping the agent...`);

    const control_counters = await control.stop();
    await stop_workers(running);
    console.log(`agent counters: ${format_counters(counters())}`);
    console.log(`agent control counters: ${format_counters(control_counters)}`);
    close_ports(native, ports);
    console.log("Bye...");
    return 0;
  } finally {
    native.eal_cleanup();
  }
}

function print_ports(ports: PortInfo[], fabric_port: number, server_port: number) {
  for (const port of ports) {
    const role = port.id === fabric_port ? "fabric" : port.id === server_port ? "server" : "unused";
    console.log(`Port ${port.id} (${port.name}): ${format_mac(port.mac)}, ${role} side`);
  }
}

/** Non-zero counters, "name=value" separated by spaces (all of them when all are zero). */
export function format_counters(counters: Record<string, number>): string {
  const shown = Object.entries(counters).filter(([, v]) => v !== 0);
  return (shown.length > 0 ? shown : Object.entries(counters)).map(([k, v]) => `${k}=${v}`).join(
    " ",
  );
}

interface ControlWorker {
  stop(): Promise<Record<string, number>>;
}

async function start_control_worker(spec: AgentControlSpec): Promise<ControlWorker> {
  const worker = new Worker(new URL("../control/agent_control.ts", import.meta.url), {
    type: "module",
  });
  const replies: ((reply: AgentControlReply) => void)[] = [];
  worker.onmessage = (event: MessageEvent<AgentControlReply>) => replies.shift()?.(event.data);
  const next = () => new Promise<AgentControlReply>((resolve) => replies.push(resolve));
  const listening = next();
  worker.postMessage({ type: "start", spec });
  const reply = await listening;
  if (reply.type !== "listening") {
    worker.terminate();
    throw new SetupError(
      `agent.control ${spec.host}:${spec.port}: ${
        reply.type === "failed" ? reply.error : reply.type
      }`,
    );
  }
  return {
    async stop() {
      const stopped = next();
      worker.postMessage({ type: "stop" });
      const last = await stopped;
      worker.terminate();
      return last.type === "stopped" ? last.counters : {};
    },
  };
}
