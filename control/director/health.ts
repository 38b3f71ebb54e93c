// Health checks: an HTTP GET of health_path to each server that has a
// health address, on the control network, every health_interval_ms, with
// health_timeout_ms to answer. A 2xx or 3xx puts the server back in the
// selection at once; fail_after consecutive failures (checks or hand-offs)
// take it out. A check never throws.

import type { DirectorControl, Server } from "./context.ts";
import { guarded } from "../guard.ts";

async function check(ctl: DirectorControl, server: Server): Promise<void> {
  if (!server.health) return;
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
  if (ok) {
    server.consecutive_failures = 0;
    server.healthy = true;
  } else {
    counters.health_failures++;
    server.consecutive_failures++;
    if (server.consecutive_failures >= director.fail_after) server.healthy = false;
  }
}

/** Checks every server now and then every health_interval_ms; returns the timer. */
export function start_health_checks(ctl: DirectorControl): ReturnType<typeof setInterval> {
  const check_all = () =>
    ctl.servers.forEach((s) => guarded(ctl.guard, `checking ${s.name}`, () => check(ctl, s)));
  const timer = setInterval(check_all, ctl.director.health_interval_ms);
  check_all();
  return timer;
}
