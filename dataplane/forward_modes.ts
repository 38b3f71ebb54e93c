// testpmd's forwarding modes (io, mac, macswap) and baton's "rewrite" fast
// path, each a function over a whole burst: the frames sit in one region
// view, addressed by the descriptor table [offset, length, action, spare]
// per frame. Nothing here allocates or throws; a frame that cannot be
// handled is counted and dropped (action DROP).

import { DESC_WORDS, DROP } from "../native/mod.ts";

/** Counter words per pipeline, in a shared Float64Array. */
export const COUNTER_RX = 0;
export const COUNTER_TX = 1;
export const COUNTER_DROPPED = 2;
export const COUNTER_RUNT = 3;
export const COUNTER_NOT_TCP = 4;
export const COUNTER_BURSTS = 5;
export const COUNTER_IDLE_SLEEPS = 6;
export const COUNTER_WORDS = 8;

const ETHER_HEADER = 14;

/** io: frames leave unchanged on the tx port. */
export function io_burst(desc: Int32Array, n: number, tx_port: number): void {
  for (let i = 0; i < n; i++) desc[i * DESC_WORDS + 2] = tx_port;
}

/** mac: source becomes the tx port's MAC, destination the peer's (testpmd macfwd). */
export function mac_burst(
  bytes: Uint8Array,
  desc: Int32Array,
  n: number,
  rewrite: { tx_port: number; src_mac: Uint8Array; dst_mac: Uint8Array; counters: Float64Array },
): void {
  const { tx_port, src_mac, dst_mac, counters } = rewrite;
  for (let i = 0; i < n; i++) {
    const d = i * DESC_WORDS;
    const o = desc[d];
    if (desc[d + 1] < ETHER_HEADER) {
      desc[d + 2] = DROP;
      counters[COUNTER_RUNT]++;
      continue;
    }
    for (let k = 0; k < 6; k++) {
      bytes[o + k] = dst_mac[k];
      bytes[o + 6 + k] = src_mac[k];
    }
    desc[d + 2] = tx_port;
  }
}

/** What macswap needs: the tx port, counters, and a 16-bit view of the region. */
export interface MacswapParams {
  tx_port: number;
  counters: Float64Array;
  /** The same memory as bytes, as 16-bit words: a MAC swap is three word swaps. */
  words: Uint16Array;
}

/** macswap: source and destination MACs trade places (testpmd macswap). */
export function macswap_burst(
  bytes: Uint8Array,
  desc: Int32Array,
  n: number,
  params: MacswapParams,
): void {
  const { tx_port, counters, words } = params;
  for (let i = 0; i < n; i++) {
    const d = i * DESC_WORDS;
    const o = desc[d];
    if (desc[d + 1] < ETHER_HEADER) {
      desc[d + 2] = DROP;
      counters[COUNTER_RUNT]++;
      continue;
    }
    if ((o & 1) === 0) swap_mac_words(words, o >> 1);
    else swap_macs(bytes, o);
    desc[d + 2] = tx_port;
  }
}

/** Swaps the MACs of the frame whose first 16-bit word is at index w. */
function swap_mac_words(words: Uint16Array, w: number): void {
  let t = words[w];
  words[w] = words[w + 3];
  words[w + 3] = t;
  t = words[w + 1];
  words[w + 1] = words[w + 4];
  words[w + 4] = t;
  t = words[w + 2];
  words[w + 2] = words[w + 5];
  words[w + 5] = t;
}

function swap_macs(bytes: Uint8Array, o: number): void {
  for (let k = 0; k < 6; k++) {
    const t = bytes[o + k];
    bytes[o + k] = bytes[o + 6 + k];
    bytes[o + 6 + k] = t;
  }
}

/** The rewrite fast path's parameters: what the agent's translation does per packet. */
export interface RewriteParams {
  tx_port: number;
  /** New IPv4 destination, host order u32. */
  dst_ip: number;
  /** Added to the TCP sequence number, modulo 2^32. */
  seq_delta: number;
  counters: Float64Array;
  /** The region as 16-bit words (same memory as bytes). */
  words: Uint16Array;
}

/**
 * rewrite: MAC swap, IPv4 destination rewrite, TCP sequence += seq_delta,
 * and both checksums updated incrementally (RFC 1624): the old and new
 * 16-bit words of every changed field are summed once and folded into each
 * checksum, never a full recompute. Frames that are not untagged IPv4/TCP
 * with a complete TCP header are counted and dropped.
 *
 * A 2-aligned frame (the usual case: mbuf data starts at an even offset) is
 * rewritten through 16-bit words in memory order. The one's complement sum
 * does not care about byte order (RFC 1071), so the checksums are updated
 * on byte-swapped words as they are; only the sequence number is swapped
 * for the addition.
 */
