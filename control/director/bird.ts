// The director drives the BIRD on its host (config director.bird): BIRD's
// protocol that announces the VIPs (a static protocol whose routes go via
// the director's fabric address, with BFD to it, exported over BGP) is
// enabled while this director can serve — its dataplane runs and at least
// one server is healthy — and disabled when none is, so the routers stop
// sending it connections it could only answer with 503. On SIGTERM it is
// disabled first, before the drain (control/roles.ts): the routers withdraw
// the director while it still forwards every flow, and only then does it
// stop taking new ones.
//
// BFD covers what this cannot: a director that dies (kill -9, a crash)
// disables nothing, and the BFD session in its poll loop going silent
// takes the routes down (dataplane/director/bfd.ts).
//
// birdc runs as a child process (Deno.Command) with a time-out; nothing
// here throws into the process: a failure is counted and logged (once per
// streak), the state is taken for unknown and the command is tried again at
// the next tick. The wanted state is also re-asserted now and then, since a
// BIRD that restarts comes back with the protocol as its config file says.

import type { DirectorBird } from "../config.ts";

/** How often the servers' health is looked at. */
export const BIRD_POLL_MS = 200;
/** How often the wanted state is sent again even when it has not changed. */
export const BIRD_REASSERT_MS = 5_000;
/** How long one birdc may take. */
export const BIRDC_TIMEOUT_MS = 3_000;

/** What one birdc run gave: its exit code and output. */
export interface BirdcResult {
  code: number;
  output: string;
}

/** Runs `birdc -s socket ...args` (a test gives its own). */
export type BirdcRunner = (socket: string, args: string[]) => Promise<BirdcResult>;

export interface BirdCounters {
  enables: number;
  disables: number;
  failures: number;
}

export interface BirdDriver {
  counters: BirdCounters;
  /** What BIRD was last told successfully: "enabled", "disabled", or "unknown". */
  state(): "enabled" | "disabled" | "unknown";
  /** Looks at health now (the timer does it every BIRD_POLL_MS). */
  tick(): Promise<void>;
  /**
   * Stops the timer and disables the protocol (tried until it succeeds or
   * BIRDC_TIMEOUT_MS passes), then waits wait_ms: the routers withdraw the
   * director while it still serves as before. Never throws.
   */
  withdraw(wait_ms: number): Promise<void>;
  /** Stops the timer; BIRD is left as it is. */
  stop(): void;
}

export interface BirdDriverOptions {
  /** True when at least one server is healthy (the control Worker's view). */
  healthy: () => Promise<boolean>;
  run?: BirdcRunner;
  log?: (line: string) => void;
  poll_ms?: number;
  reassert_ms?: number;
}

/** birdc from the PATH (or /usr/sbin), with a time-out. */
export async function run_birdc(socket: string, args: string[]): Promise<BirdcResult> {
  const output = await new Deno.Command(birdc_path(), {
    args: ["-s", socket, ...args],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(BIRDC_TIMEOUT_MS),
  }).output();
  const text = new TextDecoder().decode(output.stdout) + new TextDecoder().decode(output.stderr);
  return { code: output.code, output: text };
}

function birdc_path(): string {
  for (const dir of [...(Deno.env.get("PATH") ?? "").split(":"), "/usr/sbin", "/sbin"]) {
    if (!dir) continue;
    try {
      if (Deno.statSync(`${dir}/birdc`).isFile) return `${dir}/birdc`;
    } catch { /* not here */ }
  }
  return "birdc";
}

/**
 * Whether birdc's answer says the protocol is now in the state asked for:
 * "NAME: enabled", "NAME: already enabled" (and the same for disabled).
 */
export function birdc_confirms(result: BirdcResult, protocol: string, wanted: string): boolean {
  if (result.code !== 0) return false;
  const line = new RegExp(`^${protocol}: (already )?${wanted}\\s*$`, "m");
  return line.test(result.output);
}

/** Starts driving BIRD: looks at health now and every poll_ms. */
export function start_bird_driver(section: DirectorBird, options: BirdDriverOptions): BirdDriver {
  const run = options.run ?? run_birdc;
  const log = options.log ?? ((line: string) => console.error(line));
  const counters: BirdCounters = { enables: 0, disables: 0, failures: 0 };
  let told: "enabled" | "disabled" | "unknown" = "unknown";
  let told_at = 0;
  let failing = false;
  let withdrawn = false;
  // one birdc at a time, in order: a tick and the withdrawal never interleave
  let chain: Promise<unknown> = Promise.resolve();
  const serial = <T>(job: () => Promise<T>): Promise<T> => {
    const next = chain.then(job, job);
    chain = next.catch(() => {});
    return next;
  };

  /** Tells BIRD; true when it confirmed. Never throws. */
  const tell = async (wanted: "enabled" | "disabled"): Promise<boolean> => {
    const verb = wanted === "enabled" ? "enable" : "disable";
    let result: BirdcResult;
    try {
      result = await run(section.socket, [verb, section.protocol]);
    } catch (err) {
      result = { code: -1, output: (err as Error).message };
    }
    if (birdc_confirms(result, section.protocol, wanted)) {
      if (told !== wanted) {
        if (wanted === "enabled") counters.enables++;
        else counters.disables++;
        log(`director: bird ${section.protocol} ${wanted}`);
      }
      told = wanted;
      told_at = performance.now();
      failing = false;
      return true;
    }
    counters.failures++;
    told = "unknown";
    if (!failing) {
      log(
        `director: 'birdc -s ${section.socket} ${verb} ${section.protocol}' failed ` +
          `(exit ${result.code}): ${result.output.trim().split("\n").slice(-1)[0] ?? ""}`,
      );
    }
    failing = true;
    return false;
  };

  const reassert_ms = options.reassert_ms ?? BIRD_REASSERT_MS;
  const tick = () =>
    serial(async () => {
      if (withdrawn) return;
      let healthy = false;
      try {
        healthy = await options.healthy();
      } catch {
        healthy = false; // no answer about health: nothing to vouch for
      }
      if (withdrawn) return;
      const wanted = healthy ? "enabled" : "disabled";
      if (wanted !== told || performance.now() - told_at > reassert_ms) await tell(wanted);
    });

  const timer = setInterval(() => void tick(), options.poll_ms ?? BIRD_POLL_MS);
  void tick();

  return {
    counters,
    state: () => told,
    tick,
    async withdraw(wait_ms: number) {
      withdrawn = true;
      clearInterval(timer);
      await serial(async () => {
        const deadline = performance.now() + BIRDC_TIMEOUT_MS;
        while (!(await tell("disabled")) && performance.now() < deadline) {
          await new Promise((resolve) => setTimeout(resolve, 100));
        }
      });
      if (wait_ms > 0) await new Promise((resolve) => setTimeout(resolve, wait_ms));
    },
    stop() {
      withdrawn = true;
      clearInterval(timer);
    },
  };
}
