// What an agent lets in before its dataplane sees anything: a table of
// senders against a directors list (host-only and host:port entries), and
// a table of authentic hand-offs against the agent's VIPs and the client
// addresses that cannot exist, each with the refusal it gets.

import assert from "node:assert/strict";
import {
  admission_policy,
  admit_handoff,
  source_allowed,
  source_filter,
  unusable_address,
} from "../../../control/agent/admission.ts";
import { ip_to_u32 } from "../../../dataplane/mod.ts";
import type { FlowKey } from "../../../dataplane/wire/mod.ts";

const DIRECTORS = source_filter([
  { host: "198.19.0.1", port: 7700 },
  { host: "198.19.0.2" },
  { host: "198.19.000.3", port: 7700 }, // written with leading zeros; the socket never is
]);

const SOURCES: { description: string; from: [string, number]; allowed: boolean }[] = [
  { description: "a director's control address", from: ["198.19.0.1", 7700], allowed: true },
  { description: "that director from another port", from: ["198.19.0.1", 7701], allowed: false },
  { description: "any port of a host-only entry", from: ["198.19.0.2", 40123], allowed: true },
  {
    description: "a leading-zero entry, as the socket names it",
    from: ["198.19.0.3", 7700],
    allowed: true,
  },
  {
    description: "another host on the control network",
    from: ["198.19.0.11", 7700],
    allowed: false,
  },
  { description: "an address on the fabric", from: ["198.18.0.1", 7700], allowed: false },
];

for (const row of SOURCES) {
  Deno.test(`source: ${row.description} → ${row.allowed ? "read" : "unknown_source"}`, () => {
    const [address, port] = row.from;
    assert.equal(source_allowed(DIRECTORS, { address, port }), row.allowed);
  });
}

Deno.test("source: no directors list reads every sender (the MAC decides)", () => {
  assert.equal(source_filter(undefined), undefined);
  assert.equal(source_allowed(undefined, { address: "203.0.113.9", port: 1 }), true);
});

const VIP = "198.18.0.100";
const FLOW: FlowKey = {
  client_ip: ip_to_u32("198.18.0.1"),
  vip: ip_to_u32(VIP),
  client_port: 40000,
  vip_port: 80,
};
const WITH_VIPS = admission_policy([VIP, "198.18.0.101"]);
const ANY_VIP = admission_policy(undefined);

const HANDOFFS: {
  description: string;
  key: Partial<Record<keyof FlowKey, number | string>>;
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

for (const row of HANDOFFS) {
  Deno.test(`admission: ${row.description} → ${row.expected}`, () => {
    const key = { ...FLOW };
    for (const [field, value] of Object.entries(row.key)) {
      key[field as keyof FlowKey] = typeof value === "string" ? ip_to_u32(value) : value;
    }
    const result = admit_handoff(row.any_vip ? ANY_VIP : WITH_VIPS, key);
    if (row.expected === "ok") assert.deepEqual(result, { ok: true });
    else {
      assert.equal(result.ok, false);
      if (!result.ok) {
        assert.equal(result.reason, row.expected);
        assert.ok(result.detail.length > 0);
      }
    }
  });
}

Deno.test("unusable_address names what is wrong", () => {
  assert.match(unusable_address(ip_to_u32("127.0.0.1"))!, /loopback/);
  assert.match(unusable_address(ip_to_u32("255.255.255.255"))!, /broadcast/);
  assert.match(unusable_address(ip_to_u32("250.1.1.1"))!, /class E/);
  assert.equal(unusable_address(ip_to_u32("198.18.0.1")), undefined);
  assert.equal(unusable_address(0xffff_ffff | 0), "the broadcast address", "signed input too");
});
