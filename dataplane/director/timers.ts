// The director's deadlines on the timer wheel (timer_wheel.ts): every
// deadline a flow gets is set here, in its D_DEADLINE word and as the one
// wheel entry the flow holds (the previous one is cancelled), named by the
// flow's key because flows move in the table. service.ts fires them; a
// fired entry is checked against the flow's current deadline.

import { timer_cancel, timer_payload_offset, timer_schedule } from "../timer_wheel.ts";
import {
  C,
  D_DEADLINE,
  D_TIMER_ENTRY,
  D_TIMER_SERIAL,
  type DirectorState,
  VALUES_PER_FLOW,
} from "./state.ts";

/** A timer's payload: the flow's key and the deadline it was set for. */
export const TIMER_CLIENT_IP = 0;
export const TIMER_VIP = 1;
export const TIMER_PORTS = 2;
export const TIMER_DEADLINE = 3;
export const TIMER_WORDS = 4;
/** Timers taken from the wheel at a time by the service call. */
export const TIMERS_PER_CALL = 64;

/**
 * Gives the flow at index a deadline (ms, the poll loop's clock): in its
 * D_DEADLINE word (int32, compared wrap-safely) and on the timer wheel, so
 * it fires on time whatever the table size. A wheel with no free entry is
 * counted; the sweep still finds the deadline, later.
 */
export function set_deadline(state: DirectorState, index: number, deadline_ms: number): void {
  const deadline = deadline_ms | 0;
  const values = state.table.values;
  const v = index * VALUES_PER_FLOW;
  values[v + D_DEADLINE] = deadline;
  // one live timer per flow: the one it had goes (its entry is free for the next)
  cancel_deadline(state, v);
  const wheel = state.timers;
  const entry = timer_schedule(wheel, deadline_ms);
  if (entry < 0) {
    state.counters[C.timers_full]++;
    return;
  }
  values[v + D_TIMER_ENTRY] = entry;
  values[v + D_TIMER_SERIAL] = wheel.serial[entry];
  const at = timer_payload_offset(wheel, entry);
  const table = state.table;
  wheel.payload[at + TIMER_CLIENT_IP] = table.src_ip[index];
  wheel.payload[at + TIMER_VIP] = table.dst_ip[index];
  wheel.payload[at + TIMER_PORTS] = table.ports[index];
  wheel.payload[at + TIMER_DEADLINE] = deadline;
}

/**
 * Takes the flow's timer (values at v) off the wheel, if it has one: a
 * forwarded flow has no deadline, a removed one none at all.
 */
export function cancel_deadline(state: DirectorState, v: number): void {
  const values = state.table.values;
  const serial = values[v + D_TIMER_SERIAL];
  if (serial === 0) return;
  timer_cancel(state.timers, values[v + D_TIMER_ENTRY], serial);
  values[v + D_TIMER_SERIAL] = 0;
}
