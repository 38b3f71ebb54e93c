// The timer wheel against hand-driven clocks (no real time anywhere): firing
// ticks, never early, cancel handles, far deadlines, large clock values,
// catch-up after a pause, the per-call cap, the pool, and a randomized run
// against a sorted-array reference model.

import assert from "node:assert/strict";
import {
  create_timer_wheel,
  timer_cancel,
  timer_expire,
  timer_payload_offset,
  timer_pending,
  timer_schedule,
  type TimerWheel,
  type TimerWheelOptions,
} from "../../dataplane/timer_wheel.ts";
import { mulberry32 } from "../support/random.ts";

// payload word 0 carries a test id, word 1 a token
const WORDS = 2;

function wheel_of(options: Partial<TimerWheelOptions> = {}): TimerWheel {
  return create_timer_wheel({
    capacity: 64,
    slots: 8,
    tick_ms: 4,
    payload_words: WORDS,
    now_ms: 0,
    ...options,
  });
}

/** Schedules a timer whose payload is [id, token]; returns the entry (or -1). */
function schedule(wheel: TimerWheel, deadline_ms: number, id: number, token = 0): number {
  const entry = timer_schedule(wheel, deadline_ms);
  if (entry >= 0) {
    const at = timer_payload_offset(wheel, entry);
    wheel.payload[at] = id;
    wheel.payload[at + 1] = token;
  }
  return entry;
}

/** Ids fired by one timer_expire call, in firing order. */
function expire(wheel: TimerWheel, now_ms: number, max = wheel.capacity): number[] {
  const out = new Int32Array(Math.max(1, max) * WORDS);
  const fired = timer_expire(wheel, now_ms, out, max);
  const ids: number[] = [];
  for (let i = 0; i < fired; i++) ids.push(out[i * WORDS]);
  return ids;
}

function sorted(ids: number[]): number[] {
  return [...ids].sort((a, b) => a - b);
}

Deno.test("create_timer_wheel validates its options and starts empty", () => {
  const bad: Partial<TimerWheelOptions>[] = [
    { capacity: 0 },
    { capacity: 1.5 },
    { capacity: 2 ** 25 },
    { slots: 0 },
    { slots: 12 },
    { slots: 2 ** 25 },
    { tick_ms: 0 },
    { tick_ms: -1 },
    { tick_ms: NaN },
    { tick_ms: Infinity },
    { payload_words: -1 },
    { payload_words: 0.5 },
    { now_ms: NaN },
    { now_ms: Infinity },
    { now_ms: 4 * 2 ** 51 },
  ];
  for (const options of bad) {
    assert.throws(() => wheel_of(options), RangeError, JSON.stringify(options));
  }
  const wheel = wheel_of({ capacity: 10, slots: 16, payload_words: 3 });
  assert.strictEqual(wheel.payload.length, 30);
  assert.strictEqual(wheel.mask, 15);
  assert.strictEqual(wheel.in_use, 0);
  assert.strictEqual(wheel.free_head, 0);
  assert.deepStrictEqual(expire(wheel, 1000), []);
  // slots = 1 is a degenerate but valid wheel: one bucket, every revolution one tick
  const single = wheel_of({ slots: 1 });
  schedule(single, 10, 1);
  assert.deepStrictEqual(expire(single, 11.9), []);
  assert.deepStrictEqual(expire(single, 12), [1]);
});

Deno.test("a timer fires at the start of the first tick at or after its deadline, never before", () => {
  // tick_ms 4: deadline 10 rounds up to tick 3 (12 ms); deadline 8 is tick 2 exactly
  const wheel = wheel_of();
  const late = schedule(wheel, 10, 10);
  schedule(wheel, 8, 8);
  assert.strictEqual(wheel.serial[late], 1);
  assert.ok(timer_pending(wheel, late, 1));
  assert.deepStrictEqual(expire(wheel, 4), []);
  assert.deepStrictEqual(expire(wheel, 7.999), []);
  assert.deepStrictEqual(expire(wheel, 8), [8]);
  assert.deepStrictEqual(expire(wheel, 9.5), []);
  assert.deepStrictEqual(
    expire(wheel, 11.999),
    [],
    "deadline 10 passed but its tick has not begun",
  );
  assert.deepStrictEqual(expire(wheel, 12), [10]);
  assert.ok(!timer_pending(wheel, late, 1));
  assert.deepStrictEqual(expire(wheel, 12), [], "fires once");
  assert.strictEqual(wheel.scheduled, 2);
  assert.strictEqual(wheel.fired, 2);
  assert.strictEqual(wheel.in_use, 0);
});

