// A request's hand-off, in the poll loop: the server is chosen here
// (weighted rendezvous over the selection the control Worker publishes,
// selection_table.ts), the one HANDOFF datagram is written into a fresh
// mbuf and signed under that server's agent key, and the flow is HANDING
// with the server being tried (its frames are forwarded there meanwhile).
// The sweep's timer resends it with back-off (a fresh timestamp each time),
// then gives that server up (CANCEL, so it forgets the flow if it adopted
// it late) and tries the next one in the key's rendezvous order; when none
// is left the client gets a 503. A flow the client has committed to the
// tried server (it acknowledged that server's bytes) stays there whatever
// happens. answers.ts takes the agents' ACK, NACK and FLOW_END. Nothing here
// allocates or throws; a pool with no free mbuf is counted and the timer
// sends again.

import {
  datagram_frame_length,
  datagram_signed_length,
  DF_DATAGRAM,
  FA_DST_IP,
  FA_DST_MAC_HI,
  FA_DST_MAC_LO,
  FA_DST_PORT,
  FA_SRC_IP,
  FA_SRC_MAC_HI,
  FA_SRC_MAC_LO,
  FA_SRC_PORT,
  find_header_end,
  FLAG_SACK_PERMITTED,
  FLAG_TIMESTAMPS,
  FLAG_TS_ROUTE,
  FLOW_KEY_BYTES,
  HANDOFF_FIXED_BODY_BYTES,
  handoff_request_at,
  HS_CLIENT_ISN,
  HS_CLIENT_MAC_HI,
  HS_CLIENT_MAC_LO,
  HS_CLIENT_MSS,
  HS_CLIENT_TSVAL,
  HS_CLIENT_WINDOW,
  HS_CLIENT_WSCALE,
  HS_DIRECTOR_ISN,
  HS_DIRECTOR_MSS,
  HS_DIRECTOR_NEXT_SEQ,
  HS_DIRECTOR_TSVAL,
  HS_DIRECTOR_WSCALE,
  HS_FLAGS,
  HS_TS_ROUTE,
  latency_bucket,
  seal_datagram_frame,
  SERVER_STAT_WORDS,
  SS_ACTIVE_FLOWS,
  SS_FAILURE_STREAK,
  SS_HANDOFF_FAILURES,
  SS_SELECTIONS,
  TYPE_HANDOFF,
  TYPE_HANDOFF_CANCEL,
  wire_clock,
  write_datagram_frame,
  write_datagram_key,
  write_handoff_state,
} from "../wire/mod.ts";
import {
  HEAD_SCAN_HOST_END,
  HEAD_SCAN_HOST_START,
  HEAD_SCAN_PATH_END,
  HEAD_SCAN_PATH_START,
  scan_request_head,
} from "../wire/mod.ts";
import {
  find_selection_vip,
  SELECT_RESULT_FAIL_OPEN,
  select_server,
  selection_draining,
  SELECTION_SERVER_AGENT_ID,
  SELECTION_SERVER_AGENT_IP,
  SELECTION_SERVER_AGENT_PORT,
  SELECTION_SERVER_KEY_SLOT,
  SELECTION_SERVER_MAC_HI,
  SELECTION_SERVER_MAC_LO,
} from "../selection_table.ts";
import { l4_key_state, url_key_state } from "../selection_key.ts";
import { server_word } from "./agents.ts";
import { ts_route_code, ts_route_mask } from "../ts_route.ts";
import {
  C,
  D_CLIENT_ISN,
  D_CLIENT_MAC_HI,
  D_CLIENT_MAC_LO,
  D_CLIENT_MSS,
  D_CLIENT_TSVAL,
  D_CLIENT_WINDOW,
  D_CLIENT_WSCALE,
  D_DIRECTOR_ISN,
  D_DIRECTOR_TSVAL,
  D_FLAGS,
  D_HANDOFF_ID,
  D_HANDOFF_START,
  D_KEY_STATE,
  D_RANK,
  D_REQUEST_LENGTH,
  D_REQUEST_SLOT,
  D_RETRIES,
  D_SELECTION_VIP,
  D_SERVER,
  D_SERVER_MAC_HI,
  D_SERVER_MAC_LO,
  D_STATE,
  DIRECTOR_WSCALE,
  type DirectorState,
  F_COMMITTED,
  F_L4,
  F_SACK,
  F_TIMESTAMPS,
  F_TRYING,
  F_WSCALE,
  release_buffer,
  STATE_FORWARDING,
  STATE_HANDING,
  VALUES_PER_FLOW,
} from "./state.ts";
import { cancel_deadline, set_deadline } from "./timers.ts";
import { respond } from "./request.ts";
import { ACCESS_ACKED, ACCESS_COMMITTED, ACCESS_TIMEOUT, log_outcome } from "./access_log.ts";

