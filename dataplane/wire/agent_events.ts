// The records an agent's dataplane puts on its event ring for its control
// Worker, which turns each into a datagram for the director: ADOPTED
// (HANDOFF_ACK), REFUSED (HANDOFF_NACK with a reasons.ts NACK code) and
// FLOW_END (with a reasons.ts FLOW_END code and the flow's packet counts).
//
// A record is AGENT_EVENT_WORDS Int32 words at the offsets below. Both sides
// go through this file: the dataplane writes with write_agent_event, the
// control Worker reads with read_agent_event. Neither allocates nor throws.

/** What the dataplane tells the control Worker (it answers the director). */
export const EVENT_ADOPTED = 1;
export const EVENT_REFUSED = 2;
export const EVENT_FLOW_END = 3;

/** EVENT_ADOPTED, EVENT_REFUSED or EVENT_FLOW_END. */
export const AGENT_EVENT_TYPE = 0;
/** REFUSED: a NACK_* code; FLOW_END: a FLOW_END_* code; ADOPTED: 0. */
export const AGENT_EVENT_REASON = 1;
/** The hand-off's (epoch, id), as the director sent them. */
export const AGENT_EVENT_EPOCH = 2;
export const AGENT_EVENT_ID = 3;
export const AGENT_EVENT_CLIENT_IP = 4;
export const AGENT_EVENT_VIP = 5;
/** client_port << 16 | vip_port. */
export const AGENT_EVENT_PORTS = 6;
/** Packets translated each way (FLOW_END; 0 in a refusal). */
export const AGENT_EVENT_TO_SERVER = 7;
export const AGENT_EVENT_TO_CLIENT = 8;
export const AGENT_EVENT_WORDS = 9;

/**
 * Writes one record at word `at` of `events` (dataplane side). Positional
 * parameters rather than an object: it runs for every adoption, refusal and
 * flow end, and must not allocate.
 */
export function write_agent_event(
  events: Int32Array,
  at: number,
  type: number,
  reason: number,
  epoch: number,
  id: number,
  client_ip: number,
  vip: number,
  ports: number,
  to_server: number,
  to_client: number,
): void {
  events[at + AGENT_EVENT_TYPE] = type;
  events[at + AGENT_EVENT_REASON] = reason;
  events[at + AGENT_EVENT_EPOCH] = epoch;
  events[at + AGENT_EVENT_ID] = id;
  events[at + AGENT_EVENT_CLIENT_IP] = client_ip;
  events[at + AGENT_EVENT_VIP] = vip;
  events[at + AGENT_EVENT_PORTS] = ports;
  events[at + AGENT_EVENT_TO_SERVER] = to_server;
  events[at + AGENT_EVENT_TO_CLIENT] = to_client;
}

/** A record's words as plain numbers, unsigned where the datagram is (control side). */
export interface AgentEvent {
  type: number;
  reason: number;
  epoch: number;
  id: number;
  client_ip: number;
  vip: number;
  client_port: number;
  vip_port: number;
  packets_to_server: number;
  packets_to_client: number;
}

/** An AgentEvent to fill again and again with read_agent_event. */
export function create_agent_event(): AgentEvent {
  return {
    type: 0,
    reason: 0,
    epoch: 0,
    id: 0,
    client_ip: 0,
    vip: 0,
    client_port: 0,
    vip_port: 0,
    packets_to_server: 0,
    packets_to_client: 0,
  };
}

/** Reads the record at word `at` of `events` into the caller's `out`, and returns it. */
export function read_agent_event(events: Int32Array, at: number, out: AgentEvent): AgentEvent {
  const ports = events[at + AGENT_EVENT_PORTS];
  out.type = events[at + AGENT_EVENT_TYPE];
  out.reason = events[at + AGENT_EVENT_REASON];
  out.epoch = events[at + AGENT_EVENT_EPOCH] >>> 0;
  out.id = events[at + AGENT_EVENT_ID] >>> 0;
  out.client_ip = events[at + AGENT_EVENT_CLIENT_IP] >>> 0;
  out.vip = events[at + AGENT_EVENT_VIP] >>> 0;
  out.client_port = ports >>> 16;
  out.vip_port = ports & 0xffff;
  out.packets_to_server = events[at + AGENT_EVENT_TO_SERVER] >>> 0;
  out.packets_to_client = events[at + AGENT_EVENT_TO_CLIENT] >>> 0;
  return out;
}
