// Hand-offs in flight. A flow's HANDOFF goes to the first server of its
// order (and the dataplane is told to TRY that server meanwhile), is
// retransmitted with exponential back-off up to handoff_tries sends, and
// ends with the agent's ACK (FORWARD to that server), its NACK or a
// time-out (the server failed; on to the next one, a time-out first
// CANCELs at the agent), or 503 when no server is left. An ACK for a
// hand-off no longer pending is answered with a CANCEL unless that agent
// has the flow. Each HANDOFF has a fresh id; answers carry (epoch, id) and
// count only from the agent the hand-off went to (matching.ts). Every copy
// is encoded again when sent, so it carries a fresh timestamp: the
// retransmission span (rto_ms × 2^tries) is configurable and must not be
// bounded by the receivers' freshness window. A hand-off that will not
// encode (nothing a client sends should get here; counted) gets a 503.

import {
  flow_key_string,
  type FlowKey,
  type Handoff,
  type HandoffAck,
  type HandoffNack,
  type HandoffRecord,
  NACK_REASON_NAMES,
  type NackReason,
  VERDICT_FORWARD,
  VERDICT_TRY,
} from "../../dataplane/wire/mod.ts";
import type { DirectorControl, Pending } from "./context.ts";
import { send_to_agent } from "./agent_link.ts";
import { match_answer } from "./matching.ts";
import { respond, tell_server } from "./ring_link.ts";
import { server_failed } from "./servers.ts";
import { note_latency } from "./stats.ts";

/** A request whose servers are chosen: its hand-off starts with the first of them. */
export function start_handoff(
  ctl: DirectorControl,
  record: HandoffRecord,
  key: FlowKey,
  order: number[],
): void {
  const flow = flow_key_string(key);
  const p: Pending = {
    record,
    key,
    order,
    server: -1,
    id: 0,
    message: handoff_message(ctl, record, key, 0),
    sends: 0,
    first_sent_at: 0,
    next_at: 0,
    committed: false,
  };
  ctl.pending.set(flow, p);
  try_next_server(ctl, flow, p);
}

/** The HANDOFF for a request record, with hand-off id `id`. */
function handoff_message(
  ctl: DirectorControl,
  record: HandoffRecord,
  key: FlowKey,
  id: number,
): Handoff {
  return {
    type: "handoff",
    epoch: ctl.epoch,
    id,
    key,
    state: {
      client_mac: record.client_mac,
      client_isn: record.client_isn,
      director_isn: (record.director_next_seq - 1) >>> 0,
      client_next_seq: (record.client_isn + 1 + record.request.length) >>> 0,
      director_next_seq: record.director_next_seq,
      client_window: record.client_window,
      client_mss: record.client_mss,
      director_mss: ctl.spec.mss,
      client_wscale: record.client_wscale,
      director_wscale: record.director_wscale,
      sack_permitted: record.sack_permitted,
      timestamps: record.timestamps,
      client_tsval: record.client_tsval,
      director_tsval: record.director_tsval,
      request: record.request,
    },
  };
}

function try_next_server(ctl: DirectorControl, flow: string, p: Pending): void {
  const { counters, director } = ctl;
  if (p.server >= 0) ctl.pending_by_id.delete(p.id);
  const server = p.order.shift();
  if (server === undefined) {
    ctl.pending.delete(flow);
    respond(ctl, p.key, 503);
    return;
  }
  if (p.server >= 0) counters.fallbacks++;
  p.server = server;
  p.id = ctl.next_id++ >>> 0;
  p.message = { ...p.message, id: p.id };
  if (!send_to_agent(ctl, server, p.message)) {
    // counted (encode_failures): the client gets an answer rather than silence
    ctl.pending.delete(flow);
    respond(ctl, p.key, 503);
    return;
  }
  ctl.pending_by_id.set(p.id, flow);
  p.sends = 1;
  p.first_sent_at = performance.now();
  p.next_at = p.first_sent_at + director.handoff_rto_ms;
  counters.handoffs_sent++;
  tell_server(ctl, VERDICT_TRY, p.key, ctl.servers[server]);
}

/** Tells server's agent to forget a hand-off the director no longer wants (best effort). */
function cancel(ctl: DirectorControl, id: number, key: FlowKey, server: number): void {
  ctl.counters.cancels_sent++;
  send_to_agent(ctl, server, { type: "handoff_cancel", epoch: ctl.epoch, id, key });
}

