import assert from "node:assert/strict";
import {
  create_flow_table,
  flow_clear,
  flow_expire,
  flow_hash,
  flow_insert,
  flow_key,
  flow_lookup,
  flow_remove,
  flow_remove_at,
  flow_touch,
  flow_value_offset,
  type FlowTable,
  ip_to_u32,
} from "../../dataplane/mod.ts";
import { mulberry32 } from "../support/random.ts";

type Key = [number, number, number, number];

const CLIENT = ip_to_u32("198.18.0.10");
const VIP = ip_to_u32("198.18.0.100");
const HIGH_IP = ip_to_u32("255.255.255.254"); // > 2^31: must survive the int32 storage

function home(table: FlowTable, key: Key): number {
  return flow_hash(table, ...key) & table.mask;
}

// Keys (client ports varying) whose home slot is `slot`.
function keys_homed_at(table: FlowTable, slot: number, count: number): Key[] {
  const keys: Key[] = [];
  for (let port = 1024; keys.length < count; port++) {
    const key: Key = [CLIENT, VIP, port, 80];
    if (home(table, key) === slot) keys.push(key);
  }
  return keys;
}

Deno.test("create_flow_table validates its options", () => {
  for (const capacity of [0, 1, 3, 100, 1.5, -8]) {
    assert.throws(() => create_flow_table({ capacity }), RangeError, `capacity ${capacity}`);
  }
  assert.throws(() => create_flow_table({ capacity: 8, values_per_flow: -1 }), RangeError);
  assert.throws(() => create_flow_table({ capacity: 8, max_load: 1 }), RangeError);
  assert.throws(() => create_flow_table({ capacity: 8, max_load: 0 }), RangeError);
  const table = create_flow_table({ capacity: 1024, values_per_flow: 4 });
  assert.strictEqual(table.max_flows, 768);
  assert.strictEqual(table.values.length, 4096);
  assert.strictEqual(create_flow_table({ capacity: 2 }).max_flows, 1);
});

Deno.test("insert, lookup, values, touch and remove", () => {
  const table = create_flow_table({ capacity: 64, values_per_flow: 3 });
  assert.strictEqual(flow_lookup(table, CLIENT, VIP, 40000, 80), -1);
  const index = flow_insert(table, CLIENT, VIP, 40000, 80, 1000);
  assert.ok(index >= 0 && index < 64);
  assert.strictEqual(flow_lookup(table, CLIENT, VIP, 40000, 80), index);
  // a different field each time is a different flow
  assert.strictEqual(flow_lookup(table, VIP, CLIENT, 80, 40000), -1, "reverse direction");
  assert.strictEqual(flow_lookup(table, CLIENT, VIP, 40001, 80), -1);
  assert.strictEqual(flow_lookup(table, CLIENT, VIP, 40000, 81), -1);
  assert.strictEqual(flow_lookup(table, CLIENT + 1, VIP, 40000, 80), -1);

  const base = flow_value_offset(table, index);
  assert.strictEqual(base, index * 3);
  table.values[base] = -123456789;
  table.values[base + 2] = 0x7fffffff;
  // inserting an existing flow returns it unchanged
  assert.strictEqual(flow_insert(table, CLIENT, VIP, 40000, 80, 5000), index);
  assert.strictEqual(table.values[base], -123456789);
  assert.strictEqual(table.last_seen[index], 1000);
  flow_touch(table, index, 2000);
  assert.strictEqual(table.last_seen[index], 2000);

  const key = new Float64Array(4);
  flow_key(table, index, key);
  assert.deepStrictEqual([...key], [CLIENT, VIP, 40000, 80]);

  const high = flow_insert(table, HIGH_IP, HIGH_IP, 65535, 65535, 0);
  assert.strictEqual(flow_lookup(table, HIGH_IP, HIGH_IP, 65535, 65535), high);
  flow_key(table, high, key);
  assert.deepStrictEqual([...key], [HIGH_IP, HIGH_IP, 65535, 65535]);
  assert.strictEqual(
    flow_lookup(table, HIGH_IP | 0, HIGH_IP | 0, 65535, 65535),
    high,
    "int32 bits",
  );

  assert.strictEqual(table.count, 2);
  assert.strictEqual(flow_remove(table, CLIENT, VIP, 40000, 80), 1);
  assert.strictEqual(flow_remove(table, CLIENT, VIP, 40000, 80), 0);
  assert.strictEqual(flow_lookup(table, CLIENT, VIP, 40000, 80), -1);
  assert.strictEqual(flow_remove_at(table, high), 1);
  assert.strictEqual(flow_remove_at(table, high), 0);
  assert.strictEqual(flow_remove_at(table, -1), 0);
  assert.strictEqual(table.count, 0);
  assert.deepStrictEqual(table.counters, { inserted: 2, removed: 2, expired: 0, full_refusals: 0 });

  // a re-inserted flow starts with zeroed values
  const again = flow_insert(table, CLIENT, VIP, 40000, 80, 0);
  assert.deepStrictEqual([...table.values.subarray(again * 3, again * 3 + 3)], [0, 0, 0]);
});

