// Planning a reload (SIGHUP): configs parsed with the same parse_config as
// at start; what may change (servers, weights, VIPs, health) and what is
// refused with the field named (ports, address, sizes, limits, the
// agents...); server entries keyed by agent address: kept, added at the end
// with a key slot, removed ones kept (marked) and given back to the same
// agent; VIPs retired; capacity limits; and watch_reloads end to end with a
// fake control Worker (an invalid file changes nothing).

import assert from "node:assert/strict";
import { parse_config, type Role } from "../../../control/mod.ts";
import {
  initial_entries,
  plan_reload,
  type ReloadPlan,
  type ServerEntry,
} from "../../../control/director/mod.ts";
import { watch_reloads } from "../../../control/mod.ts";

const KEYS: Record<string, string> = {
  "/cfg/k": "00".repeat(32),
  "/cfg/a.key": "aa".repeat(32),
  "/cfg/b.key": "bb".repeat(32),
  "/cfg/c.key": "cc".repeat(32),
  "/cfg/b2.key": "b2".repeat(32),
};
const CAPACITY = { max_servers: 8, max_vips: 4, max_ports_per_vip: 4 };

const server = (name: string, host: string, extra: Record<string, unknown> = {}) => ({
  name,
  mac: `02:b7:00:00:01:${host.split(".")[3]}`,
  agent: host,
  key_file: `${name}.key`,
  ...extra,
});

function director(extra: Record<string, unknown> = {}) {
  return {
    port: 0,
    address: "198.18.0.2",
    vips: [{ address: "198.18.0.100", ports: [80], policy: "url_hash" }],
    servers: [
      server("a", "198.18.0.11"),
      server("b", "198.18.0.12"),
      server("c", "198.18.0.13"),
    ],
    ...extra,
  };
}

async function parse(config: Record<string, unknown>, roles: Role[] = ["director"]) {
  return await parse_config(JSON.stringify(config), {
    roles,
    base_dir: "/cfg/",
    read_file: (path) =>
      path in KEYS ? Promise.resolve(KEYS[path]) : Promise.reject(new Error("No such file")),
  });
}

async function plan(
  before: Record<string, unknown>,
  after: Record<string, unknown>,
  entries?: ServerEntry[],
) {
  const current = await parse(before);
  const next = await parse(after);
  return plan_reload(
    {
      config: current,
      entries: entries ?? initial_entries(current.director!),
      key_slot_base: 0,
    },
    next,
    CAPACITY,
  );
}

function ok(result: Awaited<ReturnType<typeof plan>>): ReloadPlan {
  assert.ok(result.ok, result.ok ? "" : result.error);
  return result;
}

Deno.test("reload: nothing changed plans nothing and keeps every entry", async () => {
  const result = ok(await plan({ director: director() }, { director: director() }));
  assert.deepEqual(result.changes, []);
  assert.deepEqual(result.keys, []);
  assert.deepEqual(result.entries.map((e) => [e.server.name, e.removed]), [
    ["a", false],
    ["b", false],
    ["c", false],
  ]);
});

Deno.test("reload: a weight changes and a server is removed; its entry stays, marked", async () => {
  const after = director({
    servers: [server("a", "198.18.0.11"), server("b", "198.18.0.12", { weight: 3 })],
  });
  const result = ok(await plan({ director: director() }, { director: after }));
  assert.deepEqual(result.entries.map((e) => [e.server.name, e.server.weight, e.removed]), [
    ["a", 1, false],
    ["b", 3, false],
    ["c", 1, true], // still in the table: its flows go on, its agent's answers are accepted
  ]);
  assert.deepEqual(result.keys, []);
  assert.ok(result.changes.includes("b weight 1 → 3"), result.changes.join("; "));
  assert.ok(result.changes.some((c) => c.startsWith("c removed")), result.changes.join("; "));
});

Deno.test("reload: a new agent address gets a new entry at the end, with its key slot", async () => {
  const after = director({
    servers: [server("a", "198.18.0.11"), server("d", "198.18.0.14", { key_file: "c.key" })],
  });
  const result = ok(await plan({ director: director() }, { director: after }));
  assert.deepEqual(result.entries.map((e) => [e.server.name, e.removed]), [
    ["a", false],
    ["b", true],
    ["c", true],
    ["d", false],
  ]);
  assert.equal(result.keys.length, 1);
  assert.equal(result.keys[0].slot, 3);
  assert.equal(result.keys[0].key[0], 0xcc);
});

