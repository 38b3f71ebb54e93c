// Planning a config reload (SIGHUP) of the director: what the new config
// changes, whether a running director can take it, and the server entries
// it publishes afterwards. Pure: the main thread (control/reload.ts) sets
// the new keys and hands the plan to the control Worker.
//
// What reloads: the servers (added, removed, weights, names, MACs, health
// addresses, keys), the VIPs (added, removed, ports, policy, server lists),
// the health settings and the drain grace. Everything else the poll loop or
// the process was built with (ports, the director's address, table and pool
// sizes, limits, time-outs, the hand-off port, keys of the site, metrics,
// the agents of a combined process...) is compared, and any difference
// refuses the whole reload with a message naming each field: nothing
// changes, and baton must be restarted for it.
//
// Server entries. A server's place in the selection table (its index,
// which the dataplane's flows and per-server numbers name) and its HMAC key
// slot belong to its agent's fabric address for the whole run: the
// director tells agents apart by that address. A server that stays keeps
// its entry; a server whose agent address is new gets a new entry at the
// end; a removed server's entry stays, marked removed: out of every VIP's
// server list (no new request picks it), but still in the table with its
// address, id and key slot, so the flows already handed to it keep being
// forwarded (each flow keeps its server's MAC) and its agent's ACKs and
// FLOW_ENDs for them are still verified and accepted. An entry is never
// given to another agent while the process runs: deciding when a removed
// server's last flow (and every late answer about it) is gone would need
// more than its flow count, and the table has room for 128 entries (the
// director's key slots); a reload that needs more is refused (restart to
// compact). A removed server that comes back (the same agent address) gets
// its old entry back.
//
// A removed VIP stays the director's (ARP, and frames of the flows already
// handed off are forwarded) with no port open to new connections, until the
// idle time-out has passed for its last possible flow (retired_vips).

import type { BatonConfig, DirectorSection, DirectorServer } from "../config.ts";

/** A server entry of the selection table, by index; key slot = DIRECTOR_KEY_SLOT_BASE + index. */
export interface ServerEntry {
  server: DirectorServer;
  removed: boolean;
}

export interface ReloadCapacity {
  /** Entries the selection table (and the key slots) hold. */
  max_servers: number;
  max_vips: number;
  max_ports_per_vip: number;
}

export interface ReloadPlan {
  ok: true;
  director: DirectorSection;
  entries: ServerEntry[];
  /** Key slots to (re)set before the publish: new entries, and entries whose key changed. */
  keys: { slot: number; key: Uint8Array }[];
  /** Addresses of VIPs this reload removed (kept without ports until their flows are gone). */
  retired_vips: string[];
  /** What changed, one phrase each, for the log. */
  changes: string[];
}

export type ReloadResult = ReloadPlan | { ok: false; error: string };

/** Director fields a reload applies; every other field must stay as it is. */
const RELOADABLE_DIRECTOR_FIELDS = new Set([
  "servers",
  "vips",
  "health_interval_ms",
  "health_timeout_ms",
  "health_path",
  "fail_after",
  "drain_grace_ms",
]);

/** Top-level fields that are not a process's own (the director section is compared field by field). */
const SECTION_FIELDS = new Set(["director"]);

/** The agent address an entry belongs to. */
export function entry_agent(server: DirectorServer): string {
  return `${server.agent.host}:${server.agent.port}`;
}

/** The entries of a director as it starts: one per configured server, in order. */
export function initial_entries(director: DirectorSection): ServerEntry[] {
  return director.servers.map((server) => ({ server, removed: false }));
}

/**
 * Plans reloading `next` into a director running `current` with `entries`.
 * Refused (ok: false, the message naming each field) when something a
 * reload cannot change differs, or the new servers or VIPs do not fit.
 */
