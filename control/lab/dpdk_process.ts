// Runs a DPDK process (dpdk-testpmd, or baton itself) as a child: collects
// its output, waits for a line, stops it with SIGINT the way a user would
// (so net_pcap flushes its files) and kills it if it will not stop. Used by
// the tests, the benchmarks and the demo; every process gets its own
// --file-prefix from the caller.

import { remove_runtime_dir } from "../setup.ts";

const BATON_MAIN = new URL("../main.ts", import.meta.url).pathname;

export interface DpdkProcess {
  child: Deno.ChildProcess;
  /** Everything printed so far, stdout and stderr interleaved by arrival. */
  output(): string;
  /** Resolves when the output matches, rejects on exit or timeout. */
  wait_for(pattern: RegExp, timeout_ms: number): Promise<RegExpMatchArray>;
  /** SIGINT (or options.stop_signal), then SIGKILL after grace_ms; resolves to the exit code. */
  stop(grace_ms?: number): Promise<number>;
  /** Resolves to the exit code when the process ends by itself. */
  exited: Promise<number>;
}

export interface SpawnOptions {
  /** Run inside this network namespace (ip netns exec). */
  netns?: string;
  env?: Record<string, string>;
  /** What stop() sends first (default SIGINT, as a user's Ctrl-C). */
  stop_signal?: Deno.Signal;
}

/** The command line that runs baton from this checkout. */
export function baton_command(args: string[]): string[] {
  return [Deno.execPath(), "run", "-A", BATON_MAIN, ...args];
}

export function testpmd_command(args: string[]): string[] {
  return ["dpdk-testpmd", ...args];
}

export function spawn_dpdk(command: string[], options: SpawnOptions = {}): DpdkProcess {
  const argv = options.netns ? ["ip", "netns", "exec", options.netns, ...command] : command;
  const child = new Deno.Command(argv[0], {
    args: argv.slice(1),
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    env: options.env,
  }).spawn();
  let text = "";
  const waiters = new Set<() => void>();
  const decoder = new TextDecoder();
  const pump = async (stream: ReadableStream<Uint8Array>) => {
    for await (const chunk of stream) {
      text += decoder.decode(chunk, { stream: true });
      for (const wake of waiters) wake();
    }
  };
  const pumped = Promise.all([pump(child.stdout), pump(child.stderr)]);
  let ended = false;
  const exited = child.status.then(async (s) => {
    await pumped;
    remove_runtime_dir(command); // EAL's files under /var/run/dpdk/<file-prefix>
    ended = true; // before waking waiters, so they see the exit
    for (const wake of waiters) wake();
    return s.signal ? 128 + signal_number(s.signal) : s.code;
  });

  function wait_for(pattern: RegExp, timeout_ms: number): Promise<RegExpMatchArray> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const match = text.match(pattern);
        if (match) return done(() => resolve(match));
        if (ended) {
          done(() => reject(new Error(`process exited before ${pattern}; output:\n${tail(text)}`)));
        }
      };
      const timer = setTimeout(
        () =>
          done(() => reject(new Error(`timed out waiting for ${pattern}; output:\n${tail(text)}`))),
        timeout_ms,
      );
      const done = (then: () => void) => {
        clearTimeout(timer);
        waiters.delete(check);
        then();
      };
      waiters.add(check);
      check();
    });
  }

  async function stop(grace_ms = 10_000): Promise<number> {
    if (!ended) {
      try {
        child.kill(options.stop_signal ?? "SIGINT");
      } catch { /* already gone */ }
      const timer = setTimeout(() => {
        try {
          child.kill("SIGKILL");
        } catch { /* already gone */ }
      }, grace_ms);
      const code = await exited;
      clearTimeout(timer);
      return code;
    }
    return await exited;
  }

  return { child, output: () => text, wait_for, stop, exited };
}

function signal_number(signal: Deno.Signal): number {
  return ({ SIGINT: 2, SIGKILL: 9, SIGTERM: 15, SIGSEGV: 11, SIGABRT: 6 } as Record<
    string,
    number
  >)[
    signal
  ] ?? 0;
}

function tail(text: string, lines = 40): string {
  return text.split("\n").slice(-lines).join("\n");
}

/** The Rx-pps and Tx-pps figures of each testpmd-style stats block, in order. */
export function parse_throughput(output: string): { rx_pps: number[]; tx_pps: number[] } {
  const rx_pps = [...output.matchAll(/Rx-pps:\s+(\d+)/g)].map((m) => Number(m[1]));
  const tx_pps = [...output.matchAll(/Tx-pps:\s+(\d+)/g)].map((m) => Number(m[1]));
  return { rx_pps, tx_pps };
}
