// The entry point's choice of what to run: a --config without --role runs
// the roles the config has sections for (it used to run io forwarding and
// reflect the fabric's frames back onto it), and a config with neither
// section is an error that says what to do.

import assert from "node:assert/strict";
import { baton_command, spawn_dpdk } from "../../control/lab/mod.ts";

/** Runs fn with a config file holding `content` (and a key beside it), removed afterwards. */
async function with_config(content: unknown, fn: (path: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "baton-main-" });
  try {
    await Deno.writeTextFile(`${dir}/k.key`, "ab".repeat(32) + "\n");
    await Deno.writeTextFile(`${dir}/baton.json`, JSON.stringify(content));
    await fn(`${dir}/baton.json`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("a --config with a director section and no --role runs the director", async () => {
  await with_config({
    key_file: "k.key",
    director: {
      port: 5, // no such port: the run stops at the port check, after the role is chosen
      address: "198.18.0.2",
      vips: [{ address: "198.18.0.100" }],
      servers: [{ name: "a", mac: "02:b7:00:00:01:01", agent: "198.18.0.11" }],
    },
  }, async (path) => {
    const process = spawn_dpdk(baton_command([
      "--no-huge",
      "-m",
      "128",
      "--no-pci",
      "--file-prefix",
      `bt-main-${Deno.pid}`,
      "--vdev",
      "net_null0",
      "--",
      `--config=${path}`,
    ]));
    assert.equal(await process.exited, 1);
    const output = process.output();
    assert.match(output, /no --role given: running director, as .* names/);
    assert.match(output, /director\.port: port 5 does not exist/);
    assert.doesNotMatch(output, /forward-mode|io forwarding/i);
  });
});

Deno.test("a --config with neither section and no --role is an error that says so", async () => {
  await with_config({ key_file: "k.key" }, async (path) => {
    const process = spawn_dpdk(baton_command(["--no-pci", "--", `--config=${path}`]));
    assert.equal(await process.exited, 2);
    assert.match(process.output(), /has neither a director nor an agents section: say --role/);
  });
});
