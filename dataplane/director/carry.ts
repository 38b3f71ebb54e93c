// Packets of connections this director does not know: TCP to a VIP, no
// flow here, not a SYN and no cookie of ours. They are what a director
// sees after another director died, after its own restart, or when an
// ECMP change moved flows to it: connections some director handed off,
// whose servers still hold them. The director carries them on without the
// memory of the one that handed them off:
//
// 1. By the TSval routing code (dataplane/ts_route.ts): a packet with a
//    timestamp option echoes a TSval of the flow's agent, whose low bits
//    name the server's agent id under a key every director shares. The
//    packet goes to that server, statelessly, as a forwarded flow's would:
//    nothing is created, so a flood of forged ACKs costs one hash each and
//    fills no table. (A forged code reaches an agent, which drops a packet
//    of a flow it does not have.)
// 2. Without a timestamp (the client did not negotiate them) or with a
//    code that names no server: the director asks the agents. One signed
//    FLOW_QUERY per agent, at most query_limit flows per second and one
//    question per flow per QUERY_REPEAT_MS; the agent that holds the flow
//    answers FLOW_OWNER (answers.ts), and the director installs a
//    forwarding flow for it (recover_flow). The packet itself is dropped;
//    TCP sends it, or a later one, again.
//
// Hot path: nothing allocates, nothing throws; every packet counts one of
// carried_by_tsval, dropped_asked_owner or dropped_query_limited (or
// dropped_malformed).
//
// Positional parameters beyond two: per frame on the poll loop (the
// project's hot-path exception).

import { flow_insert } from "../flow_table.ts";
import {
  DST_IP,
  DST_PORT,
  read_u32,
  SRC_IP,
  SRC_PORT,
  TCP_OPTIONS_LENGTH,
  TCP_OPTIONS_OFFSET,
  write_mac_words,
} from "../packet.ts";
import { OPT_TIMESTAMP_OFFSET, OPTIONS_OK, parse_tcp_options } from "../tcp_options.ts";
import {
  FLOW_KEY_BYTES,
  SERVER_STAT_WORDS,
  SS_ACTIVE_FLOWS,
  TYPE_FLOW_QUERY,
  wire_clock,
  write_datagram_frame,
  write_datagram_key,
} from "../wire/mod.ts";
import {
  SELECTION_SERVER_AGENT_ID,
  SELECTION_SERVER_COUNT,
  SELECTION_SERVER_MAC_HI,
  SELECTION_SERVER_MAC_LO,
} from "../selection_table.ts";
import { ts_route_hash, ts_route_id, TS_ROUTE_MASK } from "../ts_route.ts";
import { find_routed_server, server_word } from "./agents.ts";
import { begin_datagram, finish_datagram, take_datagram_id } from "./handoff.ts";
import {
  C,
  D_FLAGS,
  D_HANDOFF_ID,
  D_REQUEST_SLOT,
  D_SERVER,
  D_SERVER_MAC_HI,
  D_SERVER_MAC_LO,
  D_STATE,
  type DirectorState,
  F_COMMITTED,
  QUERY_RECENT_SLOTS,
  STATE_FORWARDING,
  VALUES_PER_FLOW,
} from "./state.ts";

/** A flow is asked about at most once in this long. */
export const QUERY_REPEAT_MS = 200;
/** Flows asked about per second, all together, unless configured. */
export const QUERY_LIMIT = 2000;

/** A non-SYN TCP frame to a served VIP port with no flow here and no cookie of ours. */
export function carried_frame(
  state: DirectorState,
  bytes: Uint8Array,
  o: number,
  now: number,
): boolean {
  const c = state.counters;
  const out = state.parse_out;
  const client_ip = out[SRC_IP];
  const vip = out[DST_IP];
  const ports = (out[SRC_PORT] << 16) | out[DST_PORT];
  // one hash: its low bits unmask the TSecr, the rest name the flow's "asked lately" slot
  const hash = ts_route_hash(state.config.route_key, client_ip, vip, ports);
  let tsecr_at = -1;
  if (out[TCP_OPTIONS_LENGTH] > 0) {
    const opts = state.options_out;
    if (
      parse_tcp_options(bytes, out[TCP_OPTIONS_OFFSET], out[TCP_OPTIONS_LENGTH], opts) !==
        OPTIONS_OK
    ) {
      c[C.dropped_malformed]++;
      return false;
    }
    if (opts[OPT_TIMESTAMP_OFFSET] >= 0) tsecr_at = opts[OPT_TIMESTAMP_OFFSET] + 6;
  }
  if (tsecr_at >= 0) {
    const route = ts_route_id(read_u32(bytes, tsecr_at), hash & TS_ROUTE_MASK);
    const server = route === 0 ? -1 : find_routed_server(state.selection, route);
    if (server >= 0) {
      write_mac_words(
        bytes,
        o,
        server_word(state.selection, server, SELECTION_SERVER_MAC_HI),
        server_word(state.selection, server, SELECTION_SERVER_MAC_LO),
      );
      write_mac_words(bytes, o + 6, state.director_mac_hi, state.director_mac_lo);
      c[C.carried_by_tsval]++;
      return true;
    }
  }
  ask_owner(state, client_ip, vip, ports, hash, now);
  return false;
}

