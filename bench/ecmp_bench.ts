// `deno task bench -- --ecmp`: new connections per second through the ECMP
// lab (control/lab: a router with BIRD, M director hosts with BIRD, M
// directors, 3 servers) with M = 1 and M = 2, in the same lab and the same
// rounds (interleaved, so drift hits both alike): wrk from the client, a new
// connection per request (Connection: close), every request a different
// path, through the router's multipath route. Each director is its own
// process, as it would be its own host; on this 2-vCPU machine they, the
// agents, nginx and wrk share two cores, which is what bounds M = 2 here.

import { parseArgs } from "node:util";
import {
  type DpdkProcess,
  type EcmpSite,
  lab_down,
  lab_up,
  latest_snapshot,
  start_ecmp_site,
} from "../control/lab/mod.ts";
import { run_wrk_close, wrk_script } from "./lab_measure.ts";
import { median } from "./run.ts";

const PREFIX = "btx-";
const SERVERS = 3;

interface EcmpRun {
  directors: number;
  round: number;
  connections_per_s: number;
  socket_errors: number;
  non_2xx: number;
  /** Hand-offs each director acknowledged in the run. */
  per_director: number[];
}

export async function ecmp_bench_main(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      runs: { type: "string", default: "3" },
      seconds: { type: "string", default: "8" },
      json: { type: "string" },
    },
  });
  const runs = Number(values.runs);
  const seconds = Number(values.seconds);
  if (!(runs >= 1 && seconds >= 1)) {
    console.error("ecmp bench: --runs and --seconds must be at least 1");
    return 2;
  }
  if (Deno.uid() !== 0) {
    console.error("ecmp bench: must run as root (namespaces, veths, af_packet, BIRD)");
    return 2;
  }
  const dir = await Deno.makeTempDir({ prefix: "baton-ecmp-bench-" });
  const results: EcmpRun[] = [];
  let site: EcmpSite | undefined;
  try {
    await lab_down({ prefix: PREFIX });
    const lab = await lab_up(SERVERS, { prefix: PREFIX, directors: 2 });
    site = await start_ecmp_site(lab, {
      dir,
      name: "btx",
      app: ["--stats-period=1"],
      health_interval_ms: 1000,
    });
    const script = `${dir}/urls.lua`;
    await Deno.writeTextFile(script, wrk_script());
    const director_1 = await site.start(1);
    await site.next_hops(1);
    for (let round = 1; round <= runs; round++) {
      for (const m of [1, 2]) {
        const batons = m === 1 ? [director_1] : [director_1, await site.start(2)];
        await site.next_hops(m);
        const before = batons.map(acked);
        const wrk = await run_wrk_close(lab, script, { threads: 2, connections: 64, seconds });
        await new Promise((resolve) => setTimeout(resolve, 1200)); // one more stats line each
        const run: EcmpRun = {
          directors: m,
          round,
          connections_per_s: wrk.requests_per_s,
          socket_errors: wrk.socket_errors,
          non_2xx: wrk.non_2xx,
          per_director: batons.map((b, i) => acked(b) - before[i]),
        };
        results.push(run);
        console.log(
          `round ${round}/${runs}  M=${m}  ${run.connections_per_s.toFixed(0)} conn/s  ` +
            `(hand-offs per director ${run.per_director.join(" / ")}, socket errors ` +
            `${run.socket_errors}, non-2xx ${run.non_2xx})`,
        );
        if (m === 2) {
          await site.kill(2);
          await site.next_hops(1);
        }
      }
    }
  } finally {
    await site?.stop_all();
    await lab_down({ prefix: PREFIX });
    await Deno.remove(dir, { recursive: true });
  }
  const of = (m: number) => results.filter((r) => r.directors === m);
  const one = median(of(1).map((r) => r.connections_per_s));
  const two = median(of(2).map((r) => r.connections_per_s));
  const ratios = of(2).map((r) => r.connections_per_s / of(1)[r.round - 1].connections_per_s);
  console.log("");
  console.log("| directors | conn/s (median) | ÷ M = 1 (median of per-round ratios) |");
  console.log("|---|---|---|");
  console.log(`| 1 | ${one.toFixed(0)} | 1 |`);
  console.log(`| 2 | ${two.toFixed(0)} | ${median(ratios).toFixed(2)}× |`);
  console.log(
    "2 vCPUs: the directors, the agents, nginx and wrk share them, so a second director adds " +
      "no cores here; the figure shows the cost of spreading, not the scaling a second host gives.",
  );
  if (values.json) await Deno.writeTextFile(values.json, JSON.stringify(results, null, 2));
  return 0;
}

function acked(baton: DpdkProcess): number {
  return latest_snapshot(baton)?.director?.dataplane.handoffs_acked ?? 0;
}
