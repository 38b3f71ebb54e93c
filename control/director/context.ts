// The director control Worker's state, one DirectorControl per run, passed
// to the functions of its parts (servers.ts, health.ts, stats.ts): the
// servers and VIPs as configured, their health, the selection table it
// publishes and the per-server numbers the dataplane writes. Types only.

import type { DirectorSection } from "../config.ts";
import type { SelectionTable } from "../../dataplane/mod.ts";
import type { DirectorControlSpec } from "./protocol.ts";
import type { Guard } from "../guard.ts";

export interface Server {
  name: string;
  weight: number;
  mac_hi: number;
  mac_lo: number;
  /**
   * Removed by a reload: out of every VIP's list, but its entry stays (its
   * flows are forwarded, its agent's answers accepted; reload.ts).
   */
  removed: boolean;
  /** Its agent on the fabric (the server's own address) and its id. */
  agent: { host: string; port: number };
  agent_id: number;
  key_slot: number;
  health?: { host: string; port: number };
  healthy: boolean;
  /** Failed health checks since the last good one. */
  failed_checks: number;
  /**
   * The dataplane's hand-off failure streak when this Worker last put the
   * server back (a good check): failures beyond it count towards fail_after.
   */
  streak_base: number;
}

/** A VIP's policy and its servers (indices into DirectorControl.servers). */
export interface Vip {
  address: number;
  l4: boolean;
  servers: number[];
  /** TCP ports open to new connections (none: a VIP being retired after a reload). */
  ports: number[];
}

export interface DirectorControl {
  spec: DirectorControlSpec;
  director: DirectorSection;
  servers: Server[];
  vips: Vip[];
  /** Draining: the dataplane answers new requests with 503; flows already forwarded go on. */
  draining: boolean;
  selection: SelectionTable;
  /** Per server: SERVER_STAT_WORDS the dataplane writes. */
  server_stats: Float64Array;
  counters: Record<string, number> & { internal_errors: number };
  guard: Guard;
  /** Retired VIPs' timers (reload.ts): each drops its VIP once its flows must be gone. */
  retire_timers: Map<number, ReturnType<typeof setTimeout>>;
}
