// Frames a role makes itself rather than in a received frame's mbuf (SYNs
// to a stack, HTTP responses, hand-off datagrams, retransmissions): each
// goes into a fresh mbuf of the role's emit slot — copied by emit, or
// written in place after claim — and the lot is sent in one burst when the
// round ends.

import { DESC_WORDS, DROP, MAX_BURST, type Native } from "../native/mod.ts";

export interface Emitter {
  /** Queues a frame for a port (dropped silently if the pool is empty: timers retry). */
  emit: (frame: Uint8Array, port: number) => void;
  /**
   * A fresh mbuf of `length` bytes queued for `port`, to be written in place:
   * its offset in the packet region, or −1 when the pool is empty (the
   * caller counts it; its timers retry).
   */
  claim: (length: number, port: number) => number;
  /**
   * Takes back the frame the last successful claim queued: it is freed,
   * not sent (a frame that turned out unfit to send, e.g. one that could
   * not be signed).
   */
  discard: () => void;
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
  const claim = (length: number, port: number) => {
    if (queued >= MAX_BURST) flush();
    const offset = native.alloc(options.slot, queued, length);
    if (offset < 0) return -1;
    desc[queued * DESC_WORDS + 2] = port;
    queued++;
    return offset;
  };
  const discard = () => {
    if (queued > 0) desc[(queued - 1) * DESC_WORDS + 2] = DROP; // tx_burst frees it
  };
  const emit = (frame: Uint8Array, port: number) => {
    const offset = claim(frame.length, port);
    if (offset >= 0) bytes.set(frame, offset);
  };
  return { emit, claim, discard, flush };
}
