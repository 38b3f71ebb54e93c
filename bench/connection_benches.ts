// The two connection benches, each a role's real runner (as its dataplane
// Worker builds it: create_director_runner, create_agent_runner) beside
// the generator that plays everyone it talks to, on net_ring ports in one
// process. A bench says how to run one round of each, what it counts as a
// completed connection, how many HMACs of which lengths the role computes
// per connection, and whether every frame is accounted for once the
// generator has stopped and the last connections have drained.
//
//   director: hand-offs acknowledged (handoffs_acked). Per connection it
//     signs a HANDOFF and a FLOW_END_ACK and verifies a HANDOFF_ACK and a
//     FLOW_END.
//   agent: adoptions (adopted). Per connection it verifies a HANDOFF and a
//     FLOW_END_ACK and signs a HANDOFF_ACK and a FLOW_END.

import type { Native } from "../native/mod.ts";
import type { PortInfo } from "../control/mod.ts";
import {
  create_director_runner,
  DIRECTOR_COUNTER_NAMES,
  DIRECTOR_COUNTER_WORDS,
  director_counters,
  DIRECTOR_DROP_REASONS,
  director_round,
} from "../dataplane/director/mod.ts";
import {
  AGENT_COUNTER_NAMES,
  AGENT_DROP_REASONS,
  AGENT_KEY_SLOT_BASE,
  agent_round,
  agent_runner_counters,
  create_agent_runner,
  DEFAULT_AGENT_TIMERS,
} from "../dataplane/agent/mod.ts";
import {
  create_selection_table,
  ip_to_u32,
  mac_to_bytes,
  publish_selection,
} from "../dataplane/mod.ts";
import {
  create_server_stats,
  datagram_signed_length,
  DEFAULT_MAX_DATAGRAM,
  FLOW_END_BODY_BYTES,
  FLOW_KEY_BYTES,
  HANDOFF_FIXED_BODY_BYTES,
  http_response,
  max_request_bytes,
} from "../dataplane/wire/mod.ts";
import {
  bench_agent_ip,
  bench_agent_mac,
  BENCH_DIRECTOR_IP,
  BENCH_DIRECTOR_MAC,
  BENCH_HANDOFF_PORT,
  BENCH_REQUEST,
  BENCH_VIP,
  BENCH_VIP_PORT,
} from "./generator_frames.ts";
import {
  create_handoff_generator,
  HANDOFF_GENERATOR_COUNTERS,
  handoff_generator_counters,
  handoff_generator_round,
} from "./handoff_generator.ts";
import {
  ADOPT_GENERATOR_COUNTERS,
  adopt_generator_counters,
  adopt_generator_round,
  create_adopt_generator,
} from "./adopt_generator.ts";

export interface BenchOptions {
  /** Connections (director) or adoptions (agent) in flight at most. */
  connections: number;
  /** The role's rx burst, and the generator's frames per round and port when it chooses. */
  burst: number;
  /** director: agents (servers) it hands off to. */
  agents: number;
}

/** One message's HMAC in the role: sign or verify, over this many bytes. */
export interface HmacCall {
  what: string;
  verify: boolean;
  bytes: number;
}

export interface ConnectionBench {
  role: "director" | "agent";
  /** The generator's round (outside the measured role): wall clock, and whether to start new connections. */
  generate: (wall_ms: number, start: boolean) => void;
  /** The role's round, exactly as its dataplane Worker runs it. */
  round: (now: number) => void;
  /** Connections the role completed so far. */
  completed: () => number;
  /** Frames the role received, and sent (as the generator read them), so far. */
  frames_in: () => number;
  frames_out: () => number;
  /** Nothing left in flight: the last connections are done (after the generator stopped). */
  drained: () => boolean;
  /** What the role computes HMACs over, per connection, and a key slot it uses. */
  hmac_per_connection: HmacCall[];
  hmac_key_slot: number;
  counters: () => { role: Record<string, number>; generator: Record<string, number> };
  /** Why the counters do not add up (empty: every frame accounted for). */
  problems: () => string[];
}

