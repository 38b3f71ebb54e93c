// Frames a role makes on its slow path (SYNs to a stack, HTTP responses,
// retransmissions): each is copied into a fresh mbuf of the role's emit
// slot and the lot is sent in one burst when the round ends.

import { DESC_WORDS, MAX_BURST, type Native } from "../native/mod.ts";

export interface Emitter {
  /** Queues a frame for a port (dropped silently if the pool is empty: timers retry). */
  emit: (frame: Uint8Array, port: number) => void;
  /** Sends what was queued. */
  flush: () => void;
}

export function create_emitter(native: Native, options: { slot: number; queue: number }): Emitter {
  const bytes = native.region();
  const desc = native.slot_descriptors(options.slot);
  let queued = 0;
  const flush = () => {
    if (queued === 0) return;
    native.tx_burst(options.queue, options.slot, queued);
    queued = 0;
  };
  const emit = (frame: Uint8Array, port: number) => {
    if (queued >= MAX_BURST) flush();
    const offset = native.alloc(options.slot, queued, frame.length);
    if (offset < 0) return;
    bytes.set(frame, offset);
    desc[queued * DESC_WORDS + 2] = port;
    queued++;
  };
  return { emit, flush };
}
