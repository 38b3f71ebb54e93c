// The director's slow path, after each round of bursts: the control
// Worker's verdicts, the HTTP responses the director sends itself (built
// here, not in place: they answer no frame), and the flow sweep, which looks
// at a bounded number of table slots per call (request time-outs, silent
// handshakes forgotten, response and FIN retransmissions with back-off,
// hand-offs the control Worker never answered, idle forwarding entries). A
// verdict for a flow that is gone or in another state is ignored.

import {
  GONE_IDLE,
  GONE_TIMEOUT,
  verdict_client_ip,
  verdict_client_port,
  VERDICT_FORGET,
  VERDICT_FORWARD,
  VERDICT_RESPOND,
  verdict_server_mac_hi,
  verdict_server_mac_lo,
  verdict_status,
  VERDICT_TRY,
  verdict_type,
  verdict_vip,
  verdict_vip_port,
} from "../wire/mod.ts";
import { deadline_passed } from "../seq.ts";
import { flow_key, flow_lookup, flow_touch } from "../flow_table.ts";
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
  D_SERVER_MAC_HI,
  D_SERVER_MAC_LO,
  D_STATE,
  D_STATUS,
  type DirectorState,
  type EmitFrame,
  end_flow,
  F_COMMITTED,
  F_L4,
  F_TIMESTAMPS,
  F_TRYING,
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
import { hand_off, respond } from "./request.ts";
import { client_next, director_window } from "./segment.ts";

/**
 * The slow path, after each round of bursts: verdicts from the control
 * Worker, HTTP responses the director sends itself, and the flow sweep
 * (request time-outs, response retransmissions, idle forwarding entries).
 */
export function director_service(
  state: DirectorState,
  now: number,
  options: { dequeue: (ring: number, into: Uint8Array) => number; emit: EmitFrame },
): void {
  for (let k = 0; k < 64; k++) {
    if (options.dequeue(state.config.verdict_ring, state.verdict_bytes) < 0) break;
    apply_verdict(state, now);
  }
  sweep(state, now, options.emit, 64);
}

function apply_verdict(state: DirectorState, now: number): void {
  const w = state.verdict;
  const index = flow_lookup(
    state.table,
    verdict_client_ip(w),
    verdict_vip(w),
    verdict_client_port(w),
    verdict_vip_port(w),
  );
  if (index < 0) return; // gone meanwhile (client reset, time-out)
  const values = state.table.values;
  const v = index * VALUES_PER_FLOW;
  const type = verdict_type(w);
  if (type === VERDICT_FORWARD && values[v + D_STATE] === STATE_HANDING) {
    values[v + D_STATE] = STATE_FORWARDING;
    values[v + D_SERVER_MAC_HI] = verdict_server_mac_hi(w);
    values[v + D_SERVER_MAC_LO] = verdict_server_mac_lo(w);
    flow_touch(state.table, index, now);
    state.counters[C.handoffs_pending]--;
  } else if (committed_elsewhere(values, v, type, w)) {
    // the client already has the tried server's bytes: no 503, no other server
    state.counters[C.committed_kept]++;
  } else if (type === VERDICT_RESPOND && values[v + D_STATE] === STATE_HANDING) {
    state.counters[C.handoffs_pending]--;
    respond(state, index, verdict_status(w), now);
  } else if (type === VERDICT_TRY && values[v + D_STATE] === STATE_HANDING) {
    values[v + D_FLAGS] |= F_TRYING;
    values[v + D_SERVER_MAC_HI] = verdict_server_mac_hi(w);
    values[v + D_SERVER_MAC_LO] = verdict_server_mac_lo(w);
  } else if (type === VERDICT_FORGET && values[v + D_STATE] === STATE_FORWARDING) {
    state.counters[C.ended_agent]++;
    remove_flow(state, index);
  }
}

function sweep(state: DirectorState, now: number, emit: EmitFrame, max_scan: number): void {
  const c = state.counters;
  const table = state.table;
  const values = table.values;
  const now_ms = now | 0;
  const mask = table.mask;
  let i = table.sweep_cursor;
  for (let scanned = 0; scanned < max_scan; scanned++) {
    if (table.used[i] === 1) {
      const v = i * VALUES_PER_FLOW;
      const s = values[v + D_STATE];
      const due = deadline_passed(values[v + D_DEADLINE], now_ms);
      if (s === STATE_READING && due) {
        if ((values[v + D_FLAGS] & F_L4) !== 0) {
          hand_off(state, i, values[v + D_REQUEST_LENGTH], now); // the server speaks first
        } else if (values[v + D_REQUEST_LENGTH] === 0) {
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
          continue; // a later flow may have shifted into slot i
        } else {
          respond(state, i, 408, now); // slowloris: the head did not come in time
        }
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
          continue;
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
        values[v + D_DEADLINE] = (now + FIN_RTO_MS * (1 << retries)) | 0;
        values[v + D_RETRIES] = retries + 1;
      } else if (s === STATE_HANDING && due && (values[v + D_FLAGS] & F_COMMITTED) !== 0) {
        // unconfirmed, but the client is talking to the tried server: keep it there
        c[C.handoffs_pending]--;
        c[C.committed_kept]++;
        values[v + D_STATE] = STATE_FORWARDING;
        table.last_seen[i] = now;
      } else if (s === STATE_HANDING && due) {
        c[C.handoffs_pending]--;
        end_flow(state, i, GONE_TIMEOUT);
        continue;
      } else if (
        s === STATE_FORWARDING && now - table.last_seen[i] > state.config.idle_timeout_ms
      ) {
        end_flow(state, i, GONE_IDLE);
        continue;
      }
    }
    i = (i + 1) & mask;
  }
  table.sweep_cursor = i;
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

/** A RESPOND, or a TRY of another server, for a flow committed to the server being tried. */
function committed_elsewhere(values: Int32Array, v: number, type: number, w: Int32Array): boolean {
  if ((values[v + D_FLAGS] & F_COMMITTED) === 0 || values[v + D_STATE] !== STATE_HANDING) {
    return false;
  }
  if (type === VERDICT_RESPOND) return true;
  return type === VERDICT_TRY &&
    (verdict_server_mac_hi(w) !== values[v + D_SERVER_MAC_HI] ||
      verdict_server_mac_lo(w) !== values[v + D_SERVER_MAC_LO]);
}
