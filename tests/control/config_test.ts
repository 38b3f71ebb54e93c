// Configuration is validated up front: a table of bad configs, each with the
// error that names its field; the hand-off fields (agent ids, a key per
// agent, directors, VIPs, freshness) and their defaults; and the example
// configs in the repo and the lab's config writer produce configs that load.

import assert from "node:assert/strict";
import { ConfigError, load_config, parse_config, type Role } from "../../control/mod.ts";
import { type Lab, lab_key_file, lab_roles_config } from "../../control/lab/mod.ts";

const KEY = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
const KEY_1 = "11".repeat(32);
const KEY_2 = "22".repeat(32);
/** The key files the rows can name, under base_dir /cfg/. */
const FILES: Record<string, string> = {
  "/cfg/k": KEY,
  "/cfg/a1.key": KEY_1,
  "/cfg/a2.key": `${KEY_2}\n`,
  "/etc/baton/a2.key": KEY_2,
  "/cfg/bad.key": "not a key",
};
const EXAMPLES = new URL("../../control/examples/", import.meta.url).pathname;

const agent = () => ({
  address: "198.18.0.11",
  server_mac: "02:b7:00:00:01:01",
  fabric_port: 0,
  server_port: 1,
});
const director = () => ({
  port: 0,
  address: "198.18.0.2",
  vips: [{ address: "198.18.0.100", ports: [80], policy: "url_hash" }],
  servers: [{ name: "a", mac: "02:b7:00:00:01:01", agent: "198.18.0.11" }],
});
const base = (extra: Record<string, unknown>) => ({ key_file: "k", ...extra });