Deno.test("collisions: a probe chain survives removal from its middle (backward shift)", () => {
  const table = create_flow_table({ capacity: 16, values_per_flow: 1 });
  const slot = 5;
  const keys = keys_homed_at(table, slot, 4);
  const indices = keys.map((key, n) => {
    const index = flow_insert(table, ...key, n);
    table.values[index] = 100 + n;
    return index;
  });
  assert.deepStrictEqual(indices, [5, 6, 7, 8], "linear probing from the shared home");
  // remove the second: the later ones shift back and keep their values
  assert.strictEqual(flow_remove(table, ...keys[1]), 1);
  const after = keys.map((key) => flow_lookup(table, ...key));
  assert.deepStrictEqual(after, [5, -1, 6, 7]);
  assert.deepStrictEqual(
    [table.values[6], table.values[7], table.last_seen[6], table.last_seen[7]],
    [102, 103, 2, 3],
  );
  assert.strictEqual(table.used[8], 0);
  // a flow homed inside the chain is not moved before its home
  const other = keys_homed_at(table, 7, 1)[0];
  const other_index = flow_insert(table, ...other, 9);
  assert.strictEqual(other_index, 8);
  assert.strictEqual(flow_remove(table, ...keys[0]), 1);
  assert.deepStrictEqual(keys.map((key) => flow_lookup(table, ...key)), [-1, -1, 5, 6]);
  assert.strictEqual(flow_lookup(table, ...other), 7, "moved back to its home, not before it");
});

Deno.test("collisions wrap around the end of the table", () => {
  const table = create_flow_table({ capacity: 8 });
  const keys = keys_homed_at(table, 7, 3);
  assert.deepStrictEqual(keys.map((key) => flow_insert(table, ...key, 0)), [7, 0, 1]);
  const zero_home = keys_homed_at(table, 0, 1)[0];
  assert.strictEqual(flow_insert(table, ...zero_home, 0), 2);
  assert.strictEqual(flow_remove(table, ...keys[0]), 1);
  // keys[1] and keys[2] move back across the wrap; zero_home follows into slot 1
  assert.deepStrictEqual(keys.map((key) => flow_lookup(table, ...key)), [-1, 7, 0]);
  assert.strictEqual(flow_lookup(table, ...zero_home), 1);
});