Deno.test("a deadline in the past, or at the start of the tick just processed, fires on the next call", () => {
  const wheel = wheel_of({ now_ms: 100 });
  assert.deepStrictEqual(expire(wheel, 101), []); // tick 25 (100..104) processed
  schedule(wheel, 50, 1); // long past
  schedule(wheel, 100, 2); // start of the processed tick: due
  schedule(wheel, -1e6, 3); // negative clock values are fine too
  schedule(wheel, 101, 4); // later in the processed tick: waits for tick 26
  assert.deepStrictEqual(sorted(expire(wheel, 101)), [1, 2, 3], "same now, next call");
  assert.deepStrictEqual(expire(wheel, 103.9), []);
  assert.deepStrictEqual(expire(wheel, 104), [4]);
});

Deno.test("never early and at most one tick late with a fractional tick and clock", () => {
  // tick_ms 0.1 is not exact in binary: the float products decide, and must
  // still never fire a timer before its deadline
  const random = mulberry32(7);
  const start = 123456.789;
  const wheel = wheel_of({ capacity: 512, slots: 64, tick_ms: 0.1, now_ms: start });
  const deadlines = new Map<number, number>();
  for (let id = 0; id < 500; id++) {
    const deadline = start + random() * 20;
    deadlines.set(id, deadline);
    assert.ok(schedule(wheel, deadline, id) >= 0);
  }
  let now = start;
  while (deadlines.size > 0) {
    now += random() * 0.05;
    for (const id of expire(wheel, now)) {
      const deadline = deadlines.get(id)!;
      assert.ok(deadline <= now, `id ${id} fired at ${now} before its deadline ${deadline}`);
      deadlines.delete(id);
    }
    for (const [id, deadline] of deadlines) {
      assert.ok(now < deadline + 0.1 + 1e-9, `id ${id} (deadline ${deadline}) late at ${now}`);
    }
  }
});

Deno.test("float tick boundaries: the products k * tick_ms decide, not the quotients", () => {
  // Each case is a value where Math.ceil/Math.floor of the float quotient is
  // off by one against the float products (found by search): without the
  // wheel's correction the timer would fire an ulp early, or a tick late.
  const cases = [
    // ceil(11.9 / 0.7) = 17 but tick 17 starts at 17 * 0.7 = 11.899999999999999,
    // before the deadline: the timer belongs to tick 18
    { tick_ms: 0.7, deadline: 11.9, quiet: [11.899999999999999, 11.9, 12.5], at: 18 * 0.7 },
    // floor(5.699999999999999 / 0.3) = 19 but tick 19 starts at 19 * 0.3 = 5.7
    { tick_ms: 0.3, deadline: 5.7, quiet: [5.699999999999999], at: 5.7 },
    // ceil(0.30000000000000004 / 0.1) = 4 but tick 3 starts at 3 * 0.1, the deadline
    { tick_ms: 0.1, deadline: 3 * 0.1, quiet: [0.3], at: 3 * 0.1 },
    // floor(4.3 / 0.1) = 42 but tick 43 starts at 43 * 0.1 = 4.3
    { tick_ms: 0.1, deadline: 4.3, quiet: [4.299999999999999], at: 4.3 },
  ];
  for (const { tick_ms, deadline, quiet, at } of cases) {
    const wheel = wheel_of({ tick_ms, slots: 64 });
    schedule(wheel, deadline, 1);
    for (const now of quiet) {
      assert.deepStrictEqual(expire(wheel, now), [], `tick ${tick_ms}: early at ${now}`);
    }
    assert.deepStrictEqual(expire(wheel, at), [1], `tick ${tick_ms}: late at ${at}`);
  }
});

Deno.test("serials skip 0 when they wrap", () => {
  const wheel = wheel_of({ capacity: 1 });
  wheel.serial[0] = -1; // as after 2^32 - 1 schedulings of entry 0
  assert.strictEqual(schedule(wheel, 4, 1), 0);
  assert.strictEqual(wheel.serial[0], 1);
  assert.strictEqual(timer_cancel(wheel, 0, 0), 0);
  assert.strictEqual(timer_cancel(wheel, 0, 1), 1);
});