async function parse(config: unknown, roles: Role[], key = KEY) {
  return await parse_config(typeof config === "string" ? config : JSON.stringify(config), {
    roles,
    base_dir: "/cfg/",
    read_file: (path) =>
      path === "/cfg/k"
        ? Promise.resolve(key)
        : path in FILES
        ? Promise.resolve(FILES[path])
        : Promise.reject(new Error("No such file")),
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
      description: "agent address not an IPv4 address",
      config: base({ agents: [{ ...agent(), address: "198.18.0" }] }),
      roles: ["agent"],
      error: /^agents\[0\]\.address: '198\.18\.0' is not an IPv4 address/,
    },
    {
      description: "agent address a loopback address",
      config: base({ agents: [{ ...agent(), address: "127.0.0.1" }] }),
      roles: ["agent"],
      error: /^agents\[0\]\.address: /,
    },
    {
      description: "agent address missing (the old control field)",
      config: base({ agents: [{ ...agent(), address: undefined, control: "198.19.0.11:7711" }] }),
      roles: ["agent"],
      error: /^agents\[0\]\.control: unknown field/,
    },
    {
      description: "a server's agent with a bad port",
      config: base({
        director: {
          ...director(),
          servers: [{ ...director().servers[0], agent: "198.18.0.11:99999" }],
        },
      }),
      roles: ["director"],
      error: /^director\.servers\[0\]\.agent: '99999' is not a port/,
    },
    {
      description: "director address missing",
      config: base({ director: { ...director(), address: undefined } }),
      roles: ["director"],
      error: /^director\.address: missing/,
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
      error: /^director\.limits\.max_header_bytes: 5000 is out of range \(64\.\.1360\)/,
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
    // ---- hand-off datagrams: freshness, agent ids, a key per agent, directors, VIPs
    {
      description: "freshness bound too small to survive clock skew",
      config: base({ handoff_freshness_ms: 50, agents: [agent()] }),
      roles: ["agent"],
      error: /^handoff_freshness_ms: 50 is out of range \(1000\.\.600000\)/,
    },
    {
      description: "freshness bound not a number",
      config: base({ handoff_freshness_ms: "10s", agents: [agent()] }),
      roles: ["agent"],
      error: /^handoff_freshness_ms: must be a whole number, got '10s'/,
    },
    {
      description: "agent id 0",
      config: base({ agents: [{ ...agent(), id: 0 }] }),
      roles: ["agent"],
      error: /^agents\[0\]\.id: 0 is out of range \(1\.\.4294967295\)/,
    },
    {
      description: "agent id not a whole number",
      config: base({ agents: [{ ...agent(), id: "web1" }] }),
      roles: ["agent"],
      error: /^agents\[0\]\.id: must be a whole number, got 'web1'/,
    },
    {
      description: "two agents with one id",
      config: base({
        agents: [{ ...agent(), id: 7 }, { ...agent(), fabric_port: 2, server_port: 3, id: 7 }],
      }),
      roles: ["agent"],
      error: /^agents\[1\]\.id: 7 is already agents\[0\]\.id/,
    },
    {
      description: "a default id taken by an explicit one",
      config: base({
        agents: [{ ...agent(), id: 2 }, { ...agent(), fabric_port: 2, server_port: 3 }],
      }),
      roles: ["agent"],
      error: /^agents\[1\]\.id: 2 is already agents\[0\]\.id/,
    },
    {
      description: "no key at all for an agent",
      config: { agents: [agent()] },
      roles: ["agent"],
      error: /^key_file: missing \(agents\[0\] has no key_file of its own\)/,
    },
    {
      description: "an agent's own key file missing",
      config: { agents: [{ ...agent(), key_file: "nope.key" }] },
      roles: ["agent"],
      error: /^agents\[0\]\.key_file: cannot read \/cfg\/nope\.key/,
    },
    {
      description: "an agent's own key file not hex",
      config: base({ agents: [{ ...agent(), key_file: "bad.key" }] }),
      roles: ["agent"],
      error: /^agents\[0\]\.key_file: .*hex digits only/,
    },
    {
      description: "an agent's key_file empty",
      config: base({ agents: [{ ...agent(), key_file: "" }] }),
      roles: ["agent"],
      error: /^agents\[0\]\.key_file: must be a non-empty string/,
    },
    {
      description: "a server without a key of its own and no shared key",
      config: {
        director: {
          ...director(),
          servers: [
            { ...director().servers[0], key_file: "a1.key" },
            { name: "b", mac: "02:b7:00:00:01:02", agent: "198.18.0.12" },
          ],
        },
      },
      roles: ["director"],
      error: /^key_file: missing \(director\.servers\[1\] has no key_file of its own\)/,
    },
    {
      description: "a server's key file missing",
      config: base({
        director: { ...director(), servers: [{ ...director().servers[0], key_file: "x.key" }] },
      }),
      roles: ["director"],
      error: /^director\.servers\[0\]\.key_file: cannot read \/cfg\/x\.key/,
    },
    {
      description: "a server's agent_id 0",
      config: base({
        director: { ...director(), servers: [{ ...director().servers[0], agent_id: 0 }] },
      }),
      roles: ["director"],
      error: /^director\.servers\[0\]\.agent_id: 0 is out of range/,
    },
    {
      description: "two servers naming one agent id",
      config: base({
        director: {
          ...director(),
          servers: [
            director().servers[0],
            { name: "b", mac: "02:b7:00:00:01:02", agent: "198.18.0.12", agent_id: 1 },
          ],
        },
      }),
      roles: ["director"],
      error: /^director\.servers\[1\]\.agent_id: 1 is already director\.servers\[0\]\.agent_id/,
    },
    {
      description: "two servers at one agent address (answers could not be told apart)",
      config: base({
        director: {
          ...director(),
          servers: [
            director().servers[0],
            { name: "b", mac: "02:b7:00:00:01:02", agent: "198.18.0.11:7201" },
          ],
        },
      }),
      roles: ["director"],
      error:
        /^director\.servers\[1\]\.agent: 198\.18\.0\.11:7201 is already director\.servers\[0\]\.agent/,
    },
    {
      description: "directors empty",
      config: base({ agents: [{ ...agent(), directors: [] }] }),
      roles: ["agent"],
      error:
        /^agents\[0\]\.directors: must be a non-empty array of HOST or HOST:PORT \(leave it out for any\)/,
    },
    {
      description: "directors not an array",
      config: base({ agents: [{ ...agent(), directors: "198.19.0.1" }] }),
      roles: ["agent"],
      error: /^agents\[0\]\.directors: must be a non-empty array/,
    },
    {
      description: "a director that is not an IPv4 host",
      config: base({ agents: [{ ...agent(), directors: ["198.19.0.1", "director.example"] }] }),
      roles: ["agent"],
      error: /^agents\[0\]\.directors\[1\]: 'director\.example' is not an IPv4 address/,
    },
    {
      description: "a director with a bad port",
      config: base({ agents: [{ ...agent(), directors: ["198.19.0.1:0"] }] }),
      roles: ["agent"],
      error: /^agents\[0\]\.directors\[0\]: '0' is not a port/,
    },
    {
      description: "vips empty",
      config: base({ agents: [{ ...agent(), vips: [] }] }),
      roles: ["agent"],
      error: /^agents\[0\]\.vips: must be a non-empty array of IPv4 addresses/,
    },
    {
      description: "a VIP that is not an address",
      config: base({ agents: [{ ...agent(), vips: ["198.18.0.300"] }] }),
      roles: ["agent"],
      error: /^agents\[0\]\.vips\[0\]: '198\.18\.0\.300' is not an IPv4 address/,
    },
    {
      description: "a loopback VIP",
      config: base({ agents: [{ ...agent(), vips: ["198.18.0.100", "127.0.0.1"] }] }),
      roles: ["agent"],
      error: /^agents\[0\]\.vips\[1\]: '127\.0\.0\.1' is a loopback address/,
    },
    {
      description: "a multicast VIP",
      config: base({ agents: [{ ...agent(), vips: ["239.1.2.3"] }] }),
      roles: ["agent"],
      error: /^agents\[0\]\.vips\[0\]: '239\.1\.2\.3' is a multicast address/,
    },
    {
      description: "VIP 0.0.0.0",
      config: base({ agents: [{ ...agent(), vips: ["0.0.0.0"] }] }),
      roles: ["agent"],
      error: /^agents\[0\]\.vips\[0\]: '0\.0\.0\.0' is in 0\.0\.0\.0\/8/,
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
  assert.equal(d.max_header_bytes, 1360, "what fits one hand-off datagram at MTU 1500");
  assert.equal(d.handoff_tries, 4);
  assert.deepEqual(d.vips[0].servers, ["a"]);
  assert.equal(d.servers[0].weight, 1);
  assert.equal(config.handoff_freshness_ms, 10_000);
  assert.equal(d.servers[0].agent_id, 1, "by default the server's place, 1-based");
  assert.deepEqual(d.servers[0].key, hex(KEY), "the shared key when it has none of its own");
  assert.equal(d.servers[0].key_file, "/cfg/k");
});

Deno.test("config: a larger max_datagram allows larger request heads", async () => {
  const config = await parse(base({ max_datagram: 9000, director: director() }), ["director"]);
  assert.equal(config.director!.max_header_bytes, 9000 - 112);
});

Deno.test("config: an old config (one shared key, no ids) stays valid with ids by order", async () => {
  const second = { ...agent(), address: "198.18.0.12", fabric_port: 2, server_port: 3 };
  const config = await parse(base({ agents: [agent(), second] }), ["agent"]);
  assert.deepEqual(config.agents.map((a) => a.id), [1, 2]);
  assert.deepEqual(config.agents.map((a) => a.key), [hex(KEY), hex(KEY)]);
  assert.equal(config.agents[0].directors, undefined, "no list: any sender (the MAC decides)");
  assert.equal(config.agents[0].vips, undefined, "no list: any VIP");
  const d = (await parse(
    base({
      director: {
        ...director(),
        servers: [
          director().servers[0],
          { name: "b", mac: "02:b7:00:00:01:02", agent: "198.18.0.12" },
        ],
      },
    }),
    ["director"],
  )).director!;
  assert.deepEqual(d.servers.map((s) => s.agent_id), [1, 2], "the same order as the agents'");
});

Deno.test("config: a key per agent, the shared one where a server has none", async () => {
  const config = await parse(
    base({
      handoff_freshness_ms: 3000,
      director: {
        ...director(),
        servers: [
          { ...director().servers[0], agent_id: 11, key_file: "a1.key" },
          {
            name: "b",
            mac: "02:b7:00:00:01:02",
            agent: "198.19.0.12:7711",
            agent_id: 12,
            key_file: "/etc/baton/a2.key",
          },
          { name: "c", mac: "02:b7:00:00:01:03", agent: "198.19.0.13:7711" },
        ],
      },
    }),
    ["director"],
  );
  assert.equal(config.handoff_freshness_ms, 3000);
  const servers = config.director!.servers;
  assert.deepEqual(servers.map((s) => s.agent_id), [11, 12, 3]);
  assert.deepEqual(servers.map((s) => s.key), [hex(KEY_1), hex(KEY_2), hex(KEY)]);
  assert.deepEqual(servers.map((s) => s.key_file), ["/cfg/a1.key", "/etc/baton/a2.key", "/cfg/k"]);
});

Deno.test("config: an agent with only its own key, its directors and its VIPs", async () => {
  const config = await parse(
    {
      agents: [{
        ...agent(),
        id: 12,
        key_file: "a2.key",
        directors: ["198.19.0.1:7700", "198.19.0.2"],
        vips: ["198.18.0.100", "198.18.0.101"],
      }],
    },
    ["agent"],
  );
  assert.equal(config.key, undefined, "no shared key");
  const a = config.agents[0];
  assert.equal(a.id, 12);
  assert.deepEqual(a.key, hex(KEY_2));
  assert.deepEqual(a.directors, [{ host: "198.19.0.1", port: 7700 }, { host: "198.19.0.2" }]);
  assert.deepEqual(a.vips, ["198.18.0.100", "198.18.0.101"]);
});

for (const [file, roles] of [["director.json", ["director"]], ["agent.json", ["agent"]]] as const) {
  Deno.test(`config: the example ${file} loads`, async () => {
    const config = await load_config(`${EXAMPLES}${file}`, { roles: [...roles] });
    assert.ok(config.metrics);
    assert.equal(config.handoff_freshness_ms, 10_000);
    if (roles[0] === "director") {
      const servers = config.director!.servers;
      assert.equal(servers.length, 3);
      assert.equal(config.director!.vips[1].policy, "l4_hash");
      assert.deepEqual(servers.map((s) => s.agent_id), [1, 2, 3]);
      assert.ok(servers.every((s) => s.key.length === 32));
      assert.equal(new Set(servers.map((s) => String(s.key))).size, 3, "a key per agent");
    } else {
      assert.equal(config.agents.length, 1);
      assert.equal(config.agents[0].id, 1);
      assert.equal(config.agents[0].key.length, 32);
      assert.ok(config.agents[0].directors && config.agents[0].vips);
    }
  });
}

Deno.test("config: the example agent holds exactly the key its director entry names", async () => {
  const d = await load_config(`${EXAMPLES}director.json`, { roles: ["director"] });
  const a = (await load_config(`${EXAMPLES}agent.json`, { roles: ["agent"] })).agents[0];
  const server = d.director!.servers.find((s) => s.agent_id === a.id)!;
  assert.deepEqual(a.key, server.key);
  // the director sends to the server's own address, where the agent takes the datagrams
  assert.deepEqual([a.address], [server.agent.host]);
  assert.equal(server.agent.port, 7201, "the hand-off port by default");
  assert.deepEqual(a.directors, [{ host: d.director!.address }]);
  assert.deepEqual(a.vips, d.director!.vips.map((v) => v.address));
});

Deno.test("config: the lab's config writer produces a valid config, a key per agent", async () => {
  const servers = [1, 2, 3].map((id) => ({
    id,
    mac: `02:b7:00:00:01:0${id}`,
    control_ip: `198.19.0.1${id}`,
    ip: `198.18.0.1${id}`,
  }));
  const lab = {
    vip: "198.18.0.100",
    vip_l4: "198.18.0.101",
    director_ip: "198.18.0.2",
    control: { dp_ip: "198.19.0.1" },
    servers,
  } as unknown as Lab;
  const text = JSON.stringify(lab_roles_config(lab, { key_files: lab_key_file }));
  const keys: Record<string, string> = Object.fromEntries(
    servers.map((s) => [`/lab/${lab_key_file(s.id)}`, String(s.id).repeat(64)]),
  );
  const config = await parse_config(text, {
    roles: ["director", "agent"],
    base_dir: "/lab/",
    read_file: (path) => Promise.resolve(keys[path]),
  });
  const d = config.director!;
  assert.deepEqual(d.servers.map((s) => s.agent_id), [1, 2, 3]);
  assert.deepEqual(config.agents.map((a) => a.id), [1, 2, 3]);
  for (const a of config.agents) {
    const server = d.servers.find((s) => s.agent_id === a.id)!;
    assert.deepEqual(a.key, server.key, `agent ${a.id} and its server share their key`);
    assert.deepEqual({ host: a.address, port: 7201 }, server.agent);
    assert.deepEqual(a.directors, [{ host: d.address }]);
    assert.deepEqual(a.vips, ["198.18.0.100", "198.18.0.101"]);
  }
  assert.equal(new Set(config.agents.map((a) => String(a.key))).size, 3);
});

function hex(text: string): Uint8Array {
  return Uint8Array.from(text.trim().match(/../g)!.map((h) => parseInt(h, 16)));
}
