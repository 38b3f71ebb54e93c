// BFD on the director's own fabric address (RFC 5880 asynchronous mode,
// single hop as RFC 5881 has it), so the routing daemon next to a director
// (BIRD, whose static route to the VIPs goes via the director's address
// with `bfd`) sees within a few packet intervals that this dataplane has
// stopped forwarding, and withdraws it from the routers' ECMP set. It runs
// in the poll loop, beside the packets it vouches for: a BFD session that is
// Up means this very loop is alive.
//
// The director is passive (RFC 5880 section 6.1): it never opens a session,
// it answers the peers that open one, learning each from its first packet
// (Your Discriminator 0, state Down) into a small fixed table
// (BFD_MAX_SESSIONS); a session whose peer has been silent for BFD_FORGET_MS
// gives its slot back. Received packets are read in the burst (bfd_receive),
// consumed and counted; what the director sends is built by the service
// pass (bfd_service): periodic packets at the negotiated interval less
// RFC 5880's jitter, a Final as soon as a peer polls, and one at once after
// each state change. GTSM (RFC 5881 section 5): only TTL 255 is accepted and
// everything is sent with TTL 255, from a source port in 49152..65535 that
// stays the session's.
//
// Nothing here allocates per packet or throws: a packet that is not BFD as
// RFC 5880 section 6.8.6 wants it is dropped and counted under one reason
// (dropped_bfd_malformed, dropped_bfd_ttl, dropped_bfd_no_session); an
// accepted one counts bfd_rx.

import { udp_checksum_ok } from "../checksum.ts";
import { L3_OFFSET, mac_hi, mac_lo, PAYLOAD_LENGTH, PAYLOAD_OFFSET, SRC_IP } from "../packet.ts";
import {
  BF_DESIRED_MIN_TX,
  BF_DETECT_MULT,
  BF_DIAG,
  BF_FLAGS,
  BF_MY_DISCR,
  BF_REQUIRED_MIN_ECHO_RX,
  BF_REQUIRED_MIN_RX,
  BF_STATE,
  BF_YOUR_DISCR,
  BFD_ADMIN_DOWN,
  BFD_DIAG_DETECTION_EXPIRED,
  BFD_DIAG_NEIGHBOR_DOWN,
  BFD_DIAG_NONE,
  BFD_DOWN,
  BFD_FLAG_CPI,
  BFD_FLAG_FINAL,
  BFD_FLAG_POLL,
  BFD_FRAME_LENGTH,
  BFD_INIT,
  bfd_read,
  BFD_READ_OK,
  BFD_SOURCE_PORT_MAX,
  BFD_SOURCE_PORT_MIN,
  BFD_TTL,
  BFD_UP,
  create_bfd_fields,
  create_frame_address,
  FA_DST_IP,
  FA_DST_MAC_HI,
  FA_DST_MAC_LO,
  FA_SRC_IP,
  FA_SRC_MAC_HI,
  FA_SRC_MAC_LO,
  FA_SRC_PORT,
  write_bfd_frame,
} from "../wire/mod.ts";
import { C } from "./state.ts";

export { BFD_PORT } from "../wire/mod.ts";

/** Sessions the director keeps at once: one per routing daemon peer, a few per host. */
export const BFD_MAX_SESSIONS = 8;
/**
 * Desired Min TX while a session is not Up: RFC 5880 section 6.8.3 says at
 * least one second, so a peer that is down costs a packet a second.
 */
export const BFD_SLOW_TX_US = 1_000_000;
/** A peer silent this long (its session Down) is forgotten and its slot free again. */
export const BFD_FORGET_MS = 60_000;

/** The director's BFD parameters (config director.bfd). */
export interface BfdConfig {
  /** Required Min RX Interval we announce (ms). */
  min_rx_ms: number;
  /** Desired Min TX Interval once a session is Up (ms). */
  min_tx_ms: number;
  /** Detect Mult we announce: the peer declares us down after this many intervals of silence. */
  multiplier: number;
}

