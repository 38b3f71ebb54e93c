// The agent's state: the per-flow words of its flow table, the flow states
// and flags, the counters, the configuration, what the hand-off path keeps
// (the replay cache, the FLOW_ENDs awaiting their ACK, the sender filter
// and admission policy, the shim's HMAC and mbufs behind state.io), and the
// few helpers every other agent file shares (freeing a request buffer,
// forgetting a flow, the VIPs seen in hand-offs). Everything here is made
// once, in create_agent_state; the helpers allocate nothing and never throw.
//
// A flow's words live in table.values at index * VALUES_PER_FLOW; a flow in
// SYN_SENT or REQUEST_SENT holds a request buffer (V_REQUEST_SLOT), which
// remove_flow and the end of adoption give back.

import {
  create_frame_address,
  decode_failure_code,
  DECODE_FAILURES,
  DEFAULT_AGENT_ID,
  DEFAULT_FRESHNESS_MS,
  DEFAULT_HANDOFF_PORT,
  DEFAULT_MAX_DATAGRAM,
  FA_SRC_IP,
  FA_SRC_MAC_HI,
  FA_SRC_MAC_LO,
  FA_SRC_PORT,
  R_REQUEST,
  RECORD_FLAG_SACK,
  RECORD_FLAG_TIMESTAMPS,
} from "../wire/mod.ts";
import { create_flow_table, flow_insert, flow_remove_at, type FlowTable } from "../flow_table.ts";
import { create_parse_out, mac_hi, mac_lo } from "../packet.ts";
import { TCP_OPTION_FIELDS } from "../tcp_options.ts";
import { create_tcp_frame_fields, type TcpFrameFields } from "../frame_write.ts";
import {
  admission_policy,
  type AdmissionPolicy,
  source_filter,
  type SourceFilter,
} from "./admission.ts";
import { create_replay_cache, type ReplayCache } from "./replay_cache.ts";
import { create_flow_ends, type PendingFlowEnds } from "./flow_ends.ts";

// ---------------------------------------------------------------- flow words

export const V_STATE = 0;
export const V_FLAGS = 1;
/** ISN_s + 1 − director_next_seq: server space minus director space. */
export const V_ISN_DELTA = 2;
/** director clock − stack clock, for TSval/TSecr. */
export const V_TS_DELTA = 3;
export const V_SERVER_WSCALE = 4;
export const V_DIRECTOR_WSCALE = 5;
export const V_CLIENT_MAC_HI = 6;
export const V_CLIENT_MAC_LO = 7;
export const V_CLIENT_ISN = 8;
export const V_DIRECTOR_NEXT = 9;
export const V_EPOCH = 10;
export const V_ID = 11;
/** ms (int32, wrap-safe) when the adoption timer or the linger ends. */
export const V_DEADLINE = 12;
export const V_REQUEST_SLOT = 13;
export const V_RETRIES = 14;
export const V_TO_SERVER = 15;
export const V_TO_CLIENT = 16;
export const V_SERVER_ISN = 17;
export const V_CLIENT_TSVAL = 18;
export const V_SERVER_TSVAL = 19;
export const V_CLIENT_WINDOW = 20;
export const V_CLIENT_MSS = 21;
export const V_CLIENT_WSCALE = 22;
export const V_SERVER_MSS = 23;
export const V_REQUEST_LENGTH = 24;
export const V_END_REASON = 25;
/**
 * The stack's receive position as it announces it: the highest ACK it sent
 * towards the client. Client → server sequence numbers are not translated,
 * so this is in the client's space too. RFC 5961 checks client RSTs and FINs
 * against it.
 */
export const V_STACK_ACK = 26;
/** The window (bytes, unscaled) the stack announced with V_STACK_ACK. */
export const V_STACK_WINDOW = 27;
/**
 * The end of what the stack has sent, in the director's space: the client's
 * RCV.NXT once it all arrived, so where an RST to the client must sit.
 */
export const V_STACK_NEXT = 28;
/**
 * Where the flow's HANDOFF came from, so its ACK, NACK and FLOW_END go
 * back there: the sender's IP (0: none, a flow installed without a
 * hand-off), UDP port and the MAC its frame came from (the director's, or
 * its router's on an L3 fabric).
 */
