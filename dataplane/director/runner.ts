// One round of the director pipeline, as the dataplane Worker runs it: a
// burst from the fabric port (clients, and the agents' answers), the sweep
// (timers), and the frames the director made itself (hand-off datagrams,
// its own responses).

import type { Native } from "../../native/mod.ts";
import { create_emitter, type Emitter } from "../emitter.ts";
import { type CookieKey, create_cookie_key } from "./syn_cookie.ts";
import { create_director_state, type DirectorState } from "./state.ts";
import { director_burst } from "./burst.ts";
import { director_service } from "./service.ts";
import type { DirectorPipelineSpec } from "../worker_protocol.ts";
import { open_selection_table } from "../selection_table.ts";
import { mac_hi, mac_lo } from "../packet.ts";
import { open_access_log_ring } from "../wire/mod.ts";
import { create_access_log_writer } from "./access_log.ts";
import { create_bfd_sessions, random_discriminator } from "./bfd.ts";

export interface DirectorRunner {
  state: DirectorState;
  native: Native;
  bytes: Uint8Array;
  slot: number;
  desc: Int32Array;
  queue: number;
  burst: number;
  emitter: Emitter;
  service_options: { emit: (frame: Uint8Array, port: number) => void };
}

/**
 * Limits a pipeline spec may carry beyond DirectorPipelineSpec's fields
 * (each has a default in DirectorConfig when it does not).
 */
export interface DirectorSpecLimits {
  max_request?: number;
  reading_share?: number;
  challenge_ack_limit?: number;
}

export function create_director_runner(
  native: Native,
  options: {
    spec: DirectorPipelineSpec & DirectorSpecLimits;
    slot: number;
    queue: number;
    burst: number;
    counters?: Float64Array;
  },
): DirectorRunner {
  const { spec } = options;
  const cookie_key: CookieKey = create_cookie_key(Uint8Array.from(spec.cookie_key));
  const responses = new Map(
    Object.entries(spec.responses).map(([status, body]) => [Number(status), Uint8Array.from(body)]),
  );
  const emitter = create_emitter(native, { slot: spec.emit_slot, queue: options.queue });
  const gateway = spec.gateway_mac ? Uint8Array.from(spec.gateway_mac) : undefined;
  const state = create_director_state({
    port: spec.port,
    director_mac: Uint8Array.from(spec.director_mac),
    vips: spec.vips,
    cookie_key,
    route_key: create_cookie_key(Uint8Array.from(spec.route_key)),
    // this Worker's performance.now() to the wall clock, as every director's is
    clock_offset_ms: Date.now() - performance.now(),
    ts_offset: spec.ts_offset,
    mss: spec.mss,
    max_header: spec.max_header,
    max_request: spec.max_request,
    request_timeout_ms: spec.request_timeout_ms,
    idle_timeout_ms: spec.idle_timeout_ms,
    address: spec.address,
    handoff_port: spec.handoff_port,
    gateway_mac_hi: gateway ? mac_hi(gateway, 0) : 0,
    gateway_mac_lo: gateway ? mac_lo(gateway, 0) : 0,
    epoch: spec.epoch,
    handoff_rto_ms: spec.handoff_rto_ms,
    handoff_tries: spec.handoff_tries,
    freshness_ms: spec.freshness_ms,
    max_datagram: spec.max_datagram,
    flow_capacity: spec.flow_capacity,
    max_reading: spec.max_reading,
    reading_share: spec.reading_share,
    challenge_ack_limit: spec.challenge_ack_limit,
  }, {
    counters: options.counters,
    responses,
    selection: open_selection_table(spec.selection),
    server_stats: new Float64Array(spec.server_stats),
    access_log: spec.access_log
      ? create_access_log_writer(open_access_log_ring(spec.access_log))
      : undefined,
    region: native.region(),
    io: {
      claim: emitter.claim,
      sign: native.hmac_region,
      verify: native.hmac_verify_region,
      wall_clock: Date.now,
    },
  });
  if (spec.bfd) {
    state.bfd = create_bfd_sessions(spec.bfd, {
      address: spec.address,
      mac_hi: mac_hi(state.config.director_mac, 0),
      mac_lo: mac_lo(state.config.director_mac, 0),
      port: spec.port,
      counters: state.counters,
      parse_out: state.parse_out,
      region: native.region(),
      claim: emitter.claim,
      discriminator: random_discriminator,
    });
  }
  return {
    state,
    native,
    bytes: native.region(),
    slot: options.slot,
    desc: native.slot_descriptors(options.slot),
    queue: options.queue,
    burst: options.burst,
    emitter,
    service_options: { emit: emitter.emit },
  };
}

/** One round; returns how many frames were received. */
export function director_round(runner: DirectorRunner, now: number): number {
  const { native, state, bytes, desc, slot, queue, burst } = runner;
  const n = native.rx_burst(state.config.port, queue, slot, burst);
  if (n > 0) {
    director_burst(state, bytes, desc, n, now);
    native.tx_burst(queue, slot, n);
  }
  director_service(state, now, runner.service_options);
  runner.emitter.flush();
  return n;
}
