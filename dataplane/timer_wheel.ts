// A hashed timing wheel (Varghese & Lauck, "scheme 6") over a fixed pool of
// timer entries, for the poll loops' hand-off retransmissions, 408 time-outs
// and response/FIN retransmissions: a timer fires within one tick of its
// deadline (plus the gap between two timer_expire calls) however many flows
// the flow table holds. Everything lives in typed arrays made by
// create_timer_wheel; schedule, cancel, pending and expire allocate nothing
// and never throw: a bad argument is ignored and counted on the wheel.
//
// Time. The caller's clock is `performance.now()`-style milliseconds as a
// double. Ticks are `tick_ms` wide and tick k starts at `k * tick_ms` (that
// exact float product). A deadline is stored as the absolute tick whose start
// is the first at or after it, a safe integer in a Float64Array, and the timer
// fires on the first timer_expire call whose now_ms has reached that start:
// never early, at most one tick late. (Checking the exact ms deadline instead
// would make every call rescan the timers of the current tick; with ticks, a
// call that finds the tick unchanged costs O(1).) Absolute ticks never wrap
// (2^50 of them is 35,000 years at 1 ms), so there is no half-range ambiguity
// as with the int32 `deadline_passed` ms deadlines of seq.ts, and any horizon
// up to that bound is as cheap as the next tick.
// Inputs beyond ±2^50 ticks, NaN and infinities are refused and counted.
//
// Buckets. `slots` buckets (a power of two); a deadline tick d lives in bucket
// `d & mask` whatever its revolution, so a far deadline costs one skipped
// look per revolution and needs no hierarchy. Each bucket is a circular
// doubly-linked list threaded through `next`/`prev` with its own sentinel
// node (index capacity + bucket), so cancel unlinks in O(1) without knowing
// the bucket. One more list, the due list (sentinel capacity + slots), holds
// timers scheduled for a tick the cursor has already passed: they fire on the
// very next timer_expire call.
//
// Invariants:
// - every bucket entry has deadline tick >= cursor_tick; every due-list entry
//   has deadline tick < cursor_tick <= now_tick + 1;
// - a timer fires only from a call whose now_ms is at or past its deadline
//   (with `tick_ms * d >= deadline_ms` and `tick_ms * t <= now_ms`, d <= t
//   implies deadline_ms <= now_ms, in the float arithmetic itself);
// - one timer_expire call visits at most `slots` buckets: after a long pause
//   a single pass over every bucket fires everything due, then the cursor
//   jumps to now; a call stopped by `max` leaves the cursor on the bucket it
//   stopped in, so nothing due is skipped.
//
// Handles. timer_schedule returns an entry index; `wheel.serial[entry]` is
// that scheduling's serial. Entries are reused as soon as they fire or are
// cancelled, and a flow's retransmission timer is routinely cancelled after
// it fired (the ACK and the time-out cross), so a bare index could cancel
// another flow's newer timer: timer_cancel and timer_pending act only when
// (entry, serial) still match. Serials skip 0, so zeroed flow words (entry 0,
// serial 0) never name a live timer. Payloads name flows by key, not by flow
// table index: backward-shift deletion moves flows between slots, so whoever
// handles a fired timer looks its flow up again and checks the payload's
// token against it.

/** Largest |tick| accepted: keeps k * tick_ms strictly increasing and exact enough. */
const MAX_TICK = 2 ** 50;

export interface TimerWheelOptions {
  /** Timer entries in the pool; an integer in [1, 2^24]. */
  capacity: number;
  /** Buckets; a power of two in [1, 2^24]. One revolution is slots * tick_ms. */
  slots: number;
  /** Tick width in ms; finite and > 0 (e.g. 1 or 4). */
  tick_ms: number;
  /** Int32 words of caller payload per timer (e.g. a flow's 4-tuple words and a token); >= 0. */
  payload_words: number;
  /** The caller's clock at creation; the wheel's time starts in this tick. */
  now_ms: number;
}

