// The shim checks what TypeScript gives it (issue: hostile traffic, item
// 14): a real DPDK process (tests/support/shim_abuse_main.ts, net_null
// ports) calls the hot functions with wrong arguments; nothing crashes,
// every refusal is counted, and no mbuf leaks.

import assert from "node:assert/strict";

const HARNESS = new URL("../support/shim_abuse_main.ts", import.meta.url).pathname;

Deno.test("shim: bad slots, counts, lengths and ports are refused and counted; no mbuf leaks", async () => {
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", HARNESS],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const out = new TextDecoder().decode(stdout);
  assert.equal(code, 0, `harness failed:\n${out}\n${new TextDecoder().decode(stderr)}`);
  const { results, counters } = JSON.parse(out.trim().split("\n").at(-1)!);
  assert.equal(results.rx_bad_slot, 0);
  assert.equal(results.tx_bad_slot, 0);
  assert.equal(results.received, 8);
  // 8 received: 4 refused (two lengths, two ports), the other 4 sent to port 1
  assert.equal(results.sent, 4);
  assert.equal(results.sent_again, 0);
  assert.equal(results.port1_tx, 4);
  assert.equal(results.alloc_gap, -1);
  assert.equal(results.alloc_too_long, -1);
  assert.equal(results.alloc_ok, 1);
  assert.equal(results.alloc_again_same_index, 1);
  assert.equal(results.pool_leaked, 0);
  assert.deepEqual(counters, { bad_slot: 3, beyond_held: 3, bad_length: 2, bad_port: 2 });
});
