// The request buffers of the connections reading a request head: a fixed
// pool of max_reading buffers, and a per-source share of it. A buffer is
// taken when a connection's first request bytes arrive, never at the
// handshake ACK, so handshakes that never send a request (a half-open flood
// from addresses that can complete the cookie handshake) hold a flow entry
// for at most request_timeout_ms but no buffer. One client /24 may hold at
// most `share` buffers at once: a flood from one network (or one host with
// many ports) cannot take the whole pool from everyone else.
//
// Per-/24 counts live in a flow table (flow_table.ts: keyed hash, so no
// client can choose prefixes that share one probe run) keyed by the prefix
// alone, of at least twice max_reading slots. Only a /24 that holds a
// buffer has an entry, so the table is never more than half full and an
// insert never fails. Nothing here allocates after creation or throws.

import {
  create_flow_table,
  flow_insert,
  flow_lookup,
  flow_remove_at,
  type FlowTable,
} from "../flow_table.ts";

/** pool_take: the client's /24 already holds its share. */
export const POOL_SOURCE_LIMIT = -1;
/** pool_take: every buffer is in use. */
export const POOL_EMPTY = -2;

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
  /** Buffers each /24 holds: key (client ip >>> 8, 0, 0, 0), one value word. */
  readonly prefixes: FlowTable;
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
  const prefixes = create_flow_table({ capacity: slots, values_per_flow: 1 });
  return {
    stride,
    buffers: new Uint8Array(count * stride),
    free,
    free_count: count,
    share,
    in_use: 0,
    high_water: 0,
    prefixes,
  };
}

/** A buffer for a connection from client_ip: its index, or POOL_SOURCE_LIMIT / POOL_EMPTY. */
export function pool_take(pool: ReadingPool, client_ip: number): number {
  const prefix = client_ip >>> 8;
  const prefixes = pool.prefixes;
  let i = flow_lookup(prefixes, prefix, 0, 0, 0);
  const held = i >= 0 ? prefixes.values[i] : 0;
  if (held >= pool.share) return POOL_SOURCE_LIMIT;
  if (pool.free_count === 0) return POOL_EMPTY;
  if (i < 0) i = flow_insert(prefixes, prefix, 0, 0, 0, 0); // never full: see above
  prefixes.values[i] = held + 1;
  pool.in_use++;
  if (pool.in_use > pool.high_water) pool.high_water = pool.in_use;
  return pool.free[--pool.free_count];
}

/** Gives back the buffer a connection from client_ip took. */
export function pool_give(pool: ReadingPool, buffer: number, client_ip: number): void {
  pool.free[pool.free_count++] = buffer;
  pool.in_use--;
  const prefixes = pool.prefixes;
  const i = flow_lookup(prefixes, client_ip >>> 8, 0, 0, 0);
  if (i < 0) return; // cannot happen: every taken buffer counted
  if (--prefixes.values[i] === 0) flow_remove_at(prefixes, i);
}
