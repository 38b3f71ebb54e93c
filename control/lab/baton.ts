// Runs baton inside the lab's dp namespace on net_af_packet ports, the way
// the tests and the demo need it: EAL options for a small shared machine
// (no hugepages, no PCI, its own file prefix), ports by interface name; one
// process, or every process of a form (config.ts write_lab_form).

import { af_packet_vdev, type Lab } from "./topology.ts";
import { baton_command, type DpdkProcess, spawn_dpdk } from "./dpdk_process.ts";
import type { Snapshot } from "../mod.ts";
import type { LabProcess } from "./config.ts";

export interface LabBatonOptions {
  /** Interfaces in the dp namespace, in port order (port 0, 1, ...). */
  interfaces: string[];
  /** Application options (after "--"). */
  app: string[];
  /** Distinguishes concurrent processes' EAL file prefixes. */
  name: string;
  /** EAL lcores (default "0,1": main 0, one forwarding lcore 1). */
  lcores?: string;
  /** EAL --main-lcore (default: the lowest lcore); the others poll. */
  main_lcore?: number;
}

export function lab_eal_args(options: LabBatonOptions): string[] {
  const vdevs = options.interfaces.flatMap((iface, i) => ["--vdev", af_packet_vdev(i, iface)]);
  return [
    "--no-huge",
    "-m",
    "512",
    "--no-pci",
    "--file-prefix",
    `bt-${options.name}-${Deno.pid}`,
    "-l",
    options.lcores ?? "0,1",
    ...(options.main_lcore === undefined ? [] : ["--main-lcore", String(options.main_lcore)]),
    "--log-level",
    "lib.eal:warning",
    ...vdevs,
  ];
}

/** Starts baton in the lab and resolves once it forwards (its first stats block). */
export async function start_baton_in_lab(
  lab: Lab,
  options: LabBatonOptions,
): Promise<DpdkProcess> {
  const args = [...lab_eal_args(options), "--", ...options.app];
  const process = spawn_dpdk(baton_command(args), { netns: lab.namespaces.dp });
  try {
    await process.wait_for(/NIC statistics for port/, 30_000);
  } catch (err) {
    await process.stop();
    throw err;
  }
  return process;
}

/**
 * Starts every process of a lab form (config.ts write_lab_form), agents
 * before the director so the VIP answers once the director does; each with
 * its roles, its config and `app` (e.g. --idle=busy), and an EAL file
 * prefix of `${name}-${process.name}`. On failure stops those already started.
 */
export async function start_lab_processes(
  lab: Lab,
  processes: LabProcess[],
  options: { name: string; app: string[] },
): Promise<{ process: LabProcess; baton: DpdkProcess }[]> {
  const ordered = [...processes].sort((a, b) =>
    Number(a.roles.includes("director")) - Number(b.roles.includes("director"))
  );
  const started: { process: LabProcess; baton: DpdkProcess }[] = [];
  try {
    for (const process of ordered) {
      const baton = await start_baton_in_lab(lab, {
        interfaces: process.interfaces,
        app: [`--role=${process.roles.join(",")}`, `--config=${process.config}`, ...options.app],
        name: `${options.name}-${process.name}`,
        main_lcore: process.main_lcore,
      });
      started.push({ process, baton });
    }
  } catch (err) {
    for (const { baton } of started) await baton.stop();
    throw err;
  }
  return started;
}

/**
 * Starts one process of a lab form or of the ECMP lab (config.ts
 * write_ecmp_lab_configs), e.g. director k alone, so a test can kill it and
 * start it again; resolves once it forwards. EAL file prefix
 * `${name}-${process.name}`.
 */
export async function start_lab_process(
  lab: Lab,
  process: LabProcess,
  options: { name: string; app: string[] },
): Promise<DpdkProcess> {
  return await start_baton_in_lab(lab, {
    interfaces: process.interfaces,
    app: [`--role=${process.roles.join(",")}`, `--config=${process.config}`, ...options.app],
    name: `${options.name}-${process.name}`,
    main_lcore: process.main_lcore,
  });
}

/** The last `baton-stats {json}` line a running baton printed (--stats-period), parsed. */
export function latest_snapshot(baton: DpdkProcess): Snapshot | undefined {
  const output = baton.output();
  const at = output.lastIndexOf("baton-stats ");
  if (at < 0) return undefined;
  const end = output.indexOf("\n", at);
  try {
    return JSON.parse(output.slice(at + "baton-stats ".length, end < 0 ? undefined : end));
  } catch {
    return undefined;
  }
}

/**
 * The first `baton-stats` line a running baton prints after this call
 * (--stats-period), parsed: counters read after whatever happened before.
 * Rejects when none comes within timeout_ms.
 */
export async function next_snapshot(baton: DpdkProcess, timeout_ms = 5000): Promise<Snapshot> {
  const seen = baton.output().length;
  const deadline = performance.now() + timeout_ms;
  const fresh = () => {
    const output = baton.output();
    const at = output.lastIndexOf("baton-stats ");
    return at >= seen && output.indexOf("\n", at) >= 0; // a whole line, printed after the call
  };
  while (!fresh()) {
    if (performance.now() > deadline) throw new Error(`no stats line within ${timeout_ms} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const snapshot = latest_snapshot(baton);
  if (!snapshot) throw new Error("the stats line did not parse");
  return snapshot;
}
