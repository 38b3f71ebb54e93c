// The director-and-agents configuration for the single-machine lab: one
// process in the dp namespace runs the director on dir0 and one agent per
// server (its fabric and server ports). Hand-off datagrams travel on the
// fabric, from the director's fabric address to each server's own address
// (the agent in front of the server takes them); health checks and metrics
// use the control network. Each agent has its own id (the server's number)
// and its own key (agentN.key, which the director's server entry names
// too), takes hand-offs only from the director's address and only for the
// lab's VIPs. Also written as an example config by the demo.

import type { Lab } from "./topology.ts";

/** DPDK port order for the lab process: dir0, then each agent's fabric and server port. */
export function lab_interfaces(lab: Lab): string[] {
  return [lab.director_if, ...lab.servers.flatMap((s) => [s.agent_fabric_if, s.agent_server_if])];
}

export interface LabConfigOptions {
  /** Agent (server) id → its key file, relative to the config. */
  key_files: (server_id: number) => string;
  /** Director's health interval (ms); short in tests. */
  health_interval_ms?: number;
  policy?: "url_hash" | "l4_hash";
  weights?: number[];
  linger_ms?: number;
  request_timeout_ms?: number;
}

export function lab_roles_config(lab: Lab, options: LabConfigOptions): Record<string, unknown> {
  const control_ip = lab.control.dp_ip;
  return {
    fabric_mtu: 1500,
    metrics: `${control_ip}:9100`,
    director: {
      port: 0,
      address: lab.director_ip,
      vips: [
        { address: lab.vip, ports: [80], policy: options.policy ?? "url_hash" },
        { address: lab.vip_l4, ports: [80], policy: "l4_hash" },
      ],
      servers: lab.servers.map((s, i) => ({
        name: `srv${s.id}`,
        weight: options.weights?.[i] ?? 1,
        mac: s.mac,
        agent: s.ip,
        agent_id: s.id,
        key_file: options.key_files(s.id),
        health: `${s.control_ip}:80`,
      })),
      limits: { request_timeout_ms: options.request_timeout_ms ?? 5000 },
      health: { interval_ms: options.health_interval_ms ?? 1000, timeout_ms: 1000, fail_after: 2 },
      timeouts: { drain_grace_s: 30 },
    },
    agents: lab.servers.map((s, i) => ({
      id: s.id,
      key_file: options.key_files(s.id),
      address: s.ip,
      directors: [lab.director_ip],
      vips: [lab.vip, lab.vip_l4],
      server_mac: s.mac,
      fabric_port: 1 + 2 * i,
      server_port: 2 + 2 * i,
      timeouts: { linger_ms: options.linger_ms ?? 1000 },
    })),
  };
}

/** The key file of agent (server) `id` that write_lab_config writes, relative to the config. */
export function lab_key_file(id: number): string {
  return `agent${id}.key`;
}

/** Writes a fresh random key per agent and the config into dir; returns the config's path. */
export async function write_lab_config(
  lab: Lab,
  dir: string,
  options: Omit<LabConfigOptions, "key_files"> = {},
): Promise<string> {
  await write_lab_keys(lab, dir);
  const path = `${dir}/baton.json`;
  await Deno.writeTextFile(
    path,
    JSON.stringify(lab_roles_config(lab, { ...options, key_files: lab_key_file }), null, 2) + "\n",
  );
  return path;
}

// ---------------------------------------------------------------------------
// Process forms. "one": the single process above (director and every agent).
// "per-role": a director process on dir0 alone and one agent process on the
// agents' ports, each with its own config (only its own section, its own
// metrics port) and its own EAL file prefix, as two hosts would run them.
// The keys are the same files in both forms.

export type LabForm = "one" | "per-role";
export const LAB_FORMS: readonly LabForm[] = ["one", "per-role"];

/** One baton process of a form: what start_lab_processes (baton.ts) runs. */
export interface LabProcess {
  /** "all", "director" or "agents": names it in output and in its EAL file prefix. */
  name: string;
  roles: ("director" | "agent")[];
  /** Its DPDK ports in the dp namespace, in port order (port 0, 1, ...). */
  interfaces: string[];
  config: string;
  /** EAL's main lcore (default: the lowest of "0,1"); the other one polls. */
  main_lcore?: number;
}

/** The director process's ports: dir0 only. */
export function lab_director_interfaces(lab: Lab): string[] {
  return [lab.director_if];
}

/** The agent process's ports: each agent's fabric, then server port (ports 2i and 2i+1). */
export function lab_agent_interfaces(lab: Lab): string[] {
  return lab.servers.flatMap((s) => [s.agent_fabric_if, s.agent_server_if]);
}

/** The director's section alone (the one-process config without its agents). */
export function lab_director_config(lab: Lab, options: LabConfigOptions): Record<string, unknown> {
  const { agents: _agents, ...director } = lab_roles_config(lab, options);
  return director;
}

/** The agents' section alone, ports renumbered for lab_agent_interfaces; metrics on :9101. */
export function lab_agents_config(lab: Lab, options: LabConfigOptions): Record<string, unknown> {
  const { director: _director, agents, ...shared } = lab_roles_config(lab, options);
  return {
    ...shared,
    // the director process holds :9100 on the same control address
    metrics: `${lab.control.dp_ip}:9101`,
    agents: (agents as Record<string, unknown>[]).map((agent, i) => ({
      ...agent,
      fabric_port: 2 * i,
      server_port: 2 * i + 1,
    })),
  };
}

