// The agent's event FIFO: what its dataplane tells the control Worker
// (adopted, refused, flow ended), EVENT_CAPACITY records of the
// wire/agent_events.ts layout in AgentState.events. The runner drains it
// onto the event ring with next_agent_event. A full FIFO loses the event
// and counts it (events_lost); nothing here allocates or throws.

import {
  AGENT_EVENT_WORDS,
  EVENT_REFUSED,
  R_CLIENT_IP,
  R_CLIENT_PORT,
  R_EPOCH,
  R_ID,
  R_VIP,
  R_VIP_PORT,
  write_agent_event,
} from "../wire/mod.ts";
import { read_u16, read_u32 } from "../packet.ts";
import {
  type AgentState,
  C,
  EVENT_CAPACITY,
  note_ended,
  V_EPOCH,
  V_ID,
  V_TO_CLIENT,
  V_TO_SERVER,
  VALUES_PER_FLOW,
} from "./state.ts";

/** Where the next event goes in the FIFO, or −1 (counted) when it is full. */
export function claim_event(state: AgentState): number {
  if (state.event_count >= EVENT_CAPACITY) {
    state.counters[C.events_lost]++;
    return -1;
  }
  const at = ((state.event_head + state.event_count) % EVENT_CAPACITY) * AGENT_EVENT_WORDS;
  state.event_count++;
  return at;
}

/** An event about the flow at `index` (its hand-off ids, key and packet counts). */
export function push_event(
  state: AgentState,
  type: number,
  reason: number,
  index: number,
): void {
  const at = claim_event(state);
  if (at < 0) return;
  const table = state.table;
  const v = index * VALUES_PER_FLOW;
  write_agent_event(
    state.events,
    at,
    type,
    reason,
    table.values[v + V_EPOCH],
    table.values[v + V_ID],
    table.src_ip[index],
    table.dst_ip[index],
    table.ports[index],
    table.values[v + V_TO_SERVER],
    table.values[v + V_TO_CLIENT],
  );
}

/** A refusal of a hand-off that has no flow: its ids and key come from the record. */
export function push_refusal(state: AgentState, request: Uint8Array, reason: number): void {
  if (state.config.orphans_until) {
    // the director fails over: this agent's segments of it are not orphans
    note_ended(
      state,
      read_u32(request, R_CLIENT_IP) | 0,
      read_u32(request, R_VIP) | 0,
      (read_u16(request, R_CLIENT_PORT) << 16) | read_u16(request, R_VIP_PORT),
    );
  }
  const at = claim_event(state);
  if (at < 0) return;
  write_agent_event(
    state.events,
    at,
    EVENT_REFUSED,
    reason,
    read_u32(request, R_EPOCH) | 0,
    read_u32(request, R_ID) | 0,
    read_u32(request, R_CLIENT_IP) | 0,
    read_u32(request, R_VIP) | 0,
    (read_u16(request, R_CLIENT_PORT) << 16) | read_u16(request, R_VIP_PORT),
    0,
    0,
  );
}

/** Copies the oldest event into out (AGENT_EVENT_WORDS int32); false when there is none. */
export function next_agent_event(state: AgentState, out: Int32Array): boolean {
  if (state.event_count === 0) return false;
  const at = state.event_head * AGENT_EVENT_WORDS;
  for (let k = 0; k < AGENT_EVENT_WORDS; k++) out[k] = state.events[at + k];
  state.event_head = (state.event_head + 1) % EVENT_CAPACITY;
  state.event_count--;
  return true;
}