export const V_DIRECTOR_IP = 29;
export const V_DIRECTOR_PORT = 30;
export const V_DIRECTOR_MAC_HI = 31;
export const V_DIRECTOR_MAC_LO = 32;
/**
 * TS_ROUTED | the TSval routing code the director gave the flow
 * (dataplane/ts_route.ts), written into every TSval to the client; 0: none.
 */
export const V_TS_ROUTE = 33;
export const VALUES_PER_FLOW = 34;
/** In V_TS_ROUTE: the flow has a routing code (its low 8 bits). */
export const TS_ROUTED = 0x100;

export const STATE_SYN_SENT = 1;
export const STATE_REQUEST_SENT = 2;
export const STATE_ESTABLISHED = 3;
/** Closed (FIN both ways, or RST): still translated until the linger ends. */
export const STATE_CLOSING = 4;
/**
 * The stack's SYN/ACK was refused (V_END_REASON holds the NACK code): the
 * next service call resets the stack's half and reports the refusal. Its
 * frames are dropped meanwhile.
 */
export const STATE_REFUSING = 5;

// the first two flag bits are the hand-off record's, so adoption copies them
export const F_SACK = RECORD_FLAG_SACK;
export const F_TIMESTAMPS = RECORD_FLAG_TIMESTAMPS;
export const F_FIN_FROM_CLIENT = 4;
export const F_FIN_FROM_SERVER = 8;
export const F_WSCALE = 16;
/**
 * The client and the director scale windows, the stack declined (its SYN/ACK
 * had no wscale): RFC 7323 section 2.2 puts scaling in effect only when both
 * SYNs carry it, so the stack reads window fields as bytes and the client's
 * (scaled) windows are rescaled on their way to it.
 */
export const F_STACK_UNSCALED = 32;
/** The client negotiated SACK, the stack did not: client SACK blocks are stripped. */
export const F_STACK_NO_SACK = 64;

/** Agent i signs and verifies with HMAC key slot AGENT_KEY_SLOT_BASE + i (native/mod.ts). */
export const AGENT_KEY_SLOT_BASE = 128;

// ----------------------------------------------------------------- counters

