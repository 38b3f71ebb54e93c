// The director-and-agents configuration for the single-machine lab: one
// process in the dp namespace runs the director on dir0 and one agent per
// server (its fabric and server ports), all control traffic on the lab's
// control network. Each agent has its own id (the server's number) and its
// own key (agentN.key, which the director's server entry names too), takes
// hand-offs only from the director's control address and only for the
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
  const director_control = `${control_ip}:7700`;
  return {
    fabric_mtu: 1500,
    metrics: `${control_ip}:9100`,
    director: {
      port: 0,
      control: director_control,
      vips: [
        { address: lab.vip, ports: [80], policy: options.policy ?? "url_hash" },
        { address: lab.vip_l4, ports: [80], policy: "l4_hash" },
      ],
      servers: lab.servers.map((s, i) => ({
        name: `srv${s.id}`,
        weight: options.weights?.[i] ?? 1,
        mac: s.mac,
        agent: `${control_ip}:${7710 + s.id}`,
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
      control: `${control_ip}:${7710 + s.id}`,
      directors: [director_control],
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
  for (const server of lab.servers) {
    const key = crypto.getRandomValues(new Uint8Array(32));
    const hex = Array.from(key, (b) => b.toString(16).padStart(2, "0")).join("");
    await Deno.writeTextFile(`${dir}/${lab_key_file(server.id)}`, hex + "\n", { mode: 0o600 });
  }
  const path = `${dir}/baton.json`;
  await Deno.writeTextFile(
    path,
    JSON.stringify(lab_roles_config(lab, { ...options, key_files: lab_key_file }), null, 2) + "\n",
  );
  return path;
}
