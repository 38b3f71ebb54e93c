// The agent's service call, after each round of bursts: timers and the
// frames the agent makes. SYNs and requests (and their retransmissions) go
// to the stack, adoptions time out (NACK stack_timeout) or are refused
// (NACK stack_options), and lingering and idle flows end (FLOW_END). An
// idle flow ends with an RST each way, so neither the client nor the stack
// keeps a socket: the stack's sits at its announced RCV.NXT and the
// client's where the stack's data ended, each exactly where RFC 5961 lets
// an RST through. Slow path: it does bounded work per call and allocates
// only for the frames it builds (stack_frame, client_frame); it never throws.

import { deadline_passed } from "../seq.ts";
import {
  EVENT_ADOPTED,
  EVENT_FLOW_END,
  EVENT_REFUSED,
  FLOW_END_CLIENT_RESET,
  FLOW_END_FIN,
  FLOW_END_IDLE_TIMEOUT,
  FLOW_END_SERVER_RESET,
  NACK_STACK_TIMEOUT,
} from "../wire/mod.ts";
import { flow_expire, flow_key, flow_lookup } from "../flow_table.ts";
import {
  bytes_to_mac,
  TCP_FLAG_ACK,
  TCP_FLAG_PSH,
  TCP_FLAG_RST,
  TCP_FLAG_SYN,
  u32_to_ip,
  write_mac_words,
} from "../packet.ts";
import { build_tcp } from "../frame_build.ts";
import type { TcpOption } from "../tcp_options.ts";
import {
  type AgentState,
  C,
  type EmitFrame,
  ENDED_MEMORY_MS,
  F_SACK,
  F_STACK_UNSCALED,
  F_TIMESTAMPS,
  F_WSCALE,
  release_request,
  remove_flow,
  STATE_CLOSING,
  STATE_ESTABLISHED,
  STATE_REFUSING,
  STATE_REQUEST_SENT,
  STATE_SYN_SENT,
  V_CLIENT_ISN,
  V_CLIENT_MAC_HI,
  V_CLIENT_MAC_LO,
  V_CLIENT_MSS,
  V_CLIENT_TSVAL,
  V_CLIENT_WINDOW,
  V_CLIENT_WSCALE,
  V_DEADLINE,
  V_END_REASON,
  V_FLAGS,
  V_REQUEST_LENGTH,
  V_REQUEST_SLOT,
  V_RETRIES,
  V_SERVER_ISN,
  V_SERVER_MSS,
  V_SERVER_TSVAL,
  V_STACK_ACK,
  V_STACK_NEXT,
  V_STATE,
  VALUES_PER_FLOW,
} from "./state.ts";
import { push_event } from "./events.ts";
import { reset_orphans } from "./orphans.ts";

/**
 * Timers and frames the agent makes: SYNs and requests (and their
 * retransmissions), adoption time-outs, the end of lingering and idle
 * flows. Called after each round of bursts; does bounded work.
 */
export function agent_service(state: AgentState, now: number, emit: EmitFrame): void {
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
    if (flow_state === STATE_REFUSING) refuse(state, index, emit);
    if (flow_state !== STATE_SYN_SENT && flow_state !== STATE_REQUEST_SENT) {
      // adopted or gone: drop it from the list (swap with the last)
      const last = --state.adopting_count * 3;
      state.adopting[base] = state.adopting[last];
      state.adopting[base + 1] = state.adopting[last + 1];
      state.adopting[base + 2] = state.adopting[last + 2];
      continue;
    }
    if (deadline_passed(state.table.values[v + V_DEADLINE], now_ms)) {
      adoption_timer(state, index, now, emit);
    }
    a++;
  }
  sweep_closed_and_idle(state, now, 64, emit);
  if (state.orphan_count > 0) reset_orphans(state, now, emit);
}

/** The stack's SYN/ACK was refused (adoption.ts): reset its half, tell the director. */
function refuse(state: AgentState, index: number, emit: EmitFrame): void {
  emit(stack_reset(state, index), state.config.server_port);
  state.counters[C.resets_to_stack]++;
  push_event(
    state,
    EVENT_REFUSED,
    state.table.values[index * VALUES_PER_FLOW + V_END_REASON],
    index,
  );
  remove_flow(state, index);
}

