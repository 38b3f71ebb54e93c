// The director's part in a routed site (config director.bfd and
// director.bird), validated like the rest of the config (config.ts): BFD on
// its fabric address for the routing daemon next to it, and that daemon (a
// local BIRD) which it tells when to announce the VIPs.

import { ConfigError, describe, integer, known_fields, object, string } from "./config_fields.ts";

export interface DirectorBfd {
  enabled: boolean;
  /** Required Min RX Interval the director announces (ms). */
  min_rx_ms: number;
  /** Desired Min TX Interval once a session is Up (ms). */
  min_tx_ms: number;
  /** Detect Mult: missed intervals before a peer declares the director down. */
  multiplier: number;
}

export interface DirectorBird {
  /** BIRD's control socket (birdc -s). */
  socket: string;
  /** The BIRD protocol that announces the VIPs: enabled while the director can serve. */
  protocol: string;
  /** SIGTERM: after disabling it, how long to keep serving as before while routers withdraw us. */
  withdraw_wait_ms: number;
}

export function bfd_section(value: unknown, at: string): DirectorBfd {
  const bfd = object(value, at);
  known_fields(bfd, at, ["enabled", "min_rx_ms", "min_tx_ms", "multiplier"]);
  if (bfd.enabled !== undefined && typeof bfd.enabled !== "boolean") {
    throw new ConfigError(`${at}.enabled`, `must be true or false, got ${describe(bfd.enabled)}`);
  }
  return {
    enabled: bfd.enabled ?? true,
    // below 10 ms a poll loop's idle sleeps and a busy host make false alarms
    min_rx_ms: integer(bfd.min_rx_ms ?? 100, `${at}.min_rx_ms`, 10, 60_000),
    min_tx_ms: integer(bfd.min_tx_ms ?? 100, `${at}.min_tx_ms`, 10, 60_000),
    multiplier: integer(bfd.multiplier ?? 3, `${at}.multiplier`, 1, 255),
  };
}

export function bird_section(value: unknown, at: string): DirectorBird {
  const bird = object(value, at);
  known_fields(bird, at, ["socket", "protocol", "withdraw_wait_ms"]);
  const protocol = bird.protocol === undefined
    ? "baton_vips"
    : string(bird.protocol, `${at}.protocol`);
  // it goes on birdc's command line: a name as BIRD's grammar has them, nothing more
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(protocol)) {
    throw new ConfigError(`${at}.protocol`, `'${protocol}' is not a BIRD protocol name`);
  }
  return {
    socket: string(bird.socket, `${at}.socket`),
    protocol,
    withdraw_wait_ms: integer(bird.withdraw_wait_ms ?? 1000, `${at}.withdraw_wait_ms`, 0, 60_000),
  };
}