/**
 * The request of the flow at index is complete (request_length bytes in
 * its buffer, ACKed): parse its head, choose, send the first HANDOFF. A bad
 * head gets 400 or 431, no VIP or server or draining gets 503.
 */
export function start_handoff(
  state: DirectorState,
  index: number,
  request_length: number,
  now: number,
): void {
  const c = state.counters;
  const table = state.table;
  const values = table.values;
  const v = index * VALUES_PER_FLOW;
  const selection = state.selection;
  values[v + D_REQUEST_LENGTH] = request_length;
  if (selection_draining(selection)) {
    c[C.refused_draining]++;
    respond(state, index, 503, now);
    return;
  }
  const vip = table.dst_ip[index] >>> 0;
  const vip_index = find_selection_vip(selection, vip);
  if (vip_index < 0) {
    respond(state, index, 503, now);
    return;
  }
  let key_state: number;
  if ((values[v + D_FLAGS] & F_L4) !== 0) {
    key_state = l4_key_state(
      table.src_ip[index] >>> 0,
      table.ports[index] >>> 16,
      vip,
      table.ports[index] & 0xffff,
    );
  } else {
    const buffer = state.pool.buffers;
    const base = values[v + D_REQUEST_SLOT] * state.pool.stride;
    // the record may carry body or pipelined bytes after the head: the head alone is parsed
    const end = find_header_end(buffer, base, base + request_length);
    const status = scan_request_head(
      buffer,
      base,
      end < 0 ? base + request_length : end,
      state.head_scan,
    );
    if (status !== 0) {
      respond(state, index, status === 431 ? 431 : 400, now);
      return;
    }
    const h = state.head_scan;
    key_state = url_key_state(
      buffer,
      h[HEAD_SCAN_HOST_START],
      h[HEAD_SCAN_HOST_END],
      h[HEAD_SCAN_PATH_START],
      h[HEAD_SCAN_PATH_END],
      vip,
    );
  }
  values[v + D_STATE] = STATE_HANDING;
  c[C.handoffs_pending]++;
  values[v + D_SELECTION_VIP] = vip_index;
  values[v + D_KEY_STATE] = key_state;
  values[v + D_RANK] = 0;
  values[v + D_SERVER] = -1;
  values[v + D_HANDOFF_START] = now | 0;
  try_server(state, index, now);
}

/** The server of the flow's current rank gets a new HANDOFF; none left: 503. */
function try_server(state: DirectorState, index: number, now: number): void {
  const c = state.counters;
  const values = state.table.values;
  const v = index * VALUES_PER_FLOW;
  const selection = state.selection;
  const rank = values[v + D_RANK];
  const server = select_server(
    selection,
    values[v + D_SELECTION_VIP],
    values[v + D_KEY_STATE],
    rank,
    state.selection_scratch,
  );
  if (server < 0) {
    // no server left (or, for microseconds, a publish in the way: SELECTION_BUSY)
    respond(state, index, 503, now);
    return;
  }
  if (rank > 0) c[C.fallbacks]++;
  else if (state.selection_scratch.result[SELECT_RESULT_FAIL_OPEN] === 1) c[C.fail_open]++;
  values[v + D_SERVER] = server;
  values[v + D_HANDOFF_ID] = take_datagram_id(state);
  values[v + D_RETRIES] = 1;
  set_deadline(state, index, now + state.config.handoff_rto_ms);
  // the client's frames go to the server being tried while it adopts
  values[v + D_FLAGS] |= F_TRYING;
  // the server's words as read in the same consistent read as the choice
  const words = state.selection_scratch.server;
  values[v + D_SERVER_MAC_HI] = words[SELECTION_SERVER_MAC_HI];
  values[v + D_SERVER_MAC_LO] = words[SELECTION_SERVER_MAC_LO];
  c[C.handoffs_sent]++;
  send_handoff(state, index);
}

/** The next id of this epoch (a hand-off, or a FLOW_QUERY): 1, 2, ... and round again. */
export function take_datagram_id(state: DirectorState): number {
  const id = state.next_id;
  state.next_id = (state.next_id + 1) >>> 0;
  if (state.next_id === 0) {
    state.next_id = 1;
    state.ids_wrapped = true;
  }
  return id;
}

