// The hand-off roles: --role=director, --role=agent, or both in one process
// (a small host, or the single-machine lab). Read top to bottom: options and
// config, EAL, pool, ports, the hand-off keys into the shim, the director's
// control Worker (selection and health, through shared memory), one
// dataplane Worker running every pipeline (hand-offs travel in-band on the
// fabric), run until a signal (SIGTERM drains the director first), stop,
// close ports, final counters.

import { open_native } from "../native/mod.ts";
import type { AppOptions, Role } from "./cli.ts";
import {
  type AgentSection,
  type BatonConfig,
  type DirectorSection,
  load_config,
} from "./config.ts";
import {
  DIRECTOR_CONTROL_WORKER,
  director_stats,
  type DirectorControlReply,
  type DirectorControlReport,
  type DirectorControlSpec,
  start_bird_driver,
} from "./director/mod.ts";
import {
  create_access_log_ring,
  create_server_stats,
  http_response,
  max_request_bytes,
} from "../dataplane/wire/mod.ts";
import { format_nic_stats, new_stats_display, throughput } from "./console_stats.ts";
import { serve_metrics, type Snapshot } from "./metrics.ts";
import { watch_reloads } from "./reload.ts";
import { type AccessLogDrain, start_access_log } from "./access_log.ts";
import { cluster_keys } from "./cluster_keys.ts";
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
  remove_runtime_dir,
  run_until,
  SetupError,
  start_workers,
  stop_workers,
} from "./setup.ts";
import {
  AGENT_COUNTER_NAMES,
  AGENT_KEY_SLOT_BASE,
  DEFAULT_AGENT_TIMERS,
} from "../dataplane/agent/mod.ts";
import { DIRECTOR_COUNTER_NAMES } from "../dataplane/director/mod.ts";
import {
  type AgentPipelineSpec,
  create_selection_table,
  type DirectorPipelineSpec,
  idle_policy,
  ip_to_u32,
  pipeline_counter_words,
  type PipelineSpec,
} from "../dataplane/mod.ts";

/** The director's agent keys take shim HMAC slots from here (agents from AGENT_KEY_SLOT_BASE). */
const DIRECTOR_KEY_SLOT_BASE = 0;
/**
 * Server entries a director holds for the run (one key slot each, below the
 * agents' slots): room for servers a reload adds; a removed server keeps its
 * entry while its flows may live (control/director/reload.ts).
 */
const DIRECTOR_SERVER_ENTRIES = AGENT_KEY_SLOT_BASE - DIRECTOR_KEY_SLOT_BASE;
/** VIPs and ports per VIP the selection table has room for beyond the config's, for reloads. */
const DIRECTOR_MIN_VIPS = 16;
const DIRECTOR_MIN_PORTS_PER_VIP = 8;

/** A control Worker as the main isolate sees it. */
interface ControlWorker<Stats> {
  request(message: unknown): Promise<Stats>;
  post(message: unknown): void;
  stop(): Promise<Stats>;
}

