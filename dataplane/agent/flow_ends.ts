// FLOW_END datagrams the director has not acknowledged yet. When the agent
// ends a handed-off flow it sends a FLOW_END and keeps it here, by hand-off
// (epoch, id), with everything needed to send it again (the flow key, the
// reason, the packet counts, the director's address), until a
// FLOW_END_ACK for that same hand-off and 4-tuple arrives: an ACK naming
// another hand-off of the same 4-tuple does not silence it, and two
// hand-offs of one 4-tuple are pending side by side. Each copy is sent
// again with a growing gap (500 ms × the sends so far) and freshly stamped
// by the caller (the gaps add up to 7.5 s, too close to the freshness
// bound to keep the first stamp); after FLOW_END_TRIES sends it gives up.
//
// In typed arrays: a flow table keyed (epoch, id, 0, 0) holds the entries
// (FE_* words), a timer wheel (dataplane/timer_wheel.ts) their
// retransmission deadlines, its payload the (epoch, id) to look up again.
// The functions return what happened and the caller counts it; nothing
// here allocates after create_flow_ends or throws.

import {
  create_flow_table,
  flow_insert,
  flow_lookup,
  flow_remove_at,
  type FlowTable,
} from "../flow_table.ts";
import {
  create_timer_wheel,
  timer_cancel,
  timer_expire,
  timer_payload_offset,
  timer_schedule,
  type TimerWheel,
} from "../timer_wheel.ts";

/** The first gap; the n-th retransmission waits n + 1 times this. */
export const FLOW_END_RETRY_MS = 500;
/** Sends of one FLOW_END (the first included) before the agent gives up. */
export const FLOW_END_TRIES = 6;

// An entry's words (flow table values).
export const FE_CLIENT_IP = 0;
export const FE_VIP = 1;
/** client_port << 16 | vip_port. */
export const FE_PORTS = 2;
/** A FLOW_END_* code (reasons.ts). */
export const FE_REASON = 3;
export const FE_TO_SERVER = 4;
export const FE_TO_CLIENT = 5;
/** Where the copies go: the director's IP, UDP port and MAC (or its router's). */
export const FE_DIRECTOR_IP = 6;
export const FE_DIRECTOR_PORT = 7;
export const FE_DIRECTOR_MAC_HI = 8;
export const FE_DIRECTOR_MAC_LO = 9;
/** Sends so far. */
export const FE_TRIES = 10;
/** Its retransmission timer: entry and serial in the wheel. */
export const FE_TIMER = 11;
export const FE_SERIAL = 12;
export const FE_WORDS = 13;

/** flow_end_next: the entry is gone (acknowledged meanwhile). */
export const FLOW_END_GONE = -1;
/** flow_end_next: FLOW_END_TRIES sends went unanswered; the entry is forgotten. */
export const FLOW_END_GIVEN_UP = -2;

/** Timers fired per flow_ends_due call at most (the rest fire on the next). */
const FIRE_PER_CALL = 64;

export interface PendingFlowEnds {
  table: FlowTable;
  wheel: TimerWheel;
  /** (epoch, id) of the timers the last flow_ends_due fired. */
  fired: Int32Array;
}

export function create_flow_ends(options: { capacity: number; now: number }): PendingFlowEnds {
  let slots = 4;
  while (Math.floor(slots * 0.75) < options.capacity) slots *= 2;
  const table = create_flow_table({ capacity: slots, values_per_flow: FE_WORDS });
  return {
    table,
    wheel: create_timer_wheel({
      capacity: table.max_flows,
      // 10 ms ticks, a 20 s revolution: every gap lands in the first one
      slots: 2048,
      tick_ms: 10,
      payload_words: 2,
      now_ms: options.now,
    }),
    fired: new Int32Array(FIRE_PER_CALL * 2),
  };
}

/** FLOW_ENDs waiting for their ACK. */
export function flow_ends_pending(fe: PendingFlowEnds): number {
  return fe.table.count;
}

