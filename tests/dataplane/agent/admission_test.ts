// What an agent lets in before anything is adopted (dataplane/agent/
// admission.ts): a table of senders against a directors list (host-only
// and host:port entries), and a table of authentic hand-offs against the
// agent's VIPs and the client addresses that cannot exist, each with the
// refusal it gets. (These were the agent control Worker's checks; the poll
// loop makes them now, on numbers.)

import assert from "node:assert/strict";
import {
  address_usable,
  admission_policy,
  admission_refusal_name,
  ADMIT_BAD_CLIENT,
  admit_handoff,
  ADMIT_OK,
  ADMIT_WRONG_VIP,
  source_allowed,
  source_filter,
  unusable_address,
} from "../../../dataplane/agent/admission.ts";
import { ip_to_u32 } from "../../../dataplane/mod.ts";

const DIRECTORS = source_filter([
  { ip: ip_to_u32("198.18.0.2"), port: 7201 },
  { ip: ip_to_u32("198.18.0.3"), port: 0 },
  { ip: ip_to_u32("198.18.000.4"), port: 7201 }, // written with leading zeros in a config
]);

const SOURCES: { description: string; from: [string, number]; allowed: boolean }[] = [
  { description: "a director's fabric address", from: ["198.18.0.2", 7201], allowed: true },
  { description: "that director from another port", from: ["198.18.0.2", 7202], allowed: false },
  { description: "any port of a host-only entry", from: ["198.18.0.3", 40123], allowed: true },
  {
    description: "a leading-zero entry, as the frame carries it",
    from: ["198.18.0.4", 7201],
    allowed: true,
  },
  { description: "another host on the fabric", from: ["198.18.0.11", 7201], allowed: false },
  { description: "a client", from: ["198.18.0.1", 7201], allowed: false },
  {
    description: "a high address (negative as int32)",
    from: ["203.0.113.9", 7201],
    allowed: false,
  },
];

for (const row of SOURCES) {
  Deno.test(`source: ${row.description} → ${row.allowed ? "read" : "unknown_source"}`, () => {
    const [address, port] = row.from;
    assert.equal(source_allowed(DIRECTORS, ip_to_u32(address), port), row.allowed);
  });
}

Deno.test("source: no directors list reads every sender (the tag decides)", () => {
  const any = source_filter(undefined);
  assert.equal(any.count, -1);
  assert.equal(source_allowed(any, ip_to_u32("203.0.113.9"), 1), true);
  // an empty list reads nobody (config never makes one, but the rule is plain)
  assert.equal(source_allowed(source_filter([]), ip_to_u32("198.18.0.2"), 7201), false);
});

Deno.test("source: an address with the top bit set matches itself", () => {
  const high = source_filter([{ ip: ip_to_u32("203.0.113.9"), port: 0 }]);
  assert.equal(source_allowed(high, ip_to_u32("203.0.113.9"), 7201), true);
  assert.equal(source_allowed(high, ip_to_u32("203.0.113.9") | 0, 7201), true, "signed too");
});

const VIP = "198.18.0.100";
const FLOW = {
  client_ip: ip_to_u32("198.18.0.1"),
  vip: ip_to_u32(VIP),
  client_port: 40000,
  vip_port: 80,
};
type Key = typeof FLOW;
const WITH_VIPS = admission_policy([ip_to_u32(VIP), ip_to_u32("198.18.0.101")]);
const ANY_VIP = admission_policy(undefined);

