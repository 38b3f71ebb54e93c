// The steps every role's main takes, each one named call: EAL, mempool,
// ports, rx flush, Workers, waiting for a signal, closing. A role's main
// (forward.ts, later director and agent) reads as a list of these.

import { type Native, NativeError } from "../native/mod.ts";
import type { AppOptions } from "./cli.ts";
import {
  CONTROL_STOP,
  CONTROL_WORDS_PER_WORKER,
  DEFAULT_IDLE,
  type IdlePolicy,
  pipeline_counter_words,
  type PipelineSpec,
  type WorkerSpec,
  type WorkerStatus,
} from "../dataplane/mod.ts";

/** A start-up failure the user can act on: printed as one line, exit code 1. */
export class SetupError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "SetupError";
  }
}

/** The main isolate's own descriptor slot (flushes, --tx-first); Workers use 0.. */
export const MAIN_SLOT = 15;

export interface PortInfo {
  id: number;
  name: string;
  mac: Uint8Array;
}

export function init_eal(native: Native, eal_args: string[]): void {
  try {
    native.eal_init(["baton", ...eal_args]);
  } catch (err) {
    throw new SetupError(
      `${(err as Error).message} (EAL options: ${eal_args.join(" ") || "none"}; ` +
        "see the EAL messages above)",
    );
  }
}

/** The ports EAL probed; every --vdev asked for must be among them. */
export function discover_ports(native: Native, eal_args: string[]): PortInfo[] {
  const count = native.port_count();
  const names = new Set<string>();
  for (let id = 0; id < count; id++) names.add(native.port_name(id));
  for (const vdev of requested_vdevs(eal_args)) {
    if (!names.has(vdev)) {
      throw new SetupError(
        `port ${vdev} did not come up (see the EAL messages above: a missing interface or file?)`,
      );
    }
  }
  if (count === 0) {
    throw new SetupError(
      "no DPDK ports: give some with --vdev (e.g. net_af_packet0,iface=eth0) or -a PCI_ADDRESS",
    );
  }
  const ports: PortInfo[] = [];
  for (let id = 0; id < count; id++) {
    ports.push({ id, name: native.port_name(id), mac: native.port_mac(id) });
  }
  return ports;
}

function requested_vdevs(eal_args: string[]): string[] {
  const names: string[] = [];
  for (let i = 0; i < eal_args.length; i++) {
    const arg = eal_args[i];
    let value: string | undefined;
    if (arg === "--vdev") value = eal_args[i + 1];
    else if (arg.startsWith("--vdev=")) value = arg.slice("--vdev=".length);
    if (value) names.push(value.split(",")[0]);
  }
  return names;
}

/** testpmd's pool sizing idea: enough for every ring and cache, plus bursts in flight. */
export function mbuf_count(app: AppOptions, nb_ports: number, nb_lcores: number): number {
  if (app.total_num_mbufs > 0) return app.total_num_mbufs;
  const per_port = (app.rxd * app.rxq + app.txd * app.txq) + 2 * 512;
  return Math.max(8192, per_port * nb_ports + nb_lcores * 256 + 2048);
}

export function create_pool(native: Native, app: AppOptions, nb_ports: number, nb_lcores: number) {
  const count = mbuf_count(app, nb_ports, nb_lcores);
  try {
    native.pool_create(count, app.mbuf_size);
  } catch (err) {
    throw new SetupError(
      `${(err as Error).message}: ${count} mbufs of ${app.mbuf_size} bytes ` +
        "(give EAL more memory with -m, or fewer with --total-num-mbufs)",
    );
  }
}

export function configure_ports(native: Native, ports: PortInfo[], app: AppOptions): void {
  for (const port of ports) {
    try {
      // --idle=adaptive: rx interrupts where the PMD takes them (the Workers wait on them)
      native.port_configure(port.id, app, { rx_interrupts: app.idle === "adaptive" });
      native.port_start(port.id);
    } catch (err) {
      const detail = err instanceof NativeError ? err.message : String(err);
      throw new SetupError(`port ${port.id} (${port.name}): ${detail}`);
    }
    native.port_promiscuous(port.id, true);
  }
}

/** testpmd's flush_fwd_rx_queues: drain every rx queue twice, each for at most 1 s. */
export function flush_rx(native: Native, ports: PortInfo[], rxq: number): void {
  for (let round = 0; round < 2; round++) {
    for (const port of ports) {
      for (let queue = 0; queue < rxq; queue++) {
        const deadline = performance.now() + 1000;
        let n = 0;
        do {
          n = native.rx_burst(port.id, queue, MAIN_SLOT, 512);
          native.free_burst(MAIN_SLOT, n);
        } while (n > 0 && performance.now() < deadline);
      }
    }
    sleep_sync(10);
  }
}

function sleep_sync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** The CPUs forwarding Workers run on: EAL's worker lcores (as testpmd's forwarding lcores). */
export function forwarding_cpus(native: Native, nb_cores: number): number[] {
  const [main_cpu, ...worker_cpus] = native.lcore_cpus();
  if (worker_cpus.length === 0) {
    // One lcore (-l N): the Worker shares the main lcore's CPU; the main
    // isolate mostly sleeps, so this is what a 1-core host can do.
    return [main_cpu];
  }
  if (nb_cores > worker_cpus.length) {
    throw new SetupError(
      `--nb-cores=${nb_cores} exceeds the ${worker_cpus.length} forwarding lcore(s) EAL has ` +
        "(give more with -l)",
    );
  }
  return worker_cpus.slice(0, nb_cores);
}

