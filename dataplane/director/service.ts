// The director's slow path, after each round of bursts: the flows whose
// deadline the timer wheel says has come (request time-outs, silent
// handshakes forgotten, response and FIN retransmissions with back-off,
// HANDOFF retransmissions and time-outs), the HTTP responses the director
// sends itself (built here, not in place: they answer no frame), and the
// flow sweep, which looks at a bounded number of table slots per call: the
// idle forwarding entries, and any deadline the wheel could not hold.

import { deadline_passed } from "../seq.ts";
import { flow_key, flow_lookup } from "../flow_table.ts";
import { timer_expire } from "../timer_wheel.ts";
import {
  bytes_to_mac,
  TCP_FLAG_ACK,
  TCP_FLAG_FIN,
  TCP_FLAG_PSH,
  TCP_FLAG_RST,
  u32_to_ip,
  write_mac_words,
} from "../packet.ts";
import { build_tcp } from "../frame_build.ts";
import {
  C,
  D_CLIENT_MAC_HI,
  D_CLIENT_MAC_LO,
  D_CLIENT_TSVAL,
  D_DEADLINE,
  D_DIRECTOR_ISN,
  D_DIRECTOR_TSVAL,
  D_FLAGS,
  D_REQUEST_LENGTH,
  D_RETRIES,
  D_STATE,
  D_STATUS,
  type DirectorState,
  type EmitFrame,
  end_flow,
  F_L4,
  F_TIMESTAMPS,
  FIN_RTO_MS,
  FIN_SENDS,
  remove_flow,
  STATE_CLOSING,
  STATE_FORWARDING,
  STATE_HANDING,
  STATE_READING,
  STATE_RESPONDING,
  VALUES_PER_FLOW,
} from "./state.ts";
import {
  set_deadline,
  TIMER_CLIENT_IP,
  TIMER_DEADLINE,
  TIMER_PORTS,
  TIMER_VIP,
  TIMER_WORDS,
  TIMERS_PER_CALL,
} from "./timers.ts";
import { respond } from "./request.ts";
import { handoff_timer, start_handoff } from "./handoff.ts";
import { client_next, director_window } from "./segment.ts";
import { bfd_service } from "./bfd.ts";

/**
 * The slow path, after each round of bursts: HTTP responses the director
 * sends itself, HANDOFF retransmissions, and the rest of the flow sweep
 * (request time-outs, response retransmissions, idle forwarding entries).
 */
export function director_service(
  state: DirectorState,
  now: number,
  options: { emit: EmitFrame },
): void {
  fire_timers(state, now, options.emit);
  sweep(state, now, options.emit, 64);
  if (state.bfd !== null) bfd_service(state.bfd, now); // BFD packets due (bfd.ts)
}

/**
 * The deadlines the timer wheel says are due, each checked against its flow
 * (flows move in the table and deadlines change: an entry names a flow by
 * key and the deadline it was set for, so a stale one finds nothing to do).
 */
function fire_timers(state: DirectorState, now: number, emit: EmitFrame): void {
  const out = state.timer_out;
  const table = state.table;
  const values = table.values;
  for (let round = 0; round < 4; round++) {
    const n = timer_expire(state.timers, now, out, TIMERS_PER_CALL);
    for (let k = 0; k < n; k++) {
      const at = k * TIMER_WORDS;
      const index = flow_lookup(
        table,
        out[at + TIMER_CLIENT_IP],
        out[at + TIMER_VIP],
        out[at + TIMER_PORTS] >>> 16,
        out[at + TIMER_PORTS] & 0xffff,
      );
      // a forwarded flow has no deadline (its idle expiry is the sweep's): the ACK came first
      if (
        index < 0 || values[index * VALUES_PER_FLOW + D_DEADLINE] !== out[at + TIMER_DEADLINE] ||
        values[index * VALUES_PER_FLOW + D_STATE] === STATE_FORWARDING
      ) {
        state.counters[C.timers_stale]++;
        continue;
      }
      state.counters[C.timers_fired]++;
      flow_due(state, index, now, emit);
    }
    if (n < TIMERS_PER_CALL) return;
  }
}

/**
 * The backstop and the idle expiry: a bounded number of table slots per
 * call. Deadlines fire from the wheel on time; the sweep finds any whose
 * timer could not be kept (the wheel's pool full) and the forwarded flows
 * that went idle.
 */
function sweep(state: DirectorState, now: number, emit: EmitFrame, max_scan: number): void {
  const table = state.table;
  const values = table.values;
  const now_ms = now | 0;
  const mask = table.mask;
  let i = table.sweep_cursor;
  for (let scanned = 0; scanned < max_scan; scanned++) {
    if (table.used[i] === 1) {
      const v = i * VALUES_PER_FLOW;
      const s = values[v + D_STATE];
      const due = s !== STATE_FORWARDING && deadline_passed(values[v + D_DEADLINE], now_ms);
      const idle = s === STATE_FORWARDING &&
        now - table.last_seen[i] > state.config.idle_timeout_ms;
      // a flow removed here lets a later one shift into slot i: look at slot i again
      if ((due || idle) && flow_due(state, i, now, emit)) continue;
    }
    i = (i + 1) & mask;
  }
  table.sweep_cursor = i;
}

