// The director's control Worker. It never touches packets and nothing per
// connection passes through it: the poll loop reads requests, chooses
// servers and hands connections off itself. This Worker keeps what is not
// per connection: the selection the poll loops read (servers, weights,
// health, draining; published through shared memory, servers.ts), the
// health checks (health.ts), the hand-off failures the dataplane counts
// (a server failing fail_after in a row leaves the selection), config
// reloads (apply_reload: the main thread planned them and set the keys),
// and its report for the metrics (stats.ts).

/// <reference lib="deno.worker" />

import { ip_to_u32, open_selection_table } from "../../dataplane/mod.ts";
import type { DirectorControl } from "./context.ts";
import type {
  DirectorControlMessage,
  DirectorControlReply,
  DirectorControlSpec,
  DirectorReloadMessage,
} from "./protocol.ts";
import {
  create_servers,
  create_vips,
  note_handoff_failures,
  publish,
  server_of,
} from "./servers.ts";
import { director_control_report, new_control_counters } from "./stats.ts";
import { start_health_checks } from "./health.ts";
import { create_guard, guarded } from "../guard.ts";

/** How often the dataplane's per-server failure counts are looked at. */
const FAILURE_POLL_MS = 50;

interface Running {
  ctl: DirectorControl;
  failure_timer: ReturnType<typeof setInterval>;
  health_timer: ReturnType<typeof setInterval>;
}

let running: Running | undefined;

self.onmessage = (event: MessageEvent<DirectorControlMessage>) => {
  // the main isolate's messages are ours, but a bug here must not end the process either
  try {
    on_message(event.data);
  } catch (err) {
    console.error(`director control: ${err}`);
  }
};

function on_message(message: DirectorControlMessage): void {
  if (message.type === "start") {
    try {
      running = start(message.spec);
      self.postMessage(
        { type: "listening", address: "selection table" } satisfies DirectorControlReply,
      );
    } catch (err) {
      self.postMessage(
        { type: "failed", error: (err as Error).message } satisfies DirectorControlReply,
      );
    }
  } else if (message.type === "stats") {
    self.postMessage(
      {
        type: "stats",
        stats: director_control_report(running!.ctl),
      } satisfies DirectorControlReply,
    );
  } else if (message.type === "reload") {
    if (running) apply_reload(running, message);
    self.postMessage(
      {
        type: "reloaded",
        stats: director_control_report(running!.ctl),
      } satisfies DirectorControlReply,
    );
  } else if (message.type === "drain") {
    if (running) {
      running.ctl.draining = true;
      publish(running.ctl);
    }
  } else {
    if (running) stop(running);
    self.postMessage(
      {
        type: "stopped",
        stats: director_control_report(running!.ctl),
      } satisfies DirectorControlReply,
    );
  }
}

function start(spec: DirectorControlSpec): Running {
  const director = spec.director;
  const servers = create_servers(director, spec.key_slots);
  const counters = new_control_counters();
  const ctl: DirectorControl = {
    spec,
    director,
    servers,
    vips: create_vips(director, servers),
    draining: false,
    selection: open_selection_table(spec.selection),
    server_stats: new Float64Array(spec.server_stats),
    counters,
    guard: create_guard(counters, { name: "director control" }),
    retire_timers: new Map(),
  };
  publish(ctl);
  const failure_timer = setInterval(
    () =>
      guarded(ctl.guard, "reading hand-off failures", () => {
        if (note_handoff_failures(ctl)) publish(ctl);
      }),
    FAILURE_POLL_MS,
  );
  const health_timer = start_health_checks(ctl);
  return { ctl, failure_timer, health_timer };
}

function stop(run: Running): void {
  clearInterval(run.failure_timer);
  clearInterval(run.health_timer);
  for (const timer of run.ctl.retire_timers.values()) clearTimeout(timer);
}

/**
 * A planned reload: the entries (kept ones keep their health and failure
 * state, in the same objects an in-flight health check holds), the VIPs
 * (retired ones stay without ports until the idle time-out has passed for
 * their last flow), the health timer (its interval may have changed), one
 * publish.
 */
function apply_reload(run: Running, message: DirectorReloadMessage): void {
  const ctl = run.ctl;
  const servers = message.entries.map((entry, i) => {
    const kept = ctl.servers[i];
    const fresh = server_of(entry.server, message.key_slot_base + i, entry.removed);
    if (!kept) return fresh;
    const { healthy, failed_checks, streak_base } = kept;
    return Object.assign(kept, fresh, { healthy, failed_checks, streak_base });
  });
  ctl.servers = servers;
  ctl.director = message.director;
  const vips = create_vips(message.director, servers);
  const served = new Set(vips.map((v) => v.address));
  for (const address of message.retired_vips) retire_vip(ctl, ip_to_u32(address));
  for (const [address, timer] of ctl.retire_timers) {
    if (!served.has(address)) continue;
    clearTimeout(timer); // back before its retirement ended: simply served again
    ctl.retire_timers.delete(address);
  }
  ctl.vips = [
    ...vips,
    ...[...ctl.retire_timers.keys()].map((address) => ({
      address,
      l4: false,
      servers: [],
      ports: [],
    })),
  ];
  clearInterval(run.health_timer);
  run.health_timer = start_health_checks(ctl);
  ctl.counters.reloads++;
  publish(ctl);
}

/** Drops a retired VIP from the selection once its last flow must have ended. */
function retire_vip(ctl: DirectorControl, address: number): void {
  clearTimeout(ctl.retire_timers.get(address));
  const timer = setTimeout(
    () =>
      guarded(ctl.guard, "retiring a VIP", () => {
        ctl.retire_timers.delete(address);
        ctl.vips = ctl.vips.filter((v) => !(v.address === address && v.ports.length === 0));
        publish(ctl);
      }),
    ctl.director.idle_timeout_ms + ctl.director.request_timeout_ms,
  );
  ctl.retire_timers.set(address, timer);
}
