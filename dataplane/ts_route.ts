// The routing identity a handed-off connection carries in its TCP
// timestamps, so that any director can find the flow's server without the
// memory of the director that handed it off (after a crash, a restart, or
// an ECMP change that sends the flow to another director). The idea is
// Cheetah's (NSDI'20): the load balancer's cookie rides in the TSval the
// client echoes.
//
//   code    = (route_id XOR H(key, flow)) & 0xff      H: HalfSipHash-2-4, 3 words
//   server → client: TSval = ((TSval_stack + Δts) & ~0xff) | code
//   client → server: the client's TSecr is that TSval; any director reads
//                    route_id = (TSecr XOR H(key, flow)) & 0xff
//
// route_id is the server's agent id (1..255; 0 means none, and an agent id
// above 255 gets no code, its flows fall back to asking the agents). The
// key is every director's (derived from the cluster secret, like the
// cookie key), so a client cannot aim its packets at a server of its
// choosing, and learns nothing about other flows' codes from its own.
//
// RFC 7323 asks that TSval be monotonic non-decreasing on a connection
// (the client's PAWS drops a segment whose TSval went back) and tick
// between 1 ms and 1 s. Clearing the low 8 bits of a monotonic clock keeps
// it monotonic; the code is the same on every segment of the flow; and the
// first routed TSval must not be below the director's last one, so the
// agent adds TS_ROUTE_HEADROOM to Δts when it adopts a routed flow.
// The stack's own clock is what the client no longer sees at full
// resolution: its echo comes back with the low bits gone, and the agent
// restores TSecr as the latest value it could have been (restored_tsecr),
// never later than what the stack has sent, so RTT samples and Eifel's
// "was it delivered before the retransmission" test stay on the safe side.
// (Linux prefers RTT from ACK timing anyway, and uses TSecr only where a
// segment was retransmitted.)
//
// Hot path: plain numbers in and out, nothing allocated, nothing thrown.

import { type HalfSipKey, hsiphash_3u32 } from "./halfsiphash.ts";

export const TS_ROUTE_BITS = 8;
export const TS_ROUTE_MASK = 0xff;
/** Largest route id a TSval can carry; 0 is "none". */
export const TS_ROUTE_MAX_ID = 0xff;
/** Added to Δts at adoption: the first routed TSval is above the director's last one. */
export const TS_ROUTE_HEADROOM = TS_ROUTE_MASK + 1;

/** The flow's keyed hash (client_port << 16 | vip_port in `ports`); its low 8 bits are the mask. */
export function ts_route_hash(
  key: HalfSipKey,
  client_ip: number,
  vip: number,
  ports: number,
): number {
  return hsiphash_3u32(key, client_ip | 0, vip | 0, ports | 0);
}

/** The flow's 8-bit mask: the low bits of ts_route_hash. */
export function ts_route_mask(
  key: HalfSipKey,
  client_ip: number,
  vip: number,
  ports: number,
): number {
  return ts_route_hash(key, client_ip, vip, ports) & TS_ROUTE_MASK;
}

/** The code a flow to route_id (1..255) carries; route_id 0 or above 255: −1, none. */
export function ts_route_code(route_id: number, flow_mask: number): number {
  if (route_id <= 0 || route_id > TS_ROUTE_MAX_ID) return -1;
  return (route_id ^ flow_mask) & TS_ROUTE_MASK;
}

/** The route id a TSecr names for the flow of flow_mask (0: none). */
export function ts_route_id(tsecr: number, flow_mask: number): number {
  return (tsecr ^ flow_mask) & TS_ROUTE_MASK;
}

/** The TSval the client gets for the stack's tsval (int32 bits). */
export function routed_tsval(tsval: number, ts_delta: number, code: number): number {
  return (((tsval + ts_delta) & ~TS_ROUTE_MASK) | code) | 0;
}

/**
 * The stack's TSval a client's TSecr echoes, as near as it can be known:
 * the latest value in the echoed tick, but never after last_tsval, the
 * newest TSval the stack sent (int32 bits, wrap-safe).
 */
export function restored_tsecr(tsecr: number, ts_delta: number, last_tsval: number): number {
  const latest = (((tsecr & ~TS_ROUTE_MASK) | TS_ROUTE_MASK) - ts_delta) | 0;
  return ((latest - last_tsval) | 0) > 0 ? last_tsval | 0 : latest;
}