export function plan_reload(
  running: { config: BatonConfig; entries: readonly ServerEntry[]; key_slot_base: number },
  next: BatonConfig,
  capacity: ReloadCapacity,
): ReloadResult {
  const { config: current, entries } = running;
  if (!current.director || !next.director) {
    return { ok: false, error: "director: missing from the new config" };
  }
  const fixed = fixed_differences(current, next);
  if (fixed.length > 0) {
    return {
      ok: false,
      error: `${fixed.join("; ")} (a reload changes only director.servers, director.vips, ` +
        "director.health and director.timeouts.drain_grace_s: restart baton for the rest)",
    };
  }
  const director = next.director;
  const changes: string[] = [];
  const keys: { slot: number; key: Uint8Array }[] = [];
  const planned: ServerEntry[] = entries.map((e) => ({ server: e.server, removed: true }));
  const by_agent = new Map(entries.map((e, i) => [entry_agent(e.server), i]));
  for (const server of director.servers) {
    const at = by_agent.get(entry_agent(server));
    if (at === undefined) {
      planned.push({ server, removed: false });
      keys.push({ slot: running.key_slot_base + planned.length - 1, key: server.key });
      changes.push(`${server.name} added (agent ${entry_agent(server)})`);
      continue;
    }
    const before = entries[at];
    planned[at] = { server, removed: false };
    if (before.removed) changes.push(`${server.name} back (agent ${entry_agent(server)})`);
    else changes.push(...server_changes(before.server, server));
    if (!bytes_equal(before.server.key, server.key)) {
      keys.push({ slot: running.key_slot_base + at, key: server.key });
      if (!before.removed) changes.push(`${server.name} key changed`);
    }
  }
  planned.forEach((e, i) => {
    if (e.removed && !entries[i].removed) {
      changes.push(`${e.server.name} removed (its flows go on; no new requests)`);
    }
  });
  if (planned.length > capacity.max_servers) {
    return {
      ok: false,
      error: `director.servers: ${planned.length} server entries needed (removed servers keep ` +
        `theirs while their flows may live), the director holds ${capacity.max_servers}: ` +
        "restart baton to reclaim them",
    };
  }
  const retired = current.director.vips
    .filter((old) => !director.vips.some((v) => v.address === old.address))
    .map((v) => v.address);
  if (director.vips.length + retired.length > capacity.max_vips) {
    return {
      ok: false,
      error: `director.vips: ${director.vips.length} VIPs (and ${retired.length} being retired), ` +
        `the director holds ${capacity.max_vips}: restart baton`,
    };
  }
  for (const [i, vip] of director.vips.entries()) {
    if (vip.ports.length > capacity.max_ports_per_vip) {
      return {
        ok: false,
        error: `director.vips[${i}].ports: ${vip.ports.length} ports, the director holds ` +
          `${capacity.max_ports_per_vip} per VIP: restart baton`,
      };
    }
  }
  changes.push(...vip_changes(current.director, director));
  for (const field of ["health_interval_ms", "health_timeout_ms", "health_path", "fail_after"]) {
    const key = field as keyof DirectorSection;
    if (current.director[key] !== director[key]) {
      changes.push(`director.${field} ${current.director[key]} → ${director[key]}`);
    }
  }
  if (current.director.drain_grace_ms !== director.drain_grace_ms) {
    changes.push(`drain grace ${current.director.drain_grace_ms} → ${director.drain_grace_ms} ms`);
  }
  return { ok: true, director, entries: planned, keys, retired_vips: retired, changes };
}

/** "field: cannot change on reload (old → new)" for every fixed field that differs. */
function fixed_differences(current: BatonConfig, next: BatonConfig): string[] {
  const out: string[] = [];
  const fields = new Set([...Object.keys(current), ...Object.keys(next)]);
  for (const field of fields) {
    if (SECTION_FIELDS.has(field)) continue;
    const a = (current as unknown as Record<string, unknown>)[field];
    const b = (next as unknown as Record<string, unknown>)[field];
    if (!deep_equal(a, b)) out.push(`${field}: cannot change on reload (${show(a)} → ${show(b)})`);
  }
  const a_director = current.director as unknown as Record<string, unknown>;
  const b_director = next.director as unknown as Record<string, unknown>;
  const director_fields = new Set([...Object.keys(a_director), ...Object.keys(b_director)]);
  for (const field of director_fields) {
    if (RELOADABLE_DIRECTOR_FIELDS.has(field)) continue;
    if (!deep_equal(a_director[field], b_director[field])) {
      out.push(
        `director.${field}: cannot change on reload (${show(a_director[field])} → ${
          show(b_director[field])
        })`,
      );
    }
  }
  return out;
}

function server_changes(before: DirectorServer, after: DirectorServer): string[] {
  const out: string[] = [];
  if (before.name !== after.name) out.push(`${before.name} renamed ${after.name}`);
  if (before.weight !== after.weight) {
    out.push(`${after.name} weight ${before.weight} → ${after.weight}`);
  }
  if (!bytes_equal(before.mac, after.mac)) out.push(`${after.name} MAC changed`);
  if (before.agent_id !== after.agent_id) {
    out.push(`${after.name} agent_id ${before.agent_id} → ${after.agent_id}`);
  }
  if (!deep_equal(before.health, after.health)) out.push(`${after.name} health address changed`);
  return out;
}

function vip_changes(before: DirectorSection, after: DirectorSection): string[] {
  const out: string[] = [];
  for (const vip of after.vips) {
    const old = before.vips.find((v) => v.address === vip.address);
    if (!old) out.push(`VIP ${vip.address} added`);
    else if (!deep_equal(old, vip)) out.push(`VIP ${vip.address} changed`);
  }
  for (const vip of before.vips) {
    if (!after.vips.some((v) => v.address === vip.address)) {
      out.push(`VIP ${vip.address} removed (its flows go on; no new connections)`);
    }
  }
  return out;
}

function bytes_equal(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

function deep_equal(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (a instanceof Uint8Array && b instanceof Uint8Array) return bytes_equal(a, b);
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const a_keys = Object.keys(a).filter((k) => (a as Record<string, unknown>)[k] !== undefined);
  const b_keys = Object.keys(b).filter((k) => (b as Record<string, unknown>)[k] !== undefined);
  if (a_keys.length !== b_keys.length) return false;
  return a_keys.every((k) =>
    deep_equal((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k])
  );
}

/** A value for a message; keys never (they are secrets). */
function show(value: unknown): string {
  if (value instanceof Uint8Array) {
    return value.length === 6
      ? Array.from(value, (b) => b.toString(16).padStart(2, "0")).join(":")
      : `${value.length} bytes`;
  }
  if (value === undefined) return "none";
  const text = JSON.stringify(value, (_k, v) => v instanceof Uint8Array ? `${v.length} bytes` : v);
  return text.length > 60 ? text.slice(0, 57) + "..." : text;
}