export const AGENT_COUNTER_NAMES = [
  "fabric_rx",
  "server_rx",
  "translated_to_server",
  "translated_to_client",
  "passed_to_server",
  "passed_to_fabric",
  "dropped_not_ours",
  "dropped_malformed",
  "dropped_while_adopting",
  "dropped_unknown_vip_flow",
  "synack_consumed",
  "stack_ack_consumed",
  "handoffs_received",
  "handoffs_duplicate",
  /** A HANDOFF of a connection it holds, from another director (it read the request again). */
  "handoffs_taken_over",
  "cancelled",
  "adopted",
  "refused_table_full",
  "refused_stack_reset",
  "refused_stack_timeout",
  "refused_bad_request",
  "syn_sent",
  "syn_retransmits",
  "request_sent",
  "request_retransmits",
  "ended_fin",
  "ended_client_reset",
  "ended_server_reset",
  "ended_idle",
  "flows",
  // a client RST, SYN or FIN the stack will not accept (RFC 5961): passed, nothing changes
  "rst_passed_unaccepted",
  "syn_passed_unaccepted",
  "fin_passed_unaccepted",
  "refused_stack_options",
  /** SACK or TS options stripped (a side that did not negotiate them would see them). */
  "options_stripped",
  "dropped_fragment",
  "resets_to_client",
  "resets_to_stack",
  // frames dropped per burst: the dropped_* and consumed counters add up to it (burst_tally.ts)
  "frames_dropped",
  // ICMP errors from the fabric to a VIP (icmp.ts): into the stack's space, or dropped
  "icmp_errors_translated",
  "dropped_icmp_unknown_flow",
  "dropped_icmp_malformed",
  "dropped_icmp_bad_checksum",
  // flows of an earlier run of this agent (burst.ts, service.ts)
  "dropped_orphan",
  "orphans_reset",
  // hand-off datagrams from the fabric (handoff_in.ts): each consumed frame counts one result
  "handoff_rx_ok",
  /** From a sender not in `directors`: dropped before any HMAC. */
  "handoff_rx_unknown_source",
  /** IP options, or IP and UDP lengths that disagree with each other or the frame. */
  "handoff_rx_bad_frame",
  // one per DecodeFailure (wire/handoff.ts), in its order
  "handoff_rx_truncated",
  "handoff_rx_oversized",
  "handoff_rx_bad_magic",
  "handoff_rx_bad_version",
  "handoff_rx_bad_type",
  "handoff_rx_bad_length",
  "handoff_rx_bad_mac",
  "handoff_rx_stale",
  "handoff_rx_wrong_agent",
  "handoff_rx_inconsistent",
  /** An authentic HANDOFF this agent finished with (ended, refused, cancelled): not adopted. */
  "handoffs_replayed",
  /**
   * An authentic HANDOFF of no live flow, its id below its epoch's replay
   * window (replay_cache.ts): it cannot be told from a replay, so it is not
   * adopted (a copy that late, or a replay).
   */
  "handoffs_too_old",
  /** An authentic HANDOFF of a new director epoch and no replay slot for it: not adopted. */
  "handoffs_epochs_full",
  // refused (NACK bad_request) before adoption: admission.ts, and requests over max_request
  "refused_wrong_vip",
  "refused_bad_client",
  "refused_too_large",
  "cancels_received",
  // what the agent answers (answers.ts)
  "acks_sent",
  "nacks_sent",
  "flow_ends_sent",
  "flow_end_retransmits",
  "flow_ends_acked",
  /** Given up after FLOW_END_TRIES sends (flow_ends.ts). */
  "flow_ends_unanswered",
  /** A FLOW_END_ACK for no FLOW_END of that hand-off and 4-tuple waiting here. */
  "flow_end_acks_unmatched",
  /** FLOW_ENDs sent once only: no room to keep them for retransmission. */
  "flow_ends_untracked",
  /** FLOW_ENDs waiting for their ACK (a gauge). */
  "flow_ends_pending",
  /** An ACK, NACK or FLOW_END sent to the agent. */
  "unexpected_messages",
  /** Answers not sent: no mbuf (the director retransmits; FLOW_END is retransmitted). */
  "answers_lost",
  /** Answers for a flow installed without a hand-off (no director to tell). */
  "answers_without_director",
  /** Answers not sent: the key slot has no key (a set-up error). */
  "answers_unsigned",
  /**
   * Segments the agent makes (SYN, ACK + request, RSTs: segments.ts) not
   * sent: no free mbuf. The adoption timers send SYNs and requests again.
   */
  "tx_no_mbuf",
  // FLOW_QUERY from a director that does not know a flow (handoff_in.ts)
  "queries_answered",
  "queries_not_here",
] as const;
export type AgentCounterName = typeof AGENT_COUNTER_NAMES[number];

/**
 * The counters that say why a frame was not sent on: each dropped frame
 * counts exactly one of them, so together they add up to frames_dropped.
 */
export const AGENT_DROP_REASONS: readonly AgentCounterName[] = [
  ...AGENT_COUNTER_NAMES.filter((name) => name.startsWith("dropped_")),
  // a hand-off frame is the agent's: consumed, whatever it held
  ...AGENT_COUNTER_NAMES.filter((name) => name.startsWith("handoff_rx_")),
  "synack_consumed",
  "stack_ack_consumed",
  "refused_stack_reset",
];
/** Counter name → index into AgentState.counters. */
export const C = Object.fromEntries(AGENT_COUNTER_NAMES.map((name, i) => [name, i])) as Record<
  AgentCounterName,
  number
>;
export const AGENT_COUNTER_WORDS = AGENT_COUNTER_NAMES.length;

// ------------------------------------------------------------ configuration