const DIRECTOR_SLOT = 0;
const DIRECTOR_EMIT_SLOT = 1;
const GENERATOR_SLOT = 2;

// ------------------------------------------------------------------ director

export function create_director_bench(native: Native, options: BenchOptions): ConnectionBench {
  // agent i's key in HMAC slot i: the director holds them all, each agent its own
  const key_slots = Array.from({ length: options.agents }, (_, i) => i);
  for (const slot of key_slots) {
    native.hmac_key_set(slot, crypto.getRandomValues(new Uint8Array(32)));
  }
  const selection = create_selection_table({
    max_servers: options.agents,
    max_vips: 1,
    max_servers_per_vip: options.agents,
  });
  publish_selection(selection, {
    servers: key_slots.map((slot, i) => {
      const mac = mac_to_bytes(bench_agent_mac(i));
      return {
        name: `server-${i}`,
        weight: 1,
        healthy: true,
        mac_hi: (mac[0] << 24) | (mac[1] << 16) | (mac[2] << 8) | mac[3],
        mac_lo: (mac[4] << 8) | mac[5],
        agent_ip: bench_agent_ip(i),
        agent_port: BENCH_HANDOFF_PORT,
        agent_id: i + 1,
        key_slot: slot,
      };
    }),
    vips: [{ address: ip_to_u32(BENCH_VIP), l4: false, servers: key_slots }],
    draining: false,
  });
  const responses: Record<string, number[]> = {};
  for (const status of [400, 408, 431, 503]) responses[status] = Array.from(http_response(status));
  const counters = new Float64Array(DIRECTOR_COUNTER_WORDS);
  // the production defaults (control/config.ts), so the table and pool sizes are real ones
  const runner = create_director_runner(native, {
    spec: {
      port: 0,
      emit_slot: DIRECTOR_EMIT_SLOT,
      director_mac: Array.from(mac_to_bytes(BENCH_DIRECTOR_MAC)),
      address: ip_to_u32(BENCH_DIRECTOR_IP),
      handoff_port: BENCH_HANDOFF_PORT,
      epoch: crypto.getRandomValues(new Uint32Array(1))[0],
      handoff_rto_ms: 50,
      handoff_tries: 4,
      freshness_ms: 10_000,
      max_datagram: DEFAULT_MAX_DATAGRAM,
      selection: selection.buffer,
      server_stats: create_server_stats(options.agents),
      vips: [{ ip: ip_to_u32(BENCH_VIP), ports: [BENCH_VIP_PORT], l4: false }],
      cookie_key: Array.from(crypto.getRandomValues(new Uint8Array(8))),
      route_key: Array.from(crypto.getRandomValues(new Uint8Array(8))),
      ts_offset: 0x1000,
      mss: 1460,
      max_header: max_request_bytes(DEFAULT_MAX_DATAGRAM),
      max_request: max_request_bytes(DEFAULT_MAX_DATAGRAM),
      request_timeout_ms: 10_000,
      idle_timeout_ms: 300_000,
      flow_capacity: 65536,
      max_reading: 4096,
      responses,
    },
    slot: DIRECTOR_SLOT,
    queue: 0,
    burst: options.burst,
    counters,
  });
  const generator = create_handoff_generator(native, {
    port: 0,
    queue: 0,
    slot: GENERATOR_SLOT,
    connections: options.connections,
    budget: options.burst,
    key_slots,
  });
  const g = generator.counters;
  const d = counters;
  return {
    role: "director",
    generate: (wall_ms, start) => void handoff_generator_round(generator, wall_ms, start),
    round: (now) => void director_round(runner, now),
    completed: () => d[D_HANDOFFS_ACKED],
    frames_in: () => d[D_RX],
    frames_out: () => g[HG_FRAMES_SEEN] - g[HG_REQUEUED],
    drained: () => g[HG_IN_FLIGHT] <= 0 && d[D_FLOWS] === 0,
    hmac_per_connection: [
      {
        what: "HANDOFF",
        verify: false,
        bytes: signed_bytes(HANDOFF_FIXED_BODY_BYTES + BENCH_REQUEST.length),
      },
      { what: "HANDOFF_ACK", verify: true, bytes: signed_bytes(FLOW_KEY_BYTES) },
      { what: "FLOW_END", verify: true, bytes: signed_bytes(FLOW_END_BODY_BYTES) },
      { what: "FLOW_END_ACK", verify: false, bytes: signed_bytes(FLOW_KEY_BYTES) },
    ],
    hmac_key_slot: key_slots[0],
    counters: () => ({
      role: director_counters(runner.state),
      generator: handoff_generator_counters(generator),
    }),
    problems: () =>
      director_problems(director_counters(runner.state), handoff_generator_counters(generator)),
  };
}

