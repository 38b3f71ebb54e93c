// What an agent lets in, decided in the poll loop before anything is
// adopted: which senders it reads at all (the configured directors,
// checked before an HMAC is computed, so a flood from elsewhere costs a
// scan of a few words per datagram), and which authentic hand-offs it
// takes. An authentic datagram still must not make the agent capture
// traffic it should pass through: a hand-off for a VIP its server does not
// hold, or from a client that cannot exist (0.0.0.0/8, loopback,
// multicast, class E, broadcast, port 0, the VIP itself), is refused (the
// caller answers NACK bad_request).
//
// The checks are plain functions over typed arrays and numbers: they
// allocate nothing and never throw. unusable_address, which says in words
// what is wrong with an address, is for configuration (control/config.ts)
// and logs, not for the fast path.

/** Senders a hand-off is read from: IPv4 (u32 bits) and UDP port, 0 = any port. */
export interface SourceFilter {
  ips: Int32Array;
  ports: Int32Array;
  /** How many entries; -1: no list, every sender is read (the tag decides). */
  count: number;
}

/** The filter for a directors list; undefined (no list) lets every sender through. */
export function source_filter(directors?: readonly { ip: number; port: number }[]): SourceFilter {
  const n = directors?.length ?? 0;
  const filter: SourceFilter = {
    ips: new Int32Array(Math.max(1, n)),
    ports: new Int32Array(Math.max(1, n)),
    count: directors === undefined ? -1 : n,
  };
  directors?.forEach((d, k) => {
    filter.ips[k] = d.ip | 0;
    filter.ports[k] = d.port;
  });
  return filter;
}

/** True when a datagram from this sender (ip u32, UDP port) is worth authenticating. */
export function source_allowed(filter: SourceFilter, ip: number, port: number): boolean {
  if (filter.count < 0) return true;
  const address = ip | 0;
  for (let k = 0; k < filter.count; k++) {
    if (filter.ips[k] === address && (filter.ports[k] === 0 || filter.ports[k] === port)) {
      return true;
    }
  }
  return false;
}

/**
 * True when an IPv4 address (u32, either sign) can be a client's or a
 * VIP's: not in 0.0.0.0/8, 127.0.0.0/8, 224.0.0.0/4 or 240.0.0.0/4 (which
 * holds the broadcast address). A subnet's directed broadcast cannot be
 * told without the netmask; the server's stack drops what is sent to it.
 */
export function address_usable(ip: number): boolean {
  const first = ip >>> 24;
  return first !== 0 && first !== 127 && first < 224;
}

/**
 * Why an IPv4 address (u32) cannot be a client's or a VIP's, in words, or
 * undefined when it can (configuration and logs; address_usable is the
 * fast path's form of the same rule).
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

/** The VIPs the agent takes hand-offs for (u32 bits); count -1: any VIP. */
export interface AdmissionPolicy {
  vips: Int32Array;
  count: number;
}

export function admission_policy(vips?: readonly number[]): AdmissionPolicy {
  const n = vips?.length ?? 0;
  const policy = { vips: new Int32Array(Math.max(1, n)), count: vips === undefined ? -1 : n };
  vips?.forEach((vip, k) => policy.vips[k] = vip | 0);
  return policy;
}

export const ADMIT_OK = 0;
/** Not a VIP this server holds (or one that cannot be a VIP, or VIP port 0). */
export const ADMIT_WRONG_VIP = 1;
/** A client address or port that cannot exist (or the VIP itself). */
export const ADMIT_BAD_CLIENT = 2;

/** The refusal's name, as its counter says it (refused_<name>). */
export function admission_refusal_name(code: number): "wrong_vip" | "bad_client" | undefined {
  if (code === ADMIT_WRONG_VIP) return "wrong_vip";
  if (code === ADMIT_BAD_CLIENT) return "bad_client";
  return undefined;
}

/**
 * Whether an authentic HANDOFF for this flow may be adopted (ports:
 * client_port << 16 | vip_port): ADMIT_OK, or the refusal. Positional
 * (style exception): once per hand-off in the poll loop.
 */
export function admit_handoff(
  policy: AdmissionPolicy,
  client_ip: number,
  vip: number,
  ports: number,
): number {
  if (!address_usable(vip) || (ports & 0xffff) === 0) return ADMIT_WRONG_VIP;
  if (policy.count >= 0) {
    let held = false;
    for (let k = 0; k < policy.count; k++) if (policy.vips[k] === (vip | 0)) held = true;
    if (!held) return ADMIT_WRONG_VIP;
  }
  if (ports >>> 16 === 0 || !address_usable(client_ip)) return ADMIT_BAD_CLIENT;
  if ((client_ip | 0) === (vip | 0)) return ADMIT_BAD_CLIENT;
  return ADMIT_OK;
}
