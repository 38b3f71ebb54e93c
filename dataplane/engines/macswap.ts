// macswap (testpmd macswap.c): source and destination MACs trade places.
// A 2-aligned frame's MACs are swapped as three 16-bit words, an odd one
// byte by byte. Runts are counted and dropped. Allocates nothing and never
// throws.

import { DESC_WORDS, DROP } from "../../native/mod.ts";
import { COUNTER_RUNT, COUNTER_WORDS } from "./counters.ts";
import { ETHER_HEADER, type ForwardEngine } from "./engine.ts";

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
export function swap_mac_words(words: Uint16Array, w: number): void {
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

export function swap_macs(bytes: Uint8Array, o: number): void {
  for (let k = 0; k < 6; k++) {
    const t = bytes[o + k];
    bytes[o + k] = bytes[o + 6 + k];
    bytes[o + 6 + k] = t;
  }
}

export const macswap_engine = {
  name: "macswap",
  counter_words: COUNTER_WORDS,
  burst: (p, bytes, n) => macswap_burst(bytes, p.desc, n, p),
} as const satisfies ForwardEngine;
