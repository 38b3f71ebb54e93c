// The director control Worker's state, one DirectorControl per run, passed
// to the functions of its parts (request.ts, pending.ts, agent_link.ts,
// ring_link.ts, health.ts, stats.ts): the servers and VIPs, the hand-offs
// in flight, the flows being forwarded, the counters, the UDP socket and
// the ring buffers. Types only. Invariants: a flow is in `pending` (and its
// current hand-off id in `pending_by_id`) from its request until ACK, 503
// or the dataplane's FLOW_GONE, and in `forwarding` from the ACK until
// FLOW_END or FLOW_GONE; never in both.

import type { Socket } from "node:dgram";
import type { Native } from "../../native/mod.ts";
import type { DirectorSection } from "../config.ts";
import type {
  DecodeCounters,
  FlowKey,
  Handoff,
  HandoffKey,
  HandoffRecord,
} from "../../dataplane/wire/mod.ts";
import type { DirectorControlSpec } from "./protocol.ts";
import type { Guard } from "../guard.ts";

export interface Server {
  name: string;
  weight: number;
  mac_hi: number;
  mac_lo: number;
  /** The agent's control address: HANDOFFs go there, and only datagrams from there are its. */
  agent: { host: string; port: number };
  /** The id its datagrams name, and the key they are signed with (that agent's own). */
  agent_id: number;
  hmac_key: HandoffKey;
  health?: { host: string; port: number };
  healthy: boolean;
  consecutive_failures: number;
  selections: number;
  handoff_failures: number;
  active_flows: number;
}

/** A VIP's policy and its servers (indices into DirectorControl.servers). */
export interface Vip {
  l4: boolean;
  servers: number[];
}

/** A hand-off in flight: the request, the servers left, and the HANDOFF being retransmitted. */
export interface Pending {
  record: HandoffRecord;
  key: FlowKey;
  /** Server indices left to try, best first. */
  order: number[];
  server: number;
  id: number;
  /** Encoded again for every send, so each copy carries a fresh timestamp. */
  message: Handoff;
  sends: number;
  first_sent_at: number;
  next_at: number;
  /**
   * The dataplane saw the client acknowledge this server's bytes
   * (EVENT_COMMITTED): the connection is that server's, so a time-out or a
   * NACK never moves it to another one.
   */
  committed: boolean;
}

/** A forwarded flow: the server that has it and the hand-off (this epoch's id) that made it. */
export interface Forwarded {
  server: number;
  id: number;
}

export interface DirectorControl {
  spec: DirectorControlSpec;
  director: DirectorSection;
  native: Native;
  /** This run's epoch: every HANDOFF carries it, and answers from another epoch are ignored. */
  epoch: number;
  next_id: number;
  /** Draining: new requests get 503; flows already forwarded go on. */
  draining: boolean;
  servers: Server[];
  /** "host:port" of each server's agent → its index: whose datagram it is, before any HMAC. */
  agents_by_address: Map<string, number>;
  /** Per VIP address: its policy and its servers. */
  vips: Map<number, Vip>;
  /** Hand-offs in flight, by flow_key_string. */
  pending: Map<string, Pending>;
  /** The current hand-off id of each pending flow → its flow_key_string. */
  pending_by_id: Map<number, string>;
  /** Forwarded flows: which server has each, under which hand-off (FLOW_END must name it). */
  forwarding: Map<string, Forwarded>;
  /** Hand-off latencies (ms), a ring of LATENCY_SAMPLES. */
  latencies: Float64Array;
  latency_count: number;
  /** Every latency since start, per bucket of stats.ts LATENCY_BOUNDS_MS (+Inf last). */
  latency_buckets: Float64Array;
  latency_sum_ms: number;
  counters: Record<string, number>;
  decode_counters: DecodeCounters;
  /** The UDP socket to and from the agents. */
  socket: Socket;
  /** One verdict record, written and enqueued at once (ring_link.ts). */
  verdict: Int32Array;
  verdict_bytes: Uint8Array;
  /** Where request records are dequeued into. */
  record_buffer: Uint8Array;
  event: Int32Array;
  event_bytes: Uint8Array;
  /** A poll is running (it awaits): the timer's next tick skips. */
  polling: boolean;
  /** Catches, counts (internal_errors) and logs what an entry point throws. */
  guard: Guard;
  /** The wall clock (ms since 1970) datagrams are stamped and checked with: Date.now. */
  wall_clock: () => number;
}
