// baton's JSON configuration: validated up front, every error naming the
// field and what is wrong with it. Sizes and timeouts have defaults a
// production network engineer would expect; addresses and keys do not.

import {
  DEFAULT_FRESHNESS_MS,
  DEFAULT_HANDOFF_PORT,
  max_request_bytes,
} from "../dataplane/wire/mod.ts";
import type { Role } from "./cli.ts";

export { ConfigError, type SourceAddress, type UdpAddress } from "./config_fields.ts";
import {
  bfd_section,
  bird_section,
  type DirectorBfd,
  type DirectorBird,
} from "./config_routing.ts";
export type { DirectorBfd, DirectorBird } from "./config_routing.ts";
import {
  agent_address,
  agent_id,
  ConfigError,
  describe,
  host_and_port,
  integer,
  type Json,
  known_fields,
  mac,
  non_empty_array,
  object,
  parse_ipv4,
  parse_key,
  power_of_two,
  source_address,
  type SourceAddress,
  string,
  type UdpAddress,
  unicast_ipv4,
} from "./config_fields.ts";

export interface AgentSection {
  /** This agent's id: every datagram to or from it names it (default: its place, 1-based). */
  id: number;
  /** This agent's own hand-off key: its key_file, else the shared one. */
  key: Uint8Array;
  key_file: string;
  /**
   * Its server's IPv4 address on the fabric: the agent takes the hand-off
   * datagrams sent to it at handoff_port (they never reach the server) and
   * answers from it.
   */
  address: string;
  /** The directors' fabric addresses hand-offs may come from; undefined: any (the tag decides). */
  directors?: SourceAddress[];
  /** The VIPs its server holds on loopback; undefined: any VIP. */
  vips?: string[];
  /** The server stack's MAC (frames for handed-off flows are sent to it). */
  server_mac: Uint8Array;
  /** DPDK port ids: the fabric side and the server side of the bump in the wire. */
  fabric_port: number;
  server_port: number;
  /** Flow table slots (power of two). */
  flows: number;
  rto_ms: number;
  adopt_timeout_ms: number;
  linger_ms: number;
  idle_timeout_ms: number;
}

export interface BatonConfig {
  /** The shared hand-off key, from key_file (hex), for every agent or server without its own. */
  key?: Uint8Array;
  key_file?: string;
  /** How far a hand-off datagram's timestamp may be from the receiver's clock, either way. */
  handoff_freshness_ms: number;
  /** The UDP port hand-off datagrams travel to and from on the fabric. */
  handoff_port: number;
  /** Fabric MTU: by default one hand-off datagram fits one frame of it. */
  fabric_mtu: number;
  /** Largest hand-off datagram (UDP payload); default fabric_mtu − 28. */
  max_datagram: number;
  /** The agents this process runs (one per server it fronts). */
  agents: AgentSection[];
  /** Prometheus text endpoint (GET /metrics), on the control network. */
  metrics?: UdpAddress;
  director?: DirectorSection;
}

export interface DirectorServer {
  name: string;
  weight: number;
  /** Where the director forwards the flow's frames: the server stack's MAC. */
  mac: Uint8Array;
  /**
   * Its agent on the fabric: the server's own address (the agent in front of
   * it takes the datagrams) and the hand-off port; answers are read only from it.
   */
  agent: UdpAddress;
  /** The agent's id, which its datagrams name (default: the server's place, 1-based). */
  agent_id: number;
  /** That agent's hand-off key: the server's key_file, else the shared one. */
  key: Uint8Array;
  key_file: string;
  /** HTTP health check target on the control network; none: hand-off outcomes only. */
  health?: UdpAddress;
}

export interface DirectorVipConfig {
  address: string;
  ports: number[];
  policy: "url_hash" | "l4_hash";
  /** Names of the servers for this VIP (default: all). */
  servers: string[];
}

