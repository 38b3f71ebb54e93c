// The director bench's generator: clients and agents on the director's one
// net_ring port. net_ring's port has a single ring for rx and tx, so each
// round the generator first takes everything the director sent (one
// rx_burst of up to MAX_BURST), answers it, and puts its own frames in; the
// director's next rx_burst reads only those. A closed loop: at most
// `connections` connections are in flight, and nothing is kept per
// connection, because every answer is made from the frame it answers —
// the cookie and TSval from the real SYN/ACK, the epoch, id, agent and flow
// key from the real HANDOFF (whose tag is checked, as an agent would):
//
//   SYN (a template, fresh mbuf)           → the director's SYN/ACK
//   that SYN/ACK, rewritten in place:      ACK + GET request
//                                          → the director's ACK of it, and its HANDOFF
//   that HANDOFF, rewritten in place:      HANDOFF_ACK, then FLOW_END (fresh mbuf)
//                                          → the director's FLOW_END_ACK
//   that FLOW_END_ACK: the connection is done (its mbuf freed), a new SYN may start.
//
// The director reads one burst per round, so the generator sends at most
// `budget` frames per round when it can choose (new SYNs); answers are
// never held back, and one the director has not read yet comes back in
// the next drain and is sent again (requeued). Every frame the director
// sent lands in exactly one counter. Allocates nothing per frame; the
// HMAC is the shim's, over the mbufs.

import { DESC_WORDS, DROP, MAX_BURST, type Native } from "../native/mod.ts";
import {
  mac_hi,
  mac_lo,
  mac_to_bytes,
  read_u16,
  read_u32,
  TCP_FLAG_ACK,
  TCP_FLAG_PSH,
  TCP_FLAG_RST,
  TCP_FLAG_SYN,
  TCP_OPTION_FIELDS,
  write_u16,
  write_u32,
} from "../dataplane/mod.ts";
import {
  create_frame_address,
  datagram_agent,
  datagram_client_ip,
  datagram_epoch,
  datagram_frame_length,
  datagram_id,
  datagram_ports,
  datagram_signed_bytes,
  datagram_signed_length,
  datagram_type,
  datagram_vip,
  DF_DATAGRAM,
  DF_UDP,
  FA_DST_IP,
  FA_DST_MAC_HI,
  FA_DST_MAC_LO,
  FA_DST_PORT,
  FA_SRC_IP,
  FA_SRC_MAC_HI,
  FA_SRC_MAC_LO,
  FA_SRC_PORT,
  FLOW_END_BODY_BYTES,
  FLOW_END_FIN,
  FLOW_KEY_BYTES,
  seal_datagram_frame,
  TYPE_FLOW_END,
  TYPE_FLOW_END_ACK,
  TYPE_HANDOFF,
  TYPE_HANDOFF_ACK,
  TYPE_HANDOFF_CANCEL,
  wire_clock,
  write_datagram_frame,
  write_datagram_key,
  write_flow_end_counts,
} from "../dataplane/wire/mod.ts";
import {
  BENCH_AGENT_IP_BASE,
  bench_client_ip,
  BENCH_CLIENT_MAC,
  bench_client_port,
  BENCH_DIRECTOR_MAC,
  BENCH_REQUEST,
  BENCH_VIP,
  BENCH_VIP_PORT,
  IP,
  mac_is,
  REQUEST_DIGITS,
  REQUEST_DIGITS_AT,
  seal_tcp,
  segment_payload_length,
  segment_tsval,
  TCP,
  tcp_template,
  type TcpTemplate,
  write_digits,
} from "./generator_frames.ts";

export const HANDOFF_GENERATOR_COUNTERS = [
  "syns_sent",
  "requests_sent",
  "handoffs_seen",
  "handoff_acks_sent",
  "flow_ends_sent",
  /** FLOW_END_ACKs: connections done. */
  "completed",
  /** The director's ACKs of the requests (to the client; nothing to answer). */
  "director_acks_seen",
  /** Our own frames the director had not read yet, sent again. */
  "requeued",
  /** HANDOFFs whose tag did not verify under the agent's key. */
  "bad_tags",
  "cancels_seen",
  /** Anything else the director sent (a 503, a RST, a NACK...): a connection lost. */
  "unexpected",
  "no_mbuf",
  "sign_failed",
  /** Frames the director sent that the generator read (requeued included). */
  "frames_seen",
  /** Connections started and not yet done (a gauge). */
  "in_flight",
] as const;
const G = Object.fromEntries(HANDOFF_GENERATOR_COUNTERS.map((name, i) => [name, i])) as Record<
  typeof HANDOFF_GENERATOR_COUNTERS[number],
  number