const HANDOFFS: {
  description: string;
  key: Partial<Record<keyof Key, number | string>>;
  any_vip?: boolean;
  expected: "ok" | "wrong_vip" | "bad_client";
}[] = [
  { description: "a client of a VIP the server holds", key: {}, expected: "ok" },
  { description: "the server's other VIP", key: { vip: "198.18.0.101" }, expected: "ok" },
  {
    description: "a VIP the server does not hold",
    key: { vip: "198.18.0.102" },
    expected: "wrong_vip",
  },
  {
    description: "the server's own address as the VIP (capture its own traffic)",
    key: { vip: "198.18.0.11" },
    expected: "wrong_vip",
  },
  {
    description: "any VIP when none are configured",
    key: { vip: "203.0.113.80" },
    any_vip: true,
    expected: "ok",
  },
  {
    description: "a loopback VIP, even with no list",
    key: { vip: "127.0.0.1" },
    any_vip: true,
    expected: "wrong_vip",
  },
  {
    description: "a multicast VIP, even with no list",
    key: { vip: "224.0.0.251" },
    any_vip: true,
    expected: "wrong_vip",
  },
  { description: "VIP port 0", key: { vip_port: 0 }, expected: "wrong_vip" },
  { description: "client port 0", key: { client_port: 0 }, expected: "bad_client" },
  { description: "client 0.0.0.0", key: { client_ip: "0.0.0.0" }, expected: "bad_client" },
  {
    description: "client 0.1.2.3 (this network)",
    key: { client_ip: "0.1.2.3" },
    expected: "bad_client",
  },
  { description: "client 127.0.0.1", key: { client_ip: "127.0.0.1" }, expected: "bad_client" },
  { description: "client 127.255.0.9", key: { client_ip: "127.255.0.9" }, expected: "bad_client" },
  {
    description: "client 224.0.0.1 (multicast)",
    key: { client_ip: "224.0.0.1" },
    expected: "bad_client",
  },
  {
    description: "client 239.255.255.255 (multicast)",
    key: { client_ip: "239.255.255.255" },
    expected: "bad_client",
  },
  {
    description: "client 240.0.0.1 (class E)",
    key: { client_ip: "240.0.0.1" },
    expected: "bad_client",
  },
  {
    description: "client 255.255.255.255 (broadcast)",
    key: { client_ip: "255.255.255.255" },
    expected: "bad_client",
  },
  { description: "client is the VIP itself", key: { client_ip: VIP }, expected: "bad_client" },
  {
    description: "client 1.0.0.1 (the edges are fine)",
    key: { client_ip: "1.0.0.1" },
    expected: "ok",
  },
  { description: "client 223.255.255.254", key: { client_ip: "223.255.255.254" }, expected: "ok" },
  { description: "client 126.255.255.255", key: { client_ip: "126.255.255.255" }, expected: "ok" },
];

const CODES = { ok: ADMIT_OK, wrong_vip: ADMIT_WRONG_VIP, bad_client: ADMIT_BAD_CLIENT };

for (const row of HANDOFFS) {
  Deno.test(`admission: ${row.description} → ${row.expected}`, () => {
    const key = { ...FLOW };
    for (const [field, value] of Object.entries(row.key)) {
      key[field as keyof Key] = typeof value === "string" ? ip_to_u32(value) : value;
    }
    const ports = (key.client_port << 16) | key.vip_port;
    const code = admit_handoff(row.any_vip ? ANY_VIP : WITH_VIPS, key.client_ip, key.vip, ports);
    assert.equal(code, CODES[row.expected]);
    assert.equal(admission_refusal_name(code), row.expected === "ok" ? undefined : row.expected);
    // the same addresses as int32 bits (how the flow tables keep them) get the same answer
    assert.equal(
      admit_handoff(row.any_vip ? ANY_VIP : WITH_VIPS, key.client_ip | 0, key.vip | 0, ports),
      code,
    );
  });
}

Deno.test("unusable_address names what is wrong, and address_usable agrees with it", () => {
  assert.match(unusable_address(ip_to_u32("127.0.0.1"))!, /loopback/);
  assert.match(unusable_address(ip_to_u32("255.255.255.255"))!, /broadcast/);
  assert.match(unusable_address(ip_to_u32("250.1.1.1"))!, /class E/);
  assert.equal(unusable_address(ip_to_u32("198.18.0.1")), undefined);
  assert.equal(unusable_address(0xffff_ffff | 0), "the broadcast address", "signed input too");
  for (let first = 0; first < 256; first++) {
    for (const rest of [0, 0x010203, 0xffffff]) {
      const ip = ((first << 24) | rest) >>> 0;
      assert.equal(address_usable(ip), unusable_address(ip) === undefined, `${first}.x`);
      assert.equal(address_usable(ip | 0), address_usable(ip), "either sign");
    }
  }
});
