// The main job with no arguments: build the lab on this machine (a client,
// a switch, the director and three nginx servers behind agents), run baton
// as director and agents in one process (a 2-core machine has room for one
// poll loop), drive a mixed workload through the VIP with real curl and wrk,
// and show live what the director does: hand-offs per second, hand-off
// latency, requests per server, and bytes through the director against bytes
// served straight from the servers. Then check every response, print a
// summary and tear the lab down (Ctrl-C tears it down too). --keep leaves the
// lab and a baton running for curl by hand.

import { parseArgs } from "node:util";
import { kept_baton_pid_file, lab_down, lab_up } from "./lab.ts";
import type { Lab } from "./topology.ts";
import { lab_eal_args, latest_snapshot, next_snapshot, start_baton_in_lab } from "./baton.ts";
import { lab_interfaces, write_lab_config } from "./config.ts";
import {
  client_connections_opened,
  curl_download,
  curl_many,
  type Download,
  run_wrk,
  type WrkResult,
} from "./traffic.ts";
import { baton_command, type DpdkProcess } from "./dpdk_process.ts";
import type { Snapshot } from "../metrics.ts";

/** wrk's connections: also how many may still be open, request unsent, when it stops. */
const WRK_CONNECTIONS = 50;
const PREFIX = "bt-";

interface DemoOptions {
  /** Seconds of wrk (new connection per request). */
  load_seconds: number;
  distinct_urls: number;
  keep: boolean;
}

interface Outcome {
  distinct: { ok: number; bad: string[]; per_server: Map<string, number> };
  download?: Download;
  keep_alive?: { ok: number; total: number; one_server: boolean };
  wrk?: WrkResult;
  /** TCP connections the client's kernel opened during the workload (ActiveOpens). */
  connections_opened?: number;
  errors: string[];
}

export async function demo_main(argv: string[]): Promise<number> {
  const options = parse_demo_options(argv);
  if (Deno.uid() !== 0) {
    console.error("baton demo: the lab needs root (network namespaces); run it as root");
    return 1;
  }
  const interrupted = Promise.withResolvers<string>();
  const on_signal = () => interrupted.resolve("interrupted");
  Deno.addSignalListener("SIGINT", on_signal);
  Deno.addSignalListener("SIGTERM", on_signal);

  let baton: DpdkProcess | undefined;
  let lab: Lab | undefined;
  let config = "";
  let final: Snapshot | undefined;
  const outcome: Outcome = {
    distinct: { ok: 0, bad: [], per_server: new Map() },
    errors: [],
  };
  try {
    say(
      "building the lab: client, switch, director, 3 nginx servers behind agents (198.18.0.0/24)",
    );
    lab = await lab_up(3, { prefix: PREFIX });
    config = await write_lab_config(lab, lab.state_dir);
    say(
      `starting baton --role=director,agent on ${lab_interfaces(lab).join(", ")} (net_af_packet)`,
    );
    baton = await start_baton_in_lab(lab, {
      interfaces: lab_interfaces(lab),
      app: ["--role=director,agent", `--config=${config}`, "--stats-period=1"],
      name: "demo",
    });
    await new Promise((resolve) => setTimeout(resolve, 1000)); // first health checks
    const view = start_live_view(baton);
    const opened_before = await client_connections_opened(lab);
    const workload = run_workload(lab, options, outcome);
    const ended = await Promise.race([workload.then(() => "done"), interrupted.promise]);
    outcome.connections_opened = (await client_connections_opened(lab)) - opened_before;
    // read after the workload: a stats period that began after its last connection
    await next_snapshot(baton);
    final = await next_snapshot(baton);
    clearInterval(view.timer);
    if (final) view.render(final);
    if (ended === "interrupted") outcome.errors.push("interrupted by a signal");
  } catch (err) {
    outcome.errors.push((err as Error).message);
  } finally {
    if (baton) {
      const code = await baton.stop();
      if (code !== 0) {
        outcome.errors.push(`baton exited with ${code}:\n${baton.output().slice(-2000)}`);
      }
    }
    if (options.keep && lab && outcome.errors.length === 0) {
      await keep_running(lab, config);
    } else {
      say("tearing the lab down");
      await lab_down({ prefix: PREFIX });
    }
    Deno.removeSignalListener("SIGINT", on_signal);
    Deno.removeSignalListener("SIGTERM", on_signal);
  }
  return print_summary(outcome, final);
}

function say(text: string) {
  console.log(`baton demo: ${text}`);
}

function parse_demo_options(argv: string[]): DemoOptions {
  const { values } = parseArgs({
    args: argv,
    options: {
      short: { type: "boolean", default: false },
      keep: { type: "boolean", default: false },
    },
    strict: true,
  });
  return values.short
    ? { load_seconds: 3, distinct_urls: 200, keep: values.keep }
    : { load_seconds: 10, distinct_urls: 600, keep: values.keep };
}

