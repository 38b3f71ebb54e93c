// What crosses between the main isolate (control/roles.ts) and the agent's
// control Worker: the start spec, the messages it takes and its replies.
// Plain data (structured clone).

export interface AgentControlSpec {
  host: string;
  port: number;
  key: Uint8Array;
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
