// Hand-offs in flight. A flow's HANDOFF goes to the first server of its
// order (and the dataplane is told to TRY that server meanwhile), is
// retransmitted with exponential back-off up to handoff_tries sends, and
// ends with the agent's ACK (FORWARD to that server), its NACK or a
// time-out (the server failed; on to the next one, a time-out first
// CANCELs at the agent), or 503 when no server is left. An ACK for a
// hand-off no longer pending is answered with a CANCEL unless that agent
// has the flow. Each HANDOFF has a fresh id; answers carry (epoch, id).

import {
  encode_message,
  flow_key_string,
  type FlowKey,
  type HandoffAck,
  type HandoffMessage,
  type HandoffNack,
  type HandoffRecord,
  NACK_REASON_NAMES,
  type NackReason,
  VERDICT_FORWARD,
  VERDICT_TRY,
} from "../../dataplane/wire/mod.ts";
import type { DirectorControl, Pending } from "./context.ts";
import { send } from "./agent_link.ts";
import { respond, tell_server } from "./ring_link.ts";
import { server_failed } from "./servers.ts";
import { note_latency } from "./stats.ts";

/** A request whose servers are chosen: its hand-off starts with the first of them. */
export async function start_handoff(
  ctl: DirectorControl,
  record: HandoffRecord,
  key: FlowKey,
  order: number[],
): Promise<void> {
  const flow = flow_key_string(key);
  const p: Pending = {
    record,
    key,
    order,
    server: -1,
    id: 0,
    datagram: new Uint8Array(0),
    sends: 0,
    first_sent_at: 0,
    next_at: 0,
  };
  ctl.pending.set(flow, p);
  await try_next_server(ctl, flow, p);
}

async function try_next_server(ctl: DirectorControl, flow: string, p: Pending): Promise<void> {
  const { counters, director, spec } = ctl;
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
  const message: HandoffMessage = {
    type: "handoff",
    epoch: ctl.epoch,
    id: p.id,
    key: p.key,
    state: {
      client_mac: p.record.client_mac,
      client_isn: p.record.client_isn,
      director_isn: (p.record.director_next_seq - 1) >>> 0,
      client_next_seq: (p.record.client_isn + 1 + p.record.request.length) >>> 0,
      director_next_seq: p.record.director_next_seq,
      client_window: p.record.client_window,
      client_mss: p.record.client_mss,
      director_mss: spec.mss,
      client_wscale: p.record.client_wscale,
      director_wscale: p.record.director_wscale,
      sack_permitted: p.record.sack_permitted,
      timestamps: p.record.timestamps,
      client_tsval: p.record.client_tsval,
      director_tsval: p.record.director_tsval,
      request: p.record.request,
    },
  };
  p.datagram = await encode_message(message, ctl.hmac_key, { max_datagram: spec.max_datagram });
  ctl.pending_by_id.set(p.id, flow);
  p.sends = 1;
  p.first_sent_at = performance.now();
  p.next_at = p.first_sent_at + director.handoff_rto_ms;
  counters.handoffs_sent++;
  send(ctl, p.datagram, ctl.servers[server].agent);
  tell_server(ctl, VERDICT_TRY, p.key, ctl.servers[server]);
}

/** Tells an agent to forget a hand-off the director no longer wants (best effort). */
async function cancel(
  ctl: DirectorControl,
  id: number,
  key: FlowKey,
  agent: { host: string; port: number },
): Promise<void> {
  ctl.counters.cancels_sent++;
  const datagram = await encode_message(
    { type: "handoff_cancel", epoch: ctl.epoch, id, key },
    ctl.hmac_key,
    { max_datagram: ctl.spec.max_datagram },
  );
  send(ctl, datagram, agent);
}

/** An agent's HANDOFF_ACK or HANDOFF_NACK. */
export async function on_handoff_answer(
  ctl: DirectorControl,
  message: HandoffAck | HandoffNack,
  sender: { address: string; port: number },
): Promise<void> {
  const { counters, servers } = ctl;
  if (message.epoch !== ctl.epoch) return;
  const flow = ctl.pending_by_id.get(message.id);
  const p = flow === undefined ? undefined : ctl.pending.get(flow);
  if (!p || flow === undefined) {
    // an ACK for a hand-off we gave up on (or a duplicate of one we took):
    // unless this flow is forwarded to that very agent, it must forget it
    const forwarded_to = ctl.forwarding.get(flow_key_string(message.key));
    const from_agent = servers.findIndex((s) =>
      s.agent.host === sender.address && s.agent.port === sender.port
    );
    if (message.type === "handoff_ack" && forwarded_to !== from_agent) {
      counters.late_acks++;
      await cancel(ctl, message.id, message.key, { host: sender.address, port: sender.port });
    }
    return;
  }
  if (message.type === "handoff_ack") {
    counters.handoffs_acked++;
    ctl.pending_by_id.delete(p.id);
    ctl.pending.delete(flow);
    note_latency(ctl, performance.now() - p.first_sent_at);
    const server = servers[p.server];
    server.selections++;
    server.consecutive_failures = 0;
    server.active_flows++;
    ctl.forwarding.set(flow, p.server);
    tell_server(ctl, VERDICT_FORWARD, p.key, server);
  } else {
    counters.handoffs_nacked++;
    counters[`nack_${NACK_REASON_NAMES[message.reason as NackReason]}`] =
      (counters[`nack_${NACK_REASON_NAMES[message.reason as NackReason]}`] ?? 0) + 1;
    server_failed(ctl, p.server);
    await try_next_server(ctl, flow, p);
  }
}

/** Retransmits the HANDOFFs that are due; a hand-off out of tries moves on to the next server. */
export async function retransmit_due(ctl: DirectorControl, now: number): Promise<void> {
  const { counters, director, servers } = ctl;
  for (const [flow, p] of ctl.pending) {
    if (p.next_at > now) continue;
    if (p.sends < director.handoff_tries) {
      p.sends++;
      counters.handoff_retransmits++;
      p.next_at = now + director.handoff_rto_ms * (1 << (p.sends - 1));
      send(ctl, p.datagram, servers[p.server].agent);
    } else {
      counters.handoff_timeouts++;
      server_failed(ctl, p.server);
      // the agent may have adopted it after all: it must not keep the flow
      await cancel(ctl, p.id, p.key, servers[p.server].agent);
      await try_next_server(ctl, flow, p);
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

/** The dataplane ended the flow (client reset, idle, hand-off time-out): forget it here too. */
export function flow_gone(ctl: DirectorControl, key: FlowKey): void {
  ctl.counters.flows_gone++;
  const flow = flow_key_string(key);
  const p = ctl.pending.get(flow);
  if (p) {
    ctl.pending_by_id.delete(p.id);
    ctl.pending.delete(flow);
  }
  const server = ctl.forwarding.get(flow);
  if (server !== undefined) {
    ctl.servers[server].active_flows--;
    ctl.forwarding.delete(flow);
  }
}
