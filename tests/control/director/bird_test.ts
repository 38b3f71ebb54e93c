// The director's BIRD driver (control/director/bird.ts) with a stand-in for
// birdc: enabled while a server is healthy, disabled when none is, a failed
// birdc counted and retried (never thrown), and withdraw() disabling first;
// and the director.bfd / director.bird config sections.

import assert from "node:assert/strict";
import {
  birdc_confirms,
  type BirdcResult,
  start_bird_driver,
} from "../../../control/director/bird.ts";
import { bfd_section, bird_section } from "../../../control/mod.ts";

const SECTION = { socket: "/run/bird.ctl", protocol: "baton_vips", withdraw_wait_ms: 0 };

/** A birdc that answers as BIRD 2 does, and records what it was asked. */
function fake_birdc(options: { fail?: () => boolean } = {}) {
  const calls: string[] = [];
  const run = (socket: string, args: string[]): Promise<BirdcResult> => {
    calls.push(`${socket} ${args.join(" ")}`);
    if (options.fail?.()) {
      return Promise.resolve({
        code: 1,
        output: `Unable to connect to server control socket (${socket}): No such file`,
      });
    }
    const done = args[0] === "enable" ? "enabled" : "disabled";
    return Promise.resolve({ code: 0, output: `BIRD 2.0.12 ready.\n${args[1]}: ${done}\n` });
  };
  return { calls, run };
}

Deno.test("birdc_confirms: BIRD 2's answers", () => {
  const ok = (output: string, code = 0) => ({ code, output });
  assert.ok(
    birdc_confirms(ok("BIRD 2.0.12 ready.\nbaton_vips: enabled\n"), "baton_vips", "enabled"),
  );
  assert.ok(birdc_confirms(ok("baton_vips: already disabled"), "baton_vips", "disabled"));
  assert.ok(!birdc_confirms(ok("baton_vips: disabled"), "baton_vips", "enabled"));
  assert.ok(!birdc_confirms(ok("syntax error, unexpected CF_SYM_UNDEFINED", 1), "x", "enabled"));
  assert.ok(!birdc_confirms(ok("other: enabled"), "baton_vips", "enabled"));
});

Deno.test("bird driver: enabled while a server is healthy, disabled when none is", async () => {
  const birdc = fake_birdc();
  let healthy = true;
  const logs: string[] = [];
  const driver = start_bird_driver(SECTION, {
    healthy: () => Promise.resolve(healthy),
    run: birdc.run,
    log: (line) => logs.push(line),
    poll_ms: 60_000, // ticks by hand
    reassert_ms: 60_000,
  });
  try {
    await driver.tick();
    assert.equal(driver.state(), "enabled");
    assert.deepEqual(birdc.calls, ["/run/bird.ctl enable baton_vips"]);
    await driver.tick(); // no change: nothing sent
    assert.equal(birdc.calls.length, 1);
    healthy = false;
    await driver.tick();
    assert.equal(driver.state(), "disabled");
    assert.equal(birdc.calls.at(-1), "/run/bird.ctl disable baton_vips");
    healthy = true;
    await driver.tick();
    assert.deepEqual(driver.counters, { enables: 2, disables: 1, failures: 0 });
    await driver.withdraw(0);
    assert.equal(driver.state(), "disabled");
    assert.equal(birdc.calls.at(-1), "/run/bird.ctl disable baton_vips");
    const sent = birdc.calls.length;
    await driver.tick(); // withdrawn: health no longer matters
    assert.equal(birdc.calls.length, sent);
    assert.ok(logs.some((l) => l.includes("baton_vips disabled")));
  } finally {
    driver.stop();
  }
});

Deno.test("bird driver: a failing birdc is counted, logged once, retried; health errors withdraw", async () => {
  let failing = true;
  const birdc = fake_birdc({ fail: () => failing });
  const logs: string[] = [];
  let health: () => Promise<boolean> = () => Promise.resolve(true);
  const driver = start_bird_driver(SECTION, {
    healthy: () => health(),
    run: birdc.run,
    log: (line) => logs.push(line),
    poll_ms: 60_000,
  });
  try {
    await driver.tick();
    await driver.tick();
    assert.equal(driver.state(), "unknown");
    assert.ok(driver.counters.failures >= 2);
    assert.equal(logs.filter((l) => l.includes("failed")).length, 1, "one line per streak");
    failing = false;
    await driver.tick();
    assert.equal(driver.state(), "enabled");
    health = () => Promise.reject(new Error("control Worker gone"));
    await driver.tick();
    assert.equal(driver.state(), "disabled", "no word on health: nothing to vouch for");
  } finally {
    driver.stop();
  }
});

Deno.test("config: director.bfd defaults and limits; director.bird protocol names", () => {
  assert.deepEqual(bfd_section({}, "director.bfd"), {
    enabled: true,
    min_rx_ms: 100,
    min_tx_ms: 100,
    multiplier: 3,
  });
  assert.deepEqual(
    bfd_section({ enabled: false, min_rx_ms: 300, multiplier: 5 }, "director.bfd"),
    { enabled: false, min_rx_ms: 300, min_tx_ms: 100, multiplier: 5 },
  );
  assert.throws(() => bfd_section({ multiplier: 0 }, "director.bfd"), /director\.bfd\.multiplier/);
  assert.throws(() => bfd_section({ enabled: "yes" }, "director.bfd"), /director\.bfd\.enabled/);
  assert.throws(() => bfd_section({ echo: 1 }, "director.bfd"), /director\.bfd\.echo: unknown/);
  assert.deepEqual(bird_section({ socket: "/run/bird/bird.ctl" }, "director.bird"), {
    socket: "/run/bird/bird.ctl",
    protocol: "baton_vips",
    withdraw_wait_ms: 1000,
  });
  assert.throws(
    () => bird_section({ socket: "/s", protocol: "x; down" }, "director.bird"),
    /director\.bird\.protocol: 'x; down' is not a BIRD protocol name/,
  );
  assert.throws(() => bird_section({}, "director.bird"), /director\.bird\.socket: missing/);
});
