// What crosses between the main isolate (control/roles.ts) and the agent's
// control Worker: the start spec, the messages it takes and its replies.
// Plain data (structured clone).

import type { SourceAddress } from "../config.ts";

export interface AgentControlSpec {
  host: string;
  port: number;
  /** This agent's id: datagrams naming another are dropped (wrong_agent), its own name it. */
  agent_id: number;
  /** This agent's own hand-off key (no other agent's). */
  key: Uint8Array;
  /** The directors whose datagrams are read at all; undefined: any sender. */
  directors?: SourceAddress[];
  /** The VIPs this agent's server holds; undefined: any VIP. */
  vips?: string[];
  /** How far a datagram's timestamp may be from this host's clock. */
  freshness_ms: number;
  max_datagram: number;
  max_request: number;
  adoption_ring: number;
  event_ring: number;
}

export type AgentControlMessage =
  | { type: "start"; spec: AgentControlSpec }
  | { type: "stop" }
  | { type: "stats" };

export type AgentControlReply =
  | { type: "listening"; address: string }
  | { type: "failed"; error: string }
  | { type: "stats"; counters: Record<string, number> }
  | { type: "stopped"; counters: Record<string, number> };