/** What the sessions need of the director: its address and MAC, its port, a fresh mbuf. */
export interface BfdHost {
  /** The director's fabric address (u32): sessions answer only there. */
  address: number;
  mac_hi: number;
  mac_lo: number;
  port: number;
  counters: Float64Array;
  /** The parse of the frame in hand (the burst's parse_out). */
  parse_out: Int32Array;
  /** The packet region and a fresh mbuf of `length` bytes in it (−1: pool empty). */
  region: Uint8Array;
  claim: (length: number, port: number) => number;
  /** A session's discriminator: any u32 but 0 (random in the dataplane, fixed in tests). */
  discriminator: () => number;
}

/** The table of sessions, one slot per peer, as typed arrays (no object per session). */
export interface BfdSessions {
  config: BfdConfig;
  host: BfdHost;
  used: Uint8Array;
  peer_ip: Int32Array;
  peer_mac_hi: Int32Array;
  peer_mac_lo: Int32Array;
  /** The UDP source port the session sends from (RFC 5881: one per session). */
  source_port: Int32Array;
  state: Int32Array;
  remote_state: Int32Array;
  diag: Int32Array;
  local_discr: Float64Array;
  remote_discr: Float64Array;
  /** The peer's Required Min RX and Desired Min TX (µs) and Detect Mult, as last received. */
  remote_min_rx_us: Float64Array;
  remote_min_tx_us: Float64Array;
  remote_multiplier: Int32Array;
  /** The Desired Min TX we announce now (µs): BFD_SLOW_TX_US until Up. */
  desired_min_tx_us: Float64Array;
  /** A Poll Sequence of ours is running (our timing changed): P on every packet until an F. */
  polling: Uint8Array;
  /** The peer polled: a packet with F goes out at the next service pass. */
  final_due: Uint8Array;
  /** Send at the next service pass whatever the timer says (a state change). */
  send_now: Uint8Array;
  /** When the next periodic packet is due, the detection time runs out, the last packet came (ms). */
  next_tx: Float64Array;
  detect_at: Float64Array;
  last_rx: Float64Array;
  /** Scratch: one packet's fields, one frame's addresses. */
  fields: Float64Array;
  address: Int32Array;
}

export function create_bfd_sessions(config: BfdConfig, host: BfdHost): BfdSessions {
  const n = BFD_MAX_SESSIONS;
  return {
    config,
    host,
    used: new Uint8Array(n),
    peer_ip: new Int32Array(n),
    peer_mac_hi: new Int32Array(n),
    peer_mac_lo: new Int32Array(n),
    source_port: new Int32Array(n),
    state: new Int32Array(n),
    remote_state: new Int32Array(n),
    diag: new Int32Array(n),
    local_discr: new Float64Array(n),
    remote_discr: new Float64Array(n),
    remote_min_rx_us: new Float64Array(n),
    remote_min_tx_us: new Float64Array(n),
    remote_multiplier: new Int32Array(n),
    desired_min_tx_us: new Float64Array(n),
    polling: new Uint8Array(n),
    final_due: new Uint8Array(n),
    send_now: new Uint8Array(n),
    next_tx: new Float64Array(n),
    detect_at: new Float64Array(n),
    last_rx: new Float64Array(n),
    fields: create_bfd_fields(),
    address: create_frame_address(),
  };
}

/** A random discriminator, never 0 (RFC 5880: unique and nonzero). */
export function random_discriminator(): number {
  return 1 + Math.floor(Math.random() * 0xfffffffe);
}

// ------------------------------------------------------------------ receive

/**
 * A UDP frame to the director's address at port 3784 (burst.ts, after
 * parse_frame): checked, given to its session (found by Your Discriminator,
 * or by the peer's address when that is 0, or learned), and consumed.
 */
