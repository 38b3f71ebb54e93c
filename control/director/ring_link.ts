// The control Worker's side of the director's rings, through the record
// helpers of dataplane/wire/director_ring.ts: verdicts to the dataplane
// (TRY and FORWARD a server, RESPOND with a status, FORGET a flow), request
// records and FLOW_GONE events from it. One verdict buffer is written and
// enqueued at once; a full verdict ring is counted, never thrown.

import {
  director_event_client_ip,
  director_event_client_port,
  director_event_type,
  director_event_vip,
  director_event_vip_port,
  type FlowKey,
  ring_ports,
  VERDICT_FORGET,
  VERDICT_RESPOND,
  write_verdict,
  write_verdict_server,
  write_verdict_status,
} from "../../dataplane/wire/mod.ts";
import type { DirectorControl, Server } from "./context.ts";

function write_key(ctl: DirectorControl, type: number, key: FlowKey): void {
  write_verdict(
    ctl.verdict,
    type,
    key.client_ip,
    key.vip,
    ring_ports(key.client_port, key.vip_port),
  );
}

function enqueue_verdict(ctl: DirectorControl): void {
  if (!ctl.native.ring_enqueue(ctl.spec.verdict_ring, ctl.verdict_bytes)) {
    ctl.counters.verdict_ring_full++;
  }
}

/** VERDICT_TRY or VERDICT_FORWARD: the flow's frames go to this server. */
export function tell_server(
  ctl: DirectorControl,
  type: number,
  key: FlowKey,
  server: Server,
): void {
  write_key(ctl, type, key);
  write_verdict_server(ctl.verdict, server.mac_hi, server.mac_lo);
  enqueue_verdict(ctl);
}

/** VERDICT_FORGET: the agent ended the forwarded flow. */
export function tell_forget(ctl: DirectorControl, key: FlowKey): void {
  write_key(ctl, VERDICT_FORGET, key);
  enqueue_verdict(ctl);
}

/** VERDICT_RESPOND: the director answers the client itself (and counts it). */
export function respond(ctl: DirectorControl, key: FlowKey, status: number): void {
  if (status === 400) ctl.counters.responses_400++;
  else ctl.counters.responses_503++;
  write_key(ctl, VERDICT_RESPOND, key);
  write_verdict_status(ctl.verdict, status);
  enqueue_verdict(ctl);
}

/** The next request record's bytes (a copy), or null when the ring is empty. */
export function take_request(ctl: DirectorControl): Uint8Array | null {
  const length = ctl.native.ring_dequeue(ctl.spec.request_ring, ctl.record_buffer);
  if (length < 0) return null;
  return ctl.record_buffer.slice(0, length);
}

/** The next event from the dataplane (EVENT_FLOW_GONE, EVENT_COMMITTED) and its flow, or null. */
export function take_event(ctl: DirectorControl): { type: number; key: FlowKey } | null {
  if (ctl.native.ring_dequeue(ctl.spec.event_ring, ctl.event_bytes) <= 0) return null;
  const e = ctl.event;
  return {
    type: director_event_type(e),
    key: {
      client_ip: director_event_client_ip(e),
      vip: director_event_vip(e),
      client_port: director_event_client_port(e),
      vip_port: director_event_vip_port(e),
    },
  };
}