export interface DirectorSection {
  /** The `director` label of its metrics, so several directors' sum up (default: its address). */
  name: string;
  /** One JSON line per hand-off outcome: "stdout", or a file appended to; none: off. */
  access_log?: string;
  port: number;
  /** The director's own IPv4 address on the fabric: hand-offs go out from it (it answers ARP). */
  address: string;
  /**
   * L3 fabric: the router's MAC that hand-off datagrams are sent to (routed
   * to the agents' addresses); none: straight to each server's MAC.
   */
  gateway_mac?: Uint8Array;
  flows: number;
  vips: DirectorVipConfig[];
  servers: DirectorServer[];
  max_header_bytes: number;
  request_timeout_ms: number;
  max_reading: number;
  handoff_rto_ms: number;
  handoff_tries: number;
  health_interval_ms: number;
  health_timeout_ms: number;
  health_path: string;
  /** Consecutive failures (checks or hand-offs) that take a server out of the selection. */
  fail_after: number;
  idle_timeout_ms: number;
  /** SIGTERM: how long existing flows keep being forwarded before the process exits. */
  drain_grace_ms: number;
  /** BFD on the director's address for its routing daemon (dataplane/director/bfd.ts). */
  bfd: DirectorBfd;
  /** The local BIRD that announces the VIPs (control/director/bird.ts); none: no daemon driven. */
  bird?: DirectorBird;
  /**
   * The secret every director of a site shares: the SYN cookie key, the key
   * of the TSval routing codes and the TSval clock offset derive from it
   * (control/cluster_keys.ts). From cookie_key_file, else the shared
   * key_file; none: a random one per start (a restarted director then
   * forgets handshakes in progress and cannot route flows by TSval).
   */
  cookie_key?: Uint8Array;
}

/** Reads and validates a config file (key_file is relative to it). */
export async function load_config(path: string, options: { roles: Role[] }) {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (err) {
    throw new ConfigError("config", `cannot read ${path}: ${(err as Error).message}`);
  }
  const base = path.includes("/") ? path.slice(0, path.lastIndexOf("/") + 1) : "./";
  return await parse_config(text, { roles: options.roles, base_dir: base });
}

export async function parse_config(
  text: string,
  options: {
    roles: Role[];
    base_dir: string;
    read_file?: (p: string) => Promise<string>;
  },
): Promise<BatonConfig> {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new ConfigError("config", `not valid JSON (${(err as Error).message})`);
  }
  const root = object(raw, "config");
  known_fields(root, "config", [
    "key_file",
    "handoff_freshness_ms",
    "handoff_port",
    "fabric_mtu",
    "max_datagram",
    "metrics",
    "agents",
    "director",
  ]);
  const keys = key_reader(options);
  const shared = root.key_file === undefined
    ? undefined
    : await keys.read(string(root.key_file, "key_file"), "key_file");
  const fabric_mtu = integer(root.fabric_mtu ?? 1500, "fabric_mtu", 576, 9216);
  const max_datagram = integer(
    root.max_datagram ?? fabric_mtu - 28,
    "max_datagram",
    256,
    65507,
  );
  const handoff_freshness_ms = integer(
    root.handoff_freshness_ms ?? DEFAULT_FRESHNESS_MS,
    "handoff_freshness_ms",
    1000,
    600_000,
  );
  const handoff_port = integer(
    root.handoff_port ?? DEFAULT_HANDOFF_PORT,
    "handoff_port",
    1,
    65535,
  );
  const config: BatonConfig = {
    fabric_mtu,
    max_datagram,
    handoff_freshness_ms,
    handoff_port,
    agents: [],
  };
  if (shared) {
    config.key = shared.key;
    config.key_file = shared.key_file;
  }
  if (root.metrics !== undefined) config.metrics = host_and_port(root.metrics, "metrics");
  // an agent or a server without a key_file of its own uses the shared one
  const key_for = async (own: unknown, at: string) => {
    if (own !== undefined) return await keys.read(string(own, `${at}.key_file`), `${at}.key_file`);
    if (!shared) throw new ConfigError("key_file", `missing (${at} has no key_file of its own)`);
    return shared;
  };
  if (options.roles.includes("agent")) {
    if (!Array.isArray(root.agents) || root.agents.length === 0) {
      throw new ConfigError("agents", "missing or empty (needed for --role=agent)");
    }
    for (const [i, raw_agent] of root.agents.entries()) {
      const at = `agents[${i}]`;
      const agent = object(raw_agent, at);
      config.agents.push({ ...agent_section(agent, at, i), ...await key_for(agent.key_file, at) });
    }
    const seen = new Map<string, string>();
    const ids = new Map<number, string>();
    config.agents.forEach((a, i) => {
      for (const [what, port] of [["fabric_port", a.fabric_port], ["server_port", a.server_port]]) {
        const earlier = seen.get(String(port));
        if (earlier) {
          throw new ConfigError(`agents[${i}].${what}`, `port ${port} is already ${earlier}`);
        }
        seen.set(String(port), `agents[${i}].${what}`);
      }
      const earlier = ids.get(a.id);
      if (earlier) throw new ConfigError(`agents[${i}].id`, `${a.id} is already ${earlier}`);
      ids.set(a.id, `agents[${i}].id`);
    });
  }
  if (options.roles.includes("director")) {
    if (root.director === undefined) {
      throw new ConfigError("director", "missing (needed for --role=director)");
    }
    const director = object(root.director, "director");
    const section = director_section(director, { max_datagram, handoff_port });
    const servers: DirectorServer[] = [];
    for (const [i, server] of section.servers.entries()) {
      const at = `director.servers[${i}]`;
      servers.push({ ...server, ...await key_for((director.servers as Json[])[i].key_file, at) });
    }
    // a file is relative to the config's folder, as key files are
    const log = section.access_log;
    const access_log = log === undefined || log === "stdout"
      ? log
      : in_config_folder(options.base_dir, log);
    config.director = { ...section, servers, access_log };
    // every director of a site shares it (SYN cookies, TSval routing codes and clock)
    if (director.cookie_key_file !== undefined) {
      const field = "director.cookie_key_file";
      config.director.cookie_key = (await keys.read(string(director.cookie_key_file, field), field))
        .key;
    } else if (shared) {
      config.director.cookie_key = shared.key;
    }
  }
  return config;
}