Deno.test("a full table refuses new flows and leaves existing ones alone", () => {
  const table = create_flow_table({ capacity: 8, values_per_flow: 1 });
  assert.strictEqual(table.max_flows, 6);
  const keys: Key[] = [];
  for (let port = 1; port <= 6; port++) {
    keys.push([CLIENT, VIP, port, 80]);
    const index = flow_insert(table, CLIENT, VIP, port, 80, port);
    assert.ok(index >= 0);
    table.values[index] = port;
  }
  assert.strictEqual(flow_insert(table, CLIENT, VIP, 7, 80, 7), -1);
  assert.strictEqual(flow_insert(table, CLIENT, VIP, 8, 80, 8), -1);
  assert.strictEqual(table.counters.full_refusals, 2);
  assert.strictEqual(table.count, 6);
  // existing flows are still found, even through insert
  for (const key of keys) {
    const index = flow_lookup(table, ...key);
    assert.strictEqual(table.values[index], key[2]);
    assert.strictEqual(flow_insert(table, ...key, 99), index);
  }
  assert.strictEqual(table.counters.full_refusals, 2);
  assert.strictEqual(flow_lookup(table, CLIENT, VIP, 7, 80), -1);
  // room again after a removal
  flow_remove(table, ...keys[0]);
  assert.ok(flow_insert(table, CLIENT, VIP, 7, 80, 7) >= 0);
});

Deno.test("flow_expire removes idle flows a bounded number of slots at a time", () => {
  const table = create_flow_table({ capacity: 64, values_per_flow: 1 });
  const start = 1_700_000_000_000; // ms since the epoch: beyond int32
  for (let port = 0; port < 40; port++) flow_insert(table, CLIENT, VIP, port, 80, start);
  // keep the even ports alive
  const now = start + 30_000;
  for (let port = 0; port < 40; port += 2) {
    flow_touch(table, flow_lookup(table, CLIENT, VIP, port, 80), now - 1000);
  }
  // 16 slots per call: four calls cover the table
  let expired = 0;
  const per_call: number[] = [];
  for (let call = 0; call < 4; call++) {
    const n = flow_expire(table, now, 10_000, 16);
    assert.ok(n <= 16);
    per_call.push(n);
    expired += n;
  }
  assert.ok(per_call.filter((n) => n > 0).length >= 2, `sweep not spread: ${per_call}`);
  // a flow shifted back behind the cursor may wait for the next round
  expired += flow_expire(table, now, 10_000, 64);
  assert.strictEqual(expired, 20);
  assert.strictEqual(table.count, 20);
  assert.strictEqual(table.counters.expired, 20);
  assert.strictEqual(table.counters.removed, 0);
  for (let port = 0; port < 40; port++) {
    const found = flow_lookup(table, CLIENT, VIP, port, 80) >= 0;
    assert.strictEqual(found, port % 2 === 0, `port ${port}`);
  }
  // idle exactly idle_ms is not yet expired
  assert.strictEqual(flow_expire(table, now + 9_000, 10_000, 64), 0);
  // removals count as steps too (the slot is looked at again), so give it room
  assert.strictEqual(flow_expire(table, now + 9_001, 10_000, 64 + 20), 20);
  assert.strictEqual(table.count, 0);
  assert.strictEqual(flow_expire(table, now, 0, 0), 0, "max_scan 0 does nothing");
});

Deno.test("flow_hash spreads sequential tuples evenly", () => {
  const table = create_flow_table({ capacity: 1024 });
  const buckets = new Uint32Array(1024);
  for (let port = 0; port < 65536; port++) {
    buckets[flow_hash(table, CLIENT, VIP, port, 80) & 1023]++;
  }
  for (let ip = 0; ip < 65536; ip++) {
    buckets[flow_hash(table, CLIENT + ip, VIP, 40000, 80) & 1023]++;
  }
  // expected 128 per bucket; a poor hash (e.g. xor of fields) piles them up
  const max = Math.max(...buckets);
  const min = Math.min(...buckets);
  assert.ok(max < 190 && min > 70, `min ${min} max ${max}`);
  assert.notStrictEqual(flow_hash(table, 1, 2, 3, 4), flow_hash(table, 2, 1, 4, 3));
});

