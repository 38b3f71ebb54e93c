// The forwarding role: dpdk-testpmd's io, mac and macswap modes (same
// options, same output), plus the "rewrite" fast path the benchmarks use.
// It reads top to bottom like DPDK's l2fwd: options, EAL, pool, ports,
// Workers, loop until a signal, stop, close ports, final statistics.

import { open_native } from "../native/mod.ts";
import { type AppOptions, default_peer_mac, topology_tx_port } from "./cli.ts";
import {
  format_forward_stats,
  format_nic_stats,
  new_stats_display,
  throughput,
} from "./console_stats.ts";
import {
  close_ports,
  configure_ports,
  create_pool,
  discover_ports,
  flush_rx,
  format_mac,
  forwarding_cpus,
  init_eal,
  listen_for_stop,
  MAIN_SLOT,
  type PortInfo,
  remove_runtime_dir,
  run_until,
  SetupError,
  start_workers,
  stop_workers,
} from "./setup.ts";
import {
  COUNTER_DROPPED,
  COUNTER_RX,
  COUNTER_TX,
  COUNTER_WORDS,
  generate_tcp_frames,
  idle_policy,
  ip_to_u32,
  pipeline_counter_words,
  type PipelineSpec,
} from "../dataplane/mod.ts";
import { AGENT_COUNTER_NAMES } from "../dataplane/agent/mod.ts";

/** The rewrite fast path's fixed translation (a stand-in for one flow's agent state). */
const REWRITE_DST_IP = "198.18.1.1";
const REWRITE_SEQ_DELTA = 0x7fff_1234;

export async function forward_main(eal_args: string[], app: AppOptions): Promise<number> {
  const stop = listen_for_stop();
  const native = open_native();
  init_eal(native, eal_args);
  try {
    const ports = discover_ports(native, eal_args);
    const cpus = forwarding_cpus(native, app.nb_cores);
    create_pool(native, app, ports.length, cpus.length + 1);
    configure_ports(native, ports, app);
    print_ports(native, ports);

    if (app.gen_flows > 0) fill_pool_with_flows(native, app);
    if (!app.no_flush_rx) flush_rx(native, ports, app.rxq);
    if (app.tx_first) send_first_burst(native, ports, app);

    const pipelines = plan_pipelines(ports, app, cpus.length);
    print_forwarding_config(app, pipelines, cpus);
    const running = await start_workers(cpus, pipelines, idle_policy(app.idle));

    const display = new_stats_display();
    const show = () => {
      for (const port of ports) {
        const stats = native.port_stats(port.id);
        console.log(format_nic_stats(port.id, stats, throughput(display, port.id, stats)));
      }
    };
    show(); // first sample, so the first period shows a rate
    const signal = await run_until(stop, app.stats_period, show);
    console.log(`\nSignal ${signal} received, preparing to exit...`);

    await stop_workers(running);
    print_final_stats(native, ports, pipelines.flat(), running.counters);
    close_ports(native, ports);
    console.log("Bye...");
    return 0;
  } finally {
    native.eal_cleanup();
    remove_runtime_dir(eal_args);
  }
}

function print_ports(native: ReturnType<typeof open_native>, ports: PortInfo[]) {
  for (const port of ports) {
    const link = native.port_link(port.id);
    console.log(
      `Port ${port.id} (${port.name}): ${format_mac(port.mac)}, link ${link.up ? "up" : "down"}` +
        (link.up ? ` ${link.speed_mbps} Mbps` : ""),
    );
  }
}

/** testpmd's streams (every rx queue of every port), spread over the forwarding cores. */
export function plan_pipelines(
  ports: PortInfo[],
  app: AppOptions,
  nb_workers: number,
): PipelineSpec[][] {
  const streams: PipelineSpec[] = [];
  for (let queue = 0; queue < app.rxq; queue++) {
    for (let index = 0; index < ports.length; index++) {
      const tx_index = topology_tx_port(index, ports.length, app.port_topology);
      const tx = ports[tx_index];
      streams.push({
        kind: app.forward_mode,
        slot: streams.length,
        rx_port: ports[index].id,
        rx_queue: queue,
        tx_port: tx.id,
        tx_queue: queue % app.txq,
        burst: app.burst,
        counters_offset: streams.length * pipeline_counter_words(app.forward_mode),
        src_mac: Array.from(tx.mac),
        dst_mac: Array.from(app.eth_peers.get(tx.id) ?? default_peer_mac(tx.id)),
        dst_ip: ip_to_u32(REWRITE_DST_IP),
        seq_delta: REWRITE_SEQ_DELTA,
        translate_flows: Math.max(app.gen_flows, app.burst),
      });
    }
  }
  if (streams.length >= MAIN_SLOT) {
    throw new SetupError(
      `${streams.length} streams (ports × rxq) exceed the ${MAIN_SLOT} baton supports`,
    );
  }
  // Each Worker takes a contiguous block of streams; no Worker without one.
  const workers = Math.min(nb_workers, streams.length);
  const plan: PipelineSpec[][] = Array.from({ length: workers }, () => []);
  streams.forEach((stream, i) => plan[Math.floor((i * workers) / streams.length)].push(stream));
  return plan;
}