export interface AgentConfig {
  fabric_port: number;
  server_port: number;
  /** The server stack's MAC: where client→server frames go. */
  server_mac: Uint8Array;
  /** The agent's own fabric MAC (frames to it are accepted too). */
  agent_mac: Uint8Array;
  /** Flow table slots (power of two); 75% of them may hold flows. */
  flow_capacity: number;
  /** Largest request (header block) a hand-off may carry. */
  max_request: number;
  /** Concurrent adoptions (each holds a request buffer). */
  max_adopting: number;
  /** First retransmission time for the SYN and the request; doubles each time. */
  rto_ms: number;
  /** Give up an adoption after this long (NACK stack_timeout). */
  adopt_timeout_ms: number;
  /** Keep translating this long after a flow closed (late segments). */
  linger_ms: number;
  /** Forget a flow silent for this long. */
  idle_timeout_ms: number;
  /** The VIPs the server holds (config `vips`): known from the start, not only from hand-offs. */
  vips?: number[];
  /**
   * Until this time (the caller's clock), a client segment of a flow the
   * agent does not know, to a known VIP, is taken for a flow handed off
   * before the agent restarted: unless a hand-off for it arrives within
   * ORPHAN_GRACE_MS, both ends get an RST (service.ts). 0: never.
   */
  orphans_until?: number;
  /**
   * The server's own fabric address (u32): hand-off datagrams to it at
   * handoff_port are the agent's, and its answers come from it. 0 (or
   * unset): the agent takes no hand-offs (benchmarks, installed flows).
   */
  address?: number;
  /** DEFAULT_HANDOFF_PORT unless set. */
  handoff_port?: number;
  /** This agent's id: datagrams to another are dropped (wrong_agent), its own name it. */
  agent_id?: number;
  /** The directors hand-offs are read from (ip u32, port; 0 = any port); unset: any sender. */
  directors?: { ip: number; port: number }[];
  /** How far a datagram's sent_at may be from the wall clock, either way. */
  freshness_ms?: number;
  /** Largest hand-off datagram (UDP payload) read. */
  max_datagram?: number;
  /** Ids per director epoch the replay cache covers (REPLAY_WINDOW unless set). */
  replay_window?: number;
}

/**
 * What the hand-off path and the frames the agent makes need from outside
 * the agent (the runner wires them to the shim and the emitter; unit tests
 * to node:crypto and a plain buffer). Offsets are in `bytes`, the packet
 * region the bursts get.
 */
export interface HandoffIo {
  bytes: Uint8Array;
  /**
   * A fresh frame of `length` bytes queued for `port`: its offset, or -1 (no
   * mbuf). Every frame the agent makes is written there in place: its
   * answers (answers.ts) and its segments (segments.ts).
   */
  claim: (length: number, port: number) => number;
  /** Takes back the frame the last claim gave (it is not sent). */
  discard: () => void;
  /** HMAC-SHA256 of [offset, offset + length) written at tag_offset: 0, or -1 (no key). */
  sign: (offset: number, length: number, tag_offset: number) => number;
  /** 1 when the tag at tag_offset is that of [offset, offset + length), 0 when not, -1 (no key). */
  verify: (offset: number, length: number, tag_offset: number) => number;
  /** ms since 1970: datagrams are stamped and checked with it. */
  wall_clock: () => number;
}

/** An io that takes no hand-offs and sends nothing it would make (benchmarks, tools). */
export const NO_HANDOFF_IO: HandoffIo = {
  bytes: new Uint8Array(0),
  claim: () => -1,
  discard: () => {},
  sign: () => -1,
  verify: () => -1,
  wall_clock: () => Date.now(),
};

/**
 * How long an unknown flow's segment waits for its hand-off before it is
 * reset as an orphan: a director forwards a client's segments to the server
 * it tries before the agent may have the HANDOFF (or its retransmission).
 */
export const ORPHAN_GRACE_MS = 2000;
/**
 * How long the agent remembers a flow it removed (ended, refused,
 * cancelled): its late segments are not an earlier run's orphans, and a
 * client that reuses the port meanwhile must not be reset for them.
 */
export const ENDED_MEMORY_MS = 120_000;
/** Orphan candidates held at once; beyond, segments are only dropped (the client retransmits). */
export const ORPHAN_CAPACITY = 256;
/** Words per orphan: client_ip, vip, ports, client MAC hi, lo, SEG.SEQ, SEG.ACK, deadline. */
export const ORPHAN_WORDS = 8;

export const DEFAULT_AGENT_TIMERS = {
  flow_capacity: 65536,
  max_request: 65535,
  max_adopting: 256,
  rto_ms: 200,
  adopt_timeout_ms: 3000,
  linger_ms: 2000,
  idle_timeout_ms: 300_000,
};