/**
 * What a flow's passed deadline (or a forwarded flow's idleness) means in
 * its state: a request time-out (408, or a silent handshake forgotten), a
 * response or FIN resent with back-off, a HANDOFF resent or given up, an
 * idle entry gone. True when the flow was removed.
 */
function flow_due(state: DirectorState, i: number, now: number, emit: EmitFrame): boolean {
  const c = state.counters;
  const table = state.table;
  const values = table.values;
  const now_ms = now | 0;
  const v = i * VALUES_PER_FLOW;
  const s = values[v + D_STATE];
  const due = deadline_passed(values[v + D_DEADLINE], now_ms);
  if (s === STATE_READING && due) {
    if ((values[v + D_FLAGS] & F_L4) !== 0) {
      start_handoff(state, i, values[v + D_REQUEST_LENGTH], now); // the server speaks first
      return false;
    }
    if (values[v + D_REQUEST_LENGTH] === 0) {
      // A handshake that never sent a byte (a half-open flood, or a
      // client that connected and left): its entry goes now, with a RST
      // so a real client knows at once. No 408 and no RESPONDING: a
      // response would pin the entry for its retransmissions too.
      c[C.silent_expired]++;
      send_segment(
        state,
        i,
        emit,
        TCP_FLAG_RST | TCP_FLAG_ACK,
        (values[v + D_DIRECTOR_ISN] + 1) >>> 0,
        null,
      );
      remove_flow(state, i);
      return true;
    }
    respond(state, i, 408, now); // slowloris: the head did not come in time
  }
  const after = values[v + D_STATE];
  if (
    (after === STATE_RESPONDING || after === STATE_CLOSING) &&
    deadline_passed(values[v + D_DEADLINE], now_ms)
  ) {
    const retries = values[v + D_RETRIES];
    if (retries >= FIN_SENDS) {
      if (after === STATE_CLOSING) c[C.closing_timeouts]++;
      remove_flow(state, i);
      return true;
    }
    if (after === STATE_RESPONDING) {
      const response = state.responses.get(values[v + D_STATUS]) ?? new Uint8Array(0);
      send_segment(
        state,
        i,
        emit,
        TCP_FLAG_ACK | TCP_FLAG_PSH | TCP_FLAG_FIN,
        (values[v + D_DIRECTOR_ISN] + 1) >>> 0,
        response,
      );
      if (retries > 0) c[C.response_retransmits]++;
    } else {
      // our FIN+ACK again: the client's last ACK (or its FIN again) has not come
      send_segment(
        state,
        i,
        emit,
        TCP_FLAG_FIN | TCP_FLAG_ACK,
        (values[v + D_DIRECTOR_ISN] + 1) >>> 0,
        null,
      );
      c[C.closing_retransmits]++;
    }
    values[v + D_RETRIES] = retries + 1;
    set_deadline(state, i, now + FIN_RTO_MS * (1 << retries));
    return false;
  }
  if (s === STATE_HANDING && due) {
    handoff_timer(state, i, now); // resend, or on to the next server (or a 503)
    return false;
  }
  if (s === STATE_FORWARDING && now - table.last_seen[i] > state.config.idle_timeout_ms) {
    end_flow(state, i, C.ended_idle);
    return true;
  }
  return false;
}

/**
 * A segment from the director's side of the connection, built rather than
 * written in place (slow path: it answers no frame): the response with FIN,
 * a FIN+ACK resent, a RST. Its ACK is the client's next sequence number, its
 * window the director's usual one.
 */
function send_segment(
  state: DirectorState,
  index: number,
  emit: EmitFrame,
  flags: number,
  seq: number,
  payload: Uint8Array | null,
): void {
  const table = state.table;
  const values = table.values;
  const v = index * VALUES_PER_FLOW;
  flow_key(table, index, state.key_scratch);
  const [client_ip, vip, client_port, vip_port] = state.key_scratch;
  const client_mac = new Uint8Array(6);
  write_mac_words(client_mac, 0, values[v + D_CLIENT_MAC_HI], values[v + D_CLIENT_MAC_LO]);
  const ts = (values[v + D_FLAGS] & F_TIMESTAMPS) !== 0;
  emit(
    build_tcp({
      src_mac: bytes_to_mac(state.config.director_mac),
      dst_mac: bytes_to_mac(client_mac),
      src_ip: u32_to_ip(vip),
      dst_ip: u32_to_ip(client_ip),
      src_port: vip_port,
      dst_port: client_port,
      seq,
      ack: client_next(values, v),
      flags,
      window: director_window(values, v),
      options: ts
        ? [{ kind: "nop" }, { kind: "nop" }, {
          kind: "timestamp",
          tsval: values[v + D_DIRECTOR_TSVAL] >>> 0,
          tsecr: values[v + D_CLIENT_TSVAL] >>> 0,
        }]
        : [],
      payload: payload ?? new Uint8Array(0),
    }),
    state.config.port,
  );
}
