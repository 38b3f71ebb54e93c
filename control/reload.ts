// SIGHUP reloads the config, on the main thread: the file is read and
// validated with the same parse_config as at start (an invalid one is
// refused with its field named, and nothing changes), the reload is planned
// against the running config (control/director/reload.ts: what may change,
// the server entries), the new servers' keys go into their key slots, and
// then the director's control Worker republishes the selection table. The
// poll loop never stops: flows keep their server's MAC and entry. Reloads
// run one at a time; a SIGHUP during one runs after it.

import { type BatonConfig, load_config } from "./config.ts";
import type { Role } from "./cli.ts";
import {
  initial_entries,
  plan_reload,
  type ReloadCapacity,
  type ServerEntry,
} from "./director/mod.ts";

export interface ReloadTarget {
  /** Sets an HMAC key slot in the shim (native.hmac_key_set). */
  set_key: (slot: number, key: Uint8Array) => void;
  /** Sends the planned reload to the director's control Worker and waits for its publish. */
  apply: (message: {
    type: "reload";
    director: NonNullable<BatonConfig["director"]>;
    entries: ServerEntry[];
    key_slot_base: number;
    retired_vips: string[];
  }) => Promise<unknown>;
  capacity: ReloadCapacity;
  key_slot_base: number;
}

export interface Reloader {
  /** The config running now (the last one reloaded). */
  config(): BatonConfig;
  /** Server entries by selection index (names for the access log and metrics). */
  entries(): readonly ServerEntry[];
  /** Reads, checks and applies the config file now; resolves to what was logged. */
  reload(): Promise<{ ok: boolean; message: string }>;
  /** Stops listening for SIGHUP. */
  stop(): void;
}

/** Listens for SIGHUP and reloads `path` into the running director (if this process has one). */
export function watch_reloads(
  start: { path: string; roles: Role[]; config: BatonConfig },
  target: ReloadTarget | undefined,
): Reloader {
  let current = start.config;
  let entries: ServerEntry[] = current.director ? initial_entries(current.director) : [];
  let queue: Promise<unknown> = Promise.resolve();

  const reload_once = async (): Promise<{ ok: boolean; message: string }> => {
    if (!target || !current.director) {
      return {
        ok: false,
        message: "reload refused: this process runs no director (agents reload by restarting)",
      };
    }
    let next: BatonConfig;
    try {
      next = await load_config(start.path, { roles: start.roles });
    } catch (err) {
      return { ok: false, message: `reload refused: ${(err as Error).message}` };
    }
    const plan = plan_reload(
      { config: current, entries, key_slot_base: target.key_slot_base },
      next,
      target.capacity,
    );
    if (!plan.ok) return { ok: false, message: `reload refused: ${plan.error}` };
    // the keys first: the publish makes the new entries' slots used at once
    for (const { slot, key } of plan.keys) target.set_key(slot, key);
    await target.apply({
      type: "reload",
      director: plan.director,
      entries: plan.entries,
      key_slot_base: target.key_slot_base,
      retired_vips: plan.retired_vips,
    });
    current = next;
    entries = plan.entries;
    return {
      ok: true,
      message: `reload: ${plan.changes.length ? plan.changes.join("; ") : "nothing changed"}`,
    };
  };

  const reload = () => {
    const run = queue.then(reload_once).catch((err) => ({
      ok: false,
      message: `reload failed: ${(err as Error).message}`,
    }));
    queue = run;
    return run.then((result) => {
      (result.ok ? console.log : console.error)(result.message);
      return result;
    });
  };
  const on_hup = () => void reload();
  Deno.addSignalListener("SIGHUP", on_hup);
  return {
    config: () => current,
    entries: () => entries,
    reload,
    stop: () => Deno.removeSignalListener("SIGHUP", on_hup),
  };
}
