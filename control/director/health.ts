// Health checks: an HTTP GET of health_path to each server that has a
// health address, on the control network, every health_interval_ms, with
// health_timeout_ms to answer. A 2xx or 3xx puts the server back in the
// selection at once (and forgives its hand-off failures so far);
// fail_after consecutive failed checks take it out. A change is published
// to the poll loops at once. A check never throws.

import type { DirectorControl, Server } from "./context.ts";
import { guarded } from "../guard.ts";
import { publish } from "./servers.ts";
import { read_server_stats } from "../../dataplane/wire/mod.ts";

async function check(ctl: DirectorControl, index: number): Promise<void> {
  const server: Server = ctl.servers[index];
  if (!server.health || server.removed) return;
  const { counters, director } = ctl;
  counters.health_checks++;
  let ok = false;
  try {
    const response = await fetch(
      `http://${server.health.host}:${server.health.port}${director.health_path}`,
      { signal: AbortSignal.timeout(director.health_timeout_ms) },
    );
    await response.body?.cancel();
    ok = response.status >= 200 && response.status < 400;
  } catch {
    ok = false;
  }
  const was = server.healthy;
  if (ok) {
    server.failed_checks = 0;
    server.streak_base = read_server_stats(ctl.server_stats, index).failure_streak;
    server.healthy = true;
  } else {
    counters.health_failures++;
    server.failed_checks++;
    if (server.failed_checks >= director.fail_after) server.healthy = false;
  }
  if (server.healthy !== was) publish(ctl);
}

/** Checks every server now and then every health_interval_ms; returns the timer. */
export function start_health_checks(ctl: DirectorControl): ReturnType<typeof setInterval> {
  const check_all = () =>
    ctl.servers.forEach((s, i) => guarded(ctl.guard, `checking ${s.name}`, () => check(ctl, i)));
  const timer = setInterval(check_all, ctl.director.health_interval_ms);
  check_all();
  return timer;
}