/** FLOW_QUERY to every agent, unless this flow was asked about lately or the budget is spent. */
function ask_owner(
  state: DirectorState,
  client_ip: number,
  vip: number,
  ports: number,
  hash: number,
  now: number,
): void {
  const c = state.counters;
  const slot = (hash >>> 8) & (QUERY_RECENT_SLOTS - 1);
  const asked = state.query_recent;
  if (asked[2 * slot] === (hash | 0) && (((now | 0) - asked[2 * slot + 1]) | 0) < QUERY_REPEAT_MS) {
    c[C.dropped_query_limited]++;
    return;
  }
  const second = Math.floor(now / 1000);
  if (second !== state.query_second) {
    state.query_second = second;
    state.query_budget = QUERY_LIMIT;
  }
  if (state.query_budget <= 0) {
    c[C.dropped_query_limited]++;
    return;
  }
  state.query_budget--;
  asked[2 * slot] = hash | 0;
  asked[2 * slot + 1] = now | 0;
  c[C.dropped_asked_owner]++;
  const id = take_datagram_id(state);
  const selection = state.selection;
  let count = selection.header[SELECTION_SERVER_COUNT];
  if (!(count >= 0 && count <= selection.max_servers)) count = 0;
  const bytes = state.region;
  for (let server = 0; server < count; server++) {
    const o = begin_datagram(state, server, FLOW_KEY_BYTES);
    if (o < 0) return; // counted (tx_no_mbuf); asked again after QUERY_REPEAT_MS
    write_datagram_frame(
      bytes,
      o,
      state.frame_address,
      TYPE_FLOW_QUERY,
      state.config.epoch,
      id,
      FLOW_KEY_BYTES,
      0,
      server_word(selection, server, SELECTION_SERVER_AGENT_ID),
      wire_clock(state.io.wall_clock()),
    );
    write_datagram_key(bytes, o, client_ip, vip, ports);
    finish_datagram(state, server, o, FLOW_KEY_BYTES);
    c[C.queries_sent]++;
  }
}

/**
 * FLOW_OWNER from server's agent for a flow this director has no entry
 * for: it forwards the flow to that server from now on, as if it had
 * handed it off itself (the agent's FLOW_END now names this query's id and
 * comes here). Returns the flow's index, or −1 (table full, counted).
 */
export function recover_flow(
  state: DirectorState,
  client_ip: number,
  vip: number,
  ports: number,
  server: number,
  id: number,
  now: number,
): number {
  const table = state.table;
  const index = flow_insert(table, client_ip, vip, ports >>> 16, ports & 0xffff, now);
  if (index < 0) {
    state.counters[C.table_full]++;
    return -1;
  }
  const values = table.values;
  const v = index * VALUES_PER_FLOW;
  values.fill(0, v, v + VALUES_PER_FLOW);
  values[v + D_STATE] = STATE_FORWARDING;
  values[v + D_FLAGS] = F_COMMITTED;
  values[v + D_REQUEST_SLOT] = -1;
  values[v + D_SERVER] = server;
  values[v + D_HANDOFF_ID] = id | 0;
  values[v + D_SERVER_MAC_HI] = server_word(state.selection, server, SELECTION_SERVER_MAC_HI);
  values[v + D_SERVER_MAC_LO] = server_word(state.selection, server, SELECTION_SERVER_MAC_LO);
  const c = state.counters;
  c[C.flows_recovered]++;
  c[C.flows] = table.count;
  // the gauges leave_forwarding takes back when the flow goes
  c[C.flows_forwarding]++;
  state.server_stats[server * SERVER_STAT_WORDS + SS_ACTIVE_FLOWS]++;
  return index;
}
