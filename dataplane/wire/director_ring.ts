// The records on the director's rings between its dataplane and its control
// Worker: verdicts (control → dataplane: forward the flow to a server, answer
// it, forget it) and events (dataplane → control: a flow is gone). The
// hand-off request itself travels as a handoff_record.
//
// A verdict is VERDICT_WORDS Int32 words, an event DIRECTOR_EVENT_WORDS, at
// the offsets below. Both sides go through this file: the control Worker
// (and the packet fixtures' harness, which plays it) writes verdicts with
// write_verdict and its companions, the dataplane reads them with the
// verdict_* readers; the dataplane writes events with write_director_event,
// the control Worker reads them with the director_event_* readers. Nothing
// here allocates or throws. Addresses are stored as Int32 words and read
// back unsigned; the two ports share one word, as the flow table keeps them.

/** control → dataplane verdicts. */
export const VERDICT_FORWARD = 1;
export const VERDICT_RESPOND = 2;
export const VERDICT_FORGET = 3;
/** A HANDOFF went to this server: forward the client's frames there while it adopts. */
export const VERDICT_TRY = 4;

/** VERDICT_FORWARD, VERDICT_RESPOND, VERDICT_FORGET or VERDICT_TRY. */
export const VERDICT_TYPE = 0;
export const VERDICT_CLIENT_IP = 1;
export const VERDICT_VIP = 2;
/** client_port << 16 | vip_port. */
export const VERDICT_PORTS = 3;
/** FORWARD, TRY: the server's MAC, first four bytes and last two (mac_hi, mac_lo words). */
export const VERDICT_SERVER_MAC_HI = 4;
export const VERDICT_SERVER_MAC_LO = 5;
/** RESPOND: the HTTP status the director answers with (the word of SERVER_MAC_HI). */
export const VERDICT_STATUS = 4;
export const VERDICT_WORDS = 6;

/** dataplane → control events: a flow the control Worker knows about is gone. */
export const EVENT_FLOW_GONE = 1;
/**
 * The client acknowledged bytes from the server being tried while the
 * hand-off is unconfirmed: the connection now belongs to that server, and the
 * control Worker must never fail it over to another (reason word unused).
 */
export const EVENT_COMMITTED = 2;
export const GONE_CLIENT_RESET = 1;
export const GONE_IDLE = 2;
export const GONE_TIMEOUT = 3;

/** EVENT_FLOW_GONE or EVENT_COMMITTED. */
export const DIRECTOR_EVENT_TYPE = 0;
export const DIRECTOR_EVENT_CLIENT_IP = 1;
export const DIRECTOR_EVENT_VIP = 2;
/** client_port << 16 | vip_port. */
export const DIRECTOR_EVENT_PORTS = 3;
/** GONE_CLIENT_RESET, GONE_IDLE or GONE_TIMEOUT. */
export const DIRECTOR_EVENT_REASON = 4;
export const DIRECTOR_EVENT_WORDS = 5;

/** The ports word of a verdict or an event. */
export function ring_ports(client_port: number, vip_port: number): number {
  return (client_port << 16) | vip_port;
}

// ------------------------------------------------------------------ verdicts

/**
 * Writes a verdict's type and flow into `verdict`, the other words zeroed
 * (control side). Positional parameters rather than an object, like the
 * dataplane's record writers: no allocation per verdict.
 */
export function write_verdict(
  verdict: Int32Array,
  type: number,
  client_ip: number,
  vip: number,
  ports: number,
): void {
  verdict[VERDICT_TYPE] = type;
  verdict[VERDICT_CLIENT_IP] = client_ip | 0;
  verdict[VERDICT_VIP] = vip | 0;
  verdict[VERDICT_PORTS] = ports;
  verdict[VERDICT_SERVER_MAC_HI] = 0;
  verdict[VERDICT_SERVER_MAC_LO] = 0;
}

/** FORWARD, TRY: the server the flow goes to, after write_verdict. */
export function write_verdict_server(verdict: Int32Array, mac_hi: number, mac_lo: number): void {
  verdict[VERDICT_SERVER_MAC_HI] = mac_hi;
  verdict[VERDICT_SERVER_MAC_LO] = mac_lo;
}

/** RESPOND: the status to answer with, after write_verdict. */
export function write_verdict_status(verdict: Int32Array, status: number): void {
  verdict[VERDICT_STATUS] = status;
}

export function verdict_type(verdict: Int32Array): number {
  return verdict[VERDICT_TYPE];
}

export function verdict_client_ip(verdict: Int32Array): number {
  return verdict[VERDICT_CLIENT_IP] >>> 0;
}

export function verdict_vip(verdict: Int32Array): number {
  return verdict[VERDICT_VIP] >>> 0;
}

export function verdict_client_port(verdict: Int32Array): number {
  return verdict[VERDICT_PORTS] >>> 16;
}

export function verdict_vip_port(verdict: Int32Array): number {
  return verdict[VERDICT_PORTS] & 0xffff;
}

export function verdict_server_mac_hi(verdict: Int32Array): number {
  return verdict[VERDICT_SERVER_MAC_HI];
}

export function verdict_server_mac_lo(verdict: Int32Array): number {
  return verdict[VERDICT_SERVER_MAC_LO];
}

export function verdict_status(verdict: Int32Array): number {
  return verdict[VERDICT_STATUS];
}

// -------------------------------------------------------------------- events

/**
 * Writes one event into `event` (dataplane side). Positional parameters
 * rather than an object: it runs on the packet path (a client's RST) and
 * must not allocate.
 */
export function write_director_event(
  event: Int32Array,
  type: number,
  client_ip: number,
  vip: number,
  ports: number,
  reason: number,
): void {
  event[DIRECTOR_EVENT_TYPE] = type;
  event[DIRECTOR_EVENT_CLIENT_IP] = client_ip | 0;
  event[DIRECTOR_EVENT_VIP] = vip | 0;
  event[DIRECTOR_EVENT_PORTS] = ports;
  event[DIRECTOR_EVENT_REASON] = reason;
}

export function director_event_type(event: Int32Array): number {
  return event[DIRECTOR_EVENT_TYPE];
}

export function director_event_client_ip(event: Int32Array): number {
  return event[DIRECTOR_EVENT_CLIENT_IP] >>> 0;
}

export function director_event_vip(event: Int32Array): number {
  return event[DIRECTOR_EVENT_VIP] >>> 0;
}

export function director_event_client_port(event: Int32Array): number {
  return event[DIRECTOR_EVENT_PORTS] >>> 16;
}

export function director_event_vip_port(event: Int32Array): number {
  return event[DIRECTOR_EVENT_PORTS] & 0xffff;
}

export function director_event_reason(event: Int32Array): number {
  return event[DIRECTOR_EVENT_REASON];
}
