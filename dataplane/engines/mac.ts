// mac (testpmd macfwd.c): the source MAC becomes the tx port's, the
// destination the peer's (--eth-peer). Runts are counted and dropped.
// Allocates nothing and never throws.

import { DESC_WORDS, DROP } from "../../native/mod.ts";
import { COUNTER_RUNT, COUNTER_WORDS } from "./counters.ts";
import { ETHER_HEADER, type ForwardEngine } from "./engine.ts";

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

export const mac_engine = {
  name: "mac",
  counter_words: COUNTER_WORDS,
  burst: (p, bytes, n) => mac_burst(bytes, p.desc, n, p),
} as const satisfies ForwardEngine;
