// The agent's replay cache, step by step with a fixed clock: a hand-off is
// not a replay until it has finished (ended, refused, cancelled); after
// that every copy is, with the refusal's NACK to repeat; the entry outlives
// every copy that could still be fresh (2 × the freshness bound) and then
// goes; a full cache evicts its oldest entry and counts it.

import assert from "node:assert/strict";
import {
  create_replay_cache,
  handoff_finished,
  handoff_seen,
  sweep_replay_cache,
} from "../../../control/agent/replay_cache.ts";
import { NACK_TABLE_FULL } from "../../../dataplane/wire/mod.ts";

const EPOCH = 0x5eed;

Deno.test("replay cache: live hand-offs pass, finished ones are replays", () => {
  const cache = create_replay_cache({ freshness_ms: 10_000 });
  // first copy and a retransmission while it is being adopted: both go to the dataplane
  assert.deepEqual(handoff_seen(cache, EPOCH, 1), { replay: false });
  assert.deepEqual(handoff_seen(cache, EPOCH, 1), { replay: false });
  // the flow ends (FLOW_END event): from now on a copy is a replay, answered with nothing
  handoff_finished(cache, EPOCH, 1, 1_000);
  assert.deepEqual(handoff_seen(cache, EPOCH, 1), { replay: true });
  // another id of the same epoch, and the same id of another epoch, are other hand-offs
  assert.deepEqual(handoff_seen(cache, EPOCH, 2), { replay: false });
  assert.deepEqual(handoff_seen(cache, EPOCH + 1, 1), { replay: false });
});

Deno.test("replay cache: a refused hand-off's copies get the same NACK again", () => {
  const cache = create_replay_cache({ freshness_ms: 10_000 });
  handoff_finished(cache, EPOCH, 7, 0, NACK_TABLE_FULL);
  assert.deepEqual(handoff_seen(cache, EPOCH, 7), { replay: true, nack: NACK_TABLE_FULL });
});

Deno.test("replay cache: a cancel before the hand-off makes its late copy a replay", () => {
  const cache = create_replay_cache({ freshness_ms: 10_000 });
  handoff_finished(cache, EPOCH, 9, 0); // HANDOFF_CANCEL arrived first (the HANDOFF was late)
  assert.deepEqual(handoff_seen(cache, EPOCH, 9), { replay: true });
});

Deno.test("replay cache: entries last 2 × freshness after they finish, then go", () => {
  const cache = create_replay_cache({ freshness_ms: 10_000 });
  handoff_finished(cache, EPOCH, 1, 1_000);
  handoff_finished(cache, EPOCH, 2, 5_000);
  sweep_replay_cache(cache, 20_999);
  assert.deepEqual(handoff_seen(cache, EPOCH, 1), { replay: true }, "19.999 s: still held");
  sweep_replay_cache(cache, 21_000);
  assert.deepEqual(handoff_seen(cache, EPOCH, 1), { replay: false }, "20 s: gone");
  assert.deepEqual(handoff_seen(cache, EPOCH, 2), { replay: true });
  // finishing again (a refusal repeated later) moves it to the back of the queue
  handoff_finished(cache, EPOCH, 2, 30_000, NACK_TABLE_FULL);
  sweep_replay_cache(cache, 45_000);
  assert.deepEqual(handoff_seen(cache, EPOCH, 2), { replay: true, nack: NACK_TABLE_FULL });
  sweep_replay_cache(cache, 50_000);
  assert.equal(cache.finished.size, 0);
});

Deno.test("replay cache: the sweep looks at no more than it is allowed", () => {
  const cache = create_replay_cache({ freshness_ms: 1_000 });
  for (let id = 1; id <= 100; id++) handoff_finished(cache, EPOCH, id, 0);
  sweep_replay_cache(cache, 10_000, 30);
  assert.equal(cache.finished.size, 70);
  sweep_replay_cache(cache, 10_000);
  assert.equal(cache.finished.size, 0);
});

Deno.test("replay cache: at capacity the oldest is evicted and counted", () => {
  const cache = create_replay_cache({ freshness_ms: 10_000, capacity: 3 });
  for (let id = 1; id <= 5; id++) handoff_finished(cache, EPOCH, id, id);
  assert.equal(cache.finished.size, 3);
  assert.equal(cache.counters.replay_cache_evicted, 2);
  assert.deepEqual(handoff_seen(cache, EPOCH, 1), { replay: false });
  assert.deepEqual(handoff_seen(cache, EPOCH, 5), { replay: true });
});
