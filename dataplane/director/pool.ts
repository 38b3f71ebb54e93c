// The request buffers of the connections reading a request head: a fixed
// pool of max_reading buffers, and a per-source share of it. A buffer is
// taken when a connection's first request bytes arrive, never at the
// handshake ACK, so handshakes that never send a request (a half-open flood
// from addresses that can complete the cookie handshake) hold a flow entry
// for at most request_timeout_ms but no buffer. One client /24 may hold at
// most `share` buffers at once: a flood from one network (or one host with
// many ports) cannot take the whole pool from everyone else.
//
// Per-/24 counts live in a small open-addressed table (linear probing,
// backward-shift deletion, so probe runs never grow with churn) of at least
// twice max_reading slots, keyed by a per-process HalfSipHash so no client
// can choose prefixes that share one probe run. Only a /24 that holds a
// buffer has an entry, so the table is never more than half full.
// Nothing here allocates after creation or throws.

import { type HalfSipKey, hsiphash_3u32, random_halfsip_key } from "../halfsiphash.ts";

/** pool_take: the client's /24 already holds its share. */
export const POOL_SOURCE_LIMIT = -1;
/** pool_take: every buffer is in use. */
export const POOL_EMPTY = -2;

const NO_PREFIX = -1;

export interface ReadingPool {
  /** Bytes per buffer (the most a record carries, plus one that says "over the limit"). */
  readonly stride: number;
  readonly buffers: Uint8Array;
  readonly free: Int32Array;
  free_count: number;
  /** Most buffers one /24 may hold at once. */
  share: number;
  /** Buffers in use, and the most ever in use at once. */
  in_use: number;
  high_water: number;
  /** client ip >>> 8 per slot, NO_PREFIX where empty. */
  readonly prefix_keys: Int32Array;
  readonly prefix_counts: Int32Array;
  readonly prefix_mask: number;
  readonly hash_key: HalfSipKey;
}

/** The default share of one /24: a sixteenth of the pool, at least 4 buffers. */
export function default_reading_share(max_reading: number): number {
  return Math.max(4, Math.floor(max_reading / 16));
}

export function create_reading_pool(count: number, stride: number, share: number): ReadingPool {
  const free = new Int32Array(count);
  for (let i = 0; i < count; i++) free[i] = count - 1 - i;
  let slots = 16;
  while (slots < 2 * count) slots *= 2;
  return {
    stride,
    buffers: new Uint8Array(count * stride),
    free,
    free_count: count,
    share,
    in_use: 0,
    high_water: 0,
    prefix_keys: new Int32Array(slots).fill(NO_PREFIX),
    prefix_counts: new Int32Array(slots),
    prefix_mask: slots - 1,
    hash_key: random_halfsip_key(),
  };
}

function prefix_home(pool: ReadingPool, prefix: number): number {
  return hsiphash_3u32(pool.hash_key, prefix, 0, 0) & pool.prefix_mask;
}

/** The slot of the /24's entry, or the empty slot where it would go. */
function prefix_slot(pool: ReadingPool, prefix: number): number {
  const keys = pool.prefix_keys;
  const mask = pool.prefix_mask;
  let i = prefix_home(pool, prefix);
  while (keys[i] !== NO_PREFIX && keys[i] !== prefix) i = (i + 1) & mask;
  return i;
}

/** A buffer for a connection from client_ip: its index, or POOL_SOURCE_LIMIT / POOL_EMPTY. */
export function pool_take(pool: ReadingPool, client_ip: number): number {
  const prefix = client_ip >>> 8;
  const i = prefix_slot(pool, prefix);
  const held = pool.prefix_keys[i] === prefix ? pool.prefix_counts[i] : 0;
  if (held >= pool.share) return POOL_SOURCE_LIMIT;
  if (pool.free_count === 0) return POOL_EMPTY;
  pool.prefix_keys[i] = prefix;
  pool.prefix_counts[i] = held + 1;
  pool.in_use++;
  if (pool.in_use > pool.high_water) pool.high_water = pool.in_use;
  return pool.free[--pool.free_count];
}

/** Gives back the buffer a connection from client_ip took. */
export function pool_give(pool: ReadingPool, buffer: number, client_ip: number): void {
  pool.free[pool.free_count++] = buffer;
  pool.in_use--;
  const prefix = client_ip >>> 8;
  const i = prefix_slot(pool, prefix);
  if (pool.prefix_keys[i] !== prefix) return; // cannot happen: every taken buffer counted
  if (--pool.prefix_counts[i] === 0) delete_prefix(pool, i);
}

// Backward-shift deletion (Knuth 6.4 algorithm R), as the flow table does: a
// later entry of the probe run moves into the hole unless its home slot lies
// cyclically in (hole, its slot].
function delete_prefix(pool: ReadingPool, hole: number): void {
  const keys = pool.prefix_keys;
  const counts = pool.prefix_counts;
  const mask = pool.prefix_mask;
  let i = hole;
  for (;;) {
    keys[hole] = NO_PREFIX;
    for (;;) {
      i = (i + 1) & mask;
      if (keys[i] === NO_PREFIX) return;
      const home = prefix_home(pool, keys[i]);
      const stays = hole <= i ? hole < home && home <= i : hole < home || home <= i;
      if (!stays) break;
    }
    keys[hole] = keys[i];
    counts[hole] = counts[i];
    hole = i;
  }
}
