// TCP sequence-number arithmetic modulo 2^32 (RFC 793, RFC 1982 comparison).
//
// Inputs may be any integers (negative deltas included); results are u32 in
// [0, 2^32) except seq_sub, which is a signed distance.

const HALF = 0x80000000;

/** a + b modulo 2^32. */
export function seq_add(a: number, b: number): number {
  return (a + b) >>> 0;
}

/**
 * Signed distance a − b in (−2^31, 2^31]: how far a is ahead of b. Exactly half
 * the space apart reads as +2^31 so every distance has one answer.
 */
export function seq_sub(a: number, b: number): number {
  const d = (a - b) | 0;
  return d === -HALF ? HALF : d;
}

// a < b when b is ahead of a by less than half the space. At exactly 2^31 apart
// the order is undefined (RFC 1982 section 3.2), so neither lt nor gt holds.

export function seq_lt(a: number, b: number): boolean {
  const ahead = (b - a) >>> 0;
  return ahead !== 0 && ahead < HALF;
}

export function seq_gt(a: number, b: number): boolean {
  const ahead = (a - b) >>> 0;
  return ahead !== 0 && ahead < HALF;
}

export function seq_le(a: number, b: number): boolean {
  return (a >>> 0) === (b >>> 0) || seq_lt(a, b);
}

export function seq_ge(a: number, b: number): boolean {
  return (a >>> 0) === (b >>> 0) || seq_gt(a, b);
}

/** True when seq lies in [low, high], walking forward from low (inclusive both ends). */
export function seq_between(seq: number, low: number, high: number): boolean {
  return ((seq - low) >>> 0) <= ((high - low) >>> 0);
}

/**
 * True once an int32 millisecond deadline has come (wrap-safe: deadlines are
 * stored as `ms | 0` in flow tables, and the difference is what counts).
 */
export function deadline_passed(deadline_ms: number, now_ms: number): boolean {
  return ((deadline_ms - now_ms) | 0) <= 0;
}