>;

export interface HandoffGeneratorOptions {
  port: number;
  queue: number;
  /** A descriptor slot of its own. */
  slot: number;
  /** Connections in flight at most. */
  connections: number;
  /** Frames per round at most when it can choose (the director's burst). */
  budget: number;
  /** Agents 0 .. agents − 1 at BENCH_AGENT_IP_BASE + i; agent i signs with key_slots[i]. */
  key_slots: number[];
}

export interface HandoffGenerator {
  native: Native;
  bytes: Uint8Array;
  desc: Int32Array;
  port: number;
  queue: number;
  slot: number;
  connections: number;
  budget: number;
  key_slots: Int32Array;
  director_mac_hi: number;
  director_mac_lo: number;
  syn: TcpTemplate;
  request: TcpTemplate;
  /** Where the request's path digits are in the request frame. */
  digits_at: number;
  address: Int32Array;
  opts: Int32Array;
  /** Connections started (each its own 4-tuple, bench_client_ip/port). */
  serial: number;
  counters: Float64Array;
}

export function create_handoff_generator(
  native: Native,
  options: HandoffGeneratorOptions,
): HandoffGenerator {
  const director_mac = mac_to_bytes(BENCH_DIRECTOR_MAC);
  const client = {
    src_mac: BENCH_CLIENT_MAC,
    dst_mac: BENCH_DIRECTOR_MAC,
    src_ip: "198.18.16.0",
    dst_ip: BENCH_VIP,
    src_port: 1024,
    dst_port: BENCH_VIP_PORT,
  };
  // what Linux offers, and what its ACK with the first data carries
  const syn = tcp_template({
    ...client,
    flags: TCP_FLAG_SYN,
    window: 64240,
    options: [
      { kind: "mss", value: 1460 },
      { kind: "sack_permitted" },
      { kind: "timestamp", tsval: 0, tsecr: 0 },
      { kind: "nop" },
      { kind: "wscale", shift: 7 },
    ],
  });
  const request = tcp_template({
    ...client,
    flags: TCP_FLAG_ACK | TCP_FLAG_PSH,
    window: 502,
    options: [{ kind: "nop" }, { kind: "nop" }, { kind: "timestamp", tsval: 0, tsecr: 0 }],
    payload: BENCH_REQUEST,
  });
  const payload_at = request.bytes.length - BENCH_REQUEST.length;
  return {
    native,
    bytes: native.region(),
    desc: native.slot_descriptors(options.slot),
    port: options.port,
    queue: options.queue,
    slot: options.slot,
    connections: options.connections,
    budget: options.budget,
    key_slots: Int32Array.from(options.key_slots),
    director_mac_hi: mac_hi(director_mac, 0),
    director_mac_lo: mac_lo(director_mac, 0),
    syn,
    request,
    digits_at: payload_at + REQUEST_DIGITS_AT,
    address: create_frame_address(),
    opts: new Int32Array(TCP_OPTION_FIELDS),
    serial: 0,
    counters: new Float64Array(HANDOFF_GENERATOR_COUNTERS.length),
  };
}

/** The generator's counters by name. */
export function handoff_generator_counters(g: HandoffGenerator): Record<string, number> {
  return Object.fromEntries(HANDOFF_GENERATOR_COUNTERS.map((name, i) => [name, g.counters[i]]));
}

/**
 * One round: take what the director sent, answer it, start new
 * connections (when `start` and below the limits), send. Returns the
 * frames the director sent that it read.
 */