/** A path the config names: absolute as it is, else relative to the config's folder. */
function in_config_folder(base_dir: string, path: string): string {
  return path.startsWith("/") ? path : base_dir + path;
}

/** Reads key files (each path once), relative to the config's folder. */
function key_reader(options: { base_dir: string; read_file?: (p: string) => Promise<string> }) {
  const read = options.read_file ?? ((p: string) => Deno.readTextFile(p));
  const cache = new Map<string, Uint8Array>();
  return {
    async read(key_file: string, field: string): Promise<{ key: Uint8Array; key_file: string }> {
      const path = in_config_folder(options.base_dir, key_file);
      let key = cache.get(path);
      if (!key) {
        let text: string;
        try {
          text = await read(path);
        } catch (err) {
          throw new ConfigError(field, `cannot read ${path}: ${(err as Error).message}`);
        }
        key = parse_key(text.trim(), field);
        cache.set(path, key);
      }
      return { key, key_file: path };
    },
  };
}

/** An agent section without its key (parse_config adds it). */
type UnkeyedAgent = Omit<AgentSection, "key" | "key_file">;

function agent_section(agent: Json, at: string, index: number): UnkeyedAgent {
  known_fields(agent, at, [
    "id",
    "key_file",
    "address",
    "directors",
    "vips",
    "server_mac",
    "fabric_port",
    "server_port",
    "flows",
    "timeouts",
  ]);
  const timeouts = object(agent.timeouts ?? {}, `${at}.timeouts`);
  known_fields(timeouts, `${at}.timeouts`, ["rto_ms", "adopt_ms", "linger_ms", "idle_s"]);
  const fabric_port = integer(agent.fabric_port ?? 0, `${at}.fabric_port`, 0, 31);
  const server_port = integer(agent.server_port ?? 1, `${at}.server_port`, 0, 31);
  if (fabric_port === server_port) {
    throw new ConfigError(`${at}.server_port`, `must differ from ${at}.fabric_port`);
  }
  const section: UnkeyedAgent = {
    id: agent_id(agent.id ?? index + 1, `${at}.id`),
    address: unicast_ipv4(agent.address, `${at}.address`),
    server_mac: mac(agent.server_mac, `${at}.server_mac`),
    fabric_port,
    server_port,
    flows: power_of_two(agent.flows ?? 65536, `${at}.flows`),
    rto_ms: integer(timeouts.rto_ms ?? 200, `${at}.timeouts.rto_ms`, 10, 10_000),
    adopt_timeout_ms: integer(timeouts.adopt_ms ?? 3000, `${at}.timeouts.adopt_ms`, 50, 60_000),
    linger_ms: integer(timeouts.linger_ms ?? 2000, `${at}.timeouts.linger_ms`, 0, 600_000),
    idle_timeout_ms: integer(timeouts.idle_s ?? 300, `${at}.timeouts.idle_s`, 1, 86_400) * 1000,
  };
  if (agent.directors !== undefined) {
    section.directors = non_empty_array(agent.directors, `${at}.directors`, "HOST or HOST:PORT")
      .map((d, k) => source_address(d, `${at}.directors[${k}]`));
  }
  if (agent.vips !== undefined) {
    section.vips = non_empty_array(agent.vips, `${at}.vips`, "IPv4 addresses").map((v, k) =>
      unicast_ipv4(v, `${at}.vips[${k}]`)
    );
  }
  return section;
}