export function bfd_receive(
  sessions: BfdSessions,
  bytes: Uint8Array,
  o: number,
  now: number,
): void {
  const { host, fields } = sessions;
  const c = host.counters;
  const out = host.parse_out;
  const ip = out[L3_OFFSET];
  if (bytes[ip + 8] !== BFD_TTL) {
    c[C.dropped_bfd_ttl]++; // GTSM: not from a neighbour on this link
    return;
  }
  if (
    !udp_checksum_ok(bytes, ip) ||
    bfd_read(bytes, out[PAYLOAD_OFFSET], out[PAYLOAD_LENGTH], fields) !== BFD_READ_OK
  ) {
    c[C.dropped_bfd_malformed]++;
    return;
  }
  const peer = out[SRC_IP];
  const your = fields[BF_YOUR_DISCR];
  let s = -1;
  if (your !== 0) {
    s = find_by_discriminator(sessions, your);
    // a discriminator that is ours, from another address: not that session's peer
    if (s >= 0 && sessions.peer_ip[s] !== peer) s = -1;
  } else if (fields[BF_STATE] === BFD_DOWN || fields[BF_STATE] === BFD_ADMIN_DOWN) {
    s = find_by_peer(sessions, peer);
    if (s < 0) s = learn(sessions, peer, now);
  }
  if (s < 0) {
    c[C.dropped_bfd_no_session]++;
    return;
  }
  c[C.bfd_rx]++;
  sessions.peer_mac_hi[s] = mac_hi(bytes, o + 6);
  sessions.peer_mac_lo[s] = mac_lo(bytes, o + 6);
  update_session(sessions, s, now);
}

/** RFC 5880 section 6.8.6 from "Set bfd.RemoteDiscr": the session takes the packet in fields. */
function update_session(sessions: BfdSessions, s: number, now: number): void {
  const { fields, config } = sessions;
  const flags = fields[BF_FLAGS];
  sessions.remote_discr[s] = fields[BF_MY_DISCR];
  sessions.remote_state[s] = fields[BF_STATE];
  sessions.remote_min_rx_us[s] = fields[BF_REQUIRED_MIN_RX];
  sessions.remote_min_tx_us[s] = fields[BF_DESIRED_MIN_TX];
  sessions.remote_multiplier[s] = fields[BF_DETECT_MULT];
  sessions.last_rx[s] = now;
  if ((flags & BFD_FLAG_FINAL) !== 0) sessions.polling[s] = 0;
  if ((flags & BFD_FLAG_POLL) !== 0) sessions.final_due[s] = 1;
  // the peer's agreed transmit interval, times its multiplier
  const interval_us = Math.max(config.min_rx_ms * 1000, fields[BF_DESIRED_MIN_TX]);
  sessions.detect_at[s] = now + (fields[BF_DETECT_MULT] * interval_us) / 1000;
  const state = sessions.state[s];
  const remote = fields[BF_STATE];
  if (remote === BFD_ADMIN_DOWN) {
    if (state !== BFD_DOWN) set_state(sessions, s, BFD_DOWN, BFD_DIAG_NEIGHBOR_DOWN, now);
  } else if (state === BFD_DOWN) {
    if (remote === BFD_DOWN) set_state(sessions, s, BFD_INIT, BFD_DIAG_NONE, now);
    else if (remote === BFD_INIT) set_state(sessions, s, BFD_UP, BFD_DIAG_NONE, now);
  } else if (state === BFD_INIT) {
    if (remote === BFD_INIT || remote === BFD_UP) {
      set_state(sessions, s, BFD_UP, BFD_DIAG_NONE, now);
    }
  } else if (state === BFD_UP && remote === BFD_DOWN) {
    set_state(sessions, s, BFD_DOWN, BFD_DIAG_NEIGHBOR_DOWN, now);
  }
}

function find_by_discriminator(sessions: BfdSessions, discriminator: number): number {
  for (let s = 0; s < BFD_MAX_SESSIONS; s++) {
    if (sessions.used[s] === 1 && sessions.local_discr[s] === discriminator) return s;
  }
  return -1;
}

