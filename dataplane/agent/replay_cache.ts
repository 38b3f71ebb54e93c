// The agent's replay cache: the hand-offs (epoch, id) it has finished with
// — the flow ended, the hand-off was refused, or the director cancelled it
// — so that a copy of such a HANDOFF arriving later is dropped (counted as
// a replay) instead of being adopted again. A copy of a hand-off that is
// still live is not in here: it goes on to agent_adopt, which answers a
// duplicate without adopting twice.
//
// A window per director epoch, as IPsec's anti-replay window (RFC 4303
// section 3.4.3) keeps one per SA: a director pipeline numbers its
// hand-offs 1, 2, 3, … under its epoch (director/handoff.ts next_id; its
// answers.ts relies on the same order), so the cache keeps, per epoch, the
// highest id seen (`top`) and one byte per id for the `window` ids up to
// it: 0 while not finished, FINISHED | the refusal's NACK once finished.
// An id above top moves the window up (the bytes of the ids it leaves are
// reused); an id at or below top − window is too old to tell, and is never
// adopted: replay_seen says TOO_OLD, handoff_in.ts drops it unless its flow
// is live here (a retransmission). So memory does not grow with the rate:
// it fails closed instead. The old cache (2^18 entries held 20 s) evicted
// the oldest at over 13k hand-offs/s and so reopened it for replay; the
// agent adopts over 150k/s on one core.
//
// What the window must cover: the ids a director hands out (to every
// server) between a hand-off's first copy and its last copy reaching this
// agent, its retransmission span (rto × (2^(tries−1) − 1): 350 ms by
// default) plus the network's delay. At 2^17 ids that is 0.65 s at 200k
// hand-offs/s, about one director core's ceiling. A copy later than that is
// dropped (its director retries, then fails over to the next server), never
// adopted.
//
// How long an epoch is kept: every copy is stamped when sent (retransmissions
// afresh) and accepted within freshness_ms of the agent's clock either way,
// and no copy of a finished hand-off is sent more than the retransmission
// span after the agent first saw it. So with the clocks' skew plus that span
// under freshness_ms, no copy of an epoch is fresh 2 × freshness_ms after
// the agent last saw or finished one of its hand-offs: the epoch's slot is
// freed then. A new epoch when every slot is held (more director pipelines
// or restarts within 2 × freshness than REPLAY_EPOCHS: a set-up error) is
// refused: its hand-offs are dropped and counted (EPOCHS_FULL).
//
// In typed arrays; nothing here allocates after create_replay_cache or
// throws.

/** Ids per epoch the window covers by default (a power of two). */
export const REPLAY_WINDOW = 1 << 17;
/** Director epochs held at once by default. */
export const REPLAY_EPOCHS = 64;

/** What replay_seen says of a hand-off that has not finished here. */
export const NOT_FINISHED = -1;
/** An id at or below its epoch's top − window: it cannot be told from a replay. */
export const TOO_OLD = -2;
/** A new epoch and no slot for it. */
export const EPOCHS_FULL = -3;

/** Set in an id's byte once its hand-off finished (the low bits: its NACK, 0 if none). */
const FINISHED = 0x80;

export interface ReplayCache {
  /** Ids per epoch (a power of two) and its mask. */
  window: number;
  mask: number;
  /** Epoch slots; a slot is free when used[slot] is 0. */
  epochs: number;
  used: Uint8Array;
  epoch: Int32Array;
  /** The highest id seen of the epoch. */
  top: Int32Array;
  /** When the epoch was last seen or finished a hand-off (the caller's clock). */
  active_at: Float64Array;
  /** window bytes per slot, indexed by id & mask. */
  ids: Uint8Array;
  /** Epochs held now. */
  count: number;
  /** The slot found last (most hand-offs come from one director pipeline). */
  last: number;
  /** An epoch's slot is freed this long after its last activity: 2 × freshness. */
  hold_ms: number;
  /** When the sweep looks next (it runs at most once a SWEEP_EVERY_MS). */
  sweep_at: number;
}

/** A slot is freed up to this much later than hold_ms allows: kept longer, never shorter. */
const SWEEP_EVERY_MS = 1000;

export function create_replay_cache(
  options: { freshness_ms: number; window?: number; epochs?: number },
): ReplayCache {
  let window = 1;
  while (window < (options.window ?? REPLAY_WINDOW)) window *= 2;
  const epochs = Math.max(1, options.epochs ?? REPLAY_EPOCHS);
  return {
    window,
    mask: window - 1,
    epochs,
    used: new Uint8Array(epochs),
    epoch: new Int32Array(epochs),
    top: new Int32Array(epochs),
    active_at: new Float64Array(epochs),
    ids: new Uint8Array(epochs * window),
    count: 0,
    last: 0,
    hold_ms: 2 * options.freshness_ms,
    sweep_at: 0,
  };
}

