import assert from "node:assert/strict";
import { create_guard, guarded, report_internal_error } from "../../control/guard.ts";

Deno.test("guarded: a throw or a rejection is counted and logged with context, never passed on", async () => {
  const counters = { internal_errors: 0 };
  const lines: string[] = [];
  const guard = create_guard(counters, { name: "director control", log: (l) => lines.push(l) });
  await guarded(guard, "encoding a HANDOFF", () => {
    throw new RangeError("client_port 0");
  });
  await guarded(guard, "answering FLOW_END", () => Promise.reject(new Error("socket gone")));
  let ran = false;
  await guarded(guard, "a poll", () => {
    ran = true;
  });
  assert.ok(ran);
  assert.equal(counters.internal_errors, 2);
  assert.deepEqual(lines, [
    "director control: internal error while encoding a HANDOFF (kept serving): RangeError: client_port 0",
    "director control: internal error while answering FLOW_END (kept serving): Error: socket gone",
  ]);
});

Deno.test("report_internal_error: logging is rate-limited, counting is not", () => {
  const counters = { internal_errors: 0 };
  const lines: string[] = [];
  const guard = create_guard(counters, { name: "agent 0 control", log: (l) => lines.push(l) });
  for (let i = 0; i < 1000; i++) report_internal_error(guard, "a flood", new Error(`e${i}`));
  assert.equal(counters.internal_errors, 1000);
  assert.ok(lines.length <= 10, `${lines.length} lines logged`);
});