export async function roles_main(eal_args: string[], app: AppOptions): Promise<number> {
  const stop = listen_for_stop();
  // SIGHUP's default is to end the process: until the reloader listens, one is only noted
  const early_hup = () => console.warn("SIGHUP while starting: not reloaded (send it again)");
  Deno.addSignalListener("SIGHUP", early_hup);
  const roles: Role[] = app.roles;
  if (!app.config) throw new SetupError(`--role=${roles.join(",")} needs --config=FILE`);
  const config = await load_config(app.config, { roles });
  const native = open_native();
  init_eal(native, eal_args);
  try {
    const ports = discover_ports(native, eal_args);
    check_ports(ports, config);
    const cpus = forwarding_cpus(native, 1);
    create_pool(native, app, ports.length, cpus.length + 1);
    configure_ports(native, ports, app);
    print_ports(ports, config);

    const pipelines: PipelineSpec[] = [];
    let next_slot = 0;
    let next_counter = 0;
    const add_pipeline = (spec: Omit<PipelineSpec, "slot" | "counters_offset">) => {
      const pipeline = { ...spec, slot: next_slot++, counters_offset: next_counter };
      next_counter += pipeline_counter_words(spec.kind);
      pipelines.push(pipeline);
      return pipeline;
    };

    let director:
      | {
        control: ControlWorker<DirectorControlReport>;
        counters_at: number;
        capacity: { max_servers: number; max_vips: number; max_ports_per_vip: number };
        access_ring?: ReturnType<typeof create_access_log_ring>;
      }
      | undefined;
    if (config.director) {
      const d = config.director;
      if (d.servers.length > DIRECTOR_SERVER_ENTRIES) {
        throw new SetupError(
          `director.servers: ${d.servers.length} servers, a director holds ${DIRECTOR_SERVER_ENTRIES}`,
        );
      }
      // the director holds every agent's key, one shim slot per server
      const key_slots = d.servers.map((server, i) => {
        native.hmac_key_set(DIRECTOR_KEY_SLOT_BASE + i, server.key);
        return DIRECTOR_KEY_SLOT_BASE + i;
      });
      const capacity = {
        max_servers: DIRECTOR_SERVER_ENTRIES,
        max_vips: Math.max(DIRECTOR_MIN_VIPS, 2 * d.vips.length),
        max_ports_per_vip: Math.max(
          DIRECTOR_MIN_PORTS_PER_VIP,
          ...d.vips.map((v) => v.ports.length),
        ),
      };
      const shared = {
        selection: create_selection_table({
          ...capacity,
          max_servers_per_vip: capacity.max_servers,
        }).buffer,
        server_stats: create_server_stats(capacity.max_servers),
      };
      const access_ring = d.access_log ? create_access_log_ring() : undefined;
      const control = await start_control<DirectorControlReply, DirectorControlReport>(
        { url: DIRECTOR_CONTROL_WORKER, name: "director control" },
        {
          type: "start",
          spec: { director: d, key_slots, ...shared } satisfies DirectorControlSpec,
        },
        (reply) => ("stats" in reply ? reply.stats : undefined),
      );
      const emit_slot = next_slot++;
      const pipeline = add_pipeline({
        kind: "director",
        rx_port: d.port,
        rx_queue: 0,
        tx_port: d.port,
        tx_queue: 0,
        burst: app.burst,
        director: {
          ...director_pipeline(d, config, { ports, emit_slot, ...shared }),
          access_log: access_ring?.buffer,
        },
      });
      director = { control, counters_at: pipeline.counters_offset, capacity, access_ring };
      console.log(
        `director: VIPs ${
          d.vips.map((v) => `${v.address}:${v.ports.join(",")} (${v.policy})`).join(" ")
        }` +
          `, ${d.servers.length} servers, hand-offs in-band from ${d.address} udp ${config.handoff_port}`,
      );
    }

    // Agents have no control Worker: hand-offs, answers and their timers are
    // all in the poll loop, and every agent counter is a dataplane counter.
    const agents: { counters_at: number }[] = [];
    for (const [i, a] of config.agents.entries()) {
      // its own key only, in the shim before the Workers start
      const key_slot = AGENT_KEY_SLOT_BASE + i;
      native.hmac_key_set(key_slot, a.key);
      const emit_slot = next_slot++;
      const pipeline = add_pipeline({
        kind: "agent",
        rx_port: a.fabric_port,
        rx_queue: 0,
        tx_port: a.server_port,
        tx_queue: 0,
        burst: app.burst,
        agent: agent_pipeline(a, config, { ports, emit_slot, key_slot }),
      });
      agents.push({ counters_at: pipeline.counters_offset });
      console.log(
        `agent ${i}: server ${format_mac(a.server_mac)} behind port ${a.server_port}, ` +
          `hand-offs in-band to ${a.address} udp ${config.handoff_port}`,
      );
    }

    const running = await start_workers(cpus, [pipelines], idle_policy(app.idle));
    const started_at = performance.now();
    // the poll loop runs: BIRD may announce the VIPs while a server is healthy (bird.ts)
    const bird = director && config.director?.bird
      ? start_bird_driver(config.director.bird, { healthy: any_server_healthy(director.control) })
      : undefined;
    const role_counters = () => ({
      director: director
        ? named(DIRECTOR_COUNTER_NAMES, running.counters, director.counters_at)
        : undefined,
      agents: agents.map((a) => named(AGENT_COUNTER_NAMES, running.counters, a.counters_at)),
    });
    const snapshot = async (): Promise<Snapshot> => {
      const counters = role_counters();
      return {
        uptime_s: (performance.now() - started_at) / 1000,
        ports: ports.map((p) => ({ id: p.id, name: p.name, stats: native.port_stats(p.id) })),
        director: director && counters.director
          ? {
            name: config.director!.name,
            access_log: access_log?.stats(),
            dataplane: counters.director,
            control: director_stats(
              await director.control.request({ type: "stats" }),
              counters.director,
            ),
          }
          : undefined,
        agents: counters.agents.map((dataplane, i) => ({ dataplane, id: config.agents[i].id })),
      };
    };
    // SIGHUP: servers, weights and VIPs reload into the running director (reload.ts)
    const reloader = watch_reloads(
      { path: app.config, roles, config },
      director
        ? {
          set_key: (slot, key) => native.hmac_key_set(slot, key),
          apply: (message) => director!.control.request(message),
          capacity: director.capacity,
          key_slot_base: DIRECTOR_KEY_SLOT_BASE,
        }
        : undefined,
    );
    Deno.removeSignalListener("SIGHUP", early_hup);
    // names by entry, as the last reload left them (an entry keeps its index for the run)
    const access_log: AccessLogDrain | undefined = director?.access_ring
      ? await start_access_log(director.access_ring, {
        target: config.director!.access_log!,
        server_name: (index) => reloader.entries()[index]?.server.name,
      })
      : undefined;
    const metrics = config.metrics ? serve_metrics(config.metrics, snapshot) : undefined;
    if (config.metrics) {
      console.log(`metrics: http://${config.metrics.host}:${config.metrics.port}/metrics`);
    }

    const display = new_stats_display();
    const show = async () => {
      for (const port of ports) {
        const stats = native.port_stats(port.id);
        console.log(format_nic_stats(port.id, stats, throughput(display, port.id, stats)));
      }
      // one machine-readable line per period (the demo's live view reads it)
      console.log(`baton-stats ${JSON.stringify(await snapshot())}`);
    };
    await show();
    const signal = await run_until(stop, app.stats_period, show);
    console.log(`\nSignal ${signal} received, stopping...`);
    // the routers withdraw this director first, while it still serves every flow (bird.ts)
    await bird?.withdraw(signal === "SIGTERM" ? config.director!.bird!.withdraw_wait_ms : 0);
    if (signal === "SIGTERM" && director) {
      const at = director.counters_at;
      await drain(director.control, {
        grace_ms: reloader.config().director!.drain_grace_ms,
        in_flight: () => named(DIRECTOR_COUNTER_NAMES, running.counters, at),
      });
    }
    await metrics?.close();
    reloader.stop();

    const director_report = director ? await director.control.stop() : undefined;
    await stop_workers(running);
    await access_log?.close(); // the poll loop's last records too
    const last = role_counters();
    if (last.director && director_report) {
      const final = director_stats(director_report, last.director);
      console.log(`director counters: ${format_counters(last.director)}`);
      console.log(`director control counters: ${format_counters(director_report.counters)}`);
      console.log(
        `director servers: ${
          final.servers.map((s) => `${s.name}=${s.selections}${s.healthy ? "" : "(unhealthy)"}`)
            .join(" ")
        }; hand-off latency p50 ${final.latency_p50_ms.toFixed(2)} ms, p99 ${
          final.latency_p99_ms.toFixed(2)
        } ms`,
      );
    }
    last.agents.forEach((a, i) => {
      console.log(`agent ${i} counters: ${format_counters(a)}`);
    });
    close_ports(native, ports);
    console.log("Bye...");
    return 0;
  } finally {
    Deno.removeSignalListener("SIGHUP", early_hup); // a start-up that failed
    native.eal_cleanup();
    remove_runtime_dir(eal_args);
  }
}