/** Epochs held now. */
export function replay_cache_size(cache: ReplayCache): number {
  return cache.count;
}

/**
 * What to do with an authentic, fresh HANDOFF for (epoch, id), seen at
 * `now`: NOT_FINISHED (adopt it, or let agent_adopt answer a duplicate), 0
 * (finished: drop it), the NACK code it was refused with (drop it and
 * repeat that NACK), TOO_OLD or EPOCHS_FULL (drop it unless its flow is
 * live here). It moves the epoch's window up to id.
 */
export function replay_seen(cache: ReplayCache, epoch: number, id: number, now: number): number {
  const slot = epoch_slot(cache, epoch, id, now);
  if (slot < 0) return EPOCHS_FULL;
  const at = id_at(cache, slot, id);
  if (at < 0) return TOO_OLD;
  const byte = cache.ids[at];
  return byte === 0 ? NOT_FINISHED : byte & ~FINISHED;
}

/** (epoch, id) is finished at `now`: its flow ended, it was refused (nack > 0) or cancelled (0). */
export function replay_finished(
  cache: ReplayCache,
  epoch: number,
  id: number,
  now: number,
  nack: number,
): void {
  const slot = epoch_slot(cache, epoch, id, now);
  if (slot < 0) return; // its copies are dropped too while no slot is free (EPOCHS_FULL)
  const at = id_at(cache, slot, id);
  // below the window: every copy of it is dropped as TOO_OLD already
  if (at >= 0) cache.ids[at] = FINISHED | (nack & 0x7f);
}

/** Frees the slots of epochs no copy could still be fresh for (at most once a second). */
export function sweep_replay_cache(cache: ReplayCache, now: number): void {
  if (cache.count === 0 || now < cache.sweep_at) return;
  cache.sweep_at = now + SWEEP_EVERY_MS;
  for (let slot = 0; slot < cache.epochs; slot++) {
    if (cache.used[slot] === 1 && now - cache.active_at[slot] >= cache.hold_ms) {
      cache.used[slot] = 0;
      cache.count--;
    }
  }
}

/**
 * The slot of the epoch (made if new, its window at id), its window moved
 * up to id and its activity noted; −1 when it is new and no slot is free.
 */
function epoch_slot(cache: ReplayCache, epoch: number, id: number, now: number): number {
  const e = epoch | 0;
  let slot = cache.last;
  if (cache.used[slot] === 0 || cache.epoch[slot] !== e) {
    slot = -1;
    let free = -1;
    for (let k = 0; k < cache.epochs && slot < 0; k++) {
      if (cache.used[k] === 0) {
        if (free < 0) free = k;
      } else if (cache.epoch[k] === e) {
        slot = k;
      }
    }
    if (slot < 0) return new_epoch(cache, free, e, id, now);
    cache.last = slot;
  }
  cache.active_at[slot] = now;
  advance(cache, slot, id | 0);
  return slot;
}

/** A slot for an epoch seen for the first time (its window at id), or −1 when none is free. */
function new_epoch(cache: ReplayCache, free: number, e: number, id: number, now: number): number {
  if (free < 0) return -1;
  cache.used[free] = 1;
  cache.count++;
  cache.epoch[free] = e;
  cache.top[free] = id | 0;
  cache.active_at[free] = now;
  // no id of the epoch finished here yet
  const base = free * cache.window;
  cache.ids.fill(0, base, base + cache.window);
  cache.last = free;
  return free;
}

/** Moves the slot's window up to id (wrap-aware): the bytes of the ids it now covers start at 0. */
function advance(cache: ReplayCache, slot: number, id: number): void {
  const top = cache.top[slot];
  const ahead = (id - top) | 0;
  if (ahead <= 0) return;
  cache.top[slot] = id;
  const base = slot * cache.window;
  if (ahead >= cache.window) {
    cache.ids.fill(0, base, base + cache.window);
    return;
  }
  // ids top + 1 .. id take the bytes of top + 1 − window .. id − window
  const from = (top + 1) & cache.mask;
  const end = from + ahead;
  if (end <= cache.window) {
    cache.ids.fill(0, base + from, base + end);
  } else {
    cache.ids.fill(0, base + from, base + cache.window);
    cache.ids.fill(0, base, base + end - cache.window);
  }
}

/** Where id's byte is in the slot's window, or −1 when id is at or below top − window. */
function id_at(cache: ReplayCache, slot: number, id: number): number {
  const behind = (cache.top[slot] - id) | 0;
  if (behind < 0 || behind >= cache.window) return -1;
  return slot * cache.window + (id & cache.mask);
}
