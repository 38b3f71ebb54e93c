// The main job with no arguments: build the lab on this machine, put baton
// in the path of a real client and a real nginx server, drive real traffic
// through it and show baton's port statistics live; then check every
// response, print a summary and tear the lab down (Ctrl-C tears down too).
//
// Until the director and agent roles exist, baton runs here as a
// testpmd-style io forwarder on agent 1's two af_packet ports: a bump in the
// wire between the switch and the server.

import { parseArgs } from "node:util";
import { type Lab, lab_down, lab_up } from "./lab.ts";
import { start_baton_in_lab } from "./lab_baton.ts";
import { curl_download, type Download, run_wrk, type WrkResult } from "./lab_traffic.ts";
import { parse_latest_port_stats, type ParsedPortStats } from "./stats.ts";
import type { DpdkProcess } from "./dpdk_process.ts";

const PREFIX = "bt-";

interface DemoOptions {
  /** Seconds of wrk load. */
  load_seconds: number;
  downloads: number;
}

interface Outcome {
  downloads: Download[];
  wrk?: WrkResult;
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
  const outcome: Outcome = { downloads: [], errors: [] };
  try {
    console.log(
      "baton demo: building the lab (client, switch, 1 nginx server behind an agent host)",
    );
    const lab = await lab_up(1, { prefix: PREFIX });
    const server = lab.servers[0];
    console.log(
      `baton demo: starting baton (io forwarding) on ${server.agent_fabric_if} <-> ` +
        `${server.agent_server_if} (net_af_packet)`,
    );
    baton = await start_baton_in_lab(lab, {
      interfaces: [server.agent_fabric_if, server.agent_server_if],
      app: ["--forward-mode=io", "--stats-period=1"],
      name: "demo",
    });
    const view = start_live_view(baton);
    const workload = run_workload(lab, options, outcome);
    const ended = await Promise.race([workload.then(() => "done"), interrupted.promise]);
    clearInterval(view);
    if (ended === "interrupted") outcome.errors.push("interrupted by a signal");
    render(parse_latest_port_stats(baton.output()));
  } catch (err) {
    outcome.errors.push((err as Error).message);
  } finally {
    if (baton) {
      const code = await baton.stop();
      if (code !== 0) {
        outcome.errors.push(`baton exited with ${code}:\n${baton.output().slice(-2000)}`);
      }
    }
    console.log("baton demo: tearing the lab down");
    await lab_down({ prefix: PREFIX });
    Deno.removeSignalListener("SIGINT", on_signal);
    Deno.removeSignalListener("SIGTERM", on_signal);
  }
  return print_summary(outcome);
}

function parse_demo_options(argv: string[]): DemoOptions {
  const { values } = parseArgs({
    args: argv,
    options: {
      "load-seconds": { type: "string", default: "5" },
      downloads: { type: "string", default: "3" },
    },
    strict: true,
  });
  return { load_seconds: Number(values["load-seconds"]), downloads: Number(values.downloads) };
}

async function run_workload(lab: Lab, options: DemoOptions, outcome: Outcome): Promise<void> {
  const server = lab.servers[0];
  for (let i = 0; i < options.downloads; i++) {
    const download = await curl_download(lab, `http://${server.ip}${lab.big_file.path}`);
    outcome.downloads.push(download);
    if (!download.ok || download.sha256 !== lab.big_file.sha256) {
      outcome.errors.push(
        `download ${i + 1}: ${download.error || `sha256 ${download.sha256.slice(0, 12)}…`}`,
      );
    }
  }
  outcome.wrk = await run_wrk(lab, `http://${server.ip}${lab.small_file.path}`, {
    connections: 10,
    seconds: options.load_seconds,
  });
  if (outcome.wrk.socket_errors > 0 || outcome.wrk.non_2xx > 0) {
    outcome.errors.push(
      `wrk: ${outcome.wrk.socket_errors} socket errors, ${outcome.wrk.non_2xx} non-2xx`,
    );
  }
}

function start_live_view(baton: DpdkProcess): ReturnType<typeof setInterval> {
  return setInterval(() => render(parse_latest_port_stats(baton.output())), 1000);
}

function render(ports: ParsedPortStats[]): void {
  const tty = Deno.stdout.isTerminal();
  const lines = [
    "port  rx-packets   tx-packets     rx-pps     tx-pps   rx-Mbit/s  tx-Mbit/s  rx-missed",
    ...ports.map((p) =>
      [
        String(p.port).padEnd(4),
        String(p.rx_packets).padStart(11),
        String(p.tx_packets).padStart(12),
        String(p.rx_pps).padStart(10),
        String(p.tx_pps).padStart(10),
        (p.rx_bps / 1e6).toFixed(1).padStart(11),
        (p.tx_bps / 1e6).toFixed(1).padStart(10),
        String(p.rx_missed).padStart(10),
      ].join(" ")
    ),
  ];
  if (tty) console.log("\x1b[2J\x1b[H" + "baton: live port statistics (Ctrl-C stops)\n");
  console.log(lines.join("\n"));
}

function print_summary(outcome: Outcome): number {
  console.log("\n=== baton demo summary ===");
  outcome.downloads.forEach((d, i) => {
    const mbs = d.seconds > 0 ? (d.bytes / d.seconds / 1e6).toFixed(1) : "-";
    console.log(
      `download ${i + 1}: ${d.bytes} bytes in ${d.seconds.toFixed(2)} s (${mbs} MB/s), ` +
        `sha256 ${d.sha256.slice(0, 16)}…`,
    );
  });
  if (outcome.wrk) {
    const w = outcome.wrk;
    console.log(
      `wrk: ${w.requests} requests in ${w.seconds.toFixed(1)} s (${
        w.requests_per_s.toFixed(0)
      }/s), ` +
        `${w.socket_errors} socket errors, ${w.non_2xx} non-2xx`,
    );
  }
  if (outcome.errors.length === 0) {
    console.log("result: every response correct");
    return 0;
  }
  console.log(`result: FAILED\n  ${outcome.errors.join("\n  ")}`);
  return 1;
}
