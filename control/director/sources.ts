// Whose datagram is this: the director reads a datagram only when it comes
// from a configured agent's control address (host and port), and then
// authenticates it under that agent's key and expects it to name that
// agent. Anything else is counted as unknown_source before an HMAC is
// computed, so a flood from elsewhere costs one Map lookup per datagram.

import { ip_to_u32, u32_to_ip } from "../../dataplane/mod.ts";

/** "host:port" (canonical dotted host, as the socket reports senders) → server index. */
export function agent_addresses(servers: { agent: { host: string; port: number } }[]) {
  const by_address = new Map<string, number>();
  servers.forEach((s, i) => by_address.set(address_key(s.agent.host, s.agent.port), i));
  return by_address;
}

/** The server whose agent sent this, or undefined for a sender that is not one of them. */
export function agent_for_sender(
  by_address: Map<string, number>,
  sender: { address: string; port: number },
): number | undefined {
  return by_address.get(`${sender.address}:${sender.port}`);
}

function address_key(host: string, port: number): string {
  return `${u32_to_ip(ip_to_u32(host))}:${port}`;
}
