// What every director of a site must share so that any of them can carry
// on a connection another one accepted or handed off: the SYN cookie key
// (a handshake can complete at another director), the key of the TSval
// routing codes (dataplane/ts_route.ts), and the offset of the TSval clock
// (the client's PAWS must never see TSval go back when its packets move
// between directors). All three derive from one secret, each by
// HMAC-SHA256 under its own label, so that none of them reveals another.

import { createHmac } from "node:crypto";

export interface ClusterKeys {
  cookie_key: number[];
  route_key: number[];
  /** Added to the wall clock's milliseconds for TSval (u32). */
  ts_offset: number;
  /** False: random for this run only (no secret configured). */
  shared: boolean;
}

/** The director's keys from the site's secret; random ones without it. */
export function cluster_keys(secret: Uint8Array | undefined): ClusterKeys {
  const raw = secret ?? crypto.getRandomValues(new Uint8Array(32));
  const derive = (label: string) =>
    new Uint8Array(createHmac("sha256", raw).update(`baton ${label} v1`).digest());
  const clock = derive("tsval clock");
  return {
    cookie_key: Array.from(derive("syn cookie").subarray(0, 8)),
    route_key: Array.from(derive("tsval route").subarray(0, 8)),
    ts_offset: ((clock[0] << 24) | (clock[1] << 16) | (clock[2] << 8) | clock[3]) >>> 0,
    shared: secret !== undefined,
  };
}
