// Configuration is validated up front: a table of bad configs, each with the
// error that names its field; and the example configs in the repo load.

import assert from "node:assert/strict";
import { ConfigError, load_config, parse_config, type Role } from "../../control/mod.ts";

const KEY = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
const EXAMPLES = new URL("../../control/examples/", import.meta.url).pathname;

const agent = () => ({
  control: "198.19.0.11:7711",
  server_mac: "02:b7:00:00:01:01",
  fabric_port: 0,
  server_port: 1,
});
const director = () => ({
  port: 0,
  control: "198.19.0.1:7700",
  vips: [{ address: "198.18.0.100", ports: [80], policy: "url_hash" }],
  servers: [{ name: "a", mac: "02:b7:00:00:01:01", agent: "198.19.0.11:7711" }],
});
const base = (extra: Record<string, unknown>) => ({ key_file: "k", ...extra });

async function parse(config: unknown, roles: Role[], key = KEY) {
  return await parse_config(typeof config === "string" ? config : JSON.stringify(config), {
    roles,
    base_dir: "/cfg/",
    read_file: (path) =>
      path === "/cfg/k" ? Promise.resolve(key) : Promise.reject(new Error("No such file")),
  });
}

const bad: { description: string; config: unknown; roles: Role[]; key?: string; error: RegExp }[] =
  [
    {
      description: "not JSON",
      config: "{ nope",
      roles: ["agent"],
      error: /^config: not valid JSON/,
    },
    {
      description: "not an object",
      config: "[1]",
      roles: ["agent"],
      error: /^config: must be an object/,
    },
    {
      description: "unknown top-level field",
      config: base({ agents: [agent()], colour: 1 }),
      roles: ["agent"],
      error: /^config\.colour: unknown field/,
    },
    {
      description: "no key_file",
      config: { agents: [agent()] },
      roles: ["agent"],
      error: /^key_file: missing/,
    },
    {
      description: "key file missing",
      config: { key_file: "nothere", agents: [agent()] },
      roles: ["agent"],
      error: /^key_file: cannot read \/cfg\/nothere/,
    },
    {
      description: "key not hex",
      config: base({ agents: [agent()] }),
      roles: ["agent"],
      key: "zz",
      error: /^key_file: .*hex/,
    },
    {
      description: "key too short",
      config: base({ agents: [agent()] }),
      roles: ["agent"],
      key: "00112233",
      error: /^key_file: .*at least 32/,
    },
    {
      description: "fabric_mtu out of range",
      config: base({ fabric_mtu: 100, agents: [agent()] }),
      roles: ["agent"],
      error: /^fabric_mtu: 100 is out of range \(576\.\.9216\)/,
    },
    {
      description: "agents missing for --role=agent",
      config: base({}),
      roles: ["agent"],
      error: /^agents: missing or empty/,
    },
    {
      description: "agent control not HOST:PORT",
      config: base({ agents: [{ ...agent(), control: "198.19.0.11" }] }),
      roles: ["agent"],
      error: /^agents\[0\]\.control: '198\.19\.0\.11' must be HOST:PORT/,
    },
    {
      description: "agent control bad port",
      config: base({ agents: [{ ...agent(), control: "198.19.0.11:99999" }] }),
      roles: ["agent"],
      error: /^agents\[0\]\.control: '99999' is not a port/,
    },
    {
      description: "agent control bad IPv4",
      config: base({ agents: [{ ...agent(), control: "198.19.0.311:7" }] }),
      roles: ["agent"],
      error: /^agents\[0\]\.control: '198\.19\.0\.311' is not an IPv4 address/,
    },
    {
      description: "server_mac malformed",
      config: base({ agents: [{ ...agent(), server_mac: "02:b7:00" }] }),
      roles: ["agent"],
      error: /^agents\[0\]\.server_mac: '02:b7:00' is not a MAC address/,
    },
    {
      description: "fabric and server port equal",
      config: base({ agents: [{ ...agent(), server_port: 0 }] }),
      roles: ["agent"],
      error: /^agents\[0\]\.server_port: must differ from agents\[0\]\.fabric_port/,
    },
    {
      description: "two agents on one port",
      config: base({ agents: [agent(), agent()] }),
      roles: ["agent"],
      error: /^agents\[1\]\.fabric_port: port 0 is already agents\[0\]\.fabric_port/,
    },
    {
      description: "flows not a power of two",
      config: base({ agents: [{ ...agent(), flows: 1000 }] }),
      roles: ["agent"],
      error: /^agents\[0\]\.flows: 1000 is not a power of two/,
    },
    {
      description: "timeout wrong type",
      config: base({ agents: [{ ...agent(), timeouts: { linger_ms: "2s" } }] }),
      roles: ["agent"],
      error: /^agents\[0\]\.timeouts\.linger_ms: must be a whole number, got '2s'/,
    },
    {
      description: "unknown agent field",
      config: base({ agents: [{ ...agent(), vip: "x" }] }),
      roles: ["agent"],
      error: /^agents\[0\]\.vip: unknown field/,
    },
    {
      description: "director missing for --role=director",
      config: base({}),
      roles: ["director"],
      error: /^director: missing/,
    },
    {
      description: "no servers",
      config: base({ director: { ...director(), servers: [] } }),
      roles: ["director"],
      error: /^director\.servers: must be a non-empty array/,
    },
    {
      description: "server name twice",
      config: base({
        director: { ...director(), servers: [director().servers[0], director().servers[0]] },
      }),
      roles: ["director"],
      error: /^director\.servers\[1\]\.name: 'a' is used twice/,
    },
    {
      description: "server weight negative",
      config: base({
        director: { ...director(), servers: [{ ...director().servers[0], weight: -1 }] },
      }),
      roles: ["director"],
      error: /^director\.servers\[0\]\.weight: -1 is out of range/,
    },
    {
      description: "VIP not IPv4",
      config: base({ director: { ...director(), vips: [{ address: "vip.example" }] } }),
      roles: ["director"],
      error: /^director\.vips\[0\]\.address: 'vip\.example' is not an IPv4 address/,
    },
    {
      description: "VIP policy unknown",
      config: base({
        director: { ...director(), vips: [{ address: "198.18.0.100", policy: "random" }] },
      }),
      roles: ["director"],
      error: /^director\.vips\[0\]\.policy: 'random' is not one of url_hash, l4_hash/,
    },
    {
      description: "VIP port out of range",
      config: base({
        director: { ...director(), vips: [{ address: "198.18.0.100", ports: [0] }] },
      }),
      roles: ["director"],
      error: /^director\.vips\[0\]\.ports\[0\]: 0 is out of range/,
    },
    {
      description: "VIP names an unknown server",
      config: base({
        director: { ...director(), vips: [{ address: "198.18.0.100", servers: ["zz"] }] },
      }),
      roles: ["director"],
      error: /^director\.vips\[0\]\.servers\[0\]: 'zz' is not a server name/,
    },
    {
      description: "header limit over one datagram",
      config: base({ director: { ...director(), limits: { max_header_bytes: 5000 } } }),
      roles: ["director"],
      error: /^director\.limits\.max_header_bytes: 5000 is out of range \(64\.\.1368\)/,
    },
    {
      description: "health path relative",
      config: base({ director: { ...director(), health: { path: "health" } } }),
      roles: ["director"],
      error: /^director\.health\.path: must be a path starting with \//,
    },
    {
      description: "metrics not HOST:PORT",
      config: base({ metrics: 9100, agents: [agent()] }),
      roles: ["agent"],
      error: /^metrics: must be a non-empty string, got 9100/,
    },
  ];

