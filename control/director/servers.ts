// The director's servers as the control Worker sees them: the list built
// from the config (with each server's MAC as the two words a verdict
// carries, and its agent's id and key), the VIPs' server sets, the order in
// which a request's servers are tried (weighted rendezvous hashing,
// selection.ts, on healthy servers only, or on all of them when none is
// healthy), and what a failed hand-off does to a server.

import type { DirectorSection } from "../config.ts";
import { ip_to_u32 } from "../../dataplane/mod.ts";
import { type HandoffKey, import_handoff_key } from "../../dataplane/wire/mod.ts";
import { rendezvous_order } from "./selection.ts";
import type { DirectorControl, Server, Vip } from "./context.ts";

export async function create_servers(director: DirectorSection): Promise<Server[]> {
  const keys: HandoffKey[] = [];
  for (const s of director.servers) keys.push(await import_handoff_key(s.key));
  return director.servers.map((s, i) => ({
    name: s.name,
    weight: s.weight,
    mac_hi: (s.mac[0] << 24) | (s.mac[1] << 16) | (s.mac[2] << 8) | s.mac[3],
    mac_lo: (s.mac[4] << 8) | s.mac[5],
    agent: s.agent,
    agent_id: s.agent_id,
    hmac_key: keys[i],
    health: s.health,
    healthy: true,
    consecutive_failures: 0,
    selections: 0,
    handoff_failures: 0,
    active_flows: 0,
  }));
}

/** Per VIP address: its policy and its servers (indices into `servers`). */
export function create_vips(director: DirectorSection, servers: Server[]): Map<number, Vip> {
  const server_index = new Map(servers.map((s, i) => [s.name, i]));
  return new Map(director.vips.map((v) => [ip_to_u32(v.address), {
    l4: v.policy === "l4_hash",
    servers: v.servers.map((name) => server_index.get(name)!),
  }]));
}

/** The VIP's servers to try for this selection key, best first (indices; may be empty). */
export function server_order(ctl: DirectorControl, vip: Vip, selection_key: string): number[] {
  const servers = ctl.servers;
  // Healthy servers only; when none is, all of them (fail open): under
  // overload health checks time out everywhere at once, and 503 for
  // everything would be worse than trying.
  const healthy = vip.servers.some((i) => servers[i].healthy && servers[i].weight > 0);
  if (!healthy) ctl.counters.fail_open++;
  const candidates = vip.servers.map((i) => ({
    name: servers[i].name,
    weight: servers[i].healthy || !healthy ? servers[i].weight : 0,
  }));
  return rendezvous_order(selection_key, candidates).map((k) => vip.servers[k]);
}

/** A NACK or a time-out from this server's agent. */
export function server_failed(ctl: DirectorControl, index: number): void {
  const server = ctl.servers[index];
  server.handoff_failures++;
  server.consecutive_failures++;
  // a server that keeps failing hand-offs leaves the selection until a health check passes
  if (server.consecutive_failures >= ctl.director.fail_after) server.healthy = false;
}