async function run_workload(lab: Lab, options: DemoOptions, outcome: Outcome): Promise<void> {
  const vip = `http://${lab.vip}`;
  // 1. distinct URLs, each on its own connection: every one is a hand-off
  say(`${options.distinct_urls} distinct URLs, one connection each`);
  for (let start = 0; start < options.distinct_urls; start += 100) {
    const urls = Array.from(
      { length: Math.min(100, options.distinct_urls - start) },
      (_, i) => `${vip}/catalog/item-${start + i}.html`,
    );
    for (const f of await curl_many(lab, urls)) {
      if (f.code === 200 && f.body === `server ${f.served_by.slice(3)}\n`) {
        outcome.distinct.ok++;
        outcome.distinct.per_server.set(
          f.served_by,
          (outcome.distinct.per_server.get(f.served_by) ?? 0) + 1,
        );
      } else {
        outcome.distinct.bad.push(`${f.url} → ${f.code} ${f.served_by}`);
      }
    }
  }
  if (outcome.distinct.bad.length > 0) {
    outcome.errors.push(`${outcome.distinct.bad.length} distinct-URL responses wrong`);
  }
  // 2. a large download, straight from its server
  say(`a ${lab.big_file.size / 1048576} MiB download`);
  outcome.download = await curl_download(lab, `${vip}${lab.big_file.path}`);
  if (!outcome.download.ok || outcome.download.sha256 !== lab.big_file.sha256) {
    outcome.errors.push(`download: ${outcome.download.error || "sha256 mismatch"}`);
  }
  // 3. keep-alive: many requests, one connection, one hand-off
  say("20 requests on one keep-alive connection");
  const kept = await curl_many(
    lab,
    Array.from({ length: 20 }, (_, i) => `${vip}/session/page-${i}`),
    { keep_alive: true },
  );
  outcome.keep_alive = {
    ok: kept.filter((f) => f.code === 200).length,
    total: 20,
    one_server: new Set(kept.map((f) => f.served_by)).size === 1,
  };
  if (outcome.keep_alive.ok !== 20 || !outcome.keep_alive.one_server) {
    outcome.errors.push("keep-alive requests were not all served by their connection's server");
  }
  // 4. load: new connections as fast as wrk opens them
  say(`wrk, ${WRK_CONNECTIONS} connections, "Connection: close", ${options.load_seconds} s`);
  outcome.wrk = await run_wrk(lab, `${vip}/load/index.html`, {
    connections: WRK_CONNECTIONS,
    seconds: options.load_seconds,
    threads: 1,
    headers: ["Connection: close"],
  });
  if (outcome.wrk.socket_errors > 0 || outcome.wrk.non_2xx > 0) {
    outcome.errors.push(
      `wrk: ${outcome.wrk.socket_errors} socket errors, ${outcome.wrk.non_2xx} non-2xx`,
    );
  }
}

function start_live_view(baton: DpdkProcess) {
  let previous: { at: number; handoffs: number } | undefined;
  const render = (snapshot: Snapshot) => {
    const control = snapshot.director?.control;
    const handoffs = control?.counters.handoffs_acked ?? 0;
    const rate = previous && snapshot.uptime_s > previous.at
      ? (handoffs - previous.handoffs) / (snapshot.uptime_s - previous.at)
      : 0;
    previous = { at: snapshot.uptime_s, handoffs };
    const through_director = snapshot.ports[0]?.stats.tx_bytes ?? 0;
    // what the agents sent towards the fabric: the servers' answers, straight to clients
    const served_directly = snapshot.ports
      .filter((_, i) => i % 2 === 1)
      .reduce((n, p) => n + p.stats.tx_bytes, 0);
    const errors = (control?.counters.responses_400 ?? 0) + (control?.counters.responses_503 ?? 0) +
      (control?.counters.handoff_timeouts ?? 0) + (control?.counters.decode_bad_mac ?? 0);
    const lines = [
      `hand-offs/s ${rate.toFixed(0).padStart(7)}   total ${handoffs}   latency p50 ${
        (control?.latency_p50_ms ?? 0).toFixed(2)
      } ms  p99 ${(control?.latency_p99_ms ?? 0).toFixed(2)} ms`,
      `requests per server: ${
        (control?.servers ?? []).map((s) =>
          `${s.name} ${s.selections}${s.healthy ? "" : " (down)"}`
        )
          .join("  ")
      }`,
      `bytes through the director ${mb(through_director)}   served directly ${
        mb(served_directly)
      }` +
      `   errors ${errors}`,
    ];
    if (Deno.stdout.isTerminal()) {
      console.log("\x1b[2J\x1b[H" + "baton: live (Ctrl-C stops and tears down)\n");
    }
    console.log(lines.join("\n"));
  };
  const timer = setInterval(() => {
    const snapshot = latest_snapshot(baton);
    if (snapshot) render(snapshot);
  }, 1000);
  return { timer, render };
}

function mb(bytes: number): string {
  return `${(bytes / 1e6).toFixed(2)} MB`;
}