/** An ACK or NACK from server's agent. */
export function on_handoff_answer(
  ctl: DirectorControl,
  message: HandoffAck | HandoffNack,
  server: number,
): void {
  const { counters, servers } = ctl;
  const match = match_answer(ctl, message, server);
  if (match.kind === "unmatched") {
    // another epoch, an id never issued, or a hand-off that went to another agent or flow
    counters.answers_unmatched++;
    return;
  }
  if (match.kind === "forwarded") return; // a duplicate of the ACK that made the flow
  if (match.kind === "late") {
    // an ACK for a hand-off we gave up on: that agent must forget it
    if (message.type === "handoff_ack") {
      counters.late_acks++;
      cancel(ctl, message.id, message.key, server);
    }
    return;
  }
  const { flow, pending: p } = match;
  if (message.type === "handoff_ack") {
    counters.handoffs_acked++;
    note_latency(ctl, performance.now() - p.first_sent_at);
    servers[p.server].consecutive_failures = 0;
    forward_to_tried_server(ctl, flow, p);
  } else if (p.committed) {
    // the client already took this server's bytes: no other server can answer it now
    counters.handoffs_nacked++;
    counters.committed_kept++;
    forward_to_tried_server(ctl, flow, p);
  } else {
    counters.handoffs_nacked++;
    counters[`nack_${NACK_REASON_NAMES[message.reason as NackReason]}`] =
      (counters[`nack_${NACK_REASON_NAMES[message.reason as NackReason]}`] ?? 0) + 1;
    server_failed(ctl, p.server);
    try_next_server(ctl, flow, p);
  }
}

/** Retransmits the HANDOFFs that are due; a hand-off out of tries moves on to the next server. */
export function retransmit_due(ctl: DirectorControl, now: number): void {
  const { counters, director } = ctl;
  for (const [flow, p] of ctl.pending) {
    if (p.next_at > now) continue;
    if (p.sends < director.handoff_tries) {
      p.sends++;
      counters.handoff_retransmits++;
      p.next_at = now + director.handoff_rto_ms * (1 << (p.sends - 1));
      send_to_agent(ctl, p.server, p.message); // re-stamped: a fresh timestamp per copy
    } else if (p.committed) {
      // unanswered, but the client is talking to this server: it stays there
      counters.handoff_timeouts++;
      counters.committed_kept++;
      forward_to_tried_server(ctl, flow, p);
    } else {
      counters.handoff_timeouts++;
      server_failed(ctl, p.server);
      // the agent may have adopted it after all: it must not keep the flow
      cancel(ctl, p.id, p.key, p.server);
      try_next_server(ctl, flow, p);
    }
  }
}

/**
 * A hand-off that failed inside this Worker (an exception while building or
 * sending it): the client gets a 503 instead of waiting for a hand-off that
 * will never come, and the flow is forgotten here.
 */
export function abandon_handoff(ctl: DirectorControl, key: FlowKey): void {
  const flow = flow_key_string(key);
  const p = ctl.pending.get(flow);
  if (p) ctl.pending_by_id.delete(p.id);
  ctl.pending.delete(flow);
  respond(ctl, key, 503);
}

/** The flow is forwarded to the server its hand-off went to (an ACK, or a commitment). */
function forward_to_tried_server(ctl: DirectorControl, flow: string, p: Pending): void {
  ctl.pending_by_id.delete(p.id);
  ctl.pending.delete(flow);
  const chosen = ctl.servers[p.server];
  chosen.selections++;
  chosen.active_flows++;
  ctl.forwarding.set(flow, { server: p.server, id: p.id });
  tell_server(ctl, VERDICT_FORWARD, p.key, chosen);
}

/** EVENT_COMMITTED: the client acknowledged bytes of the server being tried. */
export function flow_committed(ctl: DirectorControl, key: FlowKey): void {
  const p = ctl.pending.get(flow_key_string(key));
  if (p === undefined) return; // answered meanwhile
  ctl.counters.handoffs_committed++;
  p.committed = true;
}

/** The dataplane ended the flow (client reset, idle, hand-off time-out): forget it here too. */
export function flow_gone(ctl: DirectorControl, key: FlowKey): void {
  ctl.counters.flows_gone++;
  const flow = flow_key_string(key);
  const p = ctl.pending.get(flow);
  if (p) {
    ctl.pending_by_id.delete(p.id);
    ctl.pending.delete(flow);
  }
  const forwarded = ctl.forwarding.get(flow);
  if (forwarded !== undefined) {
    ctl.servers[forwarded.server].active_flows--;
    ctl.forwarding.delete(flow);
  }
}