function print_forwarding_config(app: AppOptions, plan: PipelineSpec[][], cpus: number[]) {
  const streams = plan.flat().length;
  console.log(
    `${app.forward_mode} packet forwarding - ports=${
      plan.flat().length / app.rxq
    } - cores=${plan.length} ` +
      `- streams=${streams} - topology=${app.port_topology}`,
  );
  plan.forEach((pipelines, i) => {
    const list = pipelines
      .map((p) => `RX P=${p.rx_port}/Q=${p.rx_queue} -> TX P=${p.tx_port}/Q=${p.tx_queue}`)
      .join(", ");
    console.log(`Logical Core ${cpus[i]} (worker ${i}): ${list}`);
  });
}

function fill_pool_with_flows(native: ReturnType<typeof open_native>, app: AppOptions) {
  const frames = generate_tcp_frames({
    flows: app.gen_flows,
    frame_length: app.txpkts,
    direction: app.forward_mode === "translate" ? "from_vip" : "to_vip",
  });
  const filled = native.pool_fill(frames);
  console.log(`Generator: ${filled} mbufs hold ${app.gen_flows} TCP/IPv4 flows`);
}

/** testpmd --tx-first: one burst of generated frames out of every port before forwarding. */
function send_first_burst(
  native: ReturnType<typeof open_native>,
  ports: PortInfo[],
  app: AppOptions,
) {
  const frames = generate_tcp_frames({
    flows: Math.max(app.gen_flows, app.burst),
    frame_length: app.txpkts,
    direction: app.forward_mode === "translate" ? "from_vip" : "to_vip",
  });
  const bytes = native.region();
  const desc = native.slot_descriptors(MAIN_SLOT);
  for (const port of ports) {
    let n = 0;
    for (; n < app.burst; n++) {
      const offset = native.alloc(MAIN_SLOT, n, app.txpkts);
      if (offset < 0) break;
      bytes.set(frames[n % frames.length], offset);
      desc[n * 4 + 2] = port.id;
    }
    native.tx_burst(0, MAIN_SLOT, n);
  }
}

function print_final_stats(
  native: ReturnType<typeof open_native>,
  ports: PortInfo[],
  pipelines: PipelineSpec[],
  counters: Float64Array,
) {
  const totals = new Map(ports.map((p) => [p.id, { rx: 0, rx_dropped: 0, tx: 0, tx_dropped: 0 }]));
  for (const p of pipelines) {
    const base = p.counters_offset;
    totals.get(p.rx_port)!.rx += counters[base + COUNTER_RX];
    totals.get(p.tx_port)!.tx += counters[base + COUNTER_TX];
    totals.get(p.tx_port)!.tx_dropped += counters[base + COUNTER_DROPPED];
  }
  for (const p of pipelines.filter((p) => p.kind === "translate")) {
    const agent = counters.subarray(p.counters_offset + COUNTER_WORDS);
    const named = AGENT_COUNTER_NAMES.map((name, i) => [name, agent[i]] as const)
      .filter(([, value]) => value > 0);
    console.log(`  translate P=${p.rx_port}: ${named.map(([k, v]) => `${k}=${v}`).join(" ")}`);
  }
  let rx_all = 0, tx_all = 0, dropped_all = 0;
  for (const port of ports) {
    const t = totals.get(port.id)!;
    t.rx_dropped = native.port_stats(port.id).rx_missed;
    console.log(format_forward_stats(port.id, {
      rx_packets: t.rx,
      rx_dropped: t.rx_dropped,
      tx_packets: t.tx,
      tx_dropped: t.tx_dropped,
    }));
    rx_all += t.rx;
    tx_all += t.tx;
    dropped_all += t.tx_dropped;
  }
  console.log(
    "  +++++++++++++++ Accumulated forward statistics for all ports+++++++++++++++\n" +
      `  RX-packets: ${rx_all}  TX-packets: ${tx_all}  TX-dropped: ${dropped_all}\n` +
      "  ++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++",
  );
}