const D_RX = DIRECTOR_COUNTER_NAMES.indexOf("rx");
const D_HANDOFFS_ACKED = DIRECTOR_COUNTER_NAMES.indexOf("handoffs_acked");
const D_FLOWS = DIRECTOR_COUNTER_NAMES.indexOf("flows");
const HG_FRAMES_SEEN = HANDOFF_GENERATOR_COUNTERS.indexOf("frames_seen");
const HG_REQUEUED = HANDOFF_GENERATOR_COUNTERS.indexOf("requeued");
const HG_IN_FLIGHT = HANDOFF_GENERATOR_COUNTERS.indexOf("in_flight");

function director_problems(
  d: Record<string, number>,
  g: Record<string, number>,
): string[] {
  const check = new Checks();
  check.equal("SYNs sent", g.syns_sent, "SYN cookies sent", d.syn_cookies_sent);
  check.equal("requests sent", g.requests_sent, "handshakes completed", d.handshakes_completed);
  check.equal(
    "handshakes completed",
    d.handshakes_completed,
    "requests complete",
    d.requests_complete,
  );
  check.equal("requests complete", d.requests_complete, "hand-offs sent", d.handoffs_sent);
  check.equal("hand-offs sent", d.handoffs_sent, "hand-offs acked", d.handoffs_acked);
  check.equal(
    "HANDOFFs seen",
    g.handoffs_seen,
    "HANDOFFs sent and resent",
    d.handoffs_sent + d.handoff_retransmits,
  );
  check.equal("hand-offs acked", d.handoffs_acked, "flows ended by FLOW_END", d.flow_ends);
  check.equal("connections started", g.syns_sent, "flows ended by FLOW_END", d.flow_ends);
  // A HANDOFF resent (the loop stalled past the RTO: a busy host) is answered again, and
  // stateless, the generator cannot tell: the copy's FLOW_END comes back as a repeat, a late
  // ACK of it draws a CANCEL. Those are explained; anything else is not.
  check.equal(
    "FLOW_ENDs sent",
    g.flow_ends_sent,
    "FLOW_ENDs ended, repeated, unmatched",
    d.flow_ends + d.flow_end_repeats + d.flow_ends_unmatched,
  );
  check.equal(
    "FLOW_END_ACKs seen",
    g.completed,
    "FLOW_ENDs ended or repeated",
    d.flow_ends + d.flow_end_repeats,
  );
  check.equal("CANCELs seen", g.cancels_seen, "CANCELs sent", d.cancels_sent);
  check.equal("frames dropped", d.frames_dropped, "their reasons", sum(d, DIRECTOR_DROP_REASONS));
  check.zero(d, ["bad_cookies", "handoff_timeouts", "handoffs_nacked", "tx_no_mbuf", "fallbacks"]);
  check.zero(d, ["responses_400", "responses_408", "responses_431", "responses_503", "table_full"]);
  check.zero(d, [
    "reading_full",
    "reading_source_limit",
    "answers_unmatched",
    "handoff_rx_bad_mac",
  ]);
  check.zero(d, ["handoff_rx_stale", "flows"]);
  check.zero(
    g,
    ["unexpected", "bad_tags", "no_mbuf", "sign_failed"],
    "generator ",
  );
  return check.problems;
}