Deno.test("reload: a removed server that comes back gets its old entry (and a changed key)", async () => {
  const removed = ok(
    await plan({ director: director() }, {
      director: director({ servers: [server("a", "198.18.0.11")] }),
    }),
  );
  const current = await parse({ director: director({ servers: [server("a", "198.18.0.11")] }) });
  const next = await parse({
    director: director({
      servers: [server("a", "198.18.0.11"), server("b", "198.18.0.12", { key_file: "b2.key" })],
    }),
  });
  const back = plan_reload(
    { config: current, entries: removed.entries, key_slot_base: 10 },
    next,
    CAPACITY,
  );
  assert.ok(back.ok);
  assert.deepEqual(back.entries.map((e) => [e.server.name, e.removed]), [
    ["a", false],
    ["b", false],
    ["c", true],
  ]);
  // its slot is its entry's (base + index), re-keyed
  assert.deepEqual(back.keys.map((k) => [k.slot, k.key[0]]), [[11, 0xb2]]);
});

Deno.test("reload: a renamed server on the same agent keeps its entry", async () => {
  const after = director({
    servers: [server("a", "198.18.0.11"), server("b", "198.18.0.12"), {
      ...server("c", "198.18.0.13"),
      name: "c-new",
    }],
  });
  const result = ok(await plan({ director: director() }, { director: after }));
  assert.equal(result.entries.length, 3);
  assert.equal(result.entries[2].server.name, "c-new");
  assert.equal(result.entries[2].removed, false);
  assert.ok(result.changes.includes("c renamed c-new"));
});

Deno.test("reload: VIPs change; a removed VIP is retired (kept without ports for its flows)", async () => {
  const after = director({
    vips: [{ address: "198.18.0.101", ports: [80, 8080], policy: "l4_hash" }],
  });
  const result = ok(await plan({ director: director() }, { director: after }));
  assert.deepEqual(result.retired_vips, ["198.18.0.100"]);
  assert.deepEqual(result.director.vips.map((v) => [v.address, v.ports]), [
    ["198.18.0.101", [80, 8080]],
  ]);
  assert.ok(result.changes.includes("VIP 198.18.0.101 added"));
});

Deno.test("reload: health settings and the drain grace reload", async () => {
  const result = ok(
    await plan({ director: director() }, {
      director: director({
        health: { interval_ms: 250, path: "/health" },
        timeouts: { drain_grace_s: 5 },
      }),
    }),
  );
  assert.equal(result.director.health_interval_ms, 250);
  assert.equal(result.director.health_path, "/health");
  assert.equal(result.director.drain_grace_ms, 5000);
});

const refused: { description: string; after: Record<string, unknown>; error: RegExp }[] = [
  {
    description: "the DPDK port",
    after: { director: director({ port: 1 }) },
    error: /^director\.port: cannot change on reload \(0 → 1\)/,
  },
  {
    description: "the director's address",
    after: { director: director({ address: "198.18.0.3" }) },
    error: /director\.address: cannot change on reload \("198\.18\.0\.2" → "198\.18\.0\.3"\)/,
  },
  {
    description: "the flow table size",
    after: { director: director({ flows: 1024 }) },
    error: /director\.flows: cannot change on reload \(65536 → 1024\)/,
  },
  {
    description: "a limit",
    after: { director: director({ limits: { max_reading: 10 } }) },
    error: /director\.max_reading: cannot change on reload/,
  },
  {
    description: "the hand-off port",
    after: { handoff_port: 7300, director: director() },
    error: /^handoff_port: cannot change on reload \(7201 → 7300\)/,
  },
  {
    description: "the metrics address",
    after: { metrics: "198.19.0.1:9200", director: director() },
    error: /^metrics: cannot change on reload/,
  },
  {
    description: "the access log and the name",
    after: { director: director({ access_log: "stdout", name: "d2" }) },
    error:
      /director\.name: cannot change.*; director\.access_log: cannot change|director\.access_log: cannot change.*director\.name: cannot change/,
  },
];