export interface TimerWheel {
  readonly capacity: number;
  readonly slots: number;
  readonly mask: number;
  readonly tick_ms: number;
  readonly payload_words: number;
  /** Entry e's payload is payload[e * payload_words, (e + 1) * payload_words); zeroed by timer_schedule. */
  readonly payload: Int32Array;
  /** Serial of each entry's latest scheduling (never 0 once scheduled). */
  readonly serial: Int32Array;
  /** 1 while an entry is scheduled, 0 while free. */
  readonly state: Uint8Array;
  /** Absolute deadline tick of each scheduled entry (safe integer). */
  readonly deadline_tick: Float64Array;
  /** List links over entries [0, capacity) and sentinels [capacity, capacity + slots]; next also chains the free list. */
  readonly next: Int32Array;
  readonly prev: Int32Array;
  /** First free entry, or -1 when the pool is used up. */
  free_head: number;
  /** First tick whose bucket has not been fully processed. */
  cursor_tick: number;
  /** Latest tick timer_expire has seen (time never goes back for the wheel). */
  now_tick: number;
  // counters (plain numbers, read them directly)
  /** Timers scheduled (including those later cancelled). */
  scheduled: number;
  /** Timers fired by timer_expire. */
  fired: number;
  /** Timers cancelled by timer_cancel. */
  cancelled: number;
  /** timer_schedule calls refused because every entry was in use. */
  pool_full: number;
  /** Entries scheduled right now. */
  in_use: number;
  /** Calls whose arguments were ignored or clamped (entry out of range, NaN, out too short, ...). */
  bad_args: number;
  /** timer_cancel calls naming a timer that already fired, was cancelled or was reused. */
  cancel_misses: number;
  /** timer_expire calls whose now_ms was earlier than an earlier call's; they act at the latest time seen. */
  clock_backwards: number;
}

/**
 * A wheel with every entry free. Throws RangeError on bad options, as
 * create_flow_table does: a configuration error at start-up, never on a
 * packet path.
 */
export function create_timer_wheel(options: TimerWheelOptions): TimerWheel {
  const { capacity, slots, tick_ms, payload_words, now_ms } = options;
  if (!Number.isInteger(capacity) || capacity < 1 || capacity > 1 << 24) {
    throw new RangeError(`timer wheel capacity must be an integer in [1, 2^24], got ${capacity}`);
  }
  if (!Number.isInteger(slots) || slots < 1 || slots > 1 << 24 || (slots & (slots - 1)) !== 0) {
    throw new RangeError(`timer wheel slots must be a power of two in [1, 2^24], got ${slots}`);
  }
  if (!(tick_ms > 0 && tick_ms < Infinity)) {
    throw new RangeError(`timer wheel tick_ms must be finite and > 0, got ${tick_ms}`);
  }
  if (!Number.isInteger(payload_words) || payload_words < 0 || payload_words > 1 << 16) {
    throw new RangeError(
      `timer wheel payload_words must be an integer in [0, 2^16], got ${payload_words}`,
    );
  }
  if (!(Math.abs(now_ms / tick_ms) <= MAX_TICK)) {
    throw new RangeError(`timer wheel now_ms must be finite and within 2^50 ticks, got ${now_ms}`);
  }
  const nodes = capacity + slots + 1;
  const next = new Int32Array(nodes);
  const prev = new Int32Array(nodes);
  // free list: 0 -> 1 -> ... -> capacity - 1 -> -1
  for (let entry = 0; entry < capacity; entry++) {
    next[entry] = entry + 1 < capacity ? entry + 1 : -1;
  }
  // every bucket and the due list start as empty circles on their sentinel
  for (let sentinel = capacity; sentinel < nodes; sentinel++) {
    next[sentinel] = sentinel;
    prev[sentinel] = sentinel;
  }
  const now_tick = tick_at(tick_ms, now_ms);
  return {
    capacity,
    slots,
    mask: slots - 1,
    tick_ms,
    payload_words,
    payload: new Int32Array(capacity * payload_words),
    serial: new Int32Array(capacity),
    state: new Uint8Array(capacity),
    deadline_tick: new Float64Array(capacity),
    next,
    prev,
    free_head: 0,
    cursor_tick: now_tick,
    now_tick,
    scheduled: 0,
    fired: 0,
    cancelled: 0,
    pool_full: 0,
    in_use: 0,
    bad_args: 0,
    cancel_misses: 0,
    clock_backwards: 0,
  };
}