export interface AgentState {
  config: AgentConfig;
  table: FlowTable;
  /** AGENT_COUNTER_WORDS counters (may live in a SharedArrayBuffer). */
  counters: Float64Array;
  parse_out: Int32Array;
  options_out: Int32Array;
  /** Keys of flows being adopted: client_ip, vip, ports (client << 16 | vip). */
  adopting: Int32Array;
  adopting_count: number;
  /** Request bytes awaiting the stack's ACK, max_adopting buffers of max_request. */
  requests: Uint8Array;
  free_requests: Int32Array;
  free_request_count: number;
  key_scratch: Float64Array;
  /** VIPs seen in hand-offs: a frame to one of them without a flow never reaches the stack. */
  vips: Int32Array;
  vip_count: number;
  /** 4-tuples of flows removed in the last ENDED_MEMORY_MS (last_seen: when). */
  ended: FlowTable;
  /** When `ended` last refused an insert (full): orphans are not reset for a while after. */
  ended_full_at: number;
  /** The latest clock a burst, adoption or service call was given. */
  now: number;
  /** Orphan candidates (ORPHAN_WORDS each), a FIFO drained by service.ts. */
  orphans: Int32Array;
  orphan_head: number;
  orphan_count: number;
  server_mac_hi: number;
  agent_mac_hi: number;
  agent_mac_lo: number;
  server_mac_lo: number;
  // ------------------------------------------------------------ hand-offs
  io: HandoffIo;
  /** config.address as u32 (0: no hand-offs). */
  address: number;
  handoff_port: number;
  agent_id: number;
  freshness_ms: number;
  max_datagram: number;
  sources: SourceFilter;
  admission: AdmissionPolicy;
  replays: ReplayCache;
  flow_ends: PendingFlowEnds;
  /** Decode failure code (wire/handoff_frame.ts) → its handoff_rx_* counter. */
  decode_counter: Int32Array;
  /** The adoption record of the HANDOFF being read (R_REQUEST + max_request bytes). */
  record: Uint8Array;
  /** Where the datagram being read came from (FA_SRC_* words: MAC, IP, port). */
  sender: Int32Array;
  /** The answer being written: source words the agent's, destination its director's. */
  answer_address: Int32Array;
  /** The segment being written (segments.ts): filled and consumed at once. */
  frame: TcpFrameFields;
}

export function create_agent_state(
  config: AgentConfig,
  options: { counters?: Float64Array; io?: HandoffIo; now?: number } = {},
): AgentState {
  const requests = new Uint8Array(config.max_adopting * config.max_request);
  const free_requests = new Int32Array(config.max_adopting);
  for (let i = 0; i < config.max_adopting; i++) free_requests[i] = config.max_adopting - 1 - i;
  const state: AgentState = {
    config,
    table: create_flow_table({ capacity: config.flow_capacity, values_per_flow: VALUES_PER_FLOW }),
    counters: options.counters ?? new Float64Array(AGENT_COUNTER_WORDS),
    parse_out: create_parse_out(),
    options_out: new Int32Array(TCP_OPTION_FIELDS),
    adopting: new Int32Array(config.max_adopting * 3),
    adopting_count: 0,
    requests,
    free_requests,
    free_request_count: config.max_adopting,
    key_scratch: new Float64Array(4),
    vips: new Int32Array(64),
    vip_count: 0,
    ended: create_flow_table({ capacity: config.orphans_until ? 65536 : 2 }),
    ended_full_at: -Infinity,
    now: 0,
    orphans: new Int32Array(ORPHAN_CAPACITY * ORPHAN_WORDS),
    orphan_head: 0,
    orphan_count: 0,
    server_mac_hi: mac_hi(config.server_mac, 0),
    agent_mac_hi: mac_hi(config.agent_mac, 0),
    agent_mac_lo: mac_lo(config.agent_mac, 0),
    server_mac_lo: mac_lo(config.server_mac, 0),
    io: options.io ?? NO_HANDOFF_IO,
    address: (config.address ?? 0) >>> 0,
    handoff_port: config.handoff_port ?? DEFAULT_HANDOFF_PORT,
    agent_id: config.agent_id ?? DEFAULT_AGENT_ID,
    freshness_ms: config.freshness_ms ?? DEFAULT_FRESHNESS_MS,
    max_datagram: config.max_datagram ?? DEFAULT_MAX_DATAGRAM,
    sources: source_filter(config.directors),
    admission: admission_policy(config.vips),
    replays: create_replay_cache({
      freshness_ms: config.freshness_ms ?? DEFAULT_FRESHNESS_MS,
      // an agent that takes no hand-offs keeps no replays
      window: config.address ? config.replay_window : 1,
      epochs: config.address ? undefined : 1,
    }),
    flow_ends: create_flow_ends({
      capacity: config.address ? config.flow_capacity : 1,
      now: options.now ?? 0,
    }),
    decode_counter: decode_counters(),
    record: new Uint8Array(R_REQUEST + config.max_request),
    sender: create_frame_address(),
    answer_address: create_frame_address(),
    frame: create_tcp_frame_fields(),
  };
  // every answer comes from the server's MAC, its fabric address and the hand-off port
  const a = state.answer_address;
  a[FA_SRC_MAC_HI] = state.server_mac_hi;
  a[FA_SRC_MAC_LO] = state.server_mac_lo;
  a[FA_SRC_IP] = state.address | 0;
  a[FA_SRC_PORT] = state.handoff_port;
  for (const vip of config.vips ?? []) learn_vip(state, vip);
  return state;
}