// --------------------------------------------------------------------- agent

export function create_agent_bench(
  native: Native,
  ports: PortInfo[],
  options: BenchOptions,
): ConnectionBench {
  const key_slot = AGENT_KEY_SLOT_BASE;
  native.hmac_key_set(key_slot, crypto.getRandomValues(new Uint8Array(32)));
  const server_mac = bench_agent_mac(0);
  const agent_ip = bench_agent_ip(0);
  const counters = new Float64Array(AGENT_COUNTER_NAMES.length);
  const runner = create_agent_runner(native, {
    spec: {
      fabric_port: 0,
      server_port: 1,
      emit_slot: AGENT_EMIT_SLOT,
      server_mac: Array.from(mac_to_bytes(server_mac)),
      agent_mac: Array.from(ports[0].mac),
      ...DEFAULT_AGENT_TIMERS,
      // a closed flow goes at the sweep's next pass: the bench has no late segments to
      // wait for, and a linger of seconds would only need a table that holds them
      linger_ms: 0,
      max_request: max_request_bytes(DEFAULT_MAX_DATAGRAM),
      vips: [ip_to_u32(BENCH_VIP)],
      address: agent_ip,
      handoff_port: BENCH_HANDOFF_PORT,
      directors: [{ ip: ip_to_u32(BENCH_DIRECTOR_IP), port: BENCH_HANDOFF_PORT }],
      agent_id: 1,
      key_slot,
      freshness_ms: 10_000,
      max_datagram: DEFAULT_MAX_DATAGRAM,
    },
    slot: AGENT_SLOT,
    queue: 0,
    burst: options.burst,
    counters,
  });
  const generator = create_adopt_generator(native, {
    fabric_port: 0,
    server_port: 1,
    queue: 0,
    slot: GENERATOR_SLOT,
    connections: options.connections,
    budget: options.burst,
    agent_ip,
    agent_id: 1,
    key_slot,
    server_mac,
    epoch: crypto.getRandomValues(new Uint32Array(1))[0],
  });
  const g = generator.counters;
  const a = counters;
  return {
    role: "agent",
    generate: (wall_ms, start) => adopt_generator_round(generator, wall_ms, start),
    round: (now) => void agent_round(runner, now),
    completed: () => a[A_ADOPTED],
    frames_in: () => a[A_FABRIC_RX] + a[A_SERVER_RX],
    frames_out: () => g[AG_FRAMES_SEEN] - g[AG_REQUEUED],
    drained: () => g[AG_IN_FLIGHT] <= 0 && a[A_FLOWS] === 0 && a[A_FLOW_ENDS_PENDING] === 0,
    hmac_per_connection: [
      {
        what: "HANDOFF",
        verify: true,
        bytes: signed_bytes(HANDOFF_FIXED_BODY_BYTES + BENCH_REQUEST.length),
      },
      { what: "HANDOFF_ACK", verify: false, bytes: signed_bytes(FLOW_KEY_BYTES) },
      { what: "FLOW_END", verify: false, bytes: signed_bytes(FLOW_END_BODY_BYTES) },
      { what: "FLOW_END_ACK", verify: true, bytes: signed_bytes(FLOW_KEY_BYTES) },
    ],
    hmac_key_slot: key_slot,
    counters: () => ({
      role: agent_runner_counters(runner),
      generator: adopt_generator_counters(generator),
    }),
    problems: () =>
      agent_problems(agent_runner_counters(runner), adopt_generator_counters(generator)),
  };
}

