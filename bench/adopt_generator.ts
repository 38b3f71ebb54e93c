// The agent bench's generator: a director (and its clients) on the agent's
// fabric port, and the server's kernel stack on its server port, both
// net_ring ports whose single ring is rx and tx at once: each round the
// generator takes everything the agent sent on a port, answers it and puts
// its own frames in, so the agent's next rx_burst there reads only those.
// A closed loop: at most `connections` adoptions in flight (HANDOFF sent,
// its HANDOFF_ACK not yet seen); nothing is kept per connection, every
// answer is made from the frame it answers:
//
//   fabric: HANDOFF (fresh mbuf, signed)    → the agent's SYN to the stack
//   server: that SYN, in place: SYN/ACK     → the agent's ACK + request
//   server: that request, in place: the stack's ACK + response, then its
//           RST (fresh mbuf)                → HANDOFF_ACK, the response and
//                                             the RST translated to the
//                                             client, and after the linger
//                                             the agent's FLOW_END
//   fabric: that FLOW_END, in place: FLOW_END_ACK
//
// So one connection is adopted, answered, ended and reported ended, as in
// production. The stack ends it (an RST, as a server closing with
// SO_LINGER 0 does) rather than the client with a FIN because of how
// net_ring is wired: a port's one ring is its rx and its tx, and an agent
// round sends what its fabric burst translated to the server port before
// its server burst reads that port, so a client segment would come back to
// the agent as if from the stack. Server → client frames do not have that
// problem (the generator drains the fabric ring before the agent reads it
// again). Counters say what became of every frame the agent sent; nothing
// allocates per frame.