/** Writes the flow's HANDOFF to its server into a fresh mbuf, signed and stamped now. */
function send_handoff(state: DirectorState, index: number): void {
  const table = state.table;
  const values = table.values;
  const v = index * VALUES_PER_FLOW;
  const request_length = values[v + D_REQUEST_LENGTH];
  const body_length = HANDOFF_FIXED_BODY_BYTES + request_length;
  const o = begin_datagram(state, values[v + D_SERVER], body_length);
  if (o < 0) return; // counted; the timer sends it again
  const bytes = state.region;
  write_datagram_frame(
    bytes,
    o,
    state.frame_address,
    TYPE_HANDOFF,
    state.config.epoch,
    values[v + D_HANDOFF_ID],
    body_length,
    0,
    server_word(state.selection, values[v + D_SERVER], SELECTION_SERVER_AGENT_ID),
    wire_clock(state.io.wall_clock()),
  );
  write_datagram_key(bytes, o, table.src_ip[index], table.dst_ip[index], table.ports[index]);
  const f = state.handoff_fields;
  const flags = values[v + D_FLAGS];
  f[HS_CLIENT_MAC_HI] = values[v + D_CLIENT_MAC_HI];
  f[HS_CLIENT_MAC_LO] = values[v + D_CLIENT_MAC_LO];
  f[HS_CLIENT_ISN] = values[v + D_CLIENT_ISN];
  f[HS_DIRECTOR_ISN] = values[v + D_DIRECTOR_ISN];
  f[HS_DIRECTOR_NEXT_SEQ] = (values[v + D_DIRECTOR_ISN] + 1) | 0;
  f[HS_CLIENT_WINDOW] = values[v + D_CLIENT_WINDOW];
  f[HS_CLIENT_MSS] = values[v + D_CLIENT_MSS];
  f[HS_DIRECTOR_MSS] = state.config.mss;
  f[HS_CLIENT_WSCALE] = values[v + D_CLIENT_WSCALE];
  f[HS_DIRECTOR_WSCALE] = (flags & F_WSCALE) !== 0 ? DIRECTOR_WSCALE : 255;
  f[HS_FLAGS] = ((flags & F_SACK) !== 0 ? FLAG_SACK_PERMITTED : 0) |
    ((flags & F_TIMESTAMPS) !== 0 ? FLAG_TIMESTAMPS : 0);
  f[HS_CLIENT_TSVAL] = values[v + D_CLIENT_TSVAL];
  f[HS_DIRECTOR_TSVAL] = values[v + D_DIRECTOR_TSVAL];
  if ((flags & F_TIMESTAMPS) !== 0) {
    // the server's agent id in the TSvals the client will echo: any director finds it (ts_route.ts)
    const code = ts_route_code(
      server_word(state.selection, values[v + D_SERVER], SELECTION_SERVER_AGENT_ID),
      ts_route_mask(
        state.config.route_key,
        table.src_ip[index],
        table.dst_ip[index],
        table.ports[index],
      ),
    );
    if (code >= 0) {
      f[HS_FLAGS] |= FLAG_TS_ROUTE;
      f[HS_TS_ROUTE] = code;
    }
  }
  write_handoff_state(bytes, o, f, request_length);
  const slot = values[v + D_REQUEST_SLOT];
  if (request_length > 0 && slot >= 0) {
    const buffer = state.pool.buffers;
    const base = slot * state.pool.stride;
    bytes.set(buffer.subarray(base, base + request_length), handoff_request_at(o));
  }
  finish_datagram(state, values[v + D_SERVER], o, body_length);
}

/**
 * A fresh mbuf with the Ethernet/IPv4/UDP addresses of a datagram to
 * server's agent (via the gateway on an L3 fabric): its region offset, or
 * −1 (counted) when the pool has none.
 */
export function begin_datagram(state: DirectorState, server: number, body_length: number): number {
  const o = state.io.claim(datagram_frame_length(body_length), state.config.port);
  if (o < 0) {
    state.counters[C.tx_no_mbuf]++;
    return -1;
  }
  const config = state.config;
  const a = state.frame_address;
  const selection = state.selection;
  a[FA_SRC_MAC_HI] = state.director_mac_hi;
  a[FA_SRC_MAC_LO] = state.director_mac_lo;
  const routed = config.gateway_mac_hi !== 0 || config.gateway_mac_lo !== 0;
  a[FA_DST_MAC_HI] = routed
    ? config.gateway_mac_hi
    : server_word(selection, server, SELECTION_SERVER_MAC_HI);
  a[FA_DST_MAC_LO] = routed
    ? config.gateway_mac_lo
    : server_word(selection, server, SELECTION_SERVER_MAC_LO);
  a[FA_SRC_IP] = config.address;
  a[FA_DST_IP] = server_word(selection, server, SELECTION_SERVER_AGENT_IP);
  a[FA_SRC_PORT] = config.handoff_port;
  a[FA_DST_PORT] = server_word(selection, server, SELECTION_SERVER_AGENT_PORT);
  return o;
}