/** Writes a fresh random key per agent into dir (agentN.key, mode 0600). */
export async function write_lab_keys(lab: Lab, dir: string): Promise<void> {
  for (const server of lab.servers) {
    const key = crypto.getRandomValues(new Uint8Array(32));
    const hex = Array.from(key, (b) => b.toString(16).padStart(2, "0")).join("");
    await Deno.writeTextFile(`${dir}/${lab_key_file(server.id)}`, hex + "\n", { mode: 0o600 });
  }
}

/**
 * Writes the keys and each process's config of `form` into dir and returns
 * the processes. per-role: the director keeps lcore 0 as its main lcore and
 * polls on 1; the agent process takes main lcore 1 and polls on 0, so two
 * busy poll loops never share a CPU of the lab's two.
 */
export async function write_lab_form(
  lab: Lab,
  dir: string,
  form: LabForm,
  options: Omit<LabConfigOptions, "key_files"> = {},
): Promise<LabProcess[]> {
  const write = async (file: string, config: Record<string, unknown>) => {
    const path = `${dir}/${file}`;
    await Deno.writeTextFile(path, JSON.stringify(config, null, 2) + "\n");
    return path;
  };
  if (form === "one") {
    const config = await write_lab_config(lab, dir, options);
    return [{
      name: "all",
      roles: ["director", "agent"],
      interfaces: lab_interfaces(lab),
      config,
    }];
  }
  await write_lab_keys(lab, dir);
  const keyed = { ...options, key_files: lab_key_file };
  return [
    {
      name: "director",
      roles: ["director"],
      interfaces: lab_director_interfaces(lab),
      config: await write("director.json", lab_director_config(lab, keyed)),
    },
    {
      name: "agents",
      roles: ["agent"],
      interfaces: lab_agent_interfaces(lab),
      config: await write("agents.json", lab_agents_config(lab, keyed)),
      main_lcore: 1,
    },
  ];
}

// ---------------------------------------------------------------------------
// The ECMP lab (--directors M, topology.ts describe_ecmp_lab): one agents
// process (as in "per-role") that takes hand-offs from every director, and
// one process per director on its own port, each with its own config that
// differs from the others only in its address, metrics port and BIRD socket.
// Every director shares the agents' keys and the site's secret (the shared
// key_file, from which the SYN cookie key comes), so a handshake one began
// completes at another.

/** The processes of the ECMP lab: the agents, then director k at index k − 1. */
export interface EcmpLabProcesses {
  agents: LabProcess;
  directors: LabProcess[];
}

/** The site's shared secret the ECMP lab's directors read (the config's key_file). */
export const LAB_CLUSTER_KEY_FILE = "cluster.key";

/** Director k's config (1-based) for the ECMP lab. */
export function ecmp_director_config(
  lab: Lab,
  k: number,
  options: LabConfigOptions,
): Record<string, unknown> {
  const ecmp = lab.ecmp!;
  const d = ecmp.directors[k - 1];
  const { director, ...shared } = lab_director_config(lab, options);
  return {
    ...shared,
    key_file: LAB_CLUSTER_KEY_FILE,
    metrics: d.metrics,
    director: {
      ...(director as Record<string, unknown>),
      port: 0,
      address: d.ip,
      bird: { socket: d.bird.socket, protocol: ecmp.protocol },
    },
  };
}

/** The ECMP lab's agents: each takes hand-offs from every director. */
export function ecmp_agents_config(lab: Lab, options: LabConfigOptions): Record<string, unknown> {
  const config = lab_agents_config(lab, options);
  const directors = lab.ecmp!.directors.map((d) => d.ip);
  return {
    ...config,
    agents: (config.agents as Record<string, unknown>[]).map((a) => ({ ...a, directors })),
  };
}

/** Writes the keys, the site secret and every process's config of the ECMP lab into dir. */
export async function write_ecmp_lab_configs(
  lab: Lab,
  dir: string,
  options: Omit<LabConfigOptions, "key_files"> = {},
): Promise<EcmpLabProcesses> {
  if (!lab.ecmp) throw new Error("lab: not an ECMP lab (lab up N --directors M)");
  await write_lab_keys(lab, dir);
  const secret = crypto.getRandomValues(new Uint8Array(32));
  await Deno.writeTextFile(
    `${dir}/${LAB_CLUSTER_KEY_FILE}`,
    Array.from(secret, (b) => b.toString(16).padStart(2, "0")).join("") + "\n",
    { mode: 0o600 },
  );
  const keyed = { ...options, key_files: lab_key_file };
  const write = async (file: string, config: Record<string, unknown>) => {
    const path = `${dir}/${file}`;
    await Deno.writeTextFile(path, JSON.stringify(config, null, 2) + "\n");
    return path;
  };
  const agents: LabProcess = {
    name: "agents",
    roles: ["agent"],
    interfaces: lab_agent_interfaces(lab),
    config: await write("agents.json", ecmp_agents_config(lab, keyed)),
    main_lcore: 1,
  };
  const directors: LabProcess[] = [];
  for (const d of lab.ecmp.directors) {
    directors.push({
      name: `director${d.id}`,
      roles: ["director"],
      interfaces: [d.if],
      config: await write(`director${d.id}.json`, ecmp_director_config(lab, d.id, keyed)),
    });
  }
  return { agents, directors };
}
