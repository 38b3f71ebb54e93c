// io (testpmd iofwd.c): frames leave unchanged on the tx port. Allocates
// nothing and never throws.

import { DESC_WORDS } from "../../native/mod.ts";
import { COUNTER_WORDS } from "./counters.ts";
import type { ForwardEngine } from "./engine.ts";

/** io: frames leave unchanged on the tx port. */
export function io_burst(desc: Int32Array, n: number, tx_port: number): void {
  for (let i = 0; i < n; i++) desc[i * DESC_WORDS + 2] = tx_port;
}

export const io_engine = {
  name: "io",
  counter_words: COUNTER_WORDS,
  // hot path: the engine's burst takes the pipeline, the region and the count
  burst: (p, _bytes, n) => io_burst(p.desc, n, p.tx_port),
} as const satisfies ForwardEngine;