Deno.test("flow_hash is keyed: ports that share a slot under one table's key are spread under another's", () => {
  // An attacker who found 32 ports homed at one slot of one table (as a
  // client could with an unkeyed hash) gets no long chain in another table:
  // 32 random keys in 1024 slots land in about 31.5 distinct ones.
  const first = create_flow_table({ capacity: 1024 });
  const second = create_flow_table({ capacity: 1024 });
  assert.notDeepStrictEqual(first.hash_key, second.hash_key, "each table draws its own key");
  const colliding = keys_homed_at(first, 7, 32);
  assert.equal(new Set(colliding.map((key) => key[2])).size, 32, "32 different ports");
  const slots = new Set(colliding.map((key) => home(second, key)));
  assert.ok(slots.size > 26, `${slots.size} distinct slots of 32`);
  // the same key gives the same slots (lookups agree with inserts)
  const again = create_flow_table({ capacity: 1024, hash_key: first.hash_key });
  assert.deepEqual(colliding.map((key) => home(again, key)), colliding.map(() => 7));
});

Deno.test("stress: random operations agree with a Map model", () => {
  const random = mulberry32(0xf10);
  const table = create_flow_table({ capacity: 256, values_per_flow: 2 });
  const model = new Map<string, { key: Key; tag: number; last_seen: number }>();
  const name = (key: Key) => key.join(",");
  // a small key space so collisions, re-inserts and removals of present keys are common
  const random_key = (): Key => [
    CLIENT + Math.floor(random() * 4),
    random() < 0.5 ? VIP : HIGH_IP,
    Math.floor(random() * 64),
    80,
  ];
  let now = 0;
  let refusals = 0;
  for (let step = 0; step < 50000; step++) {
    now += 1;
    const op = random();
    const key = random_key();
    const entry = model.get(name(key));
    if (op < 0.45) {
      const index = flow_insert(table, ...key, now);
      if (entry) {
        assert.ok(index >= 0);
        assert.strictEqual(table.values[flow_value_offset(table, index)], entry.tag);
      } else if (model.size >= table.max_flows) {
        assert.strictEqual(index, -1);
        refusals++;
      } else {
        assert.ok(index >= 0);
        const tag = step + 1;
        table.values[flow_value_offset(table, index)] = tag;
        table.values[flow_value_offset(table, index) + 1] = -tag;
        model.set(name(key), { key, tag, last_seen: now });
      }
    } else if (op < 0.6) {
      const removed = flow_remove(table, ...key);
      assert.strictEqual(removed, entry ? 1 : 0);
      model.delete(name(key));
    } else if (op < 0.9) {
      const index = flow_lookup(table, ...key);
      assert.strictEqual(index >= 0, entry !== undefined);
      if (entry) {
        assert.strictEqual(table.values[flow_value_offset(table, index)], entry.tag);
        assert.strictEqual(table.values[flow_value_offset(table, index) + 1], -entry.tag);
        flow_touch(table, index, now);
        entry.last_seen = now;
      }
    } else if (op < 0.93) {
      // a sweep: the model removes what the table removed
      const before = table.count;
      const idle = 50 + Math.floor(random() * 200);
      const removed = flow_expire(table, now, idle, 1 + Math.floor(random() * 64));
      assert.strictEqual(table.count, before - removed);
      for (const [k, e] of model) {
        if (flow_lookup(table, ...e.key) < 0) {
          assert.ok(now - e.last_seen > idle, "only idle flows expire");
          model.delete(k);
        }
      }
    } else {
      assert.strictEqual(table.count, model.size);
      for (const e of model.values()) {
        const index = flow_lookup(table, ...e.key);
        assert.ok(index >= 0);
        assert.strictEqual(table.last_seen[index], e.last_seen);
      }
    }
  }
  assert.strictEqual(table.count, model.size);
  let used = 0;
  for (let i = 0; i < table.capacity; i++) used += table.used[i];
  assert.strictEqual(used, model.size);
  assert.strictEqual(table.counters.full_refusals, refusals);
  assert.ok(refusals > 0, "the load cap was reached at least once");
  assert.ok(table.counters.expired > 0);
  flow_clear(table);
  assert.strictEqual(table.count, 0);
  for (const e of model.values()) assert.strictEqual(flow_lookup(table, ...e.key), -1);
});
