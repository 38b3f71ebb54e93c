// The command line, in dpdk-testpmd's syntax: EAL options, then "--", then
// application options. Options that testpmd has mean what they mean there,
// so a working testpmd command line for a NIC can be reused unchanged;
// baton adds its own (--role, --vip, --config, --idle).

import { FORWARD_MODES, type ForwardMode, IDLE_MODES, type IdleMode } from "../dataplane/mod.ts";

/** An error in the command line: the message names the option. */
export class CliError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "CliError";
  }
}

export type PortTopology = "paired" | "chained" | "loop";
/** What a process is: testpmd-style forwarding, or one or both hand-off roles. */
export type Role = "forward" | "director" | "agent";

export interface AppOptions {
  /** What this process is: ["forward"] (testpmd-style), or director and/or agent. */
  roles: Role[];
  forward_mode: ForwardMode;
  port_topology: PortTopology;
  /** Peer MAC per port id (testpmd --eth-peer); unset ports use 02:00:00:00:00:<port>. */
  eth_peers: Map<number, Uint8Array>;
  nb_cores: number;
  rxq: number;
  txq: number;
  rxd: number;
  txd: number;
  burst: number;
  mbuf_size: number;
  /** 0: computed from ports, queues and descriptors, as testpmd does. */
  total_num_mbufs: number;
  /** Seconds between statistics displays; 0 = none (testpmd then needs -i). */
  stats_period: number;
  no_flush_rx: boolean;
  /** testpmd --tx-first: send one burst of generated frames first (to prime net_ring loops). */
  tx_first: boolean;
  /** testpmd --txpkts: length of generated frames (--tx-first, --gen-flows). */
  txpkts: number;
  /** baton: write frames of this many TCP/IPv4 flows into the mempool before forwarding (pktgen-like source on net_null). */
  gen_flows: number;
  /** baton: busy polls without pause (testpmd's way); adaptive waits when idle (rx interrupts or short sleeps). */
  idle: IdleMode;
  vips: string[];
  config?: string;
}

export interface CommandLine {
  eal_args: string[];
  app: AppOptions;
}

const TOPOLOGIES: PortTopology[] = ["paired", "chained", "loop"];
const ROLES: Role[] = ["forward", "director", "agent"];

/** testpmd's defaults (app/test-pmd/testpmd.c), where baton has the same option. */
export function default_app_options(): AppOptions {
  return {
    roles: ["forward"],
    forward_mode: "io",
    port_topology: "paired",
    eth_peers: new Map(),
    nb_cores: 1,
    rxq: 1,
    txq: 1,
    rxd: 1024,
    txd: 1024,
    burst: 32,
    mbuf_size: 2176,
    total_num_mbufs: 0,
    stats_period: 0,
    no_flush_rx: false,
    tx_first: false,
    txpkts: 64,
    gen_flows: 0,
    idle: "adaptive",
    vips: [],
  };
}

/** Options that take a value, with how to apply it. */
const VALUE_OPTIONS: Record<string, (app: AppOptions, value: string, name: string) => void> = {
  "forward-mode": (app, v, name) => {
    app.forward_mode = one_of(name, v, FORWARD_MODES);
  },
  "port-topology": (app, v, name) => {
    app.port_topology = one_of(name, v, TOPOLOGIES);
  },
  "eth-peer": (app, v, name) => {
    const comma = v.indexOf(",");
    if (comma < 0) throw new CliError(`--${name}: expected N,XX:XX:XX:XX:XX:XX, got '${v}'`);
    const port = integer(name, v.slice(0, comma), 0, 31);
    app.eth_peers.set(port, parse_mac(name, v.slice(comma + 1)));
  },
  "nb-cores": (app, v, name) => {
    app.nb_cores = integer(name, v, 1, 128);
  },
  "rxq": (app, v, name) => {
    app.rxq = integer(name, v, 1, 64);
  },
  "txq": (app, v, name) => {
    app.txq = integer(name, v, 1, 64);
  },
  "rxd": (app, v, name) => {
    app.rxd = integer(name, v, 1, 16384);
  },
  "txd": (app, v, name) => {
    app.txd = integer(name, v, 1, 16384);
  },
  "burst": (app, v, name) => {
    app.burst = integer(name, v, 1, 512);
  },
  "mbuf-size": (app, v, name) => {
    app.mbuf_size = integer(name, v, 256, 65535);
  },
  "total-num-mbufs": (app, v, name) => {
    app.total_num_mbufs = integer(name, v, 1024, 16_777_216);
  },
  "stats-period": (app, v, name) => {
    app.stats_period = integer(name, v, 0, 86_400);
  },
  "txpkts": (app, v, name) => {
    app.txpkts = integer(name, v, 60, 1514);
  },
  "gen-flows": (app, v, name) => {
    app.gen_flows = integer(name, v, 1, 65536);
  },
  "idle": (app, v, name) => {
    app.idle = one_of(name, v, IDLE_MODES);
  },
  "role": (app, v, name) => {
    const roles = v.split(",").map((r) => one_of(name, r, ROLES));
    if (roles.includes("forward") && roles.length > 1) {
      throw new CliError(`--${name}: forward cannot be combined with other roles`);
    }
    app.roles = [...new Set(roles)];
  },
  "vip": (app, v, name) => {
    for (const vip of v.split(",")) {
      if (!/^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})(:\d{1,5})?$/.test(vip)) {
        throw new CliError(`--${name}: '${vip}' is not an IPv4 address[:port]`);
      }
      app.vips.push(vip);
    }
  },
  "config": (app, v) => {
    app.config = v;
  },
};