export function handoff_generator_round(
  g: HandoffGenerator,
  wall_ms: number,
  start: boolean,
): number {
  const { native, bytes, desc, port } = g;
  const c = g.counters;
  const n = native.rx_burst(port, g.queue, g.slot, MAX_BURST);
  c[G.frames_seen] += n;
  let next = n; // the next free position of the slot (fresh mbufs go after the received)
  let out = 0;
  const sent_at = wire_clock(wall_ms);
  for (let i = 0; i < n; i++) {
    const d = i * DESC_WORDS;
    const o = desc[d];
    desc[d + 2] = DROP;
    if (!mac_is(bytes, o + 6, g.director_mac_hi, g.director_mac_lo)) {
      // ours, sent after the director's burst was full: it is read next round
      desc[d + 2] = port;
      c[G.requeued]++;
      out++;
      continue;
    }
    const protocol = bytes[o + IP + 9];
    if (bytes[o + 12] !== 0x08 || bytes[o + 13] !== 0 || desc[d + 1] < TCP + 20) {
      c[G.unexpected]++;
    } else if (protocol === 6) {
      const flags = bytes[o + TCP + 13];
      if (
        (flags & (TCP_FLAG_SYN | TCP_FLAG_ACK | TCP_FLAG_RST)) === (TCP_FLAG_SYN | TCP_FLAG_ACK)
      ) {
        request_in_place(g, o, d);
        out++;
      } else if (flags === TCP_FLAG_ACK && segment_payload_length(bytes, o) === 0) {
        c[G.director_acks_seen]++;
      } else {
        c[G.unexpected]++;
      }
    } else if (protocol === 17) {
      const type = datagram_type(bytes, o + DF_DATAGRAM);
      if (type === TYPE_HANDOFF) {
        c[G.handoffs_seen]++;
        if (answer_handoff(g, o, d, next, sent_at)) {
          next++;
          out++;
        }
        if (desc[d + 2] === port) out++;
      } else if (type === TYPE_FLOW_END_ACK) {
        c[G.completed]++;
        c[G.in_flight]--;
      } else if (type === TYPE_HANDOFF_CANCEL) {
        c[G.cancels_seen]++;
      } else {
        c[G.unexpected]++;
      }
    } else {
      c[G.unexpected]++;
    }
  }
  if (start) {
    while (c[G.in_flight] < g.connections && out < g.budget && next < MAX_BURST) {
      if (!syn_into(g, next, sent_at)) break;
      next++;
      out++;
    }
  }
  if (next > 0) native.tx_burst(g.queue, g.slot, next);
  return n;
}

/** A new connection's SYN into a fresh mbuf at slot position `at`. */
function syn_into(g: HandoffGenerator, at: number, sent_at: number): boolean {
  const { bytes, syn } = g;
  const o = g.native.alloc(g.slot, at, syn.bytes.length);
  if (o < 0) {
    g.counters[G.no_mbuf]++;
    return false;
  }
  const k = g.serial++;
  bytes.set(syn.bytes, o);
  write_u32(bytes, o + IP + 12, bench_client_ip(k));
  write_u16(bytes, o + TCP, bench_client_port(k));
  write_u32(bytes, o + TCP + 4, Math.imul(k + 1, 0x9e3779b1) >>> 0);
  write_u32(bytes, o + syn.tsval_at, sent_at);
  seal_tcp(bytes, o);
  g.desc[at * DESC_WORDS + 2] = g.port;
  g.counters[G.syns_sent]++;
  g.counters[G.in_flight]++;
  return true;
}

/**
 * The director's SYN/ACK at o becomes the client's ACK with the request:
 * ack = cookie + 1, TSecr = the director's TSval (which carries the
 * cookie's option bits), seq = what the SYN/ACK acknowledged.
 */
function request_in_place(g: HandoffGenerator, o: number, d: number): void {
  const { bytes, request } = g;
  const client_ip = read_u32(bytes, o + IP + 16);
  const client_port = read_u16(bytes, o + TCP + 2);
  const cookie = read_u32(bytes, o + TCP + 4);
  const seq = read_u32(bytes, o + TCP + 8);
  const tsval = segment_tsval(bytes, o, g.opts);
  bytes.set(request.bytes, o);
  write_u32(bytes, o + IP + 12, client_ip);
  write_u16(bytes, o + TCP, client_port);
  write_u32(bytes, o + TCP + 4, seq);
  write_u32(bytes, o + TCP + 8, (cookie + 1) >>> 0);
  write_u32(bytes, o + request.tsval_at, (seq ^ 0x5a5a) >>> 0);
  write_u32(bytes, o + request.tsecr_at, tsval < 0 ? 0 : tsval);
  // a different path per request spreads them over the agents (URL hash)
  write_digits(bytes, o + g.digits_at, REQUEST_DIGITS, g.counters[G.requests_sent] % 1e7);
  seal_tcp(bytes, o);
  g.desc[d + 1] = request.bytes.length;
  g.desc[d + 2] = g.port;
  g.counters[G.requests_sent]++;
}