Deno.test("many timers in one bucket: same tick and later revolutions", () => {
  // slots 8, tick 4: one revolution is 32 ms; ticks 3, 11, 19 share bucket 3
  const wheel = wheel_of({ capacity: 1000 });
  for (let id = 0; id < 900; id++) schedule(wheel, 12, id);
  schedule(wheel, 44, 1000);
  schedule(wheel, 76, 2000);
  assert.strictEqual(wheel.in_use, 902);
  const first = expire(wheel, 12);
  assert.strictEqual(first.length, 900);
  assert.deepStrictEqual(first, [...Array(900).keys()], "one tick fires in schedule order");
  assert.deepStrictEqual(expire(wheel, 43.9), []);
  assert.deepStrictEqual(expire(wheel, 44), [1000]);
  assert.deepStrictEqual(expire(wheel, 75.9), []);
  assert.deepStrictEqual(expire(wheel, 76), [2000]);
  assert.strictEqual(wheel.in_use, 0);
});

Deno.test("cancel: O(1) by handle; stale, repeated and out-of-range cancels do nothing", () => {
  const wheel = wheel_of();
  const a = schedule(wheel, 20, 1);
  const b = schedule(wheel, 20, 2);
  const c = schedule(wheel, 20, 3);
  const a_serial = wheel.serial[a];
  const b_serial = wheel.serial[b];
  // unlinking from the middle of a bucket keeps the rest
  assert.strictEqual(timer_cancel(wheel, b, b_serial), 1);
  assert.ok(!timer_pending(wheel, b, b_serial));
  assert.strictEqual(timer_cancel(wheel, b, b_serial), 0, "twice");
  assert.strictEqual(timer_cancel(wheel, a, a_serial + 1), 0, "wrong serial");
  assert.strictEqual(wheel.in_use, 2);
  assert.strictEqual(wheel.cancelled, 1);
  assert.strictEqual(wheel.cancel_misses, 2);

  // a reused entry holds a newer timer: the old handle cannot touch it
  const reused = schedule(wheel, 40, 4);
  assert.strictEqual(reused, b, "freed entry is reused first");
  assert.notStrictEqual(wheel.serial[reused], b_serial);
  assert.strictEqual(timer_cancel(wheel, b, b_serial), 0);
  assert.ok(timer_pending(wheel, reused, wheel.serial[reused]));

  assert.deepStrictEqual(sorted(expire(wheel, 20)), [1, 3]);
  // cancel after fire is the ACK racing the time-out: harmless
  assert.strictEqual(timer_cancel(wheel, a, a_serial), 0);
  assert.strictEqual(timer_cancel(wheel, c, wheel.serial[c]), 0);
  assert.strictEqual(wheel.cancel_misses, 5);

  const misses = wheel.cancel_misses;
  for (const entry of [-1, 64, 1e9, NaN, 0.5, Infinity]) {
    assert.strictEqual(timer_cancel(wheel, entry, 1), 0);
  }
  assert.strictEqual(wheel.bad_args, 6);
  assert.strictEqual(wheel.cancel_misses, misses);
  assert.ok(!timer_pending(wheel, -1, 1));
  assert.ok(!timer_pending(wheel, 64, 1));

  // zeroed flow words (entry 0, serial 0) never name a live timer
  const fresh = wheel_of();
  assert.strictEqual(schedule(fresh, 10, 9), 0);
  assert.strictEqual(timer_cancel(fresh, 0, 0), 0);
  assert.ok(!timer_pending(fresh, 0, 0));

  assert.deepStrictEqual(expire(wheel, 40), [4]);
  assert.strictEqual(wheel.in_use, 0);
});

Deno.test("far deadlines (10 revolutions) fire on time and not at earlier revolutions", () => {
  // revolution = 8 * 4 = 32 ms; 10 revolutions and a bit, stepping tick by tick
  const wheel = wheel_of();
  const revolution = 32;
  schedule(wheel, 10 * revolution + 12, 1); // tick 83, bucket 3
  schedule(wheel, 10 * revolution, 2); // tick 80, bucket 0
  schedule(wheel, 12, 3); // same bucket as 1, first revolution
  const fired_at = new Map<number, number>();
  for (let now = 0; now <= 11 * revolution; now += 4) {
    for (const id of expire(wheel, now)) fired_at.set(id, now);
  }
  assert.deepStrictEqual(Object.fromEntries(fired_at), { 1: 332, 2: 320, 3: 12 });
});

