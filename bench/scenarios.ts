// What the bench runs: one row per (vdev, program, mode), each turned into a
// full command line. Every process gets the same EAL shape (no PCI, no
// hugepages, main lcore 0 + forwarding lcore 1) and the same mbuf pool, so
// the only difference between testpmd and baton is the forwarder itself.
// The connection scenarios (a role's connections per second, with a
// generator playing its peers: connections_main.ts) run on the same vdev
// and pool, their one poll loop on lcore 1.

import { baton_command, testpmd_command } from "../control/lab/mod.ts";

export type Program = "testpmd" | "baton";
export type Vdev = "net_null" | "net_ring";

export interface Scenario {
  /** Short stable id, also the JSON key and part of the --file-prefix. */
  id: string;
  vdev: Vdev;
  program: Program;
  /** The --forward-mode value. */
  mode: string;
  /** Whether this row is the baseline the other rows of its vdev are compared with. */
  baseline: boolean;
  /** Throughput target as a fraction of the baseline; null for the baseline itself. */
  target_ratio: number | null;
  /** App options beyond the common ones (--forward-mode, --stats-period, pool, frame size). */
  extra_args: string[];
  /** Frame length when not FRAME_BYTES (translate: a server segment with timestamps). */
  frame_bytes?: number;
}

/** 64-byte frames throughout: net_null's default packet size, and --txpkts for generated ones. */
export const FRAME_BYTES = 64;
/** Forwarding lcores per process (-l 0,1: lcore 0 is main, lcore 1 forwards). */
export const FORWARDING_CORES = 1;
/** testpmd's default pool does not fit in -m 1024; both programs get this one. */
const TOTAL_NUM_MBUFS = 16384;
const MACSWAP_TARGET = 0.85;
const REWRITE_TARGET = 0.5;
/** rewrite drops non-TCP frames, so it needs the pool filled with real TCP flows. */
const GEN_FLOWS = 1024;
/** The smallest segment a Linux server sends: TCP with the timestamp option (14+20+32). */
const TRANSLATE_FRAME_BYTES = 66;

export const SCENARIOS: Scenario[] = [
  ...vdev_rows("net_null", []),
  // net_ring's single ring per port starts empty: --tx-first primes it with one burst per port.
  ...vdev_rows("net_ring", ["--tx-first"]),
];

function vdev_rows(vdev: Vdev, prime: string[]): Scenario[] {
  const short = vdev === "net_null" ? "null" : "ring";
  return [
    {
      id: `${short}-testpmd-macswap`,
      vdev,
      program: "testpmd",
      mode: "macswap",
      baseline: true,
      target_ratio: null,
      extra_args: prime,
    },
    {
      id: `${short}-baton-macswap`,
      vdev,
      program: "baton",
      mode: "macswap",
      baseline: false,
      target_ratio: MACSWAP_TARGET,
      extra_args: prime,
    },
    {
      id: `${short}-baton-rewrite`,
      vdev,
      program: "baton",
      mode: "rewrite",
      baseline: false,
      target_ratio: REWRITE_TARGET,
      extra_args: [...prime, `--gen-flows=${GEN_FLOWS}`],
    },
    {
      // the agent's server → client translation over 1,024 handed-off flows
      id: `${short}-baton-translate`,
      vdev,
      program: "baton",
      mode: "translate",
      baseline: false,
      target_ratio: null,
      extra_args: [...prime, `--gen-flows=${GEN_FLOWS}`],
      frame_bytes: TRANSLATE_FRAME_BYTES,
    },
  ];
}

/** The frame length a scenario runs with. */
export function scenario_frame_bytes(scenario: Scenario): number {
  return scenario.frame_bytes ?? FRAME_BYTES;
}

export interface CommandOptions {
  /** Unique per process: DPDK keeps its runtime files under /var/run/dpdk/<prefix>. */
  file_prefix: string;
  stats_period_s: number;
}

