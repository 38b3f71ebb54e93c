// FLOW_END datagrams the director has not acknowledged yet. The agent's
// control Worker sends one when its dataplane ends a handed-off flow and
// keeps it here, by flow, until a FLOW_END_ACK arrives. Each poll sends
// again the ones that are due, with a growing gap, and after FLOW_END_TRIES
// sends it gives up (counted as unanswered). Control path: plain Maps.

const FLOW_END_RETRY_MS = 500;
const FLOW_END_TRIES = 6;

/** Where a flow's ACK/NACK/FLOW_END go: the director that handed it off. */
export interface Director {
  address: string;
  port: number;
}

interface PendingFlowEnd {
  datagram: Uint8Array;
  director: Director;
  tries: number;
  next_at: number;
}

/** Flow key string → its unacknowledged FLOW_END. */
export type PendingFlowEnds = Map<string, PendingFlowEnd>;

/** Remembers a FLOW_END just sent (the first try) for retransmission. */
export function flow_end_sent(
  pending: PendingFlowEnds,
  flow: string,
  datagram: Uint8Array,
  director: Director,
  now: number,
): void {
  pending.set(flow, { datagram, director, tries: 1, next_at: now + FLOW_END_RETRY_MS });
}

/** The director acknowledged the flow's FLOW_END: false if none was pending. */
export function flow_end_acked(pending: PendingFlowEnds, flow: string): boolean {
  return pending.delete(flow);
}

// FLOW_END is retransmitted until the director acknowledges it (or we give up).
export function retransmit_flow_ends(
  pending_flow_ends: PendingFlowEnds,
  now: number,
  send: (datagram: Uint8Array, to: Director) => void,
  counters: { flow_end_retransmits: number; flow_ends_unanswered: number },
): void {
  for (const [flow, pending] of pending_flow_ends) {
    if (pending.next_at > now) continue;
    if (pending.tries >= FLOW_END_TRIES) {
      pending_flow_ends.delete(flow);
      counters.flow_ends_unanswered++;
      continue;
    }
    send(pending.datagram, pending.director);
    counters.flow_end_retransmits++;
    pending.tries++;
    pending.next_at = now + FLOW_END_RETRY_MS * pending.tries;
  }
}