Deno.test("large clock values: tick numbers past 2^31 and 2^32, and ms since the epoch", () => {
  // Absolute ticks are safe integers: crossing what would wrap an int32 (or
  // make `& mask` see a different residue) changes nothing
  for (const start_tick of [2 ** 31 - 20, 2 ** 32 - 20, 2 ** 40 - 20]) {
    const tick_ms = 1;
    const wheel = wheel_of({ slots: 16, tick_ms, now_ms: start_tick });
    const ids: number[] = [];
    for (let step = 0; step < 40; step++) {
      schedule(wheel, start_tick + step + 0.5, step); // fires at tick start + step + 1
      ids.push(step);
    }
    schedule(wheel, start_tick + 10 * 16 + 3, 99); // ten revolutions out
    const fired_at = new Map<number, number>();
    for (let now = start_tick; now <= start_tick + 200; now++) {
      for (const id of expire(wheel, now)) fired_at.set(id, now - start_tick);
    }
    for (const id of ids) {
      assert.strictEqual(fired_at.get(id), id + 1, `start ${start_tick} id ${id}`);
    }
    assert.strictEqual(fired_at.get(99), 163);
    assert.strictEqual(wheel.in_use, 0);
  }
  // an epoch-ms clock with a fraction, and the refused beyond-horizon deadlines
  const epoch = 1_726_000_000_000.25;
  const wheel = wheel_of({ tick_ms: 1, now_ms: epoch });
  schedule(wheel, epoch + 5000.5, 1);
  assert.deepStrictEqual(expire(wheel, epoch + 5000.74), []);
  assert.deepStrictEqual(expire(wheel, epoch + 5000.75), [1], "tick start epoch + 5000.75");
  for (const deadline of [NaN, Infinity, -Infinity, 2 ** 51, -(2 ** 51)]) {
    assert.strictEqual(timer_schedule(wheel, deadline), -1);
  }
  assert.strictEqual(wheel.bad_args, 5);
  assert.strictEqual(wheel.pool_full, 0);
  assert.strictEqual(wheel.in_use, 0);
});

Deno.test("after a pause of 100 revolutions one call fires everything due, in one pass", () => {
  const wheel = wheel_of({ capacity: 256 });
  const revolution = 32;
  const pause = 100 * revolution;
  const due: number[] = [];
  for (let id = 0; id < 200; id++) {
    const deadline = (id * 17) % (pause + 300); // some beyond the pause
    schedule(wheel, deadline, id);
    if (Math.ceil(deadline / 4) * 4 <= pause) due.push(id);
  }
  assert.ok(due.length > 150 && due.length < 200);
  assert.deepStrictEqual(sorted(expire(wheel, pause)), due);
  assert.strictEqual(wheel.cursor_tick, pause / 4 + 1, "the cursor jumps to now");
  assert.strictEqual(wheel.in_use, 200 - due.length);
  const rest = expire(wheel, pause + 300);
  assert.strictEqual(rest.length, 200 - due.length);

  // work per call does not grow with the pause: 2^40 ticks would never finish tick by tick
  schedule(wheel, 2 ** 41, 7);
  schedule(wheel, 2 ** 42 + 3, 8);
  assert.deepStrictEqual(expire(wheel, 2 ** 42), [7]);
  assert.deepStrictEqual(expire(wheel, 2 ** 42 + 3.9), []);
  assert.deepStrictEqual(expire(wheel, 2 ** 42 + 4), [8]);
});