/**
 * Schedules a timer for deadline_ms (caller's clock) and returns its entry, or
 * -1 when the pool is used up (counted in pool_full) or deadline_ms is NaN,
 * infinite or beyond 2^50 ticks (counted in bad_args). The entry's payload is
 * zeroed: write it at timer_payload_offset(wheel, entry) in wheel.payload
 * before the next timer_expire, and keep wheel.serial[entry] to cancel it. A
 * deadline at or before the start of the latest tick timer_expire has seen
 * fires on the next call; one later in that tick fires once the next tick
 * starts (never early).
 */
export function timer_schedule(wheel: TimerWheel, deadline_ms: number): number {
  const tick_ms = wheel.tick_ms;
  if (!(Math.abs(deadline_ms / tick_ms) <= MAX_TICK)) {
    wheel.bad_args++;
    return -1;
  }
  const entry = wheel.free_head;
  if (entry < 0) {
    wheel.pool_full++;
    return -1;
  }
  const next = wheel.next;
  wheel.free_head = next[entry];

  // first tick starting at or after the deadline, in the float products the
  // expire side compares against (so d <= t really means deadline <= now)
  let d = Math.ceil(deadline_ms / tick_ms);
  while (d * tick_ms < deadline_ms) d++;
  while ((d - 1) * tick_ms >= deadline_ms) d--;

  let serial = (wheel.serial[entry] + 1) | 0;
  if (serial === 0) serial = 1;
  wheel.serial[entry] = serial;
  wheel.state[entry] = 1;
  wheel.deadline_tick[entry] = d;
  const words = wheel.payload_words;
  if (words > 0) wheel.payload.fill(0, entry * words, entry * words + words);

  // a tick the cursor has passed will not be visited again: due list
  const sentinel = d < wheel.cursor_tick
    ? wheel.capacity + wheel.slots
    : wheel.capacity + (d & wheel.mask);
  const prev = wheel.prev;
  const tail = prev[sentinel];
  prev[entry] = tail;
  next[entry] = sentinel;
  next[tail] = entry;
  prev[sentinel] = entry;

  wheel.scheduled++;
  wheel.in_use++;
  return entry;
}

/** Start of the entry's words in wheel.payload. */
export function timer_payload_offset(wheel: TimerWheel, entry: number): number {
  return entry * wheel.payload_words;
}

/**
 * True while (entry, serial) names a scheduled timer. Positional (style
 * exception): called per packet when a flow decides whether to re-arm.
 */
export function timer_pending(wheel: TimerWheel, entry: number, serial: number): boolean {
  return entry >= 0 && entry < wheel.capacity && wheel.state[entry] === 1 &&
    wheel.serial[entry] === serial;
}

/**
 * Cancels the timer (entry, serial) in O(1); returns 1 if it was pending,
 * else 0. A handle whose timer already fired, was cancelled, or whose entry
 * now holds a newer timer does nothing (counted in cancel_misses), so
 * cancelling twice or late is harmless; an entry out of range is counted in
 * bad_args. Positional (style exception): called per packet, e.g. when an ACK
 * ends a retransmission.
 */
export function timer_cancel(wheel: TimerWheel, entry: number, serial: number): number {
  if (!(entry >= 0 && entry < wheel.capacity) || entry !== Math.floor(entry)) {
    wheel.bad_args++;
    return 0;
  }
  if (wheel.state[entry] !== 1 || wheel.serial[entry] !== serial) {
    wheel.cancel_misses++;
    return 0;
  }
  release(wheel, entry);
  wheel.cancelled++;
  return 1;
}