function find_by_peer(sessions: BfdSessions, peer: number): number {
  for (let s = 0; s < BFD_MAX_SESSIONS; s++) {
    if (sessions.used[s] === 1 && sessions.peer_ip[s] === peer) return s;
  }
  return -1;
}

/** A new session (Down) for a peer that opened one; −1 when every slot is taken. */
function learn(sessions: BfdSessions, peer: number, now: number): number {
  for (let s = 0; s < BFD_MAX_SESSIONS; s++) {
    if (sessions.used[s] === 1) continue;
    let discriminator = sessions.host.discriminator() >>> 0;
    // unique among ours, and never 0 (a 0 Your Discriminator means "unknown")
    while (discriminator === 0 || find_by_discriminator(sessions, discriminator) >= 0) {
      discriminator = (discriminator + 1) >>> 0;
    }
    sessions.used[s] = 1;
    sessions.peer_ip[s] = peer;
    sessions.local_discr[s] = discriminator;
    sessions.remote_discr[s] = 0;
    sessions.source_port[s] = BFD_SOURCE_PORT_MIN +
      (discriminator % (BFD_SOURCE_PORT_MAX - BFD_SOURCE_PORT_MIN + 1));
    sessions.state[s] = BFD_DOWN;
    sessions.remote_state[s] = BFD_DOWN;
    sessions.diag[s] = BFD_DIAG_NONE;
    sessions.desired_min_tx_us[s] = BFD_SLOW_TX_US;
    sessions.polling[s] = 0;
    sessions.final_due[s] = 0;
    sessions.send_now[s] = 0;
    sessions.next_tx[s] = now;
    sessions.detect_at[s] = 0;
    sessions.last_rx[s] = now;
    return s;
  }
  return -1;
}

/**
 * A state change: counted, the sessions-up gauge recounted, our Desired
 * Min TX moved (fast only while Up) with a Poll Sequence because it
 * changed (RFC 5880 section 6.8.3), and a packet sent at once.
 */
function set_state(sessions: BfdSessions, s: number, state: number, diag: number, now: number) {
  const c = sessions.host.counters;
  sessions.state[s] = state;
  sessions.diag[s] = diag;
  c[C.bfd_state_changes]++;
  const desired = state === BFD_UP ? sessions.config.min_tx_ms * 1000 : BFD_SLOW_TX_US;
  if (desired !== sessions.desired_min_tx_us[s]) {
    sessions.desired_min_tx_us[s] = desired;
    sessions.polling[s] = 1;
  }
  if (state === BFD_DOWN) {
    sessions.detect_at[s] = 0;
    sessions.polling[s] = 0; // nothing to negotiate with a peer we declared down
  }
  sessions.send_now[s] = 1;
  sessions.next_tx[s] = now;
  let up = 0;
  for (let k = 0; k < BFD_MAX_SESSIONS; k++) {
    if (sessions.used[k] === 1 && sessions.state[k] === BFD_UP) up++;
  }
  c[C.bfd_sessions_up] = up;
}

// ------------------------------------------------------------------ service

/**
 * The service pass (service.ts): detection times that ran out take their
 * session Down, silent peers are forgotten, and every session whose packet
 * is due (its timer, a Final, a state change) gets one.
 */
export function bfd_service(sessions: BfdSessions, now: number): void {
  for (let s = 0; s < BFD_MAX_SESSIONS; s++) {
    if (sessions.used[s] === 0) continue;
    const state = sessions.state[s];
    if ((state === BFD_INIT || state === BFD_UP) && now > sessions.detect_at[s]) {
      set_state(sessions, s, BFD_DOWN, BFD_DIAG_DETECTION_EXPIRED, now);
      // RFC 5880 section 6.8.1: a Detection Time without a packet zeroes RemoteDiscr
      sessions.remote_discr[s] = 0;
    }
    if (now - sessions.last_rx[s] > BFD_FORGET_MS) {
      sessions.used[s] = 0;
      continue;
    }
    // passive: nothing to a peer we have not heard since it was declared down,
    // nothing periodic to one that asks for none (Required Min RX 0)
    if (sessions.remote_discr[s] === 0) continue;
    const due = sessions.final_due[s] === 1 || sessions.send_now[s] === 1 ||
      (sessions.remote_min_rx_us[s] !== 0 && now >= sessions.next_tx[s]);
    if (due) send(sessions, s, now);
  }
}