/**
 * Keeps the FLOW_END of hand-off (epoch, id), first sent at `now`, for
 * retransmission: returns the first of its words in fe.table.values (the
 * caller writes FE_CLIENT_IP .. FE_DIRECTOR_MAC_LO there), or -1 when the
 * table or the wheel is full (it is then sent once only).
 */
export function flow_end_track(
  fe: PendingFlowEnds,
  epoch: number,
  id: number,
  now: number,
): number {
  const table = fe.table;
  const index = flow_insert(table, epoch, id, 0, 0, now);
  if (index < 0) return -1;
  const v = index * FE_WORDS;
  const values = table.values;
  if (values[v + FE_TRIES] > 0) timer_cancel(fe.wheel, values[v + FE_TIMER], values[v + FE_SERIAL]);
  const timer = timer_schedule(fe.wheel, now + FLOW_END_RETRY_MS);
  if (timer < 0) {
    flow_remove_at(table, index);
    return -1;
  }
  arm(fe, v, timer, epoch, id);
  values[v + FE_TRIES] = 1;
  return v;
}

/**
 * The director acknowledged hand-off (epoch, id)'s FLOW_END for this flow
 * (ports: client_port << 16 | vip_port): false when none of that hand-off
 * and 4-tuple is waiting.
 */
export function flow_end_acked(
  fe: PendingFlowEnds,
  epoch: number,
  id: number,
  client_ip: number,
  vip: number,
  ports: number,
): boolean {
  const table = fe.table;
  const index = flow_lookup(table, epoch, id, 0, 0);
  if (index < 0) return false;
  const v = index * FE_WORDS;
  const values = table.values;
  if (
    values[v + FE_CLIENT_IP] !== (client_ip | 0) || values[v + FE_VIP] !== (vip | 0) ||
    values[v + FE_PORTS] !== (ports | 0)
  ) {
    return false;
  }
  timer_cancel(fe.wheel, values[v + FE_TIMER], values[v + FE_SERIAL]);
  flow_remove_at(table, index);
  return true;
}

/** Fires the retransmission timers due at `now`; returns how many (see flow_end_next). */
export function flow_ends_due(fe: PendingFlowEnds, now: number): number {
  if (fe.table.count === 0) return 0;
  return timer_expire(fe.wheel, now, fe.fired, FIRE_PER_CALL);
}

/**
 * The k-th timer the last flow_ends_due fired: the first word (in
 * fe.table.values) of the FLOW_END to send again now, its next
 * retransmission already scheduled; or FLOW_END_GONE, or FLOW_END_GIVEN_UP
 * (forgotten). Call for k = 0 .. n − 1 right after flow_ends_due, and send
 * each copy before the next call (a removal may move entries).
 */
export function flow_end_next(fe: PendingFlowEnds, k: number, now: number): number {
  const epoch = fe.fired[k * 2];
  const id = fe.fired[k * 2 + 1];
  const table = fe.table;
  const index = flow_lookup(table, epoch, id, 0, 0);
  if (index < 0) return FLOW_END_GONE;
  const v = index * FE_WORDS;
  const tries = table.values[v + FE_TRIES];
  if (tries >= FLOW_END_TRIES) {
    flow_remove_at(table, index);
    return FLOW_END_GIVEN_UP;
  }
  const timer = timer_schedule(fe.wheel, now + FLOW_END_RETRY_MS * (tries + 1));
  if (timer < 0) {
    // the wheel holds one timer per entry at most, so this cannot happen; never throw
    flow_remove_at(table, index);
    return FLOW_END_GIVEN_UP;
  }
  arm(fe, v, timer, epoch, id);
  table.values[v + FE_TRIES] = tries + 1;
  return v;
}

function arm(fe: PendingFlowEnds, v: number, timer: number, epoch: number, id: number): void {
  const wheel = fe.wheel;
  const at = timer_payload_offset(wheel, timer);
  wheel.payload[at] = epoch | 0;
  wheel.payload[at + 1] = id | 0;
  fe.table.values[v + FE_TIMER] = timer;
  fe.table.values[v + FE_SERIAL] = wheel.serial[timer];
}
