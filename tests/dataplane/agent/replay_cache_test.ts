// The agent's replay cache (dataplane/agent/replay_cache.ts), step by step
// with a fixed clock: a hand-off is not a replay until it has finished
// (ended, refused, cancelled); after that every copy is, with the
// refusal's NACK to repeat; an id at or below its epoch's top − window is
// too old to tell and never passes; an epoch is held 2 × the freshness
// bound after its last hand-off, then its slot goes; a new epoch with no
// slot free is refused. Last, random operations against a plain model of
// the window.

import assert from "node:assert/strict";
import {
  create_replay_cache,
  EPOCHS_FULL,
  NOT_FINISHED,
  replay_cache_size,
  replay_finished,
  replay_seen,
  sweep_replay_cache,
  TOO_OLD,
} from "../../../dataplane/agent/replay_cache.ts";
import { NACK_STACK_TIMEOUT, NACK_TABLE_FULL } from "../../../dataplane/wire/mod.ts";
import { mulberry32 } from "../../support/random.ts";

const EPOCH = 0x5eed;
/** Finished, nothing to repeat. */
const REPLAY = 0;

Deno.test("replay cache: live hand-offs pass, finished ones are replays", () => {
  const cache = create_replay_cache({ freshness_ms: 10_000 });
  // first copy and a retransmission while it is being adopted: both go on to adoption
  assert.equal(replay_seen(cache, EPOCH, 1, 0), NOT_FINISHED);
  assert.equal(replay_seen(cache, EPOCH, 1, 0), NOT_FINISHED);
  // the flow ends: from now on a copy is a replay, answered with nothing
  replay_finished(cache, EPOCH, 1, 1_000, 0);
  assert.equal(replay_seen(cache, EPOCH, 1, 1_000), REPLAY);
  // another id of the same epoch, and the same id of another epoch, are other hand-offs
  assert.equal(replay_seen(cache, EPOCH, 2, 1_000), NOT_FINISHED);
  assert.equal(replay_seen(cache, EPOCH + 1, 1, 1_000), NOT_FINISHED);
  assert.equal(replay_cache_size(cache), 2, "one slot per epoch");
});

Deno.test("replay cache: epochs with the top bit set are kept apart; ids wrap around 2^32", () => {
  const cache = create_replay_cache({ freshness_ms: 10_000 });
  replay_finished(cache, 0xdecafbad | 0, 0xffff_fffe | 0, 0, 0);
  assert.equal(replay_seen(cache, 0xdecafbad | 0, 0xffff_fffe | 0, 0), REPLAY);
  assert.equal(replay_seen(cache, 0x5ecafbad, 0xffff_fffe | 0, 0), NOT_FINISHED);
  // the director's ids go on past 2^32 (it skips 0): the window moves up, what finished stays
  assert.equal(replay_seen(cache, 0xdecafbad | 0, 1, 0), NOT_FINISHED);
  assert.equal(replay_seen(cache, 0xdecafbad | 0, 0xffff_fffe | 0, 0), REPLAY);
  assert.equal(replay_seen(cache, 0xdecafbad | 0, 0xffff_ffff | 0, 0), NOT_FINISHED);
});

Deno.test("replay cache: a refused hand-off's copies get the same NACK again", () => {
  const cache = create_replay_cache({ freshness_ms: 10_000 });
  replay_finished(cache, EPOCH, 7, 0, NACK_TABLE_FULL);
  assert.equal(replay_seen(cache, EPOCH, 7, 0), NACK_TABLE_FULL);
  // finished again (refused, then cancelled): the last word stands
  replay_finished(cache, EPOCH, 7, 0, NACK_STACK_TIMEOUT);
  assert.equal(replay_seen(cache, EPOCH, 7, 0), NACK_STACK_TIMEOUT);
});

Deno.test("replay cache: a cancel before the hand-off makes its late copy a replay", () => {
  const cache = create_replay_cache({ freshness_ms: 10_000 });
  replay_finished(cache, EPOCH, 9, 0, 0); // HANDOFF_CANCEL arrived first (the HANDOFF was late)
  assert.equal(replay_seen(cache, EPOCH, 9, 0), REPLAY);
});

Deno.test("replay cache: an id at or below top − window is too old, whatever it was", () => {
  const cache = create_replay_cache({ freshness_ms: 10_000, window: 8 });
  replay_finished(cache, EPOCH, 100, 0, 0);
  assert.equal(replay_seen(cache, EPOCH, 93, 0), NOT_FINISHED, "top − 7: in the window");
  assert.equal(replay_seen(cache, EPOCH, 92, 0), TOO_OLD, "top − 8: not");
  // the window moves up with the ids seen; the finished id falls out of it, and stays out
  assert.equal(replay_seen(cache, EPOCH, 107, 0), NOT_FINISHED);
  assert.equal(replay_seen(cache, EPOCH, 100, 0), REPLAY);
  assert.equal(replay_seen(cache, EPOCH, 108, 0), NOT_FINISHED);
  assert.equal(replay_seen(cache, EPOCH, 100, 0), TOO_OLD, "never adopted again");
  // 108 took the byte 100 had: it is not finished
  assert.equal(replay_seen(cache, EPOCH, 108, 0), NOT_FINISHED);
  // finishing an id below the window changes nothing (its copies are too old already)
  replay_finished(cache, EPOCH, 90, 0, NACK_TABLE_FULL);
  assert.equal(replay_seen(cache, EPOCH, 90, 0), TOO_OLD);
  assert.equal(replay_seen(cache, EPOCH, 106, 0), NOT_FINISHED);
  // a jump of more than a window leaves nothing of the old one
  replay_finished(cache, EPOCH, 105, 0, 0);
  assert.equal(replay_seen(cache, EPOCH, 1_000, 0), NOT_FINISHED);
  assert.equal(replay_seen(cache, EPOCH, 105, 0), TOO_OLD);
  for (let id = 993; id <= 1_000; id++) {
    assert.equal(replay_seen(cache, EPOCH, id, 0), NOT_FINISHED);
  }
});