/**
 * The negotiated transmit interval (ms): our Desired Min TX or the peer's
 * Required Min RX, whichever is slower.
 */
export function bfd_tx_interval_ms(sessions: BfdSessions, s: number): number {
  return Math.max(sessions.desired_min_tx_us[s], sessions.remote_min_rx_us[s]) / 1000;
}

/**
 * The time to the next periodic packet: the interval less 0-25 % (RFC 5880
 * section 6.8.7), or 10-25 % when our multiplier is 1, so that peers never
 * synchronise and one late packet is not a missed one.
 */
export function bfd_jittered_ms(interval_ms: number, multiplier: number, random: number): number {
  const factor = multiplier === 1 ? 0.9 - 0.15 * random : 1 - 0.25 * random;
  return interval_ms * factor;
}

function send(sessions: BfdSessions, s: number, now: number): void {
  const { host, fields, address, config } = sessions;
  const final = sessions.final_due[s] === 1;
  sessions.final_due[s] = 0;
  sessions.send_now[s] = 0;
  sessions.next_tx[s] = now +
    bfd_jittered_ms(bfd_tx_interval_ms(sessions, s), config.multiplier, Math.random());
  const o = host.claim(BFD_FRAME_LENGTH, host.port);
  if (o < 0) {
    host.counters[C.tx_no_mbuf]++; // the next interval tries again
    return;
  }
  fields[BF_DIAG] = sessions.diag[s];
  fields[BF_STATE] = sessions.state[s];
  // P and F never together (RFC 5880 section 6.5): a Final first, the Poll on the next packet.
  // C: this BFD runs in the forwarding plane it reports on.
  fields[BF_FLAGS] = BFD_FLAG_CPI |
    (final ? BFD_FLAG_FINAL : (sessions.polling[s] === 1 ? BFD_FLAG_POLL : 0));
  fields[BF_DETECT_MULT] = config.multiplier;
  fields[BF_MY_DISCR] = sessions.local_discr[s];
  fields[BF_YOUR_DISCR] = sessions.remote_discr[s];
  fields[BF_DESIRED_MIN_TX] = sessions.desired_min_tx_us[s];
  fields[BF_REQUIRED_MIN_RX] = config.min_rx_ms * 1000;
  fields[BF_REQUIRED_MIN_ECHO_RX] = 0;
  address[FA_DST_MAC_HI] = sessions.peer_mac_hi[s];
  address[FA_DST_MAC_LO] = sessions.peer_mac_lo[s];
  address[FA_SRC_MAC_HI] = host.mac_hi;
  address[FA_SRC_MAC_LO] = host.mac_lo;
  address[FA_SRC_IP] = host.address;
  address[FA_DST_IP] = sessions.peer_ip[s];
  address[FA_SRC_PORT] = sessions.source_port[s];
  write_bfd_frame(host.region, o, address, fields);
  host.counters[C.bfd_tx]++;
}

/** One session as plain data, for tests and diagnostics (allocates: not for the poll loop). */
export function bfd_session_info(sessions: BfdSessions, s: number) {
  return {
    used: sessions.used[s] === 1,
    peer_ip: sessions.peer_ip[s] >>> 0,
    state: sessions.state[s],
    remote_state: sessions.remote_state[s],
    diag: sessions.diag[s],
    local_discr: sessions.local_discr[s],
    remote_discr: sessions.remote_discr[s],
    desired_min_tx_us: sessions.desired_min_tx_us[s],
    polling: sessions.polling[s] === 1,
    detect_at: sessions.detect_at[s],
    next_tx: sessions.next_tx[s],
    source_port: sessions.source_port[s],
  };
}
