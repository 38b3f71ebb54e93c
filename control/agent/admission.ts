// What an agent's control Worker lets in, decided before anything reaches
// its dataplane: which senders it reads at all (the configured directors,
// checked before an HMAC is computed, so a flood from elsewhere costs one
// Map lookup per datagram), and which authentic hand-offs it takes. An
// authentic datagram still must not make the agent capture traffic it
// should pass through: a hand-off for a VIP its server does not hold, or
// from a client that cannot exist (0.0.0.0/8, loopback, multicast, class
// E, broadcast, port 0, the VIP itself), is refused with a NACK. Plain
// functions over plain data, so they are tested without DPDK.

import type { FlowKey } from "../../dataplane/wire/mod.ts";
import { ip_to_u32, u32_to_ip } from "../../dataplane/mod.ts";
import type { SourceAddress } from "../config.ts";

/** The configured senders: hosts whose every port is allowed, and exact host:port pairs. */
export interface SourceFilter {
  any_port: Set<string>;
  exact: Set<string>;
}

/** The filter for a list of directors; undefined (no list) lets every sender through. */
export function source_filter(directors: SourceAddress[] | undefined): SourceFilter | undefined {
  if (directors === undefined) return undefined;
  const filter: SourceFilter = { any_port: new Set(), exact: new Set() };
  for (const d of directors) {
    // the socket reports senders in canonical dotted form ("10.0.0.1", not "10.0.0.001")
    const host = u32_to_ip(ip_to_u32(d.host));
    if (d.port === undefined) filter.any_port.add(host);
    else filter.exact.add(`${host}:${d.port}`);
  }
  return filter;
}

/** True when a datagram from this sender is worth authenticating. */
export function source_allowed(
  filter: SourceFilter | undefined,
  from: { address: string; port: number },
): boolean {
  if (filter === undefined) return true;
  return filter.any_port.has(from.address) || filter.exact.has(`${from.address}:${from.port}`);
}

/**
 * Why an IPv4 address (host-order u32) cannot be a client's or a VIP's, or
 * undefined when it can. (A subnet's directed broadcast cannot be told
 * without the netmask; the server's stack drops what is sent to it.)
 */
export function unusable_address(ip: number): string | undefined {
  const first = ip >>> 24;
  if (first === 0) return "in 0.0.0.0/8 (this host, never a peer)";
  if (first === 127) return "a loopback address (127.0.0.0/8)";
  if (first >= 224 && first < 240) return "a multicast address (224.0.0.0/4)";
  if (ip >>> 0 === 0xffff_ffff) return "the broadcast address";
  if (first >= 240) return "in class E (240.0.0.0/4, reserved)";
  return undefined;
}

/** What the agent takes: the VIPs its server holds (host-order u32), or any VIP. */
export interface AdmissionPolicy {
  vips?: ReadonlySet<number>;
}

export function admission_policy(vips: string[] | undefined): AdmissionPolicy {
  return vips === undefined ? {} : { vips: new Set(vips.map(ip_to_u32)) };
}

export type Admission =
  | { ok: true }
  /** wrong_vip: not a VIP this server holds; bad_client: a client that cannot exist. */
  | { ok: false; reason: "wrong_vip" | "bad_client"; detail: string };

/** Whether an authentic HANDOFF for this flow may reach the dataplane. */
export function admit_handoff(policy: AdmissionPolicy, key: FlowKey): Admission {
  const vip_problem = unusable_address(key.vip);
  if (vip_problem) return refuse("wrong_vip", `VIP ${u32_to_ip(key.vip)} is ${vip_problem}`);
  if (policy.vips && !policy.vips.has(key.vip >>> 0)) {
    return refuse("wrong_vip", `VIP ${u32_to_ip(key.vip)} is not one this server holds`);
  }
  if (key.vip_port === 0) return refuse("wrong_vip", "VIP port 0");
  if (key.client_port === 0) return refuse("bad_client", "client port 0");
  const client_problem = unusable_address(key.client_ip);
  if (client_problem) {
    return refuse("bad_client", `client ${u32_to_ip(key.client_ip)} is ${client_problem}`);
  }
  if (key.client_ip >>> 0 === key.vip >>> 0) {
    return refuse("bad_client", `client ${u32_to_ip(key.client_ip)} is the VIP itself`);
  }
  return { ok: true };
}

function refuse(reason: "wrong_vip" | "bad_client", detail: string): Admission {
  return { ok: false, reason, detail };
}