export function rewrite_burst(
  bytes: Uint8Array,
  desc: Int32Array,
  n: number,
  params: RewriteParams,
): void {
  const { tx_port, counters, words } = params;
  const new_dst_hi = params.dst_ip >>> 16;
  const new_dst_lo = params.dst_ip & 0xffff;
  const new_dst_hi_word = swap16(new_dst_hi);
  const new_dst_lo_word = swap16(new_dst_lo);
  const seq_delta = params.seq_delta >>> 0;
  for (let i = 0; i < n; i++) {
    const d = i * DESC_WORDS;
    const o = desc[d];
    const len = desc[d + 1];
    const ip = o + ETHER_HEADER;
    // untagged IPv4, TCP, header complete
    if (
      len < ETHER_HEADER + 40 || bytes[o + 12] !== 0x08 || bytes[o + 13] !== 0x00 ||
      (bytes[ip] >> 4) !== 4 || bytes[ip + 9] !== 6
    ) {
      desc[d + 2] = DROP;
      counters[COUNTER_NOT_TCP]++;
      continue;
    }
    const ihl = (bytes[ip] & 0x0f) << 2;
    const tcp = ip + ihl;
    if (ihl < 20 || tcp + 20 > o + len) {
      desc[d + 2] = DROP;
      counters[COUNTER_NOT_TCP]++;
      continue;
    }
    desc[d + 2] = tx_port;
    if ((o & 1) !== 0) {
      rewrite_unaligned(bytes, o, tcp, params);
      continue;
    }
    const w = o >> 1;
    swap_mac_words(words, w);
    const ip_w = ip >> 1;
    const tcp_w = tcp >> 1;
    // IPv4 destination: (~old + new) over its two words goes into the IP
    // checksum and, through the pseudo-header, into the TCP checksum
    const old_hi = words[ip_w + 8];
    const old_lo = words[ip_w + 9];
    words[ip_w + 8] = new_dst_hi_word;
    words[ip_w + 9] = new_dst_lo_word;
    const addr_sum = (~old_hi & 0xffff) + (~old_lo & 0xffff) + new_dst_hi_word + new_dst_lo_word;
    fold_into_word(words, ip_w + 5, addr_sum);
    // TCP sequence number: big-endian in memory, so swapped for the addition
    const seq_hi = words[tcp_w + 2];
    const seq_lo = words[tcp_w + 3];
    const new_seq = (((swap16(seq_hi) << 16) | swap16(seq_lo)) + seq_delta) >>> 0;
    const new_seq_hi = swap16(new_seq >>> 16);
    const new_seq_lo = swap16(new_seq & 0xffff);
    words[tcp_w + 2] = new_seq_hi;
    words[tcp_w + 3] = new_seq_lo;
    const seq_sum = (~seq_hi & 0xffff) + (~seq_lo & 0xffff) + new_seq_hi + new_seq_lo;
    fold_into_word(words, tcp_w + 8, addr_sum + seq_sum);
  }
}

function swap16(value: number): number {
  return ((value & 0xff) << 8) | (value >>> 8);
}

/** HC' = ~(~HC + sum), RFC 1624 eqn. 3, on the checksum word at index w. */
function fold_into_word(words: Uint16Array, w: number, sum: number): void {
  let s = (~words[w] & 0xffff) + sum;
  s = (s & 0xffff) + (s >>> 16);
  s = (s & 0xffff) + (s >>> 16);
  words[w] = ~s & 0xffff;
}

/** The same rewrite, byte by byte, for a frame at an odd offset. */
function rewrite_unaligned(bytes: Uint8Array, o: number, tcp: number, params: RewriteParams) {
  const ip = o + ETHER_HEADER;
  const new_dst_hi = params.dst_ip >>> 16;
  const new_dst_lo = params.dst_ip & 0xffff;
  swap_macs(bytes, o);
  const old_dst_hi = (bytes[ip + 16] << 8) | bytes[ip + 17];
  const old_dst_lo = (bytes[ip + 18] << 8) | bytes[ip + 19];
  bytes[ip + 16] = new_dst_hi >>> 8;
  bytes[ip + 17] = new_dst_hi & 0xff;
  bytes[ip + 18] = new_dst_lo >>> 8;
  bytes[ip + 19] = new_dst_lo & 0xff;
  const addr_sum = (~old_dst_hi & 0xffff) + (~old_dst_lo & 0xffff) + new_dst_hi + new_dst_lo;
  fold_into(bytes, ip + 10, addr_sum);
  const old_seq_hi = (bytes[tcp + 4] << 8) | bytes[tcp + 5];
  const old_seq_lo = (bytes[tcp + 6] << 8) | bytes[tcp + 7];
  const new_seq = (((old_seq_hi << 16) | old_seq_lo) + (params.seq_delta >>> 0)) >>> 0;
  const new_seq_hi = new_seq >>> 16;
  const new_seq_lo = new_seq & 0xffff;
  bytes[tcp + 4] = new_seq_hi >>> 8;
  bytes[tcp + 5] = new_seq_hi & 0xff;
  bytes[tcp + 6] = new_seq_lo >>> 8;
  bytes[tcp + 7] = new_seq_lo & 0xff;
  const seq_sum = (~old_seq_hi & 0xffff) + (~old_seq_lo & 0xffff) + new_seq_hi + new_seq_lo;
  fold_into(bytes, tcp + 16, addr_sum + seq_sum);
}

/** HC' = ~(~HC + sum), RFC 1624 eqn. 3, on the checksum at offset. */
function fold_into(bytes: Uint8Array, at: number, sum: number): void {
  let s = (~((bytes[at] << 8) | bytes[at + 1]) & 0xffff) + sum;
  s = (s & 0xffff) + (s >>> 16);
  s = (s & 0xffff) + (s >>> 16);
  const c = ~s & 0xffff;
  bytes[at] = c >>> 8;
  bytes[at + 1] = c & 0xff;
}