/**
 * The HANDOFF at o, as its agent answers it: checked under the agent's
 * key, then HANDOFF_ACK in its own mbuf and the flow's FLOW_END in a fresh
 * one at slot position `at`. True when that fresh mbuf was used.
 */
function answer_handoff(
  g: HandoffGenerator,
  o: number,
  d: number,
  at: number,
  sent_at: number,
): boolean {
  const { bytes, native } = g;
  const c = g.counters;
  const dg = o + DF_DATAGRAM;
  const agent = (read_u32(bytes, o + IP + 16) - BENCH_AGENT_IP_BASE) >>> 0;
  if (agent >= g.key_slots.length) {
    c[G.unexpected]++;
    return false;
  }
  const key_slot = g.key_slots[agent];
  const signed = datagram_signed_bytes(bytes, dg);
  if (native.hmac_verify_region(key_slot, dg, signed, dg + signed) !== 1) {
    c[G.bad_tags]++;
    return false;
  }
  const epoch = datagram_epoch(bytes, dg);
  const id = datagram_id(bytes, dg);
  const agent_id = datagram_agent(bytes, dg);
  // back where it came from, from the agent's MAC, address and port
  const a = g.address;
  a[FA_SRC_MAC_HI] = mac_hi(bytes, o);
  a[FA_SRC_MAC_LO] = mac_lo(bytes, o);
  a[FA_DST_MAC_HI] = mac_hi(bytes, o + 6);
  a[FA_DST_MAC_LO] = mac_lo(bytes, o + 6);
  a[FA_SRC_IP] = read_u32(bytes, o + IP + 16);
  a[FA_DST_IP] = read_u32(bytes, o + IP + 12);
  a[FA_SRC_PORT] = read_u16(bytes, o + DF_UDP + 2);
  a[FA_DST_PORT] = read_u16(bytes, o + DF_UDP);
  let used = false;
  if (at < MAX_BURST) {
    const f = native.alloc(g.slot, at, datagram_frame_length(FLOW_END_BODY_BYTES));
    if (f < 0) {
      c[G.no_mbuf]++;
    } else {
      used = true;
      write_datagram_frame(
        bytes,
        f,
        a,
        TYPE_FLOW_END,
        epoch,
        id,
        FLOW_END_BODY_BYTES,
        FLOW_END_FIN,
        agent_id,
        sent_at,
      );
      write_datagram_key(
        bytes,
        f,
        datagram_client_ip(bytes, dg),
        datagram_vip(bytes, dg),
        datagram_ports(bytes, dg),
      );
      write_flow_end_counts(bytes, f, 3, 2);
      sign(g, key_slot, f, FLOW_END_BODY_BYTES);
      g.desc[at * DESC_WORDS + 2] = g.port;
      c[G.flow_ends_sent]++;
    }
  }
  // the flow key is where the HANDOFF had it (every body starts with it)
  g.desc[d + 1] = write_datagram_frame(
    bytes,
    o,
    a,
    TYPE_HANDOFF_ACK,
    epoch,
    id,
    FLOW_KEY_BYTES,
    0,
    agent_id,
    sent_at,
  );
  sign(g, key_slot, o, FLOW_KEY_BYTES);
  g.desc[d + 2] = g.port;
  c[G.handoff_acks_sent]++;
  return used;
}

function sign(g: HandoffGenerator, key_slot: number, o: number, body_length: number): void {
  const dg = o + DF_DATAGRAM;
  const signed = datagram_signed_length(body_length);
  if (g.native.hmac_region(key_slot, dg, signed, dg + signed) !== 0) g.counters[G.sign_failed]++;
  seal_datagram_frame(g.bytes, o);
}
