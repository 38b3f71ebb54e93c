// The agent's replay cache: the hand-offs (epoch, id) it has finished with
// — the flow ended, the dataplane refused it, or the director cancelled it
// — so that a copy of such a HANDOFF arriving later is dropped (counted as
// a replay) instead of being adopted again. A copy of a hand-off that is
// still live is not in here: it goes on to the dataplane, which answers a
// duplicate without adopting twice.
//
// An entry has to last only while a copy could still pass the freshness
// check. Every copy the director sends is stamped when sent (it re-stamps
// retransmissions) and before it hears the end of the hand-off, and a
// receiver accepts sent_at within freshness_ms of its own clock either way;
// with the two clocks less than freshness_ms apart, holding an entry for
// 2 × freshness_ms after the hand-off ended outlasts every copy. Entries
// live in a Map in the order they were finished (= the order they expire),
// so the sweep only looks at the oldest. At capacity the oldest entry is
// evicted and counted: a sustained rate of more than capacity / hold
// hand-offs per second would reopen the oldest for replay, and shows.

import type { NackReason } from "../../dataplane/wire/mod.ts";

/** Finished hand-offs kept at most: 2 × 10 s at over 13,000 hand-offs/s. */
export const REPLAY_CACHE_CAPACITY = 1 << 18;

interface Finished {
  /** When it finished (the caller's monotonic clock, ms). */
  at: number;
  /** The NACK it was refused with (a copy gets it again); undefined: ended or cancelled. */
  nack?: NackReason;
}

export interface ReplayCache {
  /** "epoch:id" → when it finished; oldest first. */
  finished: Map<string, Finished>;
  hold_ms: number;
  capacity: number;
  counters: { replay_cache_evicted: number };
}

export function create_replay_cache(
  options: { freshness_ms: number; capacity?: number },
): ReplayCache {
  return {
    finished: new Map(),
    hold_ms: 2 * options.freshness_ms,
    capacity: options.capacity ?? REPLAY_CACHE_CAPACITY,
    counters: { replay_cache_evicted: 0 },
  };
}

export type HandoffSeen =
  /** Not finished here: pass it on (the dataplane adopts it, or answers a duplicate). */
  | { replay: false }
  /** Finished already: drop it; a refused one gets its NACK again. */
  | { replay: true; nack?: NackReason };

/** What to do with an authentic, fresh HANDOFF for (epoch, id). */
export function handoff_seen(cache: ReplayCache, epoch: number, id: number): HandoffSeen {
  const finished = cache.finished.get(cache_key(epoch, id));
  if (!finished) return { replay: false };
  return finished.nack === undefined ? { replay: true } : { replay: true, nack: finished.nack };
}

/** (epoch, id) is finished: its flow ended, it was refused (nack), or cancelled. */
export function handoff_finished(
  cache: ReplayCache,
  epoch: number,
  id: number,
  now: number,
  nack?: NackReason,
): void {
  const key = cache_key(epoch, id);
  // re-inserted, so the Map stays in the order entries expire
  cache.finished.delete(key);
  while (cache.finished.size >= cache.capacity) {
    const oldest = cache.finished.keys().next().value as string;
    cache.finished.delete(oldest);
    cache.counters.replay_cache_evicted++;
  }
  cache.finished.set(key, nack === undefined ? { at: now } : { at: now, nack });
}

/** Forgets the entries no copy could still be fresh for; at most max_scan of them per call. */
export function sweep_replay_cache(cache: ReplayCache, now: number, max_scan = 4096): void {
  let scanned = 0;
  for (const [key, finished] of cache.finished) {
    if (scanned++ >= max_scan || now - finished.at < cache.hold_ms) return;
    cache.finished.delete(key);
  }
}

function cache_key(epoch: number, id: number): string {
  return `${epoch >>> 0}:${id >>> 0}`;
}