function adoption_timer(state: AgentState, index: number, now: number, emit: EmitFrame): void {
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
      emit(stack_reset(state, index), state.config.server_port);
      c[C.resets_to_stack]++;
    }
    push_event(state, EVENT_REFUSED, NACK_STACK_TIMEOUT, index);
    remove_flow(state, index);
    return;
  }
  if (values[v + V_STATE] === STATE_SYN_SENT) {
    c[retries === 0 ? C.syn_sent : C.syn_retransmits]++;
    emit(stack_frame(state, index, TCP_FLAG_SYN, 0), state.config.server_port);
  } else {
    c[retries === 0 ? C.request_sent : C.request_retransmits]++;
    send_request(state, index, emit);
    if (values[v + V_REQUEST_LENGTH] === 0) {
      // nothing to deliver (an L4 hand-off): the handshake ACK completes the adoption
      release_request(state, v);
      values[v + V_STATE] = STATE_ESTABLISHED;
      c[C.adopted]++;
      push_event(state, EVENT_ADOPTED, 0, index);
      return;
    }
  }
  values[v + V_RETRIES] = retries + 1;
  values[v + V_DEADLINE] = (now + rto) | 0;
}

function send_request(state: AgentState, index: number, emit: EmitFrame): void {
  const values = state.table.values;
  const v = index * VALUES_PER_FLOW;
  const length = values[v + V_REQUEST_LENGTH];
  const segment = Math.max(
    64,
    Math.min(values[v + V_SERVER_MSS], values[v + V_CLIENT_MSS] || 1460, 1460),
  );
  if (length === 0) {
    emit(stack_frame(state, index, TCP_FLAG_ACK, 0), state.config.server_port);
    return;
  }
  const base = values[v + V_REQUEST_SLOT] * state.config.max_request;
  for (let sent = 0; sent < length; sent += segment) {
    const end = Math.min(length, sent + segment);
    const payload = state.requests.subarray(base + sent, base + end);
    emit(
      stack_frame(state, index, TCP_FLAG_ACK | TCP_FLAG_PSH, sent, payload),
      state.config.server_port,
    );
  }
}

/** A segment from "the client" to the stack: SYN, or ACK + request bytes. */
function stack_frame(
  state: AgentState,
  index: number,
  flags: number,
  request_offset: number,
  payload?: Uint8Array,
): Uint8Array {
  const values = state.table.values;
  const v = index * VALUES_PER_FLOW;
  const client_isn = values[v + V_CLIENT_ISN] >>> 0;
  const syn = (flags & TCP_FLAG_SYN) !== 0;
  return stack_segment(
    state,
    index,
    flags,
    syn ? client_isn : (client_isn + 1 + request_offset) >>> 0,
    syn ? 0 : (values[v + V_SERVER_ISN] + 1) >>> 0,
    payload,
  );
}

/**
 * An RST to the stack, as the client, at the receive position the stack
 * announced last: the one sequence number its RFC 5961 check accepts
 * (SYN_RECV included, where it is ISN_c + 1). No ACK bit: a request socket
 * discards an RST whose ACK it does not expect.
 */
export function stack_reset(state: AgentState, index: number): Uint8Array {
  const seq = state.table.values[index * VALUES_PER_FLOW + V_STACK_ACK] >>> 0;
  return stack_segment(state, index, TCP_FLAG_RST, seq, 0);
}