const FLAG_OPTIONS: Record<string, (app: AppOptions) => void> = {
  "no-flush-rx": (app) => {
    app.no_flush_rx = true;
  },
  "tx-first": (app) => {
    app.tx_first = true;
  },
};

/** testpmd options baton knows but does not implement: say so rather than ignore them. */
const UNSUPPORTED: Record<string, string> = {
  "i": "interactive mode is not supported; use --stats-period",
  "interactive": "interactive mode is not supported; use --stats-period",
  "auto-start": "baton always starts forwarding at once",
};

/** Splits argv at the first "--" into EAL and application options and parses the latter. */
export function parse_command_line(argv: string[]): CommandLine {
  const split = argv.indexOf("--");
  const eal_args = split < 0 ? argv.slice() : argv.slice(0, split);
  const app_args = split < 0 ? [] : argv.slice(split + 1);
  return { eal_args, app: parse_app_options(app_args) };
}

export function parse_app_options(args: string[]): AppOptions {
  const app = default_app_options();
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    const match = /^--?([a-z][a-z0-9-]*)(=(.*))?$/s.exec(arg);
    if (!match) throw new CliError(`unexpected argument '${arg}' (options look like --name=value)`);
    const name = match[1];
    const inline_value = match[3];
    if (name in UNSUPPORTED) throw new CliError(`${arg}: ${UNSUPPORTED[name]}`);
    if (name in FLAG_OPTIONS) {
      if (inline_value !== undefined) throw new CliError(`--${name} takes no value`);
      FLAG_OPTIONS[name](app);
      continue;
    }
    const apply = VALUE_OPTIONS[name];
    if (!apply) throw new CliError(`unknown option '--${name}'`);
    let value = inline_value;
    if (value === undefined) {
      if (i + 1 >= args.length || args[i + 1].startsWith("--")) {
        throw new CliError(`--${name} needs a value`);
      }
      value = args[++i];
    }
    apply(app, value, name);
  }
  return app;
}

function integer(name: string, value: string, min: number, max: number): number {
  if (!/^\d+$/.test(value)) throw new CliError(`--${name}: '${value}' is not a whole number`);
  const n = Number(value);
  if (n < min || n > max) {
    throw new CliError(`--${name}: ${n} is out of range (${min}..${max})`);
  }
  return n;
}

function one_of<T extends string>(name: string, value: string, allowed: readonly T[]): T {
  if (!(allowed as readonly string[]).includes(value)) {
    throw new CliError(`--${name}: '${value}' is not one of ${allowed.join(", ")}`);
  }
  return value as T;
}

export function parse_mac(name: string, value: string): Uint8Array {
  const parts = value.split(":");
  if (parts.length !== 6 || parts.some((p) => !/^[0-9a-fA-F]{2}$/.test(p))) {
    throw new CliError(`--${name}: '${value}' is not a MAC address (XX:XX:XX:XX:XX:XX)`);
  }
  return Uint8Array.from(parts.map((p) => parseInt(p, 16)));
}

/** testpmd's default peer address for a port: 02:00:00:00:00:<port>. */
export function default_peer_mac(port: number): Uint8Array {
  return Uint8Array.of(0x02, 0, 0, 0, 0, port & 0xff);
}

/** testpmd's tx port for an rx port under a topology (config.c fwd_topology_tx_port_get). */
export function topology_tx_port(rx_index: number, nb_ports: number, topology: PortTopology) {
  switch (topology) {
    case "chained":
      return (rx_index + 1) % nb_ports;
    case "loop":
      return rx_index;
    case "paired":
      if ((rx_index & 1) === 1) return rx_index - 1;
      // testpmd warns and loops an odd last port onto itself
      return rx_index + 1 < nb_ports ? rx_index + 1 : rx_index;
  }
}
