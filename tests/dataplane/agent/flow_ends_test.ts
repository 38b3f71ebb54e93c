// The agent's unacknowledged FLOW_ENDs (dataplane/agent/flow_ends.ts), on
// its timer wheel with a fixed clock: retransmitted with a growing gap
// (each copy re-stamped by the caller) until the director's FLOW_END_ACK
// for that same hand-off; an ACK naming another hand-off of the same
// 4-tuple does not silence it; after six sends it gives up.

import assert from "node:assert/strict";
import {
  create_flow_ends,
  FE_CLIENT_IP,
  FE_PORTS,
  FE_VIP,
  flow_end_acked,
  FLOW_END_GIVEN_UP,
  flow_end_next,
  flow_end_track,
  flow_ends_due,
  flow_ends_pending,
  type PendingFlowEnds,
} from "../../../dataplane/agent/flow_ends.ts";

const CLIENT = 0xc6120001;
const VIP = 0xc6120064;
const PORTS = (40000 << 16) | 80;

function track(fe: PendingFlowEnds, epoch: number, id: number, now: number): void {
  const at = flow_end_track(fe, epoch, id, now);
  assert.ok(at >= 0);
  fe.table.values[at + FE_CLIENT_IP] = CLIENT | 0;
  fe.table.values[at + FE_VIP] = VIP | 0;
  fe.table.values[at + FE_PORTS] = PORTS;
}

/** The ids sent again at `now` and how many were given up. */
function tick(fe: PendingFlowEnds, now: number) {
  const sent: number[] = [];
  let given_up = 0;
  const due = flow_ends_due(fe, now);
  for (let k = 0; k < due; k++) {
    const at = flow_end_next(fe, k, now);
    if (at === FLOW_END_GIVEN_UP) given_up++;
    else if (at >= 0) sent.push(fe.table.dst_ip[at / fe.table.values_per_flow]);
  }
  return { sent, given_up };
}

Deno.test("FLOW_END: retransmitted until its own ACK; another hand-off's ACK does not count", () => {
  const fe = create_flow_ends({ capacity: 64, now: 0 });
  const sent: number[] = [];
  let retransmits = 0;
  const step = (now: number) => {
    const got = tick(fe, now);
    sent.push(...got.sent);
    retransmits += got.sent.length;
  };
  track(fe, 1, 5, 0);
  step(499);
  assert.deepEqual(sent, [], "not due yet");
  step(500);
  assert.deepEqual(sent, [5]);
  // an ACK of an older hand-off on the same 4-tuple (a replay, or a stale retransmission)
  assert.equal(flow_end_acked(fe, 1, 4, CLIENT, VIP, PORTS), false);
  assert.equal(flow_end_acked(fe, 2, 5, CLIENT, VIP, PORTS), false, "another epoch");
  assert.equal(flow_end_acked(fe, 1, 5, CLIENT, VIP, PORTS + 1), false, "another 4-tuple");
  step(1_499);
  assert.deepEqual(sent, [5], "the second gap is 1 s");
  step(1_500);
  assert.deepEqual(sent, [5, 5]);
  assert.equal(flow_end_acked(fe, 1, 5, CLIENT, VIP, PORTS), true);
  assert.equal(flow_ends_pending(fe), 0);
  step(10_000);
  assert.deepEqual(sent, [5, 5]);
  assert.equal(retransmits, 2);
  assert.equal(flow_end_acked(fe, 1, 5, CLIENT, VIP, PORTS), false, "acknowledged once only");
});

Deno.test("FLOW_END: two hand-offs of one 4-tuple are pending side by side", () => {
  const fe = create_flow_ends({ capacity: 64, now: 0 });
  track(fe, 1, 5, 0);
  track(fe, 1, 6, 0);
  assert.equal(flow_ends_pending(fe), 2);
  assert.equal(flow_end_acked(fe, 1, 6, CLIENT, VIP, PORTS), true);
  assert.equal(flow_ends_pending(fe), 1);
  assert.deepEqual(tick(fe, 500).sent, [5], "the other one is still sent again");
});

Deno.test("FLOW_END: after six sends it gives up, counted", () => {
  const fe = create_flow_ends({ capacity: 64, now: 0 });
  let sends = 1;
  let given_up = 0;
  const at: number[] = [];
  track(fe, 1, 5, 0);
  for (let now = 0; now <= 20_000; now += 100) {
    const got = tick(fe, now);
    sends += got.sent.length;
    if (got.sent.length) at.push(now);
    given_up += got.given_up;
  }
  assert.equal(sends, 6);
  // gaps of 500 ms × the sends so far, as the control Worker's schedule had them
  assert.deepEqual(at, [500, 1_500, 3_000, 5_000, 7_500]);
  assert.equal(given_up, 1);
  assert.equal(flow_ends_pending(fe), 0);
});

Deno.test("FLOW_END: a full table keeps none and says so; an acknowledged one makes room", () => {
  const fe = create_flow_ends({ capacity: 2, now: 0 });
  const room = fe.table.max_flows;
  for (let id = 1; id <= room; id++) track(fe, 1, id, 0);
  assert.equal(flow_end_track(fe, 1, room + 1, 0), -1);
  assert.equal(flow_end_acked(fe, 1, 1, CLIENT, VIP, PORTS), true);
  assert.ok(flow_end_track(fe, 1, room + 1, 0) >= 0);
});

Deno.test("FLOW_END: many at once all come due, whatever the table size", () => {
  const fe = create_flow_ends({ capacity: 4096, now: 0 });
  for (let id = 1; id <= 1000; id++) track(fe, 7, id, id % 100);
  const sent = new Set<number>();
  for (let now = 0; now <= 700; now += 10) for (const id of tick(fe, now).sent) sent.add(id);
  assert.equal(sent.size, 1000, "each one sent again within its first gap and a tick");
});