/** A director section whose servers have no keys yet (parse_config adds them). */
type UnkeyedDirector = Omit<DirectorSection, "servers"> & {
  servers: Omit<DirectorServer, "key" | "key_file">[];
};

function director_section(
  director: Json,
  fabric: { max_datagram: number; handoff_port: number },
): UnkeyedDirector {
  const { max_datagram, handoff_port } = fabric;
  const at = "director";
  known_fields(director, at, [
    "name",
    "access_log",
    "port",
    "address",
    "gateway_mac",
    "flows",
    "vips",
    "servers",
    "limits",
    "handoff",
    "health",
    "timeouts",
    "bfd",
    "bird",
    "cookie_key_file",
  ]);
  if (!Array.isArray(director.servers) || director.servers.length === 0) {
    throw new ConfigError(`${at}.servers`, "must be a non-empty array");
  }
  const servers = director.servers.map((raw, i) => {
    const field = `${at}.servers[${i}]`;
    const server = object(raw, field);
    known_fields(server, field, [
      "name",
      "weight",
      "mac",
      "agent",
      "agent_id",
      "key_file",
      "health",
    ]);
    return {
      name: string(server.name, `${field}.name`),
      weight: integer(server.weight ?? 1, `${field}.weight`, 0, 1000),
      mac: mac(server.mac, `${field}.mac`),
      agent: agent_address(server.agent, `${field}.agent`, handoff_port),
      agent_id: agent_id(server.agent_id ?? i + 1, `${field}.agent_id`),
      health: server.health === undefined
        ? undefined
        : host_and_port(server.health, `${field}.health`),
    };
  });
  const names = new Set<string>();
  const agents = new Map<string, number>();
  const agent_ids = new Map<number, number>();
  servers.forEach((s, i) => {
    if (names.has(s.name)) {
      throw new ConfigError(`${at}.servers[${i}].name`, `'${s.name}' is used twice`);
    }
    names.add(s.name);
    // the director tells agents apart by the address their answers come from
    const address = `${s.agent.host}:${s.agent.port}`;
    if (agents.has(address)) {
      throw new ConfigError(
        `${at}.servers[${i}].agent`,
        `${address} is already ${at}.servers[${agents.get(address)}].agent`,
      );
    }
    agents.set(address, i);
    if (agent_ids.has(s.agent_id)) {
      throw new ConfigError(
        `${at}.servers[${i}].agent_id`,
        `${s.agent_id} is already ${at}.servers[${agent_ids.get(s.agent_id)}].agent_id`,
      );
    }
    agent_ids.set(s.agent_id, i);
  });
  if (!Array.isArray(director.vips) || director.vips.length === 0) {
    throw new ConfigError(`${at}.vips`, "must be a non-empty array");
  }
  const vips = director.vips.map((raw, i) => {
    const field = `${at}.vips[${i}]`;
    const vip = object(raw, field);
    known_fields(vip, field, ["address", "ports", "policy", "servers"]);
    const ports = vip.ports ?? [80];
    if (!Array.isArray(ports) || ports.length === 0) {
      throw new ConfigError(`${field}.ports`, "must be a non-empty array of TCP ports");
    }
    const policy = vip.policy ?? "url_hash";
    if (policy !== "url_hash" && policy !== "l4_hash") {
      throw new ConfigError(`${field}.policy`, `'${policy}' is not one of url_hash, l4_hash`);
    }
    const vip_servers = (vip.servers ?? [...names]) as unknown[];
    if (!Array.isArray(vip_servers) || vip_servers.length === 0) {
      throw new ConfigError(`${field}.servers`, "must be a non-empty array of server names");
    }
    vip_servers.forEach((name, k) => {
      if (typeof name !== "string" || !names.has(name)) {
        throw new ConfigError(`${field}.servers[${k}]`, `${describe(name)} is not a server name`);
      }
    });
    return {
      address: parse_ipv4(string(vip.address, `${field}.address`), `${field}.address`),
      ports: ports.map((p, k) => integer(p, `${field}.ports[${k}]`, 1, 65535)),
      policy,
      servers: vip_servers as string[],
    } as DirectorVipConfig;
  });
  const limits = object(director.limits ?? {}, `${at}.limits`);
  known_fields(limits, `${at}.limits`, ["max_header_bytes", "request_timeout_ms", "max_reading"]);
  const handoff = object(director.handoff ?? {}, `${at}.handoff`);
  known_fields(handoff, `${at}.handoff`, ["rto_ms", "tries"]);
  const health = object(director.health ?? {}, `${at}.health`);
  known_fields(health, `${at}.health`, ["interval_ms", "timeout_ms", "path", "fail_after"]);
  const timeouts = object(director.timeouts ?? {}, `${at}.timeouts`);
  known_fields(timeouts, `${at}.timeouts`, ["idle_s", "drain_grace_s"]);
  const fits = max_request_bytes(max_datagram);
  const max_header_bytes = integer(
    limits.max_header_bytes ?? fits,
    `${at}.limits.max_header_bytes`,
    64,
    fits,
  );
  const path = health.path ?? "/";
  if (typeof path !== "string" || !path.startsWith("/")) {
    throw new ConfigError(`${at}.health.path`, "must be a path starting with /");
  }
  const address = unicast_ipv4(director.address, `${at}.address`);
  const name = director.name === undefined ? address : string(director.name, `${at}.name`);
  // a label value may hold anything, but a control character in a log or a graph helps no one
  if ([...name].some((ch) => ch.charCodeAt(0) < 0x20 || ch.charCodeAt(0) === 0x7f)) {
    throw new ConfigError(`${at}.name`, "must not contain control characters");
  }
  const access_log = director.access_log === undefined
    ? undefined
    : string(director.access_log, `${at}.access_log`);
  return {
    name,
    access_log,
    port: integer(director.port ?? 0, `${at}.port`, 0, 31),
    address,
    gateway_mac: director.gateway_mac === undefined
      ? undefined
      : mac(director.gateway_mac, `${at}.gateway_mac`),
    flows: power_of_two(director.flows ?? 65536, `${at}.flows`),
    vips,
    servers,
    max_header_bytes,
    request_timeout_ms: integer(
      limits.request_timeout_ms ?? 10_000,
      `${at}.limits.request_timeout_ms`,
      100,
      600_000,
    ),
    max_reading: integer(limits.max_reading ?? 4096, `${at}.limits.max_reading`, 1, 1 << 20),
    handoff_rto_ms: integer(handoff.rto_ms ?? 50, `${at}.handoff.rto_ms`, 5, 10_000),
    handoff_tries: integer(handoff.tries ?? 4, `${at}.handoff.tries`, 1, 20),
    health_interval_ms: integer(
      health.interval_ms ?? 1000,
      `${at}.health.interval_ms`,
      50,
      600_000,
    ),
    health_timeout_ms: integer(health.timeout_ms ?? 2000, `${at}.health.timeout_ms`, 10, 60_000),
    health_path: path,
    fail_after: integer(health.fail_after ?? 3, `${at}.health.fail_after`, 1, 100),
    idle_timeout_ms: integer(timeouts.idle_s ?? 300, `${at}.timeouts.idle_s`, 1, 86_400) * 1000,
    bfd: bfd_section(director.bfd ?? {}, `${at}.bfd`),
    bird: director.bird === undefined ? undefined : bird_section(director.bird, `${at}.bird`),
    drain_grace_ms:
      integer(timeouts.drain_grace_s ?? 30, `${at}.timeouts.drain_grace_s`, 0, 86_400) *
      1000,
  };
}