Deno.test("max per call is respected and the remainder fires on the next call", () => {
  const wheel = wheel_of();
  for (let id = 0; id < 10; id++) schedule(wheel, 12, id); // one bucket
  for (let id = 10; id < 14; id++) schedule(wheel, 16, id); // the next one
  const calls = [expire(wheel, 16, 3), expire(wheel, 16, 3), expire(wheel, 16, 3)];
  assert.deepStrictEqual(calls.map((ids) => ids.length), [3, 3, 3]);
  // a past-due timer scheduled meanwhile joins the due list and is not lost
  schedule(wheel, 0, 100);
  const more = [expire(wheel, 16, 3), expire(wheel, 16, 3), expire(wheel, 16, 3)];
  assert.deepStrictEqual(more.map((ids) => ids.length), [3, 3, 0]);
  assert.deepStrictEqual(sorted([...calls, ...more].flat()), [...Array(14).keys(), 100]);

  // during catch-up too: stopping mid-pass leaves the cursor on the stopped bucket
  const pause = wheel_of();
  for (let id = 0; id < 40; id++) schedule(pause, id * 37, id); // spread over many revolutions
  const seen: number[] = [];
  for (let call = 0; call < 10; call++) {
    const ids = expire(pause, 5000, 7);
    assert.ok(ids.length <= 7);
    seen.push(...ids);
  }
  assert.deepStrictEqual(sorted(seen), [...Array(40).keys()]);

  // max 0 fires nothing; an out too short for max is clamped (and counted)
  const clamp = wheel_of();
  for (let id = 0; id < 5; id++) schedule(clamp, 4, id);
  assert.strictEqual(timer_expire(clamp, 4, new Int32Array(10), 0), 0);
  assert.strictEqual(timer_expire(clamp, 4, new Int32Array(2 * WORDS + 1), 100), 2);
  assert.strictEqual(clamp.bad_args, 1);
  assert.strictEqual(timer_expire(clamp, 4, new Int32Array(10), NaN), 0);
  assert.strictEqual(timer_expire(clamp, NaN, new Int32Array(10), 5), 0);
  assert.strictEqual(clamp.bad_args, 3);
  assert.strictEqual(timer_expire(clamp, 4, new Int32Array(10), 5), 3);
});

Deno.test("pool full returns -1 and counts; fired and cancelled entries are reused", () => {
  const wheel = wheel_of({ capacity: 4 });
  const entries = [0, 1, 2, 3].map((id) => schedule(wheel, 8, id));
  assert.deepStrictEqual(entries, [0, 1, 2, 3]);
  assert.strictEqual(schedule(wheel, 8, 4), -1);
  assert.strictEqual(schedule(wheel, 8, 5), -1);
  assert.strictEqual(wheel.pool_full, 2);
  assert.strictEqual(wheel.scheduled, 4);
  assert.strictEqual(wheel.in_use, 4);

  assert.strictEqual(timer_cancel(wheel, 2, wheel.serial[2]), 1);
  const again = timer_schedule(wheel, 100);
  assert.strictEqual(again, 2, "the cancelled entry");
  assert.strictEqual(wheel.serial[2], 2);
  assert.deepStrictEqual([...wheel.payload.subarray(4, 6)], [0, 0], "payload zeroed on reuse");
  wheel.payload[timer_payload_offset(wheel, again)] = 42;

  assert.deepStrictEqual(sorted(expire(wheel, 8)), [0, 1, 3]);
  assert.strictEqual(wheel.in_use, 1);
  for (let id = 10; id < 13; id++) assert.ok(schedule(wheel, 200, id) >= 0);
  assert.strictEqual(schedule(wheel, 200, 13), -1);
  assert.strictEqual(wheel.pool_full, 3);
  assert.deepStrictEqual(sorted(expire(wheel, 200)), [10, 11, 12, 42]);

  // a thousand rounds through a small pool: serials advance, nothing leaks
  for (let round = 0; round < 1000; round++) {
    for (let id = 0; id < 4; id++) assert.ok(schedule(wheel, 204 + round * 4, id) >= 0);
    assert.strictEqual(expire(wheel, 204 + round * 4).length, 4);
  }
  assert.strictEqual(wheel.in_use, 0);
  assert.ok(wheel.serial.every((serial) => serial > 250));
});

Deno.test("a clock that goes backwards is counted and acts as the latest time seen", () => {
  const wheel = wheel_of();
  schedule(wheel, 40, 1);
  assert.deepStrictEqual(expire(wheel, 20), []);
  assert.deepStrictEqual(expire(wheel, 10), []);
  assert.strictEqual(wheel.clock_backwards, 1);
  schedule(wheel, 15, 2); // past for the wheel (tick 4 < now tick 5)
  assert.deepStrictEqual(expire(wheel, 12), [2]);
  assert.deepStrictEqual(expire(wheel, 40), [1]);

  // a cursor held back by max, then an earlier now: what was due at the
  // latest time still fires
  const held = wheel_of();
  for (let id = 0; id < 5; id++) schedule(held, 16, id);
  assert.strictEqual(expire(held, 20, 2).length, 2);
  assert.strictEqual(expire(held, 10).length, 3);
  assert.strictEqual(held.clock_backwards, 1);
});

