// A DPDK process that asks what the shim's rx interrupt probe answers and
// whether an rx interrupt wakes a waiting thread. Run by
// tests/native/rx_intr_test.ts, as root, in a network namespace of its own
// for the net_tap case.
//
//   probe: net_null and net_ring ports configured with rx interrupts asked
//     for; what the probe says, and that a wait on them is a plain sleep.
//   tap IFACE: a net_tap port. (1) a thread armed on it, woken by a frame
//     the kernel side sends (python3, AF_PACKET); (2) a dataplane Worker
//     (--idle=adaptive, io back out of the tap) that waits on interrupts
//     and still forwards the frame; (3) configured as --idle=busy does,
//     without rx interrupts.
//
// usage: deno run -A rx_intr_main.ts probe | tap IFACE
// stdout (last line): the answers as JSON.

import { open_native } from "../../native/mod.ts";
import {
  close_ports,
  configure_ports,
  create_pool,
  discover_ports,
  init_eal,
  parse_app_options,
  remove_runtime_dir,
  start_workers,
  stop_workers,
} from "../../control/mod.ts";
import { COUNTER_IDLE_SLEEPS, COUNTER_RX, idle_policy } from "../../dataplane/mod.ts";
import type { WaiterJob, WaiterReport } from "./rx_intr_waiter.ts";

/** Bytes after the Ethernet header of the frame the kernel side sends. */
const MARKER = Array.from(new TextEncoder().encode("baton-rx-intr"));
/** An ethertype for local experiments (IEEE 802 local experimental 1). */
const ETHERTYPE = 0x88b5;
/** Long enough never to be what ends a wait that a frame should end. */
const WAIT_US = 10_000_000;

const [mode, iface] = Deno.args;
const vdevs = mode === "tap" ? [`net_tap0,iface=${iface}`] : ["net_null0", "net_ring0"];
const eal_args = [
  "--no-huge",
  "-m",
  "256",
  "--no-pci",
  "-l",
  "0",
  "--log-level",
  "lib.eal:error",
  "--file-prefix",
  `bt-rxintr-${Deno.pid}`,
  ...vdevs.flatMap((vdev) => ["--vdev", vdev]),
];
const native = open_native();
init_eal(native, eal_args);
const app = parse_app_options(["--total-num-mbufs=4096", "--idle=adaptive"]);
const ports = discover_ports(native, eal_args);
create_pool(native, app, ports.length, 2);
configure_ports(native, ports, app);
const answers: Record<string, unknown> = {
  rx_interrupts: Object.fromEntries(ports.map((p) => [p.name, native.port_rx_interrupts(p.id)])),
};

try {
  if (mode === "tap") await tap_cases();
  else probe_case();
} finally {
  close_ports(native, ports);
  native.eal_cleanup();
  remove_runtime_dir(eal_args);
}
console.log(JSON.stringify(answers));

/** This thread waits on ports without rx interrupts: a plain sleep, then its timeout. */
function probe_case() {
  native.idle_begin({ timer_slack_ns: 1000 });
  answers.watched = ports.map((p) => native.idle_watch_queue(p.id, 0));
  answers.armed = native.idle_arm();
  answers.woke = native.idle_wait(1000);
  native.idle_disarm();
  native.idle_end();
  answers.counters = native.idle_counters();
}

async function tap_cases() {
  const port = ports[0].id;
  // (1) one thread, one wait
  const waiter = new Worker(new URL("./rx_intr_waiter.ts", import.meta.url), { type: "module" });
  const done = new Promise<WaiterReport>((resolve) => {
    waiter.onmessage = (event: MessageEvent<WaiterReport>) => {
      if (event.data.state === "waiting") {
        answers.waiting = event.data;
        send_frame();
      } else resolve(event.data);
    };
  });
  waiter.postMessage(
    { port, slot: 1, marker: MARKER, timeout_us: WAIT_US, max_waits: 20 } satisfies WaiterJob,
  );
  answers.thread = await done;
  waiter.terminate();
  answers.counters_after_thread = native.idle_counters();

  // (2) the dataplane Worker: io from the tap back out of it
  const waits_before = native.idle_counters().waits;
  const running = await start_workers([native.lcore_cpus()[0]], [[{
    kind: "io",
    slot: 0,
    rx_port: port,
    rx_queue: 0,
    tx_port: port,
    tx_queue: 0,
    burst: 32,
    counters_offset: 0,
  }]], idle_policy("adaptive"));
  // once it has waited on interrupts at least once, the frame comes
  const waited = await until(() => native.idle_counters().waits > waits_before);
  const rx_before = running.counters[COUNTER_RX];
  send_frame();
  const forwarded = await until(() => running.counters[COUNTER_RX] > rx_before);
  await stop_workers(running);
  answers.worker = {
    waited_on_interrupts: waited,
    forwarded,
    idle_sleeps: running.counters[COUNTER_IDLE_SLEEPS],
    counters: native.idle_counters(),
  };

  // (3) as --idle=busy configures it
  native.port_stop(port);
  native.port_configure(port, app, { rx_interrupts: false });
  native.port_start(port);
  answers.busy_rx_interrupts = native.port_rx_interrupts(port);
}

/** The kernel side of the tap sends one broadcast frame with the marker. */
function send_frame() {
  const frame = [
    ...[0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
    ...[0x02, 0, 0, 0, 0, 0x42],
    ETHERTYPE >> 8,
    ETHERTYPE & 0xff,
    ...MARKER,
    ...new Array(40).fill(0),
  ];
  const script = "import socket, sys\n" +
    "s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)\n" +
    "s.bind((sys.argv[1], 0))\n" +
    "s.send(bytes.fromhex(sys.argv[2]))\n";
  const hex = frame.map((b) => b.toString(16).padStart(2, "0")).join("");
  const result = new Deno.Command("python3", { args: ["-c", script, iface, hex] }).outputSync();
  if (!result.success) throw new Error(`send: ${new TextDecoder().decode(result.stderr)}`);
}

/** Polls a condition for up to 10 s (an outcome, not a speed). */
async function until(condition: () => boolean): Promise<boolean> {
  for (let i = 0; i < 1000; i++) {
    if (condition()) return true;
    await new Promise((r) => setTimeout(r, 10));
  }
  return condition();
}
