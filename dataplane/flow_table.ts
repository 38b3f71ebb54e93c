// A flow table in typed arrays keyed by the IPv4 4-tuple: open addressing with
// linear probing and backward-shift deletion (no tombstones, so probe chains
// never grow with churn). Each flow carries `values_per_flow` int32 words for
// its owner (seq deltas and the like) and a last-seen time from the caller's
// clock. Created once; lookup/insert/remove/touch/expire allocate nothing.
//
// The slot comes from a keyed hash (HalfSipHash-1-3 under a random key per
// table), so a client choosing its source ports cannot predict which flows
// share a probe chain and cannot build long ones.
//
// An index stays valid until the next flow_remove, flow_remove_at or
// flow_expire: deletion may shift later flows of the same probe chain back by
// one slot. Look the flow up again after any of those.

import { type HalfSipKey, hsiphash_3u32, random_halfsip_key } from "./halfsiphash.ts";

export interface FlowTableCounters {
  inserted: number;
  removed: number;
  expired: number;
  /** New flows refused because the table was at its load cap. */
  full_refusals: number;
}

export interface FlowTable {
  readonly capacity: number;
  readonly mask: number;
  /** Most flows held at once (load cap); inserts beyond it are refused. */
  readonly max_flows: number;
  readonly values_per_flow: number;
  /** 1 where a slot holds a flow. */
  readonly used: Uint8Array;
  // keys as int32 bits (u32 addresses do not fit an Int32Array otherwise)
  readonly src_ip: Int32Array;
  readonly dst_ip: Int32Array;
  /** src_port << 16 | dst_port. */
  readonly ports: Int32Array;
  /** Per-flow words: flow i owns values[i * values_per_flow, (i + 1) * values_per_flow). */
  readonly values: Int32Array;
  /** Caller-clock time each flow was last seen (Float64: ms since epoch exceeds int32). */
  readonly last_seen: Float64Array;
  /** The slot hash's key: random per table unless given (tests). */
  readonly hash_key: HalfSipKey;
  count: number;
  /** Next slot flow_expire looks at. */
  sweep_cursor: number;
  readonly counters: FlowTableCounters;
}

export interface FlowTableOptions {
  /** Slots; a power of two, at least 2. */
  capacity: number;
  /** int32 words per flow; default 0. */
  values_per_flow?: number;
  /** Fraction of capacity that may be filled, in (0, 1); default 0.75. */
  max_load?: number;
  /** The slot hash's key; default a random one (give one only for reproducible tests). */
  hash_key?: HalfSipKey;
}

export function create_flow_table(options: FlowTableOptions): FlowTable {
  const capacity = options.capacity;
  if (!Number.isInteger(capacity) || capacity < 2 || (capacity & (capacity - 1)) !== 0) {
    throw new RangeError(`flow table capacity must be a power of two >= 2, got ${capacity}`);
  }
  if (capacity > 1 << 30) throw new RangeError(`flow table capacity ${capacity} too large`);
  const values_per_flow = options.values_per_flow ?? 0;
  if (!Number.isInteger(values_per_flow) || values_per_flow < 0) {
    throw new RangeError(`values_per_flow must be a non-negative integer, got ${values_per_flow}`);
  }
  const max_load = options.max_load ?? 0.75;
  if (!(max_load > 0 && max_load < 1)) {
    throw new RangeError(`max_load must be in (0, 1), got ${max_load}`);
  }
  // at least one slot always stays empty so every probe loop ends
  const max_flows = Math.max(1, Math.min(capacity - 1, Math.floor(capacity * max_load)));
  return {
    capacity,
    mask: capacity - 1,
    max_flows,
    values_per_flow,
    used: new Uint8Array(capacity),
    src_ip: new Int32Array(capacity),
    dst_ip: new Int32Array(capacity),
    ports: new Int32Array(capacity),
    values: new Int32Array(capacity * values_per_flow),
    last_seen: new Float64Array(capacity),
    hash_key: options.hash_key ?? random_halfsip_key(),
    count: 0,
    sweep_cursor: 0,
    counters: { inserted: 0, removed: 0, expired: 0, full_refusals: 0 },
  };
}

/**
 * The 4-tuple's slot hash under the table's key (as int32). Positional
 * (style exception): once per packet on every lookup.
 */
export function flow_hash(
  table: FlowTable,
  src_ip: number,
  dst_ip: number,
  src_port: number,
  dst_port: number,
): number {
  const ports = ((src_port & 0xffff) << 16) | (dst_port & 0xffff);
  return hsiphash_3u32(table.hash_key, src_ip, dst_ip, ports);
}

/** Index of the flow, or -1. */
export function flow_lookup(
  table: FlowTable,
  src_ip: number,
  dst_ip: number,
  src_port: number,
  dst_port: number,
): number {
  const src = src_ip | 0;
  const dst = dst_ip | 0;
  const ports = ((src_port & 0xffff) << 16) | (dst_port & 0xffff);
  const mask = table.mask;
  let i = flow_hash(table, src, dst, src_port, dst_port) & mask;
  while (table.used[i] === 1) {
    if (table.src_ip[i] === src && table.dst_ip[i] === dst && table.ports[i] === ports) return i;
    i = (i + 1) & mask;
  }
  return -1;
}