import { DESC_WORDS, DROP, MAX_BURST, type Native } from "../native/mod.ts";
import {
  mac_hi,
  mac_lo,
  mac_to_bytes,
  read_u16,
  read_u32,
  TCP_FLAG_ACK,
  TCP_FLAG_FIN,
  TCP_FLAG_PSH,
  TCP_FLAG_RST,
  TCP_FLAG_SYN,
  TCP_OPTION_FIELDS,
  write_mac_words,
  write_u16,
  write_u32,
} from "../dataplane/mod.ts";
import {
  create_frame_address,
  create_handoff_fields,
  datagram_agent,
  datagram_epoch,
  datagram_frame_length,
  datagram_id,
  datagram_signed_length,
  datagram_type,
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
  FLAG_SACK_PERMITTED,
  FLAG_TIMESTAMPS,
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
  seal_datagram_frame,
  TYPE_FLOW_END,
  TYPE_FLOW_END_ACK,
  TYPE_HANDOFF,
  TYPE_HANDOFF_ACK,
  TYPE_HANDOFF_NACK,
  wire_clock,
  write_datagram_frame,
  write_datagram_key,
  write_handoff_state,
} from "../dataplane/wire/mod.ts";
import {
  bench_client_ip,
  BENCH_CLIENT_MAC,
  bench_client_port,
  BENCH_DIRECTOR_IP,
  BENCH_DIRECTOR_MAC,
  BENCH_HANDOFF_PORT,
  BENCH_REQUEST,
  BENCH_RESPONSE,
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
import { ip_to_u32 } from "../dataplane/mod.ts";

export const ADOPT_GENERATOR_COUNTERS = [
  "handoffs_sent",
  "syn_acks_sent",
  "responses_sent",
  "resets_sent",
  /** HANDOFF_ACKs: adoptions done. */
  "acks_seen",
  "flow_ends_seen",
  "flow_end_acks_sent",
  /** The response and the RST, translated to the client. */
  "responses_seen",
  "resets_seen",
  /** Our own frames the agent had not read yet, sent again. */
  "requeued",
  "nacks_seen",
  /** Anything else the agent sent: a connection lost somewhere. */
  "unexpected",
  "no_mbuf",
  "sign_failed",
  /** Frames the agent sent that the generator read (both ports, requeued included). */
  "frames_seen",
  /** Adoptions started and not yet answered (a gauge). */
  "in_flight",
] as const;
const G = Object.fromEntries(ADOPT_GENERATOR_COUNTERS.map((name, i) => [name, i])) as Record<
  typeof ADOPT_GENERATOR_COUNTERS[number],
  number
>;

export interface AdoptGeneratorOptions {
  fabric_port: number;
  server_port: number;
  queue: number;
  slot: number;
  connections: number;
  /** Frames per round and port at most when it can choose (the agent's burst). */
  budget: number;
  /** The agent's fabric address and id, its key's HMAC slot, and its server's MAC. */
  agent_ip: number;
  agent_id: number;
  key_slot: number;
  server_mac: string;
  /** The director's epoch in every HANDOFF. */
  epoch: number;
}

export interface AdoptGenerator {
  native: Native;
  bytes: Uint8Array;
  desc: Int32Array;
  fabric_port: number;
  server_port: number;
  queue: number;
  slot: number;
  connections: number;
  budget: number;
  key_slot: number;
  agent_id: number;
  epoch: number;
  server_mac_hi: number;
  server_mac_lo: number;
  vip: number;
  /** director → agent, the same for every HANDOFF. */
  handoff_address: Int32Array;
  /** Scratch for answers. */
  address: Int32Array;
  fields: Int32Array;
  request: Uint8Array;
  syn_ack: TcpTemplate;
  response: TcpTemplate;
  reset: TcpTemplate;
  /** Bytes of the response's payload. */
  response_length: number;
  opts: Int32Array;
  serial: number;
  counters: Float64Array;
}

export function create_adopt_generator(
  native: Native,
  options: AdoptGeneratorOptions,
): AdoptGenerator {
  const server_mac = mac_to_bytes(options.server_mac);
  const director_mac = mac_to_bytes(BENCH_DIRECTOR_MAC);
  const handoff_address = create_frame_address();
  handoff_address[FA_SRC_MAC_HI] = mac_hi(director_mac, 0);
  handoff_address[FA_SRC_MAC_LO] = mac_lo(director_mac, 0);
  handoff_address[FA_DST_MAC_HI] = mac_hi(server_mac, 0);
  handoff_address[FA_DST_MAC_LO] = mac_lo(server_mac, 0);
  handoff_address[FA_SRC_IP] = ip_to_u32(BENCH_DIRECTOR_IP);
  handoff_address[FA_DST_IP] = options.agent_ip;
  handoff_address[FA_SRC_PORT] = BENCH_HANDOFF_PORT;
  handoff_address[FA_DST_PORT] = BENCH_HANDOFF_PORT;
  // what a director records of a Linux client (handoff.ts send_handoff)
  const client_mac = mac_to_bytes(BENCH_CLIENT_MAC);
  const fields = create_handoff_fields();
  fields[HS_CLIENT_MAC_HI] = mac_hi(client_mac, 0);
  fields[HS_CLIENT_MAC_LO] = mac_lo(client_mac, 0);
  fields[HS_CLIENT_WINDOW] = 502;
  fields[HS_CLIENT_MSS] = 1460;
  fields[HS_DIRECTOR_MSS] = 1460;
  fields[HS_CLIENT_WSCALE] = 7;
  fields[HS_DIRECTOR_WSCALE] = 7;
  fields[HS_FLAGS] = FLAG_SACK_PERMITTED | FLAG_TIMESTAMPS;
  const stack = {
    src_mac: options.server_mac,
    dst_mac: BENCH_CLIENT_MAC,
    src_ip: BENCH_VIP,
    dst_ip: "198.18.16.0",
    src_port: BENCH_VIP_PORT,
    dst_port: 1024,
  };
  const ts = [{ kind: "nop" }, { kind: "nop" }, { kind: "timestamp", tsval: 0, tsecr: 0 }] as const;
  return {
    native,
    bytes: native.region(),
    desc: native.slot_descriptors(options.slot),
    fabric_port: options.fabric_port,
    server_port: options.server_port,
    queue: options.queue,
    slot: options.slot,
    connections: options.connections,
    budget: options.budget,
    key_slot: options.key_slot,
    agent_id: options.agent_id,
    epoch: options.epoch,
    server_mac_hi: mac_hi(server_mac, 0),
    server_mac_lo: mac_lo(server_mac, 0),
    vip: ip_to_u32(BENCH_VIP),
    handoff_address,
    address: create_frame_address(),
    fields,
    request: new TextEncoder().encode(BENCH_REQUEST),
    // what Linux answers a SYN with MSS, SACK, timestamps and window scale
    syn_ack: tcp_template({
      ...stack,
      flags: TCP_FLAG_SYN | TCP_FLAG_ACK,
      window: 65160,
      options: [
        { kind: "mss", value: 1460 },
        { kind: "sack_permitted" },
        { kind: "timestamp", tsval: 0, tsecr: 0 },
        { kind: "nop" },
        { kind: "wscale", shift: 7 },
      ],
    }),
    response: tcp_template({
      ...stack,
      flags: TCP_FLAG_ACK | TCP_FLAG_PSH,
      window: 502,
      options: ts,
      payload: BENCH_RESPONSE,
    }),
    // Linux's RST of a close with SO_LINGER 0: no options, no window
    reset: tcp_template({ ...stack, flags: TCP_FLAG_RST | TCP_FLAG_ACK, window: 0 }),
    response_length: new TextEncoder().encode(BENCH_RESPONSE).length,
    opts: new Int32Array(TCP_OPTION_FIELDS),
    serial: 0,
    counters: new Float64Array(ADOPT_GENERATOR_COUNTERS.length),
  };
}

export function adopt_generator_counters(g: AdoptGenerator): Record<string, number> {
  return Object.fromEntries(ADOPT_GENERATOR_COUNTERS.map((name, i) => [name, g.counters[i]]));
}

/** One round on both ports; `start`: new HANDOFFs while below the limits. */
export function adopt_generator_round(g: AdoptGenerator, wall_ms: number, start: boolean): void {
  const sent_at = wire_clock(wall_ms);
  fabric_side(g, sent_at, start);
  server_side(g, sent_at);
}

/** What the agent sent towards the director and the client. */
function fabric_side(g: AdoptGenerator, sent_at: number, start: boolean): void {
  const { native, bytes, desc } = g;
  const c = g.counters;
  const port = g.fabric_port;
  const n = native.rx_burst(port, g.queue, g.slot, MAX_BURST);
  c[G.frames_seen] += n;
  let out = 0;
  for (let i = 0; i < n; i++) {
    const d = i * DESC_WORDS;
    const o = desc[d];
    desc[d + 2] = DROP;
    if (mac_is(bytes, o, g.server_mac_hi, g.server_mac_lo)) {
      desc[d + 2] = port; // ours, not read yet: again
      c[G.requeued]++;
      out++;
      continue;
    }
    if (bytes[o + 12] !== 0x08 || bytes[o + 13] !== 0 || desc[d + 1] < TCP + 20) {
      c[G.unexpected]++;
      continue;
    }
    const protocol = bytes[o + IP + 9];
    if (protocol === 17) {
      const type = datagram_type(bytes, o + DF_DATAGRAM);
      if (type === TYPE_HANDOFF_ACK) {
        c[G.acks_seen]++;
        c[G.in_flight]--;
      } else if (type === TYPE_FLOW_END) {
        c[G.flow_ends_seen]++;
        flow_end_ack_in_place(g, o, d, sent_at);
        out++;
      } else if (type === TYPE_HANDOFF_NACK) {
        c[G.nacks_seen]++;
        c[G.in_flight]--;
      } else {
        c[G.unexpected]++;
      }
    } else if (protocol === 6) {
      // the stack's segments, translated to the client: the client has nothing to say
      const flags = bytes[o + TCP + 13];
      if ((flags & (TCP_FLAG_RST | TCP_FLAG_SYN | TCP_FLAG_FIN)) === TCP_FLAG_RST) {
        c[G.resets_seen]++;
      } else if (
        (flags & (TCP_FLAG_RST | TCP_FLAG_SYN)) === 0 && segment_payload_length(bytes, o) > 0
      ) {
        c[G.responses_seen]++;
      } else {
        c[G.unexpected]++;
      }
    } else {
      c[G.unexpected]++;
    }
  }
  let next = n;
  if (start) {
    while (c[G.in_flight] < g.connections && out < g.budget && next < MAX_BURST) {
      if (!handoff_into(g, next, sent_at)) break;
      next++;
      out++;
    }
  }
  if (next > 0) native.tx_burst(g.queue, g.slot, next);
}

/** What the agent sent towards the server's stack. */
function server_side(g: AdoptGenerator, sent_at: number): void {
  const { native, bytes, desc } = g;
  const c = g.counters;
  const port = g.server_port;
  const n = native.rx_burst(port, g.queue, g.slot, MAX_BURST);
  c[G.frames_seen] += n;
  let next = n;
  for (let i = 0; i < n; i++) {
    const d = i * DESC_WORDS;
    const o = desc[d];
    desc[d + 2] = DROP;
    if (!mac_is(bytes, o, g.server_mac_hi, g.server_mac_lo)) {
      desc[d + 2] = port; // the stack's, not read yet: again
      c[G.requeued]++;
      continue;
    }
    if (
      bytes[o + 12] !== 0x08 || bytes[o + 13] !== 0 || bytes[o + IP + 9] !== 6 ||
      desc[d + 1] < TCP + 20
    ) {
      c[G.unexpected]++;
      continue;
    }
    const flags = bytes[o + TCP + 13];
    if ((flags & (TCP_FLAG_SYN | TCP_FLAG_ACK | TCP_FLAG_RST)) === TCP_FLAG_SYN) {
      syn_ack_in_place(g, o, d, sent_at);
    } else if (
      (flags & (TCP_FLAG_RST | TCP_FLAG_SYN)) === 0 && segment_payload_length(bytes, o) > 0
    ) {
      if (next < MAX_BURST && reset_into(g, o, next)) next++;
      response_in_place(g, o, d, sent_at);
    } else {
      c[G.unexpected]++;
    }
  }
  if (next > 0) native.tx_burst(g.queue, g.slot, next);
}

/** A new hand-off: connection serial k's HANDOFF, signed, into a fresh mbuf at `at`. */
function handoff_into(g: AdoptGenerator, at: number, sent_at: number): boolean {
  const { bytes } = g;
  const request_length = g.request.length;
  const body_length = HANDOFF_FIXED_BODY_BYTES + request_length;
  const o = g.native.alloc(g.slot, at, datagram_frame_length(body_length));
  if (o < 0) {
    g.counters[G.no_mbuf]++;
    return false;
  }
  const k = g.serial++;
  write_datagram_frame(
    bytes,
    o,
    g.handoff_address,
    TYPE_HANDOFF,
    g.epoch,
    k + 1,
    body_length,
    0,
    g.agent_id,
    sent_at,
  );
  write_datagram_key(
    bytes,
    o,
    bench_client_ip(k),
    g.vip,
    (bench_client_port(k) << 16) | BENCH_VIP_PORT,
  );
  const f = g.fields;
  const director_isn = Math.imul(k + 1, 0x85ebca6b) | 0;
  f[HS_CLIENT_ISN] = Math.imul(k + 1, 0x9e3779b1) | 0;
  f[HS_DIRECTOR_ISN] = director_isn;
  f[HS_DIRECTOR_NEXT_SEQ] = (director_isn + 1) | 0;
  f[HS_CLIENT_TSVAL] = sent_at | 0;
  f[HS_DIRECTOR_TSVAL] = (sent_at + 0x10000) | 0;
  write_handoff_state(bytes, o, f, request_length);
  const request_at = handoff_request_at(o);
  bytes.set(g.request, request_at);
  write_digits(bytes, request_at + REQUEST_DIGITS_AT, REQUEST_DIGITS, k % 1e7);
  sign(g, o, body_length);
  g.desc[at * DESC_WORDS + 2] = g.fabric_port;
  g.counters[G.handoffs_sent]++;
  g.counters[G.in_flight]++;
  return true;
}

/** The agent's SYN (as the client) at o becomes the stack's SYN/ACK. */
function syn_ack_in_place(g: AdoptGenerator, o: number, d: number, sent_at: number): void {
  const { bytes, syn_ack } = g;
  const client_ip = read_u32(bytes, o + IP + 12);
  const client_port = read_u16(bytes, o + TCP);
  const client_isn = read_u32(bytes, o + TCP + 4);
  const tsval = segment_tsval(bytes, o, g.opts);
  const mac_hi_word = mac_hi(bytes, o + 6);
  const mac_lo_word = mac_lo(bytes, o + 6);
  bytes.set(syn_ack.bytes, o);
  write_mac_words(bytes, o, mac_hi_word, mac_lo_word);
  write_u32(bytes, o + IP + 16, client_ip);
  write_u16(bytes, o + TCP + 2, client_port);
  write_u32(bytes, o + TCP + 4, Math.imul(client_ip ^ client_port, 0x27d4eb2f) >>> 0);
  write_u32(bytes, o + TCP + 8, (client_isn + 1) >>> 0);
  write_u32(bytes, o + syn_ack.tsval_at, sent_at);
  write_u32(bytes, o + syn_ack.tsecr_at, tsval < 0 ? 0 : tsval);
  seal_tcp(bytes, o);
  g.desc[d + 1] = syn_ack.bytes.length;
  g.desc[d + 2] = g.server_port;
  g.counters[G.syn_acks_sent]++;
}

/** The agent's request segment at o becomes the stack's ACK with the response and its FIN. */
function response_in_place(g: AdoptGenerator, o: number, d: number, sent_at: number): void {
  const { bytes, response } = g;
  const client_ip = read_u32(bytes, o + IP + 12);
  const client_port = read_u16(bytes, o + TCP);
  const seq = read_u32(bytes, o + TCP + 4);
  const ack = read_u32(bytes, o + TCP + 8);
  const length = segment_payload_length(bytes, o);
  const tsval = segment_tsval(bytes, o, g.opts);
  const mac_hi_word = mac_hi(bytes, o + 6);
  const mac_lo_word = mac_lo(bytes, o + 6);
  bytes.set(response.bytes, o);
  write_mac_words(bytes, o, mac_hi_word, mac_lo_word);
  write_u32(bytes, o + IP + 16, client_ip);
  write_u16(bytes, o + TCP + 2, client_port);
  write_u32(bytes, o + TCP + 4, ack);
  write_u32(bytes, o + TCP + 8, (seq + length) >>> 0);
  write_u32(bytes, o + response.tsval_at, (sent_at + 1) >>> 0);
  write_u32(bytes, o + response.tsecr_at, tsval < 0 ? 0 : tsval);
  seal_tcp(bytes, o);
  g.desc[d + 1] = response.bytes.length;
  g.desc[d + 2] = g.server_port;
  g.counters[G.responses_sent]++;
}

/**
 * After the response to the request at o (read before it is rewritten):
 * the stack's RST, at the end of the response, into a fresh mbuf at `at`.
 */
function reset_into(g: AdoptGenerator, o: number, at: number): boolean {
  const { bytes, reset } = g;
  const r = g.native.alloc(g.slot, at, reset.bytes.length);
  if (r < 0) {
    g.counters[G.no_mbuf]++;
    return false;
  }
  bytes.set(reset.bytes, r);
  for (let k = 0; k < 6; k++) bytes[r + k] = bytes[o + 6 + k];
  write_u32(bytes, r + IP + 16, read_u32(bytes, o + IP + 12));
  write_u16(bytes, r + TCP + 2, read_u16(bytes, o + TCP));
  // seq: after the response (the request's ack + its length); ack: after the request
  write_u32(bytes, r + TCP + 4, (read_u32(bytes, o + TCP + 8) + g.response_length) >>> 0);
  write_u32(
    bytes,
    r + TCP + 8,
    (read_u32(bytes, o + TCP + 4) + segment_payload_length(bytes, o)) >>> 0,
  );
  seal_tcp(bytes, r);
  g.desc[at * DESC_WORDS + 2] = g.server_port;
  g.counters[G.resets_sent]++;
  return true;
}

/** The agent's FLOW_END at o, answered as the director does: FLOW_END_ACK in the same mbuf. */
function flow_end_ack_in_place(g: AdoptGenerator, o: number, d: number, sent_at: number): void {
  const { bytes } = g;
  const dg = o + DF_DATAGRAM;
  const a = g.address;
  a[FA_SRC_MAC_HI] = mac_hi(bytes, o);
  a[FA_SRC_MAC_LO] = mac_lo(bytes, o);
  a[FA_DST_MAC_HI] = mac_hi(bytes, o + 6);
  a[FA_DST_MAC_LO] = mac_lo(bytes, o + 6);
  a[FA_SRC_IP] = read_u32(bytes, o + IP + 16);
  a[FA_DST_IP] = read_u32(bytes, o + IP + 12);
  a[FA_SRC_PORT] = read_u16(bytes, o + DF_UDP + 2);
  a[FA_DST_PORT] = read_u16(bytes, o + DF_UDP);
  g.desc[d + 1] = write_datagram_frame(
    bytes,
    o,
    a,
    TYPE_FLOW_END_ACK,
    datagram_epoch(bytes, dg),
    datagram_id(bytes, dg),
    FLOW_KEY_BYTES,
    0,
    datagram_agent(bytes, dg),
    sent_at,
  );
  sign(g, o, FLOW_KEY_BYTES);
  g.desc[d + 2] = g.fabric_port;
  g.counters[G.flow_end_acks_sent]++;
}

function sign(g: AdoptGenerator, o: number, body_length: number): void {
  const dg = o + DF_DATAGRAM;
  const signed = datagram_signed_length(body_length);
  if (g.native.hmac_region(g.key_slot, dg, signed, dg + signed) !== 0) g.counters[G.sign_failed]++;
  seal_datagram_frame(g.bytes, o);
}