export interface RunningWorkers {
  workers: Worker[];
  control: Int32Array;
  /** Every pipeline's counters, from its PipelineSpec.counters_offset. */
  counters: Float64Array;
  done: Promise<void>[];
}

/** Starts one Worker per CPU with its pipelines; resolves when all are polling. */
export async function start_workers(
  cpus: number[],
  pipelines_per_worker: PipelineSpec[][],
  idle: IdlePolicy = DEFAULT_IDLE,
): Promise<RunningWorkers> {
  const counter_words = pipelines_per_worker.flat().reduce(
    (end, p) => Math.max(end, p.counters_offset + pipeline_counter_words(p.kind)),
    1,
  );
  const control_buffer = new SharedArrayBuffer(cpus.length * CONTROL_WORDS_PER_WORKER * 4);
  const counters_buffer = new SharedArrayBuffer(counter_words * 8);
  const workers: Worker[] = [];
  const started: Promise<void>[] = [];
  const done: Promise<void>[] = [];
  for (let index = 0; index < cpus.length; index++) {
    const worker = new Worker(new URL("../dataplane/worker.ts", import.meta.url), {
      type: "module",
    });
    const ready = Promise.withResolvers<void>();
    const finished = Promise.withResolvers<void>();
    worker.onmessage = (event: MessageEvent<WorkerStatus>) => {
      const status = event.data;
      if (status.state === "running") ready.resolve();
      else if (status.state === "stopped") finished.resolve();
      else {
        const error = new SetupError(`dataplane worker ${index}: ${status.error}`);
        ready.reject(error);
        finished.reject(error);
      }
    };
    worker.onerror = (event) => {
      event.preventDefault();
      const error = new SetupError(`dataplane worker ${index}: ${event.message}`);
      ready.reject(error);
      finished.reject(error);
    };
    const spec: WorkerSpec = {
      index,
      cpu: cpus[index],
      pipelines: pipelines_per_worker[index],
      control: control_buffer,
      counters: counters_buffer,
      idle,
    };
    worker.postMessage(spec);
    workers.push(worker);
    started.push(ready.promise);
    done.push(finished.promise.catch(() => {}));
  }
  await Promise.all(started);
  return {
    workers,
    control: new Int32Array(control_buffer),
    counters: new Float64Array(counters_buffer),
    done,
  };
}

/** Tells every Worker to stop and waits until each has left its loop. */
export async function stop_workers(running: RunningWorkers): Promise<void> {
  for (let i = 0; i < running.workers.length; i++) {
    const at = i * CONTROL_WORDS_PER_WORKER + CONTROL_STOP;
    Atomics.store(running.control, at, 1);
    Atomics.notify(running.control, at);
  }
  await Promise.all(running.done);
  for (const worker of running.workers) worker.terminate();
}

/**
 * Starts listening for SIGINT/SIGTERM; call it first thing, so that a signal
 * that arrives during set-up still ends the run cleanly (ports closed,
 * pcaps flushed) instead of killing the process.
 */
export function listen_for_stop(): Promise<Deno.Signal> {
  return new Promise((resolve) => {
    const signals: Deno.Signal[] = ["SIGINT", "SIGTERM"];
    const handlers = signals.map((signal) => {
      const handler = () => {
        signals.forEach((s, i) => Deno.removeSignalListener(s, handlers[i]));
        resolve(signal);
      };
      Deno.addSignalListener(signal, handler);
      return handler;
    });
  });
}

/** Calls every_period() every period_s seconds (0: never) until stop resolves. */
export async function run_until(
  stop: Promise<Deno.Signal>,
  period_s: number,
  every_period: () => void | Promise<void>,
): Promise<Deno.Signal> {
  const timer = period_s > 0 ? setInterval(every_period, period_s * 1000) : undefined;
  try {
    return await stop;
  } finally {
    if (timer !== undefined) clearInterval(timer);
  }
}

/** Stops and closes every port; closing is what flushes net_pcap's tx_pcap file. */
export function close_ports(native: Native, ports: PortInfo[]): void {
  for (const port of ports) {
    native.port_stop(port.id);
    native.port_close(port.id);
  }
}

/** The --file-prefix in EAL options (DPDK's default when absent). */
export function file_prefix(eal_args: string[]): string {
  for (let i = 0; i < eal_args.length; i++) {
    if (eal_args[i] === "--file-prefix") return eal_args[i + 1] ?? "rte";
    if (eal_args[i].startsWith("--file-prefix=")) return eal_args[i].slice(14);
  }
  return "rte";
}

/**
 * Removes the runtime directory EAL leaves under /var/run/dpdk even without
 * hugepages (its config and lock files), once the process is done with it.
 */
export function remove_runtime_dir(eal_args: string[]): void {
  const prefix = file_prefix(eal_args);
  if (prefix === "rte" || prefix.includes("/") || prefix.includes("..")) return;
  try {
    Deno.removeSync(`/var/run/dpdk/${prefix}`, { recursive: true });
  } catch { /* not there, or not ours to remove */ }
}

export function format_mac(mac: Uint8Array | number[]): string {
  return Array.from(mac, (b) => b.toString(16).padStart(2, "0")).join(":").toUpperCase();
}
