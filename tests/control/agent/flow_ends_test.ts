// The agent's unacknowledged FLOW_ENDs: retransmitted with a growing gap
// (each copy re-encoded by the caller, so freshly stamped) until the
// director's FLOW_END_ACK for that same hand-off; an ACK naming another
// hand-off of the same 4-tuple does not silence it.

import assert from "node:assert/strict";
import {
  flow_end_acked,
  flow_end_sent,
  type PendingFlowEnds,
  retransmit_flow_ends,
} from "../../../control/agent/flow_ends.ts";
import { FLOW_END_FIN, flow_key_string, type FlowEnd } from "../../../dataplane/wire/mod.ts";

const KEY = { client_ip: 0xc6120001, vip: 0xc6120064, client_port: 40000, vip_port: 80 };
const FLOW = flow_key_string(KEY);
const DIRECTOR = { address: "198.19.0.1", port: 7700 };
const END: FlowEnd = {
  type: "flow_end",
  epoch: 1,
  id: 5,
  key: KEY,
  reason: FLOW_END_FIN,
  counts: { packets_to_server: 3, packets_to_client: 4 },
};

Deno.test("FLOW_END: retransmitted until its own ACK; another hand-off's ACK does not count", () => {
  const pending: PendingFlowEnds = new Map();
  const sent: number[] = [];
  const counters = { flow_end_retransmits: 0, flow_ends_unanswered: 0 };
  const send = (message: FlowEnd) => sent.push(message.id);
  flow_end_sent(pending, FLOW, END, DIRECTOR, 0);
  retransmit_flow_ends(pending, 499, send, counters);
  assert.deepEqual(sent, [], "not due yet");
  retransmit_flow_ends(pending, 500, send, counters);
  assert.deepEqual(sent, [5]);
  // an ACK of an older hand-off on the same 4-tuple (a replay, or a stale retransmission)
  assert.equal(flow_end_acked(pending, FLOW, 1, 4), false);
  assert.equal(flow_end_acked(pending, FLOW, 2, 5), false, "another epoch");
  retransmit_flow_ends(pending, 1_500, send, counters);
  assert.deepEqual(sent, [5, 5]);
  assert.equal(flow_end_acked(pending, FLOW, 1, 5), true);
  retransmit_flow_ends(pending, 10_000, send, counters);
  assert.deepEqual(sent, [5, 5]);
  assert.equal(counters.flow_end_retransmits, 2);
});

Deno.test("FLOW_END: two hand-offs of one 4-tuple are pending side by side", () => {
  const pending: PendingFlowEnds = new Map();
  flow_end_sent(pending, FLOW, END, DIRECTOR, 0);
  flow_end_sent(pending, FLOW, { ...END, id: 6 }, DIRECTOR, 0);
  assert.equal(pending.size, 2);
  assert.equal(flow_end_acked(pending, FLOW, 1, 6), true);
  assert.equal(pending.size, 1);
});

Deno.test("FLOW_END: after six sends it gives up, counted", () => {
  const pending: PendingFlowEnds = new Map();
  const counters = { flow_end_retransmits: 0, flow_ends_unanswered: 0 };
  let sends = 1;
  flow_end_sent(pending, FLOW, END, DIRECTOR, 0);
  for (let now = 0; now <= 20_000; now += 100) {
    retransmit_flow_ends(pending, now, () => sends++, counters);
  }
  assert.equal(sends, 6);
  assert.equal(counters.flow_ends_unanswered, 1);
  assert.equal(pending.size, 0);
});
