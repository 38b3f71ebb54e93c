// The agent's service call, after each round of bursts: timers and the
// frames the agent makes. SYNs and requests (and their retransmissions) go
// to the stack, adoptions time out (NACK stack_timeout) or are refused
// (NACK stack_options), lingering and idle flows end (FLOW_END), FLOW_ENDs
// the director has not acknowledged are sent again (on the timer wheel of
// flow_ends.ts) and the replay cache forgets what has gone stale. An
// idle flow ends with an RST each way, so neither the client nor the stack
// keeps a socket: the stack's sits at its announced RCV.NXT and the
// client's where the stack's data ended, each exactly where RFC 5961 lets
// an RST through. It does bounded work per call, allocates nothing (the
// frames are written in place: segments.ts, answers.ts) and never throws.

import { deadline_passed } from "../seq.ts";
import {
  FLOW_END_CLIENT_RESET,
  FLOW_END_FIN,
  FLOW_END_IDLE_TIMEOUT,
  FLOW_END_SERVER_RESET,
  NACK_STACK_TIMEOUT,
} from "../wire/mod.ts";
import { flow_expire, flow_lookup } from "../flow_table.ts";
import {
  type AgentState,
  C,
  ENDED_MEMORY_MS,
  release_request,
  remove_flow,
  STATE_CLOSING,
  STATE_ESTABLISHED,
  STATE_REFUSING,
  STATE_REQUEST_SENT,
  STATE_SYN_SENT,
  V_DEADLINE,
  V_END_REASON,
  V_REQUEST_LENGTH,
  V_RETRIES,
  V_STATE,
  VALUES_PER_FLOW,
} from "./state.ts";
import { send_client_reset, send_request, send_stack_reset, send_syn } from "./segments.ts";
import { answer_adopted, answer_flow_end, answer_refused, resend_flow_ends } from "./answers.ts";
import { sweep_replay_cache } from "./replay_cache.ts";
import { reset_orphans } from "./orphans.ts";

/**
 * Timers and frames the agent makes: SYNs and requests (and their
 * retransmissions), adoption time-outs, the end of lingering and idle
 * flows. Called after each round of bursts; does bounded work.
 */
export function agent_service(state: AgentState, now: number): void {
  const now_ms = now | 0;
  state.now = now;
  if (state.ended.count > 0) flow_expire(state.ended, now, ENDED_MEMORY_MS, 64);
  // adoptions: few at a time, each checked every call
  for (let a = 0; a < state.adopting_count;) {
    const base = a * 3;
    const ports = state.adopting[base + 2];
    const index = flow_lookup(
      state.table,
      state.adopting[base],
      state.adopting[base + 1],
      ports >>> 16,
      ports & 0xffff,
    );
    const v = index * VALUES_PER_FLOW;
    const flow_state = index >= 0 ? state.table.values[v + V_STATE] : 0;
    if (flow_state === STATE_REFUSING) refuse(state, index);
    if (flow_state !== STATE_SYN_SENT && flow_state !== STATE_REQUEST_SENT) {
      // adopted or gone: drop it from the list (swap with the last)
      const last = --state.adopting_count * 3;
      state.adopting[base] = state.adopting[last];
      state.adopting[base + 1] = state.adopting[last + 1];
      state.adopting[base + 2] = state.adopting[last + 2];
      continue;
    }
    if (deadline_passed(state.table.values[v + V_DEADLINE], now_ms)) {
      adoption_timer(state, index, now);
    }
    a++;
  }
  sweep_closed_and_idle(state, now, 64);
  if (state.orphan_count > 0) reset_orphans(state, now);
  resend_flow_ends(state, now);
  sweep_replay_cache(state.replays, now);
}

/** The stack's SYN/ACK was refused (adoption.ts): reset its half, tell the director. */
function refuse(state: AgentState, index: number): void {
  send_stack_reset(state, index);
  state.counters[C.resets_to_stack]++;
  answer_refused(state, index, state.table.values[index * VALUES_PER_FLOW + V_END_REASON]);
  remove_flow(state, index);
}

function adoption_timer(state: AgentState, index: number, now: number): void {
  const c = state.counters;
  const values = state.table.values;
  const v = index * VALUES_PER_FLOW;
  const retries = values[v + V_RETRIES];
  const rto = state.config.rto_ms * (1 << Math.min(retries, 10));
  const given_up = retries > 0 &&
    state.config.rto_ms * ((1 << Math.min(retries, 10)) - 1) >= state.config.adopt_timeout_ms;
  if (given_up) {
    c[C.refused_stack_timeout]++;
    if (values[v + V_STATE] === STATE_REQUEST_SENT) {
      send_stack_reset(state, index);
      c[C.resets_to_stack]++;
    }
    answer_refused(state, index, NACK_STACK_TIMEOUT);
    remove_flow(state, index);
    return;
  }
  if (values[v + V_STATE] === STATE_SYN_SENT) {
    c[retries === 0 ? C.syn_sent : C.syn_retransmits]++;
    send_syn(state, index);
  } else {
    c[retries === 0 ? C.request_sent : C.request_retransmits]++;
    send_request(state, index);
    if (values[v + V_REQUEST_LENGTH] === 0) {
      // nothing to deliver (an L4 hand-off): the handshake ACK completes the adoption
      release_request(state, v);
      values[v + V_STATE] = STATE_ESTABLISHED;
      c[C.adopted]++;
      answer_adopted(state, index);
      return;
    }
  }
  values[v + V_RETRIES] = retries + 1;
  values[v + V_DEADLINE] = (now + rto) | 0;
}

/** Ends flows whose linger is over and flows silent past the idle timeout. */
function sweep_closed_and_idle(
  state: AgentState,
  now: number,
  max_scan: number,
): void {
  const table = state.table;
  const values = table.values;
  const now_ms = now | 0;
  const mask = table.mask;
  let i = table.sweep_cursor;
  for (let scanned = 0; scanned < max_scan; scanned++) {
    if (table.used[i] === 1) {
      const v = i * VALUES_PER_FLOW;
      const s = values[v + V_STATE];
      let reason = 0;
      if (s === STATE_CLOSING && deadline_passed(values[v + V_DEADLINE], now_ms)) {
        reason = values[v + V_END_REASON];
      } else if (
        s === STATE_ESTABLISHED && now - table.last_seen[i] > state.config.idle_timeout_ms
      ) {
        reason = FLOW_END_IDLE_TIMEOUT;
      }
      if (reason !== 0) {
        if (reason === FLOW_END_IDLE_TIMEOUT) {
          // neither end may keep a socket the other side has forgotten
          send_client_reset(state, i);
          send_stack_reset(state, i);
          state.counters[C.resets_to_client]++;
          state.counters[C.resets_to_stack]++;
        }
        count_end(state, reason);
        answer_flow_end(state, i, reason);
        remove_flow(state, i);
        continue; // a later flow may have shifted into slot i
      }
    }
    i = (i + 1) & mask;
  }
  table.sweep_cursor = i;
}

function count_end(state: AgentState, reason: number): void {
  const c = state.counters;
  if (reason === FLOW_END_FIN) c[C.ended_fin]++;
  else if (reason === FLOW_END_CLIENT_RESET) c[C.ended_client_reset]++;
  else if (reason === FLOW_END_SERVER_RESET) c[C.ended_server_reset]++;
  else c[C.ended_idle]++;
}