/**
 * Fires the timers due at now_ms, at most `max` of them: copies each one's
 * payload into `out` (payload_words words each, one after another), frees its
 * entry and returns how many fired. Timers due and left over because of
 * `max` fire on the next call. One call visits at most `slots` buckets
 * (catching up after a long pause takes one pass over the wheel, not one per
 * revolution missed). `max` is clamped to what `out` holds (counted in
 * bad_args); NaN or infinite now_ms does nothing (counted). Call once per
 * poll round. Positional (style exception): the poll loop's timer step.
 */
export function timer_expire(
  wheel: TimerWheel,
  now_ms: number,
  out: Int32Array,
  max: number,
): number {
  const tick_ms = wheel.tick_ms;
  if (!(Math.abs(now_ms / tick_ms) <= MAX_TICK) || !(max >= 0)) {
    wheel.bad_args++;
    return 0;
  }
  const words = wheel.payload_words;
  let limit = Math.floor(max);
  if (words > 0 && limit * words > out.length) {
    limit = Math.floor(out.length / words);
    wheel.bad_args++;
  }

  let now_tick = tick_at(tick_ms, now_ms);
  if (now_tick < wheel.now_tick) {
    wheel.clock_backwards++;
    now_tick = wheel.now_tick;
  } else {
    wheel.now_tick = now_tick;
  }

  const next = wheel.next;
  const deadline_tick = wheel.deadline_tick;
  let fired = 0;

  // timers scheduled for ticks already processed: all due
  const due = wheel.capacity + wheel.slots;
  let entry = next[due];
  while (entry !== due && fired < limit) {
    const after = next[entry];
    fire(wheel, entry, out, fired);
    fired++;
    entry = after;
  }

  // buckets from the cursor up to now, one revolution at most: firing every
  // deadline <= now_tick on the way also covers the revolutions skipped
  let tick = wheel.cursor_tick;
  const visits = Math.min(now_tick - tick + 1, wheel.slots);
  let stopped = false;
  for (let visit = 0; visit < visits; visit++, tick++) {
    const sentinel = wheel.capacity + (tick & wheel.mask);
    entry = next[sentinel];
    while (entry !== sentinel) {
      const after = next[entry];
      if (deadline_tick[entry] <= now_tick) {
        if (fired === limit) {
          // this bucket still holds a due timer: resume here next call
          stopped = true;
          break;
        }
        fire(wheel, entry, out, fired);
        fired++;
      }
      entry = after;
    }
    if (stopped) break;
  }
  // all buckets visited without stopping: everything <= now_tick has fired
  if (visits > 0) wheel.cursor_tick = stopped ? tick : now_tick + 1;

  wheel.fired += fired;
  return fired;
}

// Copies the entry's payload to out at slot `index` and frees the entry.
function fire(wheel: TimerWheel, entry: number, out: Int32Array, index: number): void {
  const words = wheel.payload_words;
  const payload = wheel.payload;
  const from = entry * words;
  const to = index * words;
  for (let word = 0; word < words; word++) out[to + word] = payload[from + word];
  release(wheel, entry);
}

// Unlinks a scheduled entry from its list and pushes it on the free list.
function release(wheel: TimerWheel, entry: number): void {
  const next = wheel.next;
  const prev = wheel.prev;
  const before = prev[entry];
  const after = next[entry];
  next[before] = after;
  prev[after] = before;
  wheel.state[entry] = 0;
  next[entry] = wheel.free_head;
  prev[entry] = -1;
  wheel.free_head = entry;
  wheel.in_use--;
}

// The tick now_ms lies in: the largest t with t * tick_ms <= now_ms, in the
// same float products timer_schedule uses for deadlines.
function tick_at(tick_ms: number, now_ms: number): number {
  let tick = Math.floor(now_ms / tick_ms);
  while (tick * tick_ms > now_ms) tick--;
  while ((tick + 1) * tick_ms <= now_ms) tick++;
  return tick;
}
