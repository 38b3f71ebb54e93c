// Whose datagram it is, before any HMAC: only a configured agent's control
// address (host and port) names a server; anything else is unknown_source.

import assert from "node:assert/strict";
import { agent_addresses, agent_for_sender } from "../../../control/director/sources.ts";

const BY_ADDRESS = agent_addresses([
  { agent: { host: "198.19.0.11", port: 7711 } },
  { agent: { host: "198.19.0.12", port: 7711 } },
  { agent: { host: "198.19.0.012", port: 7712 } }, // leading zeros in the config
]);

const ROWS: { description: string; from: [string, number]; server: number | undefined }[] = [
  { description: "server 0's agent", from: ["198.19.0.11", 7711], server: 0 },
  { description: "server 1's agent", from: ["198.19.0.12", 7711], server: 1 },
  { description: "server 2's agent, canonical form", from: ["198.19.0.12", 7712], server: 2 },
  {
    description: "an agent's host from another port",
    from: ["198.19.0.11", 7712],
    server: undefined,
  },
  { description: "a host that is no agent", from: ["198.19.0.99", 7711], server: undefined },
  { description: "the fabric side of a server", from: ["198.18.0.11", 7711], server: undefined },
];

for (const row of ROWS) {
  Deno.test(`sources: ${row.description} → ${row.server ?? "unknown_source"}`, () => {
    const [address, port] = row.from;
    assert.equal(agent_for_sender(BY_ADDRESS, { address, port }), row.server);
  });
}
