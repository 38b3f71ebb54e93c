// rewrite (baton's benchmark of the agent's per-packet work, without its
// flow table): MAC swap, IPv4 destination, TCP sequence delta and both
// checksums updated incrementally. Frames that are not IPv4/TCP are counted
// and dropped. Allocates nothing and never throws.

import { DESC_WORDS, DROP } from "../../native/mod.ts";
import { COUNTER_NOT_TCP, COUNTER_WORDS } from "./counters.ts";
import { ETHER_HEADER, type ForwardEngine } from "./engine.ts";
import { swap_mac_words, swap_macs } from "./macswap.ts";

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

export const rewrite_engine = {
  name: "rewrite",
  counter_words: COUNTER_WORDS,
  burst: (p, bytes, n) => rewrite_burst(bytes, p.desc, n, p),
} as const satisfies ForwardEngine;