const AGENT_SLOT = 0;
const AGENT_EMIT_SLOT = 1;
const A_ADOPTED = AGENT_COUNTER_NAMES.indexOf("adopted");
const A_FABRIC_RX = AGENT_COUNTER_NAMES.indexOf("fabric_rx");
const A_SERVER_RX = AGENT_COUNTER_NAMES.indexOf("server_rx");
const A_FLOWS = AGENT_COUNTER_NAMES.indexOf("flows");
const A_FLOW_ENDS_PENDING = AGENT_COUNTER_NAMES.indexOf("flow_ends_pending");
const AG_FRAMES_SEEN = ADOPT_GENERATOR_COUNTERS.indexOf("frames_seen");
const AG_REQUEUED = ADOPT_GENERATOR_COUNTERS.indexOf("requeued");
const AG_IN_FLIGHT = ADOPT_GENERATOR_COUNTERS.indexOf("in_flight");

function agent_problems(a: Record<string, number>, g: Record<string, number>): string[] {
  const check = new Checks();
  check.equal("HANDOFFs sent", g.handoffs_sent, "HANDOFFs received", a.handoffs_received);
  check.equal("HANDOFFs received", a.handoffs_received, "SYNs to the stack", a.syn_sent);
  check.equal("SYN/ACKs sent", g.syn_acks_sent, "SYN/ACKs consumed", a.synack_consumed);
  check.equal("SYN/ACKs consumed", a.synack_consumed, "requests to the stack", a.request_sent);
  check.equal("responses sent", g.responses_sent, "adopted", a.adopted);
  check.equal("adopted", a.adopted, "HANDOFF_ACKs sent", a.acks_sent);
  check.equal("HANDOFF_ACKs sent", a.acks_sent, "HANDOFF_ACKs seen", g.acks_seen);
  check.equal("responses sent", g.responses_sent, "responses to the client", g.responses_seen);
  check.equal("RSTs sent", g.resets_sent, "RSTs to the client", g.resets_seen);
  check.equal("adopted", a.adopted, "ended by the server's RST", a.ended_server_reset);
  check.equal("ended", a.ended_server_reset, "FLOW_ENDs sent", a.flow_ends_sent);
  check.equal("FLOW_ENDs sent", a.flow_ends_sent, "FLOW_END_ACKs sent", g.flow_end_acks_sent);
  check.equal("FLOW_END_ACKs sent", g.flow_end_acks_sent, "FLOW_ENDs acked", a.flow_ends_acked);
  check.equal("frames dropped", a.frames_dropped, "their reasons", sum(a, AGENT_DROP_REASONS));
  check.zero(a, ["refused_table_full", "refused_stack_reset", "refused_stack_timeout"]);
  check.zero(a, ["refused_bad_request", "refused_stack_options", "refused_wrong_vip"]);
  check.zero(a, ["syn_retransmits", "request_retransmits", "nacks_sent", "answers_lost"]);
  check.zero(a, ["handoff_rx_bad_mac", "handoff_rx_stale", "handoffs_duplicate", "flows"]);
  check.zero(a, ["dropped_unknown_vip_flow", "flow_end_retransmits", "flow_ends_pending"]);
  check.zero(a, ["tx_no_mbuf", "handoffs_too_old", "handoffs_epochs_full"]);
  check.zero(g, ["unexpected", "nacks_seen", "no_mbuf", "sign_failed", "in_flight"], "generator ");
  return check.problems;
}

// ------------------------------------------------------------------- helpers

/** Bytes a datagram's tag covers: its 24-byte header and the body. */
function signed_bytes(body_length: number): number {
  return datagram_signed_length(body_length);
}

function sum(counters: Record<string, number>, names: readonly string[]): number {
  return names.reduce((total, name) => total + (counters[name] ?? 0), 0);
}

class Checks {
  problems: string[] = [];
  equal(a_name: string, a: number, b_name: string, b: number): void {
    if (a !== b) this.problems.push(`${a_name} (${a}) ≠ ${b_name} (${b})`);
  }
  zero(counters: Record<string, number>, names: string[], prefix = ""): void {
    for (const name of names) {
      if ((counters[name] ?? 0) !== 0) this.problems.push(`${prefix}${name} = ${counters[name]}`);
    }
  }
}
