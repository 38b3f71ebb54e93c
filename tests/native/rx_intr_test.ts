// --idle=adaptive's rx interrupts (native/baton_shim.c bt_port_* and
// bt_idle_*): the per-port probe answers on PMDs without them (net_null,
// net_ring: a wait is a plain sleep), and on net_tap, which has them, a
// frame wakes a waiting thread, and a dataplane Worker that waits on them
// still forwards. A subprocess per case, with its own EAL
// (tests/support/rx_intr_main.ts). Outcomes and their order only: no
// timing is asserted.

import assert from "node:assert/strict";
import { type IdleCounters, WOKE_RX_INTERRUPT, WOKE_TIMEOUT } from "../../native/mod.ts";

const HARNESS = new URL("../support/rx_intr_main.ts", import.meta.url).pathname;

/** What rx_intr_main.ts prints (the fields of the case it ran). */
interface Answers {
  rx_interrupts: Record<string, boolean>;
  watched: boolean[];
  armed: number;
  woke: number;
  counters: IdleCounters;
  waiting: { state: string; watched_with_interrupts: boolean; armed: number };
  thread: { woke: number[]; marker_seen: boolean };
  counters_after_thread: IdleCounters;
  worker: { waited_on_interrupts: boolean; forwarded: boolean; idle_sleeps: number };
  busy_rx_interrupts: boolean;
}

async function run(argv: string[]): Promise<Answers> {
  const { code, stdout, stderr } = await new Deno.Command(argv[0], {
    args: argv.slice(1),
    stdout: "piped",
    stderr: "piped",
  }).output();
  const out = new TextDecoder().decode(stdout);
  assert.equal(code, 0, `harness failed:\n${out}\n${new TextDecoder().decode(stderr)}`);
  return JSON.parse(out.trim().split("\n").at(-1)!);
}

Deno.test("rx interrupts: net_null and net_ring have none; a wait on them is a sleep that times out", async () => {
  const answers = await run([Deno.execPath(), "run", "-A", HARNESS, "probe"]);
  assert.deepEqual(answers.rx_interrupts, { net_null0: false, net_ring0: false });
  assert.deepEqual(answers.watched, [false, false]);
  assert.equal(answers.armed, 0);
  assert.equal(answers.woke, WOKE_TIMEOUT);
  assert.deepEqual(answers.counters, { waits: 1, woken_by_rx_interrupt: 0, timed_out: 1 });
});

/** net_tap needs root and /dev/net/tun; the case runs in a namespace of its own, IPv6 off. */
function can_tap(): boolean {
  try {
    return Deno.uid() === 0 && Deno.statSync("/dev/net/tun") !== null;
  } catch {
    return false;
  }
}

Deno.test({
  name:
    "rx interrupts on net_tap: a frame wakes a waiting thread; the Worker waits on them and forwards",
  ignore: !can_tap(),
  fn: async () => {
    const netns = `bt-rxintr-${Deno.pid}`;
    const ip = (...args: string[]) => new Deno.Command("ip", { args }).outputSync();
    assert.ok(ip("netns", "add", netns).success, `ip netns add ${netns}`);
    try {
      // nothing but the test's frame may come from the kernel side (no IPv6 router solicitations)
      const sysctl =
        "sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1";
      const answers = await run([
        "ip",
        "netns",
        "exec",
        netns,
        "sh",
        "-c",
        `${sysctl} && exec "$0" run -A "$1" tap bt-rxintr0`,
        Deno.execPath(),
        HARNESS,
      ]);
      assert.deepEqual(answers.rx_interrupts, { net_tap0: true });
      // (1) the thread watched the queue with interrupts, armed, found nothing, waited ...
      assert.deepEqual(answers.waiting, {
        state: "waiting",
        watched_with_interrupts: true,
        armed: 1,
      });
      // ... and the wait that ended with the frame ended by an rx interrupt, not its timeout
      assert.equal(answers.thread.marker_seen, true);
      assert.equal(answers.thread.woke.at(-1), WOKE_RX_INTERRUPT);
      assert.ok(!answers.thread.woke.includes(WOKE_TIMEOUT), `waits: ${answers.thread.woke}`);
      assert.ok(answers.counters_after_thread.woken_by_rx_interrupt >= 1);
      // (2) the adaptive Worker waited on interrupts (bt_idle_wait), then forwarded the frame
      assert.equal(answers.worker.waited_on_interrupts, true);
      assert.equal(answers.worker.forwarded, true);
      assert.ok(answers.worker.idle_sleeps >= 1);
      // (3) --idle=busy configures no rx interrupts
      assert.equal(answers.busy_rx_interrupts, false);
    } finally {
      ip("netns", "delete", netns);
    }
  },
});