Deno.test("randomized schedule/cancel/expire against a sorted-array reference", () => {
  const tick_ms = 3; // integer ms throughout: the model's tick arithmetic is exact
  const capacity = 64;
  for (const seed of [1, 2, 3, 4]) {
    const random = mulberry32(seed);
    const int = (low: number, high: number) => low + Math.floor(random() * (high - low + 1));
    const wheel = wheel_of({ capacity, slots: 16, tick_ms, now_ms: 1000 });
    interface Live {
      id: number;
      entry: number;
      serial: number;
      deadline: number;
    }
    let model: Live[] = []; // sorted by deadline
    const gone: Live[] = []; // fired or cancelled handles, to cancel again
    let now = 1000;
    let next_id = 0;
    let fired_total = 0;
    const fire_tick = (deadline: number) => Math.ceil(deadline / tick_ms) * tick_ms;

    for (let step = 0; step < 20000; step++) {
      const op = random();
      if (op < 0.45) {
        const deadline = random() < 0.02 ? now + int(0, 20000) : now + int(-30, 600);
        const id = next_id++;
        const entry = schedule(wheel, deadline, id, id ^ 0x5a5a);
        if (model.length === capacity) {
          assert.strictEqual(entry, -1);
        } else {
          assert.ok(entry >= 0 && entry < capacity);
          const live = { id, entry, serial: wheel.serial[entry], deadline };
          let at = model.length;
          while (at > 0 && model[at - 1].deadline > deadline) at--;
          model.splice(at, 0, live);
        }
      } else if (op < 0.6) {
        if (model.length > 0 && random() < 0.6) {
          const at = int(0, model.length - 1);
          const live = model[at];
          assert.strictEqual(timer_cancel(wheel, live.entry, live.serial), 1);
          model.splice(at, 1);
          gone.push(live);
        } else if (gone.length > 0) {
          const stale = gone[int(0, gone.length - 1)];
          const before = wheel.in_use;
          assert.strictEqual(timer_cancel(wheel, stale.entry, stale.serial), 0);
          assert.strictEqual(wheel.in_use, before);
        }
      } else {
        now += random() < 0.02 ? int(0, 5000) : int(0, 10);
        const max = int(1, 24);
        const out = new Int32Array(max * WORDS);
        const fired = timer_expire(wheel, now, out, max);
        assert.ok(fired <= max);
        const due = model.filter((live) => fire_tick(live.deadline) <= now);
        const due_ids = new Set(due.map((live) => live.id));
        const fired_ids = new Set<number>();
        for (let i = 0; i < fired; i++) {
          const id = out[i * WORDS];
          assert.strictEqual(out[i * WORDS + 1], id ^ 0x5a5a, "payload intact");
          assert.ok(due_ids.has(id), `seed ${seed} step ${step}: id ${id} fired early`);
          fired_ids.add(id);
        }
        assert.strictEqual(fired_ids.size, fired, "each timer fires once");
        if (fired < max) {
          assert.strictEqual(
            fired,
            due.length,
            `seed ${seed} step ${step}: a due timer was held back`,
          );
        }
        gone.push(...model.filter((live) => fired_ids.has(live.id)));
        model = model.filter((live) => !fired_ids.has(live.id));
        fired_total += fired;
      }
      assert.strictEqual(wheel.in_use, model.length);
    }
    // drain: everything left fires once its time comes
    const last = model.length > 0 ? fire_tick(model[model.length - 1].deadline) : now;
    now = Math.max(now, last);
    let drained = 0;
    for (let fired; (fired = expire(wheel, now, 16).length) > 0;) drained += fired;
    assert.strictEqual(drained, model.length);
    assert.strictEqual(wheel.in_use, 0);
    assert.strictEqual(wheel.fired, fired_total + drained);
    assert.strictEqual(wheel.scheduled, wheel.fired + wheel.cancelled);
    assert.ok(wheel.pool_full > 0, "the run reached a full pool");
    assert.strictEqual(wheel.bad_args, 0);
  }
});