Deno.test("replay cache: an epoch is held 2 × freshness after its last hand-off, then freed", () => {
  const cache = create_replay_cache({ freshness_ms: 10_000 });
  replay_finished(cache, EPOCH, 1, 1_000, 0);
  replay_finished(cache, EPOCH + 1, 1, 1_000, 0);
  replay_seen(cache, EPOCH + 1, 2, 5_000); // EPOCH + 1 is still in use
  sweep_replay_cache(cache, 20_999);
  assert.equal(replay_cache_size(cache), 2, "19.999 s: both held");
  sweep_replay_cache(cache, 21_000);
  assert.equal(replay_cache_size(cache), 2, "the sweep looks once a second");
  sweep_replay_cache(cache, 22_000);
  assert.equal(replay_cache_size(cache), 1, "21 s: EPOCH freed (never earlier than 20 s)");
  assert.equal(replay_seen(cache, EPOCH + 1, 1, 22_000), REPLAY);
  sweep_replay_cache(cache, 41_999);
  assert.equal(replay_cache_size(cache), 1, "EPOCH + 1 was seen again at 22 s");
  sweep_replay_cache(cache, 43_000);
  assert.equal(replay_cache_size(cache), 0);
  // a copy from then on meets an empty window (it would be stale: handoff_in.ts checks first)
  assert.equal(replay_seen(cache, EPOCH, 1, 43_000), NOT_FINISHED);
});

Deno.test("replay cache: a new epoch with every slot held is refused until one is freed", () => {
  const cache = create_replay_cache({ freshness_ms: 1_000, epochs: 2 });
  replay_finished(cache, 1, 5, 0, 0);
  assert.equal(replay_seen(cache, 2, 5, 0), NOT_FINISHED);
  assert.equal(replay_seen(cache, 3, 5, 0), EPOCHS_FULL);
  replay_finished(cache, 3, 6, 0, 0); // nowhere to note it: its copies are refused as well
  assert.equal(replay_seen(cache, 3, 6, 0), EPOCHS_FULL);
  assert.equal(replay_seen(cache, 1, 5, 0), REPLAY, "the epochs held are untouched");
  replay_seen(cache, 2, 7, 1_500);
  sweep_replay_cache(cache, 2_000);
  assert.equal(replay_cache_size(cache), 1, "epoch 1 freed, epoch 2 seen at 1.5 s");
  assert.equal(replay_seen(cache, 3, 5, 2_000), NOT_FINISHED);
  assert.equal(replay_cache_size(cache), 2);
});

Deno.test("replay cache: 200,000 random operations agree with a plain model of the window", () => {
  const random = mulberry32(0xeca);
  const WINDOW = 64;
  const cache = create_replay_cache({ freshness_ms: 10_000, window: WINDOW });
  const epochs = [0x11, 0x8000_0022 | 0, 0x33];
  // per epoch: the highest id seen and what finished (id → NACK)
  const model = epochs.map((_, k) => ({
    top: 0xffff_ff00 + k * 7 | 0,
    finished: new Map<number, number>(),
  }));
  for (const [k, e] of epochs.entries()) replay_seen(cache, e, model[k].top, 0);
  for (let step = 0; step < 200_000; step++) {
    const k = Math.floor(random() * epochs.length);
    const m = model[k];
    // mostly near the top, sometimes ahead by up to two windows
    const id = (m.top + Math.floor(random() * 2.2 * WINDOW) - 1.6 * WINDOW) | 0;
    if (((id - m.top) | 0) > 0) m.top = id;
    const behind = (m.top - id) | 0;
    if (random() < 0.4) {
      const nack = Math.floor(random() * 8);
      replay_finished(cache, epochs[k], id, 0, nack);
      if (behind < WINDOW) m.finished.set(id, nack);
    } else {
      const expected = behind >= WINDOW ? TOO_OLD : m.finished.get(id) ?? NOT_FINISHED;
      assert.equal(replay_seen(cache, epochs[k], id, 0), expected, `step ${step}, id ${id}`);
    }
    // what left the window is forgotten by the model too
    for (const old of m.finished.keys()) if (((m.top - old) | 0) >= WINDOW) m.finished.delete(old);
  }
});
