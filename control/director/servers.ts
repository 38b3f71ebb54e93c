// The director's servers as the control Worker sees them: the list built
// from the config (each server's MAC as the two words the dataplane keeps,
// its agent's fabric address, id and key slot), the VIPs' server sets,
// publishing them (weights, health, draining) to the poll loops through the
// selection table, and the hand-off failures the dataplane counts, which
// take a server out of the selection after fail_after in a row.

import type { DirectorSection, DirectorServer } from "../config.ts";
import { ip_to_u32, publish_selection } from "../../dataplane/mod.ts";
import { read_server_stats } from "../../dataplane/wire/mod.ts";
import type { DirectorControl, Server, Vip } from "./context.ts";

export function create_servers(director: DirectorSection, key_slots: number[]): Server[] {
  return director.servers.map((s, i) => server_of(s, key_slots[i]));
}

/** One entry's Server, healthy until its checks say otherwise. */
export function server_of(s: DirectorServer, key_slot: number, removed = false): Server {
  return {
    name: s.name,
    removed,
    weight: s.weight,
    mac_hi: (s.mac[0] << 24) | (s.mac[1] << 16) | (s.mac[2] << 8) | s.mac[3],
    mac_lo: (s.mac[4] << 8) | s.mac[5],
    agent: s.agent,
    agent_id: s.agent_id,
    key_slot,
    health: s.health,
    healthy: true,
    failed_checks: 0,
    streak_base: 0,
  };
}

/** The VIPs and their servers (indices into `servers`; removed entries never). */
export function create_vips(director: DirectorSection, servers: Server[]): Vip[] {
  const server_index = new Map<string, number>();
  servers.forEach((s, i) => {
    if (!s.removed) server_index.set(s.name, i);
  });
  return director.vips.map((v) => ({
    address: ip_to_u32(v.address),
    l4: v.policy === "l4_hash",
    servers: v.servers.map((name) => server_index.get(name)!),
    ports: v.ports,
  }));
}

/** Writes the servers, their health and the draining flag for the poll loops. */
export function publish(ctl: DirectorControl): void {
  publish_selection(ctl.selection, {
    servers: ctl.servers.map((s) => ({
      name: s.name,
      // a removed entry is in no VIP's list; weight 0 says so to any reader too
      weight: s.removed ? 0 : s.weight,
      healthy: s.healthy && !s.removed,
      mac_hi: s.mac_hi,
      mac_lo: s.mac_lo,
      agent_ip: ip_to_u32(s.agent.host),
      agent_port: s.agent.port,
      agent_id: s.agent_id,
      key_slot: s.key_slot,
    })),
    vips: ctl.vips,
    draining: ctl.draining,
  });
  ctl.counters.publishes++;
}

/** Hand-off failures the dataplane counted since each server last did well. */
export function handoff_failures(ctl: DirectorControl, index: number): number {
  const stats = read_server_stats(ctl.server_stats, index);
  return stats.failure_streak < ctl.servers[index].streak_base
    ? stats.failure_streak // an ACK reset the streak
    : stats.failure_streak - ctl.servers[index].streak_base;
}

/**
 * A server that keeps failing hand-offs (NACKs, time-outs) leaves the
 * selection until a health check passes; true when something changed.
 */
export function note_handoff_failures(ctl: DirectorControl): boolean {
  let changed = false;
  ctl.servers.forEach((server, i) => {
    if (server.removed) return;
    const streak = read_server_stats(ctl.server_stats, i).failure_streak;
    if (streak < server.streak_base) server.streak_base = 0; // an ACK reset it
    if (server.healthy && handoff_failures(ctl, i) >= ctl.director.fail_after) {
      server.healthy = false;
      ctl.counters.taken_out_by_handoffs++;
      changed = true;
    }
  });
  return changed;
}
