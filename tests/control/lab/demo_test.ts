// The main job exactly as a newcomer runs it (no arguments): it builds the
// lab, drives real traffic through baton, checks every response, tears the
// lab down and exits 0 only if everything was correct.

import assert from "node:assert/strict";
import { baton_command, lab_status, spawn_dpdk } from "../../../control/lab/mod.ts";

Deno.test({
  name: "main job (the lab demo, short): every response correct, nothing left behind",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const demo = spawn_dpdk(baton_command(["--short"]));
    const code = await demo.exited;
    const output = demo.output();
    assert.equal(code, 0, output.slice(-3000));
    assert.match(output, /=== baton demo summary ===/);
    assert.match(output, /distinct URLs: 200 correct, 0 wrong/);
    assert.match(output, /download: 10485760 bytes/);
    assert.match(output, /keep-alive: 20\/20 on one connection, one server: true/);
    assert.match(
      output,
      /wrk \(new connection per request\): \d+ requests .* 0 socket errors, 0 non-2xx/,
    );
    assert.match(output, /result: every response correct/);
    const status = await lab_status();
    assert.equal(status.up, false);
    assert.ok(status.namespaces.every((ns) => !ns.exists), "demo namespaces removed");
  },
});