/**
 * Index of the flow, inserting it (values zeroed, last_seen = now) if absent. An
 * existing flow is returned as is. Returns -1, counting a full_refusal, when the
 * table is at max_flows; existing flows are never disturbed.
 */
export function flow_insert(
  table: FlowTable,
  src_ip: number,
  dst_ip: number,
  src_port: number,
  dst_port: number,
  now: number,
): number {
  const src = src_ip | 0;
  const dst = dst_ip | 0;
  const ports = ((src_port & 0xffff) << 16) | (dst_port & 0xffff);
  const mask = table.mask;
  let i = flow_hash(table, src, dst, src_port, dst_port) & mask;
  while (table.used[i] === 1) {
    if (table.src_ip[i] === src && table.dst_ip[i] === dst && table.ports[i] === ports) return i;
    i = (i + 1) & mask;
  }
  if (table.count >= table.max_flows) {
    table.counters.full_refusals++;
    return -1;
  }
  table.used[i] = 1;
  table.src_ip[i] = src;
  table.dst_ip[i] = dst;
  table.ports[i] = ports;
  table.last_seen[i] = now;
  const per = table.values_per_flow;
  table.values.fill(0, i * per, i * per + per);
  table.count++;
  table.counters.inserted++;
  return i;
}

/** Removes the flow; returns 1 if it was there, else 0. */
export function flow_remove(
  table: FlowTable,
  src_ip: number,
  dst_ip: number,
  src_port: number,
  dst_port: number,
): number {
  const index = flow_lookup(table, src_ip, dst_ip, src_port, dst_port);
  if (index < 0) return 0;
  delete_slot(table, index);
  table.counters.removed++;
  return 1;
}

/** Removes the flow at index (e.g. one just looked up); returns 1 if a flow was there. */
export function flow_remove_at(table: FlowTable, index: number): number {
  if (index < 0 || index >= table.capacity || table.used[index] !== 1) return 0;
  delete_slot(table, index);
  table.counters.removed++;
  return 1;
}

/** Records that the flow at index was seen at `now`. */
export function flow_touch(table: FlowTable, index: number, now: number): void {
  table.last_seen[index] = now;
}

/** Start of the flow's words in table.values. */
export function flow_value_offset(table: FlowTable, index: number): number {
  return index * table.values_per_flow;
}

/**
 * Removes flows not seen for more than idle_ms, taking at most max_scan steps
 * from where the last call stopped. A step looks at one slot; after a removal
 * the same slot is looked at again (a later flow may have shifted into it), so
 * the work per call is bounded either way. Returns how many it removed. Call
 * it now and then (e.g. once per idle poll) so a sweep never stalls a burst.
 */
export function flow_expire(
  table: FlowTable,
  now: number,
  idle_ms: number,
  max_scan: number,
): number {
  const mask = table.mask;
  let i = table.sweep_cursor;
  let expired = 0;
  for (let scanned = 0; scanned < max_scan; scanned++) {
    if (table.used[i] === 1 && now - table.last_seen[i] > idle_ms) {
      // a later flow may shift into slot i: look at i again next iteration
      delete_slot(table, i);
      expired++;
    } else {
      i = (i + 1) & mask;
    }
  }
  table.sweep_cursor = i;
  table.counters.expired += expired;
  return expired;
}

/** Writes the flow's key into out[0..3] as u32/u16 numbers (src_ip, dst_ip, src_port, dst_port). */
export function flow_key(table: FlowTable, index: number, out: Float64Array): void {
  out[0] = table.src_ip[index] >>> 0;
  out[1] = table.dst_ip[index] >>> 0;
  out[2] = table.ports[index] >>> 16;
  out[3] = table.ports[index] & 0xffff;
}

/** Empties the table (counters are kept). */
export function flow_clear(table: FlowTable): void {
  table.used.fill(0);
  table.count = 0;
  table.sweep_cursor = 0;
}

// Backward-shift deletion (Knuth 6.4 algorithm R): pull later flows of the
// probe chain into the hole when their home slot does not lie cyclically in
// (hole, their slot].
function delete_slot(table: FlowTable, index: number): void {
  const mask = table.mask;
  const per = table.values_per_flow;
  const values = table.values;
  let hole = index;
  let j = index;
  for (;;) {
    j = (j + 1) & mask;
    if (table.used[j] !== 1) break;
    const ports = table.ports[j];
    const home = flow_hash(table, table.src_ip[j], table.dst_ip[j], ports >>> 16, ports & 0xffff) &
      mask;
    // distance from home to j vs from hole to j: move if home is at or before hole
    if (((j - home) & mask) >= ((j - hole) & mask)) {
      table.src_ip[hole] = table.src_ip[j];
      table.dst_ip[hole] = table.dst_ip[j];
      table.ports[hole] = ports;
      table.last_seen[hole] = table.last_seen[j];
      values.copyWithin(hole * per, j * per, j * per + per);
      hole = j;
    }
  }
  table.used[hole] = 0;
  table.count--;
}