/** SIGTERM: no new hand-offs; existing flows are forwarded until they end or the grace passes. */
async function drain(
  control: ControlWorker<DirectorControlReport>,
  options: { grace_ms: number; in_flight: () => Record<string, number> },
) {
  control.post({ type: "drain" });
  const started = performance.now();
  const deadline = started + options.grace_ms;
  for (;;) {
    const counters = options.in_flight();
    if (counters.flows_forwarding === 0 && counters.handoffs_pending === 0) {
      console.log(`drain: every flow ended after ${(performance.now() - started).toFixed(0)} ms`);
      break;
    }
    if (performance.now() > deadline) {
      console.log(
        `drain: grace period over with ${counters.flows_forwarding} flows still forwarded`,
      );
      break;
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

function check_ports(ports: PortInfo[], config: BatonConfig): void {
  const exists = (id: number) => ports.some((p) => p.id === id);
  if (config.director && !exists(config.director.port)) {
    throw new SetupError(
      `director.port: port ${config.director.port} does not exist (${ports.length} ports)`,
    );
  }
  config.agents.forEach((a, i) => {
    for (
      const [field, id] of [["fabric_port", a.fabric_port], ["server_port", a.server_port]] as const
    ) {
      if (!exists(id)) {
        throw new SetupError(
          `agents[${i}].${field}: port ${id} does not exist (${ports.length} ports)`,
        );
      }
    }
  });
}

function print_ports(ports: PortInfo[], config: BatonConfig) {
  for (const port of ports) {
    let role = "unused";
    if (config.director?.port === port.id) role = "director";
    config.agents.forEach((a, i) => {
      if (a.fabric_port === port.id) role = `agent ${i} fabric side`;
      if (a.server_port === port.id) role = `agent ${i} server side`;
    });
    console.log(`Port ${port.id} (${port.name}): ${format_mac(port.mac)}, ${role}`);
  }
}

function director_pipeline(
  d: DirectorSection,
  config: BatonConfig,
  options: {
    ports: PortInfo[];
    emit_slot: number;
    selection: SharedArrayBuffer;
    server_stats: SharedArrayBuffer;
  },
): DirectorPipelineSpec {
  const responses: Record<string, number[]> = {};
  for (const status of [400, 408, 431, 503]) responses[status] = Array.from(http_response(status));
  return {
    port: d.port,
    emit_slot: options.emit_slot,
    director_mac: Array.from(options.ports.find((p) => p.id === d.port)!.mac),
    address: ip_to_u32(d.address),
    handoff_port: config.handoff_port,
    gateway_mac: d.gateway_mac ? Array.from(d.gateway_mac) : undefined,
    // a restarted director's ids must not be taken for the old one's
    epoch: crypto.getRandomValues(new Uint32Array(1))[0],
    handoff_rto_ms: d.handoff_rto_ms,
    handoff_tries: d.handoff_tries,
    freshness_ms: config.handoff_freshness_ms,
    max_datagram: config.max_datagram,
    selection: options.selection,
    server_stats: options.server_stats,
    vips: d.vips.map((v) => ({
      ip: ip_to_u32(v.address),
      ports: v.ports,
      l4: v.policy === "l4_hash",
    })),
    ...director_keys(d),
    mss: config.fabric_mtu - 40,
    max_header: d.max_header_bytes,
    // bytes after the head ride along in the one datagram, up to what it holds
    max_request: Math.max(d.max_header_bytes, max_request_bytes(config.max_datagram)),
    request_timeout_ms: d.request_timeout_ms,
    idle_timeout_ms: d.idle_timeout_ms,
    flow_capacity: d.flows,
    max_reading: d.max_reading,
    responses,
    bfd: d.bfd.enabled
      ? { min_rx_ms: d.bfd.min_rx_ms, min_tx_ms: d.bfd.min_tx_ms, multiplier: d.bfd.multiplier }
      : undefined,
  };
}

/** Whether the control Worker holds at least one server healthy. */
function any_server_healthy(control: ControlWorker<DirectorControlReport>) {
  return async () => (await control.request({ type: "stats" })).servers.some((s) => s.healthy);
}

/** The keys every director of the site shares (cluster_keys.ts); random ones, with a warning, without a secret. */
function director_keys(d: DirectorSection) {
  const keys = cluster_keys(d.cookie_key);
  if (!keys.shared) {
    console.warn(
      "director: no cookie_key_file and no key_file: SYN cookies and TSval routing use a key " +
        "of this run only (a restarted or second director cannot carry on its connections)",
    );
  }
  return { cookie_key: keys.cookie_key, route_key: keys.route_key, ts_offset: keys.ts_offset };
}

function agent_pipeline(
  a: AgentSection,
  config: BatonConfig,
  options: { ports: PortInfo[]; emit_slot: number; key_slot: number },
): AgentPipelineSpec {
  const { ports, emit_slot, key_slot } = options;
  return {
    fabric_port: a.fabric_port,
    server_port: a.server_port,
    emit_slot,
    server_mac: Array.from(a.server_mac),
    agent_mac: Array.from(ports.find((p) => p.id === a.fabric_port)!.mac),
    flow_capacity: a.flows,
    max_request: max_request_bytes(config.max_datagram),
    max_adopting: DEFAULT_AGENT_TIMERS.max_adopting,
    rto_ms: a.rto_ms,
    adopt_timeout_ms: a.adopt_timeout_ms,
    linger_ms: a.linger_ms,
    idle_timeout_ms: a.idle_timeout_ms,
    // a restarted agent that knows its VIPs resets the flows of its earlier run
    // for as long as they could have lived
    vips: a.vips?.map(ip_to_u32),
    orphan_reset_ms: a.vips ? a.idle_timeout_ms : 0,
    address: ip_to_u32(a.address),
    handoff_port: config.handoff_port,
    // before any HMAC, only these senders are read (a director entry without a port: any)
    directors: a.directors?.map((d) => ({ ip: ip_to_u32(d.host), port: d.port ?? 0 })),
    agent_id: a.id,
    key_slot,
    freshness_ms: config.handoff_freshness_ms,
    max_datagram: config.max_datagram,
  };
}

function named(
  names: readonly string[],
  counters: Float64Array,
  at: number,
): Record<string, number> {
  return Object.fromEntries(names.map((name, i) => [name, counters[at + i]]));
}

/** Non-zero counters, "name=value" separated by spaces (all of them when all are zero). */
export function format_counters(counters: Record<string, number>): string {
  const shown = Object.entries(counters).filter(([, v]) => v !== 0);
  return (shown.length > 0 ? shown : Object.entries(counters)).map(([k, v]) => `${k}=${v}`).join(
    " ",
  );
}

/** Starts a control Worker and waits until it listens; replies are matched in order. */
async function start_control<Reply extends { type: string }, Stats>(
  module: { url: URL; name: string },
  start_message: unknown,
  stats_of: (reply: Reply) => Stats | undefined,
): Promise<ControlWorker<Stats>> {
  const worker = new Worker(module.url, { type: "module" });
  // The Workers guard their own entry points; should anything still escape,
  // it is logged here and the process keeps serving (the dataplane runs on).
  worker.onerror = (event) => {
    event.preventDefault();
    console.error(`${module.name}: uncaught error: ${event.message}`);
  };
  const waiting: ((reply: Reply) => void)[] = [];
  worker.onmessage = (event: MessageEvent<Reply>) => waiting.shift()?.(event.data);
  const next = () => new Promise<Reply>((resolve) => waiting.push(resolve));
  const listening = next();
  worker.postMessage(start_message);
  const reply = await listening;
  if (reply.type !== "listening") {
    worker.terminate();
    const error = (reply as unknown as { error?: string }).error ?? reply.type;
    throw new SetupError(`${module.name}: ${error}`);
  }
  return {
    async request(message) {
      const answer = next();
      worker.postMessage(message);
      return stats_of(await answer)!;
    },
    post(message) {
      worker.postMessage(message);
    },
    async stop() {
      const answer = next();
      worker.postMessage({ type: "stop" });
      const stats = stats_of(await answer)!;
      worker.terminate();
      return stats;
    },
  };
}
