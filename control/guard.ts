// The control Workers' last line: every entry point (a datagram, a ring
// poll, a timer, a message from the main isolate) runs under a guard, so an
// exception is caught, counted as `internal_errors` and logged with its
// context, and the Worker keeps serving. Nothing a packet or a datagram
// contains may end the process. Logging is rate-limited: a flood of one
// bug must not become a flood of log lines.

const LOG_BUDGET_PER_SECOND = 5;

export interface GuardCounters {
  internal_errors: number;
}

export interface Guard {
  counters: GuardCounters;
  /** Who is logging ("director control", "agent 0 control"). */
  name: string;
  log: (line: string) => void;
  logged_this_second: number;
  second: number;
  suppressed: number;
}

export function create_guard(
  counters: GuardCounters,
  options: { name: string; log?: (line: string) => void },
): Guard {
  return {
    counters,
    name: options.name,
    log: options.log ?? ((line) => console.error(line)),
    logged_this_second: 0,
    second: 0,
    suppressed: 0,
  };
}

/** Counts and logs an exception caught while doing `context`. */
export function report_internal_error(guard: Guard, context: string, err: unknown): void {
  guard.counters.internal_errors++;
  const second = Math.floor(performance.now() / 1000);
  if (second !== guard.second) {
    if (guard.suppressed > 0) {
      guard.log(`${guard.name}: ${guard.suppressed} more internal errors not logged`);
    }
    guard.second = second;
    guard.logged_this_second = 0;
    guard.suppressed = 0;
  }
  if (guard.logged_this_second >= LOG_BUDGET_PER_SECOND) {
    guard.suppressed++;
    return;
  }
  guard.logged_this_second++;
  const detail = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
  guard.log(`${guard.name}: internal error while ${context} (kept serving): ${detail}`);
}

/** Runs fn; an exception (thrown or rejected) is reported, never passed on. */
export async function guarded(
  guard: Guard,
  context: string,
  fn: () => void | Promise<void>,
): Promise<void> {
  try {
    await fn();
  } catch (err) {
    report_internal_error(guard, context, err);
  }
}