/** Decode failure code → the index of its handoff_rx_<failure> counter. */
function decode_counters(): Int32Array {
  const map = new Int32Array(DECODE_FAILURES.length + 1).fill(C.handoff_rx_inconsistent);
  for (const failure of DECODE_FAILURES) {
    const index = C[`handoff_rx_${failure}` as AgentCounterName];
    if (index === undefined) throw new Error(`no counter for decode failure ${failure}`);
    map[decode_failure_code(failure)] = index;
  }
  return map;
}

// ---------------------------------------------------------- shared helpers

/** Gives the flow's request buffer back (v: its first word), if it holds one. */
export function release_request(state: AgentState, v: number): void {
  const slot = state.table.values[v + V_REQUEST_SLOT];
  if (slot >= 0) {
    state.free_requests[state.free_request_count++] = slot;
    state.table.values[v + V_REQUEST_SLOT] = -1;
  }
}

/** Forgets a flow (and frees its request buffer while it is still adopting). */
export function remove_flow(state: AgentState, index: number): void {
  const v = index * VALUES_PER_FLOW;
  const values = state.table.values;
  if (values[v + V_STATE] === STATE_SYN_SENT || values[v + V_STATE] === STATE_REQUEST_SENT) {
    release_request(state, v);
  }
  if (state.config.orphans_until) {
    const t = state.table;
    const ports = t.ports[index];
    note_ended(state, t.src_ip[index], t.dst_ip[index], ports);
  }
  flow_remove_at(state.table, index);
  state.counters[C.flows] = state.table.count;
}

/** Remembers a 4-tuple the agent is done with (ports: client << 16 | vip), for orphans.ts. */
export function note_ended(state: AgentState, client_ip: number, vip: number, ports: number): void {
  const index = flow_insert(state.ended, client_ip, vip, ports >>> 16, ports & 0xffff, state.now);
  if (index < 0) state.ended_full_at = state.now;
  else state.ended.last_seen[index] = state.now;
}

/** A VIP seen in a hand-off (a linear scan: there are few). */
export function is_known_vip(state: AgentState, ip: number): boolean {
  for (let k = 0; k < state.vip_count; k++) if (state.vips[k] === (ip | 0)) return true;
  return false;
}

/** Remembers a hand-off's VIP; beyond vips.length, new ones are not kept. */
export function learn_vip(state: AgentState, ip: number): void {
  if (is_known_vip(state, ip) || state.vip_count >= state.vips.length) return;
  state.vips[state.vip_count++] = ip | 0;
}

/** Counters as a name → value record (for stats, metrics, tests). */
export function agent_counters(state: AgentState): Record<AgentCounterName, number> {
  return Object.fromEntries(
    AGENT_COUNTER_NAMES.map((name, i) => [name, state.counters[i]]),
  ) as Record<
    AgentCounterName,
    number
  >;
}
