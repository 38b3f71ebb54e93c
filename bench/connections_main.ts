// A connection bench as its own DPDK process (bench/connections.ts runs it):
// a role's real runner and its generator on net_ring ports, one round of
// each in turn on one core (EAL's main lcore, -l 1), as long as asked.
// Time is split per round between the generator and the role, so the
// role's own cost per connection is known. Reads top to bottom:
// options → EAL, pool, ports → bench → rounds, one line per stats period →
// drain (no new connections until the last ones are done) → the HMAC's own
// cost, measured on the same mbufs → summary line → ports closed.
//
// usage: deno run -A bench/connections_main.ts <EAL options> -- --role=director|agent
//          [--seconds=S] [--stats-period=S] [--connections=N] [--burst=B] [--agents=K]
// stdout: "connections-period {json}" per period, then "connections-summary {json}".

import { parseArgs } from "node:util";
import { MAX_BURST, open_native } from "../native/mod.ts";
import {
  close_ports,
  configure_ports,
  create_pool,
  discover_ports,
  init_eal,
  parse_app_options,
  remove_runtime_dir,
} from "../control/mod.ts";
import {
  type ConnectionBench,
  create_agent_bench,
  create_director_bench,
  type HmacCall,
} from "./connection_benches.ts";
import {
  type ConnectionSummary,
  type HmacCost,
  PERIOD_PREFIX,
  type PeriodRecord,
  SUMMARY_PREFIX,
} from "./connections_lines.ts";

const DRAIN_LIMIT_MS = 5000;
const HMAC_CALLS = 20_000;

function main(argv: string[]): void {
  const split = argv.indexOf("--");
  const eal_args = split < 0 ? argv : argv.slice(0, split);
  const { values } = parseArgs({
    args: split < 0 ? [] : argv.slice(split + 1),
    options: {
      role: { type: "string", default: "director" },
      seconds: { type: "string", default: "6" },
      "stats-period": { type: "string", default: "1" },
      connections: { type: "string", default: "24" },
      burst: { type: "string", default: "32" },
      agents: { type: "string", default: "4" },
      "total-num-mbufs": { type: "string", default: "16384" },
    },
  });
  const period_s = Number(values["stats-period"]);
  const periods_wanted = Math.max(1, Math.round(Number(values.seconds) / period_s));
  const settings = {
    connections: Number(values.connections),
    burst: Math.min(MAX_BURST, Number(values.burst)),
    agents: Number(values.agents),
    stats_period_s: period_s,
  };

  const native = open_native();
  init_eal(native, eal_args);
  const ports = discover_ports(native, eal_args);
  const app = parse_app_options([`--total-num-mbufs=${values["total-num-mbufs"]}`]);
  create_pool(native, app, ports.length, 1);
  configure_ports(native, ports, app);
  try {
    const bench = values.role === "agent"
      ? create_agent_bench(native, ports, settings)
      : create_director_bench(native, settings);
    const periods = run_periods(bench, periods_wanted, period_s * 1000);
    const drain = drain_rounds(bench);
    const hmac = hmac_costs(native, bench.hmac_key_slot, bench.hmac_per_connection);
    const counters = bench.counters();
    const summary: ConnectionSummary = {
      role: bench.role,
      settings,
      periods,
      drained: drain.drained,
      drain_ms: drain.ms,
      hmac,
      role_counters: counters.role,
      generator_counters: counters.generator,
      problems: drain.drained
        ? bench.problems()
        : ["connections still in flight after the drain", ...bench.problems()],
    };
    console.log(SUMMARY_PREFIX + JSON.stringify(summary));
  } finally {
    close_ports(native, ports);
    native.eal_cleanup();
    remove_runtime_dir(eal_args);
  }
}

/**
 * Rounds of generator then role until `count` periods are done; each
 * period's line is printed as it ends. The clock read between the two
 * halves of a round is the role's `now`, as the Worker's loop reads it.
 */
function run_periods(bench: ConnectionBench, count: number, period_ms: number): PeriodRecord[] {
  const periods: PeriodRecord[] = [];
  let generator_ms = 0, role_ms = 0, rounds = 0;
  let completed = bench.completed(), frames_in = bench.frames_in(), frames_out = bench.frames_out();
  let period_start = performance.now();
  let t0 = period_start;
  let period_end = period_start + period_ms;
  for (;;) {
    bench.generate(Date.now(), true);
    const t1 = performance.now();
    bench.round(t1);
    const t2 = performance.now();
    generator_ms += t1 - t0;
    role_ms += t2 - t1;
    rounds++;
    t0 = t2;
    if (t2 < period_end) continue;
    const record: PeriodRecord = {
      period: periods.length,
      seconds: (t2 - period_start) / 1000,
      completed: bench.completed() - completed,
      role_seconds: role_ms / 1000,
      generator_seconds: generator_ms / 1000,
      rounds,
      frames_in: bench.frames_in() - frames_in,
      frames_out: bench.frames_out() - frames_out,
    };
    periods.push(record);
    console.log(PERIOD_PREFIX + JSON.stringify(record));
    if (periods.length >= count) return periods;
    completed = bench.completed();
    frames_in = bench.frames_in();
    frames_out = bench.frames_out();
    generator_ms = role_ms = rounds = 0;
    // the line's own cost is nobody's
    period_start = t0 = performance.now();
    period_end = period_start + period_ms;
  }
}

/** No new connections; rounds until the last ones are done (or the limit). */
function drain_rounds(bench: ConnectionBench): { drained: boolean; ms: number } {
  const start = performance.now();
  for (;;) {
    bench.generate(Date.now(), false);
    const now = performance.now();
    bench.round(now);
    if (bench.drained()) return { drained: true, ms: now - start };
    if (now - start > DRAIN_LIMIT_MS) return { drained: false, ms: now - start };
  }
}

/**
 * What one HMAC costs the role, per message it signs or verifies: the
 * shim's call over a real mbuf, timed over many calls (warm caches, so a
 * lower bound of what it costs inside the loop).
 */
function hmac_costs(
  native: ReturnType<typeof open_native>,
  key_slot: number,
  calls: HmacCall[],
): HmacCost[] {
  const slot = 15;
  const o = native.alloc(slot, 0, 1500);
  if (o < 0) return [];
  try {
    const tag = (bytes: number) => o + 42 + bytes;
    return calls.map((call) => {
      const fn = call.verify ? native.hmac_verify_region : native.hmac_region;
      for (let i = 0; i < 1000; i++) fn(key_slot, o + 42, call.bytes, tag(call.bytes));
      const start = performance.now();
      for (let i = 0; i < HMAC_CALLS; i++) fn(key_slot, o + 42, call.bytes, tag(call.bytes));
      const ns = ((performance.now() - start) * 1e6) / HMAC_CALLS;
      return { ...call, ns };
    });
  } finally {
    native.free_burst(slot, 1);
  }
}

if (import.meta.main) main(Deno.args);
