// The request-buffer pool against a plain model: random takes and gives
// from a few crowded /24s and many sparse ones, checking after each step
// that the per-/24 counts, the share, the free list and the gauges agree
// with a Map, and that the prefix table's backward-shift deletion never
// loses an entry (every /24 that holds a buffer is still found).

import assert from "node:assert/strict";
import {
  create_reading_pool,
  default_reading_share,
  POOL_EMPTY,
  pool_give,
  POOL_SOURCE_LIMIT,
  pool_take,
} from "../../../dataplane/director/pool.ts";
import { mulberry32 } from "../../support/random.ts";

Deno.test("pool: the default share is a sixteenth of the pool, at least 4", () => {
  assert.equal(default_reading_share(8), 4);
  assert.equal(default_reading_share(64), 4);
  assert.equal(default_reading_share(4096), 256);
});

Deno.test("pool: one /24 is held to its share, other /24s are not; an empty pool says so", () => {
  const pool = create_reading_pool(6, 16, 4);
  const same = [1, 2, 3, 4, 5].map((h) => (0xcb007100 | h) | 0); // 203.0.113.h
  const taken = same.slice(0, 4).map((ip) => pool_take(pool, ip));
  assert.ok(taken.every((slot) => slot >= 0));
  assert.equal(pool_take(pool, same[4]), POOL_SOURCE_LIMIT);
  const other = pool_take(pool, 0xc6336407 | 0); // 198.51.100.7
  assert.ok(other >= 0);
  assert.ok(pool_take(pool, 0x0a000001) >= 0);
  assert.equal(pool_take(pool, 0x0b000001), POOL_EMPTY);
  pool_give(pool, taken[0], same[0]);
  assert.ok(pool_take(pool, same[4]) >= 0, "under its share again");
  assert.equal(pool.in_use, 6);
  assert.equal(pool.high_water, 6);
});

Deno.test("pool: random takes and gives agree with a model", () => {
  const random = mulberry32(10);
  const count = 64;
  const pool = create_reading_pool(count, 8, 5);
  const held = new Map<number, number>(); // /24 → buffers
  const owners: { slot: number; ip: number }[] = [];
  for (let step = 0; step < 20_000; step++) {
    if (owners.length > 0 && random() < 0.45) {
      const k = Math.floor(random() * owners.length);
      const { slot, ip } = owners[k];
      owners.splice(k, 1);
      pool_give(pool, slot, ip);
      const prefix = ip >>> 8;
      const left = held.get(prefix)! - 1;
      if (left === 0) held.delete(prefix);
      else held.set(prefix, left);
    } else {
      // a third of the takes from 4 crowded /24s, the rest from thousands
      const prefix = random() < 0.33
        ? 0x0a0000 + Math.floor(random() * 4)
        : 0x100000 + Math.floor(random() * 5000);
      const ip = ((prefix << 8) | Math.floor(random() * 256)) | 0;
      const slot = pool_take(pool, ip);
      const have = held.get(prefix) ?? 0;
      if (have >= 5) {
        assert.equal(slot, POOL_SOURCE_LIMIT, `step ${step}`);
      } else if (owners.length === count) {
        assert.equal(slot, POOL_EMPTY, `step ${step}`);
      } else {
        assert.ok(slot >= 0 && slot < count, `step ${step}`);
        assert.ok(!owners.some((o) => o.slot === slot), "a buffer is never handed out twice");
        owners.push({ slot, ip });
        held.set(prefix, have + 1);
      }
    }
    assert.equal(pool.in_use, owners.length);
    assert.equal(pool.free_count, count - owners.length);
  }
  // every /24 still holding buffers is found in the prefix table with its count
  const table = new Map<number, number>();
  const prefixes = pool.prefixes;
  prefixes.used.forEach((used, i) => {
    if (used === 1) table.set(prefixes.src_ip[i], prefixes.values[i]);
  });
  assert.deepEqual(table, held);
  assert.ok(pool.high_water <= count);
});