/** --keep: a baton of its own, detached, recorded in the lab so `lab down` stops it. */
async function keep_running(lab: Lab, config: string): Promise<void> {
  const log = `${lab.state_dir}/baton.log`;
  const command = baton_command([
    ...lab_eal_args({ interfaces: lab_interfaces(lab), name: "kept", app: [] }),
    "--",
    "--role=director,agent",
    `--config=${config}`,
    "--stats-period=5",
  ]);
  const child = new Deno.Command("setsid", {
    args: [
      "sh",
      "-c",
      'exec "$@" > "$0" 2>&1',
      log,
      "ip",
      "netns",
      "exec",
      lab.namespaces.dp,
      ...command,
    ],
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  child.unref();
  await Deno.writeTextFile(kept_baton_pid_file(lab), `${child.pid}\n`);
  say(`the lab stays up, with baton running (pid ${child.pid}, log ${log}). Try:`);
  console.log(`  ip netns exec ${lab.client.ns} curl -v http://${lab.vip}/any/path
  ip netns exec ${lab.client.ns} curl -o /dev/null http://${lab.vip}${lab.big_file.path}
  ip netns exec ${lab.namespaces.dp} ${Deno.execPath()} run -A ${
    new URL("../stats_watch.ts", import.meta.url).pathname
  } 198.19.0.1:9100
  deno task lab -- down      # stops baton and removes the lab`);
}

function print_summary(outcome: Outcome, final: Snapshot | undefined): number {
  console.log("\n=== baton demo summary ===");
  const d = outcome.distinct;
  console.log(
    `distinct URLs: ${d.ok} correct, ${d.bad.length} wrong; per server: ${
      [...d.per_server].sort().map(([s, n]) => `${s} ${n}`).join(", ")
    }`,
  );
  if (outcome.download) {
    const dl = outcome.download;
    const mbs = dl.seconds > 0 ? (dl.bytes / dl.seconds / 1e6).toFixed(1) : "-";
    console.log(
      `download: ${dl.bytes} bytes in ${dl.seconds.toFixed(2)} s (${mbs} MB/s), sha256 ${
        dl.sha256 === "" ? "none" : dl.sha256.slice(0, 16) + "…"
      }`,
    );
  }
  if (outcome.keep_alive) {
    const k = outcome.keep_alive;
    console.log(`keep-alive: ${k.ok}/${k.total} on one connection, one server: ${k.one_server}`);
  }
  if (outcome.wrk) {
    const w = outcome.wrk;
    console.log(
      `wrk (new connection per request): ${w.requests} requests in ${w.seconds.toFixed(1)} s ` +
        `(${
          w.requests_per_s.toFixed(0)
        }/s), ${w.socket_errors} socket errors, ${w.non_2xx} non-2xx`,
    );
  }
  const control = final?.director?.control;
  if (final && control) {
    const through = final.ports[0]?.stats.tx_bytes ?? 0;
    const direct = final.ports.filter((_, i) => i % 2 === 1).reduce(
      (n, p) => n + p.stats.tx_bytes,
      0,
    );
    const acked = control.counters.handoffs_acked ?? 0;
    // a flow whose client took the server's bytes before the ACK came is that server's too
    const kept = control.counters.committed_kept ?? 0;
    console.log(
      `hand-offs: ${acked} acknowledged${kept > 0 ? ` (+${kept} kept by commitment)` : ""}` +
        `, latency p50 ${control.latency_p50_ms.toFixed(2)} ms, p99 ${
          control.latency_p99_ms.toFixed(2)
        } ms`,
    );
    if (outcome.connections_opened !== undefined) {
      // The chain from the client's count to the director's: every connection the workload
      // opened completed a handshake, sent its request and was handed off, except those
      // wrk (which stops with its connections open) closed before sending one or mid-hand-off.
      const opened = outcome.connections_opened;
      const dataplane = final.director?.dataplane ?? {};
      const handshakes = dataplane.handshakes_completed ?? 0;
      const requests = dataplane.requests_complete ?? 0;
      const handed = acked + kept;
      const unfinished = opened - handed;
      console.log(
        `connections: ${opened} opened by the workload (the client's kernel counts), ` +
          `${handshakes} handshakes, ${requests} requests, ${handed} handed off` +
          (unfinished === 0 ? ": every one" : `: ${unfinished} closed by wrk as its time ran out`),
      );
      if (unfinished < 0 || unfinished > 2 * WRK_CONNECTIONS) {
        outcome.errors.push(`${unfinished} connections and hand-offs do not reconcile`);
      }
    }
    console.log(
      `bytes: ${mb(through)} through the director, ${mb(direct)} straight from the servers (${
        direct > 0 ? ((through / direct) * 100).toFixed(2) : "-"
      }%)`,
    );
  }
  if (outcome.errors.length === 0) {
    console.log("result: every response correct");
    return 0;
  }
  console.log(`result: FAILED\n  ${outcome.errors.join("\n  ")}`);
  return 1;
}