/** The tag under server's agent key, then the checksums. */
export function finish_datagram(
  state: DirectorState,
  server: number,
  o: number,
  body_length: number,
): void {
  const d = o + DF_DATAGRAM;
  const signed = datagram_signed_length(body_length);
  state.io.sign(
    server_word(state.selection, server, SELECTION_SERVER_KEY_SLOT),
    d,
    signed,
    d + signed,
  );
  seal_datagram_frame(state.region, o);
}

/**
 * A HANDOFF_CANCEL of hand-off `id` of the flow (client_ip, vip, ports) to
 * server's agent, in a fresh mbuf: it forgets the flow if it adopted it.
 * (Positional: a flow key read straight off a table or a datagram.)
 */
export function send_cancel(
  state: DirectorState,
  server: number,
  id: number,
  client_ip: number,
  vip: number,
  ports: number,
): void {
  const o = begin_datagram(state, server, FLOW_KEY_BYTES);
  if (o < 0) return; // best effort: a late ACK of that agent is answered with a CANCEL again
  write_datagram_frame(
    state.region,
    o,
    state.frame_address,
    TYPE_HANDOFF_CANCEL,
    state.config.epoch,
    id,
    FLOW_KEY_BYTES,
    0,
    server_word(state.selection, server, SELECTION_SERVER_AGENT_ID),
    wire_clock(state.io.wall_clock()),
  );
  write_datagram_key(state.region, o, client_ip, vip, ports);
  finish_datagram(state, server, o, FLOW_KEY_BYTES);
  state.counters[C.cancels_sent]++;
}

/**
 * The sweep found the HANDING flow's deadline passed: send again with
 * back-off, or give this server up and try the next.
 */
export function handoff_timer(state: DirectorState, index: number, now: number): void {
  const c = state.counters;
  const values = state.table.values;
  const v = index * VALUES_PER_FLOW;
  const sends = values[v + D_RETRIES];
  if (sends < state.config.handoff_tries) {
    values[v + D_RETRIES] = sends + 1;
    set_deadline(state, index, now + state.config.handoff_rto_ms * (1 << sends));
    c[C.handoff_retransmits]++;
    send_handoff(state, index);
    return;
  }
  c[C.handoff_timeouts]++;
  if ((values[v + D_FLAGS] & F_COMMITTED) !== 0) {
    // unanswered, but the client is talking to this server: it stays there
    c[C.committed_kept]++;
    forward_to_tried_server(state, index, now, false);
    return;
  }
  const server = values[v + D_SERVER];
  log_outcome(state, index, ACCESS_TIMEOUT, now);
  server_failed(state, server);
  // the agent may have adopted it after all: it must not keep the flow
  const table = state.table;
  send_cancel(
    state,
    server,
    values[v + D_HANDOFF_ID],
    table.src_ip[index],
    table.dst_ip[index],
    table.ports[index],
  );
  next_server(state, index, now);
}

/** The tried server failed the hand-off (NACK, time-out): on to the next in rendezvous order. */
export function next_server(state: DirectorState, index: number, now: number): void {
  const values = state.table.values;
  const v = index * VALUES_PER_FLOW;
  values[v + D_RANK]++;
  values[v + D_FLAGS] &= ~F_TRYING;
  try_server(state, index, now);
}

/** A NACK or a time-out from this server's agent: the control side may take it out. */
export function server_failed(state: DirectorState, server: number): void {
  const at = server * SERVER_STAT_WORDS;
  state.server_stats[at + SS_HANDOFF_FAILURES]++;
  state.server_stats[at + SS_FAILURE_STREAK]++;
}

/**
 * The flow is forwarded to the server its hand-off went to: an ACK (acked,
 * with its latency), or a commitment the client made. Its request buffer
 * goes back.
 */
export function forward_to_tried_server(
  state: DirectorState,
  index: number,
  now: number,
  acked: boolean,
): void {
  const c = state.counters;
  const values = state.table.values;
  const v = index * VALUES_PER_FLOW;
  const server = values[v + D_SERVER];
  const at = server * SERVER_STAT_WORDS;
  log_outcome(state, index, acked ? ACCESS_ACKED : ACCESS_COMMITTED, now);
  if (acked) {
    const latency = now - values[v + D_HANDOFF_START];
    c[state.latency_at + latency_bucket(latency)]++;
    c[C.latency_sum_ms] += latency;
    state.server_stats[at + SS_FAILURE_STREAK] = 0;
  }
  release_buffer(state, index);
  cancel_deadline(state, v); // a forwarded flow's only timer is the sweep's idle check
  values[v + D_STATE] = STATE_FORWARDING;
  values[v + D_FLAGS] &= ~F_TRYING;
  c[C.handoffs_pending]--;
  c[C.flows_forwarding]++;
  state.server_stats[at + SS_SELECTIONS]++;
  state.server_stats[at + SS_ACTIVE_FLOWS]++;
  state.table.last_seen[index] = now;
}