function stack_segment(
  state: AgentState,
  index: number,
  flags: number,
  seq: number,
  ack: number,
  payload?: Uint8Array,
): Uint8Array {
  const table = state.table;
  const values = table.values;
  const v = index * VALUES_PER_FLOW;
  flow_key(table, index, state.key_scratch);
  const [client_ip, vip, client_port, vip_port] = state.key_scratch;
  const flow_flags = values[v + V_FLAGS];
  const options: TcpOption[] = [];
  const syn = (flags & TCP_FLAG_SYN) !== 0;
  if (syn) {
    // the stack gets exactly what the client negotiated with the director
    options.push({ kind: "mss", value: values[v + V_CLIENT_MSS] || 536 });
    if ((flow_flags & F_SACK) !== 0) options.push({ kind: "sack_permitted" });
    if ((flow_flags & F_WSCALE) !== 0) {
      options.push({ kind: "nop" }, { kind: "wscale", shift: values[v + V_CLIENT_WSCALE] });
    }
  }
  if ((flow_flags & F_TIMESTAMPS) !== 0 && (flags & TCP_FLAG_RST) === 0) {
    options.push({ kind: "nop" }, { kind: "nop" }, {
      kind: "timestamp",
      tsval: values[v + V_CLIENT_TSVAL] >>> 0,
      tsecr: syn ? 0 : values[v + V_SERVER_TSVAL] >>> 0,
    });
  }
  const client_mac = new Uint8Array(6);
  write_mac_words(client_mac, 0, values[v + V_CLIENT_MAC_HI], values[v + V_CLIENT_MAC_LO]);
  return build_tcp({
    src_mac: bytes_to_mac(client_mac),
    dst_mac: bytes_to_mac(state.config.server_mac),
    src_ip: u32_to_ip(client_ip),
    dst_ip: u32_to_ip(vip),
    src_port: client_port,
    dst_port: vip_port,
    seq,
    ack,
    flags,
    window: (flags & TCP_FLAG_RST) !== 0 ? 0 : client_window_for_stack(state, v, syn),
    options,
    payload,
  });
}

/**
 * The client's window (the hand-off's, as the client last sent it: in units
 * of its shift when it scales) in the units the stack reads: bytes in a SYN
 * (RFC 7323 section 2.2: a SYN's window is never scaled) and when the stack
 * declined scaling, the client's own units otherwise.
 */
function client_window_for_stack(state: AgentState, v: number, syn: boolean): number {
  const values = state.table.values;
  const window = values[v + V_CLIENT_WINDOW];
  const flow_flags = values[v + V_FLAGS];
  if ((flow_flags & F_WSCALE) === 0 || (!syn && (flow_flags & F_STACK_UNSCALED) === 0)) {
    return Math.min(0xffff, window);
  }
  return Math.min(0xffff, window * (1 << Math.min(14, values[v + V_CLIENT_WSCALE])));
}

/**
 * An RST to the client, as the stack (from the VIP, through the fabric, to
 * the client's next hop), in the director's sequence space: at the end of
 * what the stack sent, which is the client's RCV.NXT once it all arrived.
 */
export function client_reset(state: AgentState, index: number): Uint8Array {
  const table = state.table;
  const values = table.values;
  const v = index * VALUES_PER_FLOW;
  flow_key(table, index, state.key_scratch);
  const [client_ip, vip, client_port, vip_port] = state.key_scratch;
  const client_mac = new Uint8Array(6);
  write_mac_words(client_mac, 0, values[v + V_CLIENT_MAC_HI], values[v + V_CLIENT_MAC_LO]);
  return build_tcp({
    // the source MAC every translated frame of the flow carries
    src_mac: bytes_to_mac(state.config.server_mac),
    dst_mac: bytes_to_mac(client_mac),
    src_ip: u32_to_ip(vip),
    dst_ip: u32_to_ip(client_ip),
    src_port: vip_port,
    dst_port: client_port,
    seq: values[v + V_STACK_NEXT] >>> 0,
    ack: values[v + V_STACK_ACK] >>> 0,
    flags: TCP_FLAG_RST | TCP_FLAG_ACK,
    window: 0,
  });
}

/** Ends flows whose linger is over and flows silent past the idle timeout. */
function sweep_closed_and_idle(
  state: AgentState,
  now: number,
  max_scan: number,
  emit: EmitFrame,
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
          emit(client_reset(state, i), state.config.fabric_port);
          emit(stack_reset(state, i), state.config.server_port);
          state.counters[C.resets_to_client]++;
          state.counters[C.resets_to_stack]++;
        }
        count_end(state, reason);
        push_event(state, EVENT_FLOW_END, reason, i);
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