/** EAL options shared by every process; never PCI (the VM's real NIC stays the kernel's). */
export function eal_args(vdev: Vdev, file_prefix: string, frame_bytes = FRAME_BYTES): string[] {
  // net_null hands out frames of its size= argument (default 64)
  const size = vdev === "net_null" && frame_bytes !== FRAME_BYTES ? `,size=${frame_bytes}` : "";
  return [
    "-l",
    "0,1",
    "--no-pci",
    "--no-huge",
    "-m",
    "1024",
    "--file-prefix",
    file_prefix,
    "--vdev",
    `${vdev}0${size}`,
    "--vdev",
    `${vdev}1${size}`,
  ];
}

export function scenario_command(scenario: Scenario, options: CommandOptions): string[] {
  const app = [
    `--forward-mode=${scenario.mode}`,
    `--nb-cores=${FORWARDING_CORES}`,
    `--stats-period=${options.stats_period_s}`,
    `--total-num-mbufs=${TOTAL_NUM_MBUFS}`,
    `--txpkts=${scenario_frame_bytes(scenario)}`,
    ...scenario.extra_args,
  ];
  const args = [
    ...eal_args(scenario.vdev, options.file_prefix, scenario_frame_bytes(scenario)),
    "--",
    ...app,
  ];
  return scenario.program === "testpmd" ? testpmd_command(args) : baton_command(args);
}

/**
 * A role's connection rate on net_ring: the role's real runner and a
 * generator playing everyone it talks to, in one loop on one core
 * (connections_main.ts, connection_benches.ts).
 */
export interface ConnectionScenario {
  id: string;
  vdev: "net_ring";
  role: "director" | "agent";
  /** What one completed connection is called in the table. */
  unit: string;
  /** Completed connections per second of the role's own core time to reach; null: none. */
  target_per_core: number | null;
  /** Connections in flight at most (the generator's closed loop). */
  connections: number;
  /** The role's rx burst (baton's default, testpmd's). */
  burst: number;
  /** director: servers (agents) it hands off to. */
  agents: number;
}

/** DPVS publishes 200k new connections/s per worker core for full-NAT. */
export const HANDOFF_TARGET_PER_CORE = 200_000;

export const CONNECTION_SCENARIOS: ConnectionScenario[] = [
  {
    id: "ring-baton-handoff",
    vdev: "net_ring",
    role: "director",
    unit: "hand-offs",
    target_per_core: HANDOFF_TARGET_PER_CORE,
    connections: 24,
    burst: 32,
    agents: 4,
  },
  {
    id: "ring-baton-adopt",
    vdev: "net_ring",
    role: "agent",
    unit: "adoptions",
    target_per_core: null,
    connections: 24,
    burst: 32,
    agents: 1,
  },
];

const CONNECTIONS_MAIN = new URL("./connections_main.ts", import.meta.url).pathname;

/** The connection bench's process: EAL on lcore 1 alone (its one loop is the main thread). */
export function connection_command(
  scenario: ConnectionScenario,
  options: CommandOptions & { seconds: number; deno_flags?: string[] },
): string[] {
  const eal = eal_args(scenario.vdev, options.file_prefix);
  eal[eal.indexOf("0,1")] = "1";
  return [
    Deno.execPath(),
    "run",
    "-A",
    ...(options.deno_flags ?? []),
    CONNECTIONS_MAIN,
    ...eal,
    "--log-level",
    "lib.eal:error",
    "--",
    `--role=${scenario.role}`,
    `--seconds=${options.seconds}`,
    `--stats-period=${options.stats_period_s}`,
    `--connections=${scenario.connections}`,
    `--burst=${scenario.burst}`,
    `--agents=${scenario.agents}`,
    `--total-num-mbufs=${TOTAL_NUM_MBUFS}`,
  ];
}

/** baton io on two idle net_ring ports: nothing is injected, so nothing ever arrives. */
export function idle_command(options: CommandOptions): string[] {
  return baton_command([
    ...eal_args("net_ring", options.file_prefix),
    "--",
    "--forward-mode=io",
    `--nb-cores=${FORWARDING_CORES}`,
    `--stats-period=${options.stats_period_s}`,
    `--total-num-mbufs=${TOTAL_NUM_MBUFS}`,
  ]);
}
