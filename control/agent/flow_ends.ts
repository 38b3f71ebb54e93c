// FLOW_END datagrams the director has not acknowledged yet. The agent's
// control Worker sends one when its dataplane ends a handed-off flow and
// keeps it here, by flow and hand-off (epoch, id), until a FLOW_END_ACK for
// that same hand-off arrives: an ACK naming an older hand-off of the same
// 4-tuple does not silence a newer one's FLOW_END. Each poll sends again
// the ones that are due, with a growing gap, re-encoded so that each copy
// carries a fresh timestamp (the gaps add up to 7.5 s, too close to the
// freshness bound to keep the first one); after FLOW_END_TRIES sends it
// gives up (counted as unanswered). Control path: plain Maps.

import type { FlowEnd } from "../../dataplane/wire/mod.ts";

const FLOW_END_RETRY_MS = 500;
const FLOW_END_TRIES = 6;

/** Where a flow's ACK/NACK/FLOW_END go: the director that handed it off. */
export interface Director {
  address: string;
  port: number;
}

interface PendingFlowEnd {
  message: FlowEnd;
  director: Director;
  tries: number;
  next_at: number;
}

/** flow_end_key → its unacknowledged FLOW_END. */
export type PendingFlowEnds = Map<string, PendingFlowEnd>;

/** A FLOW_END's place in PendingFlowEnds: its flow and its hand-off. */
export function flow_end_key(flow: string, epoch: number, id: number): string {
  return `${flow}#${epoch >>> 0}:${id >>> 0}`;
}

/** Remembers a FLOW_END just sent (the first try) for retransmission. */
export function flow_end_sent(
  pending: PendingFlowEnds,
  flow: string,
  message: FlowEnd,
  director: Director,
  now: number,
): void {
  pending.set(flow_end_key(flow, message.epoch, message.id), {
    message,
    director,
    tries: 1,
    next_at: now + FLOW_END_RETRY_MS,
  });
}

/** The director acknowledged hand-off (epoch, id)'s FLOW_END: false if none was pending. */
export function flow_end_acked(
  pending: PendingFlowEnds,
  flow: string,
  epoch: number,
  id: number,
): boolean {
  return pending.delete(flow_end_key(flow, epoch, id));
}

// FLOW_END is retransmitted until the director acknowledges it (or we give up).
export function retransmit_flow_ends(
  pending_flow_ends: PendingFlowEnds,
  now: number,
  send: (message: FlowEnd, to: Director) => void,
  counters: { flow_end_retransmits: number; flow_ends_unanswered: number },
): void {
  for (const [key, pending] of pending_flow_ends) {
    if (pending.next_at > now) continue;
    if (pending.tries >= FLOW_END_TRIES) {
      pending_flow_ends.delete(key);
      counters.flow_ends_unanswered++;
      continue;
    }
    send(pending.message, pending.director);
    counters.flow_end_retransmits++;
    pending.tries++;
    pending.next_at = now + FLOW_END_RETRY_MS * pending.tries;
  }
}