for (const row of refused) {
  Deno.test(`reload: refused, the field named: ${row.description}`, async () => {
    const result = await plan({ director: director() }, row.after);
    assert.equal(result.ok, false);
    if (result.ok) return;
    assert.match(result.error, row.error);
    assert.match(result.error, /restart baton/);
  });
}

Deno.test("reload: refused when the entries or VIPs would not fit", async () => {
  const many = Array.from({ length: 6 }, (_, i) => server("a", `198.18.0.${20 + i}`)).map((
    s,
    i,
  ) => ({ ...s, name: `n${i}`, key_file: "a.key" }));
  // 3 removed entries stay: 3 + 6 = 9 > 8
  const result = await plan({ director: director() }, { director: director({ servers: many }) });
  assert.equal(result.ok, false);
  if (!result.ok) assert.match(result.error, /^director\.servers: 9 server entries needed/);
  const vips = Array.from({ length: 4 }, (_, i) => ({ address: `198.18.0.${110 + i}` }));
  const too_many = await plan({ director: director() }, { director: director({ vips }) });
  assert.equal(too_many.ok, false);
  if (!too_many.ok) assert.match(too_many.error, /^director\.vips: 4 VIPs \(and 1 being retired\)/);
  const ports = await plan({ director: director() }, {
    director: director({ vips: [{ address: "198.18.0.100", ports: [1, 2, 3, 4, 5] }] }),
  });
  assert.equal(ports.ok, false);
  if (!ports.ok) assert.match(ports.error, /^director\.vips\[0\]\.ports: 5 ports/);
});

Deno.test({
  name: "reload: watch_reloads reads the file, sets new keys, applies; a bad file changes nothing",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "baton-reload-test-" });
    try {
      for (const [path, key] of Object.entries(KEYS)) {
        await Deno.writeTextFile(`${dir}/${path.slice(5)}`, key);
      }
      const write = (config: unknown) =>
        Deno.writeTextFile(`${dir}/baton.json`, JSON.stringify(config));
      await write({ director: director() });
      const config = await parse({ director: director() });
      const keys: number[] = [];
      const applied: unknown[] = [];
      const reloader = watch_reloads(
        { path: `${dir}/baton.json`, roles: ["director"], config },
        {
          set_key: (slot) => keys.push(slot),
          apply: (message) => {
            applied.push(message);
            return Promise.resolve();
          },
          capacity: CAPACITY,
          key_slot_base: 0,
        },
      );
      try {
        await write({ director: director({ servers: [{ name: "a", weight: "x" }] }) });
        const bad = await reloader.reload();
        assert.equal(bad.ok, false);
        assert.match(
          bad.message,
          /^reload refused: director\.servers\[0\]\.weight: must be a whole number/,
        );
        await write({ director: director({ port: 3 }) });
        assert.match((await reloader.reload()).message, /director\.port: cannot change/);
        assert.equal(applied.length, 0, "nothing applied");
        assert.equal(reloader.config(), config, "the running config stays");

        await write({
          director: director({
            servers: [
              server("a", "198.18.0.11", { weight: 5 }),
              server("d", "198.18.0.14", {
                key_file: "c.key",
              }),
            ],
          }),
        });
        const good = await reloader.reload();
        assert.equal(good.ok, true, good.message);
        assert.match(good.message, /a weight 1 → 5/);
        assert.deepEqual(keys, [3], "the new server's key slot set before the publish");
        assert.equal(applied.length, 1);
        assert.deepEqual(
          reloader.entries().map((e) => [e.server.name, e.removed]),
          [["a", false], ["b", true], ["c", true], ["d", false]],
        );
        assert.equal(reloader.config().director!.servers[0].weight, 5);
      } finally {
        reloader.stop();
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("reload: a process without a director refuses a reload", async () => {
  const config = await parse({
    agents: [{
      address: "198.18.0.11",
      server_mac: "02:b7:00:00:01:01",
      key_file: "a.key",
    }],
  }, ["agent"]);
  const reloader = watch_reloads({ path: "/nonexistent", roles: ["agent"], config }, undefined);
  try {
    const result = await reloader.reload();
    assert.equal(result.ok, false);
    assert.match(result.message, /runs no director/);
  } finally {
    reloader.stop();
  }
});