for (const row of bad) {
  Deno.test(`config: ${row.description}`, async () => {
    await assert.rejects(parse(row.config, row.roles, row.key), (err: Error) => {
      assert.ok(err instanceof ConfigError, `a ConfigError, got ${err}`);
      assert.match(err.message, row.error);
      return true;
    });
  });
}

Deno.test("config: a good director config gets its defaults", async () => {
  const config = await parse(base({ director: director() }), ["director"]);
  const d = config.director!;
  assert.equal(config.max_datagram, 1472);
  assert.equal(d.max_header_bytes, 1368, "what fits one hand-off datagram at MTU 1500");
  assert.equal(d.handoff_tries, 4);
  assert.deepEqual(d.vips[0].servers, ["a"]);
  assert.equal(d.servers[0].weight, 1);
});

Deno.test("config: a larger max_datagram allows larger request heads", async () => {
  const config = await parse(base({ max_datagram: 9000, director: director() }), ["director"]);
  assert.equal(config.director!.max_header_bytes, 9000 - 104);
});

for (const [file, roles] of [["director.json", ["director"]], ["agent.json", ["agent"]]] as const) {
  Deno.test(`config: the example ${file} loads`, async () => {
    const config = await load_config(`${EXAMPLES}${file}`, { roles: [...roles] });
    assert.equal(config.key.length, 32);
    assert.ok(config.metrics);
    if (roles[0] === "director") {
      assert.equal(config.director!.servers.length, 3);
      assert.equal(config.director!.vips[1].policy, "l4_hash");
    } else {
      assert.equal(config.agents.length, 1);
    }
  });
}
