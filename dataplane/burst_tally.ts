// How many frames of a burst a role decided to drop, counted once per burst
// after the per-frame work: the director's and the agents' `frames_dropped`,
// which their drop-reason counters must add up to (every dropped frame has
// exactly one reason; the fuzz lab test checks it). Allocates nothing.

import { DESC_WORDS, DROP } from "../native/mod.ts";

/** Frames [0, n) of the descriptor table whose action is DROP. */
export function dropped_in_burst(desc: Int32Array, n: number): number {
  let dropped = 0;
  for (let i = 0; i < n; i++) if (desc[i * DESC_WORDS + 2] === DROP) dropped++;
  return dropped;
}
