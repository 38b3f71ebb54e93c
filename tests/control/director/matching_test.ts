// Which hand-off an agent's answer is about: a table of ACKs, NACKs and
// FLOW_ENDs against one director's book (a hand-off in flight to server 0,
// a flow forwarded to server 1 under id 5, a newer flow on a reused 4-tuple
// under id 8), each with what the director does. A FLOW_END acts only when
// it names the hand-off that made the forwarded flow, from its agent.

import assert from "node:assert/strict";
import {
  type AnswerMatch,
  type FlowEndMatch,
  type HandoffBook,
  match_answer,
  match_flow_end,
} from "../../../control/director/matching.ts";
import {
  FLOW_END_FIN,
  flow_key_string,
  type FlowEnd,
  type FlowKey,
  type HandoffAck,
  type HandoffNack,
  NACK_TABLE_FULL,
} from "../../../dataplane/wire/mod.ts";

const EPOCH = 0xdecafbad;
const key = (client_port: number): FlowKey => ({
  client_ip: 0xc6120001,
  vip: 0xc6120064,
  client_port,
  vip_port: 80,
});
const IN_FLIGHT = key(40001); // HANDOFF id 9 sent to server 0
const FORWARDED = key(40002); // forwarded to server 1, made by hand-off id 5
const REUSED = key(40003); // an old flow (id 3, server 1) ended; a newer one (id 8, server 2) forwarded

function book(): HandoffBook {
  // only the fields matching reads (a Pending has more)
  const pending = new Map([[
    flow_key_string(IN_FLIGHT),
    { key: IN_FLIGHT, server: 0, id: 9 },
  ]]) as HandoffBook["pending"];
  return {
    epoch: EPOCH,
    next_id: 10,
    pending,
    pending_by_id: new Map([[9, flow_key_string(IN_FLIGHT)]]),
    forwarding: new Map([
      [flow_key_string(FORWARDED), { server: 1, id: 5 }],
      [flow_key_string(REUSED), { server: 2, id: 8 }],
    ]),
  };
}

const ack = (id: number, k: FlowKey, epoch = EPOCH): HandoffAck => ({
  type: "handoff_ack",
  epoch,
  id,
  key: k,
});
const nack = (id: number, k: FlowKey): HandoffNack => ({
  type: "handoff_nack",
  epoch: EPOCH,
  id,
  key: k,
  reason: NACK_TABLE_FULL,
});

const ANSWERS: {
  description: string;
  message: HandoffAck | HandoffNack;
  from: number;
  expected: AnswerMatch["kind"];
}[] = [
  {
    description: "the ACK of the hand-off in flight, from its agent",
    message: ack(9, IN_FLIGHT),
    from: 0,
    expected: "pending",
  },
  {
    description: "its NACK, from its agent",
    message: nack(9, IN_FLIGHT),
    from: 0,
    expected: "pending",
  },
  {
    description: "its ACK from another agent",
    message: ack(9, IN_FLIGHT),
    from: 1,
    expected: "unmatched",
  },
  {
    description: "its NACK from another agent (forcing a fall-back)",
    message: nack(9, IN_FLIGHT),
    from: 2,
    expected: "unmatched",
  },
  {
    description: "its id with another flow",
    message: ack(9, FORWARDED),
    from: 0,
    expected: "unmatched",
  },
  {
    description: "another director epoch",
    message: ack(9, IN_FLIGHT, EPOCH + 1),
    from: 0,
    expected: "unmatched",
  },
  {
    description: "an id never issued",
    message: ack(10, IN_FLIGHT),
    from: 0,
    expected: "unmatched",
  },
  {
    description: "id 0 (never issued)",
    message: ack(0, IN_FLIGHT),
    from: 0,
    expected: "unmatched",
  },
  {
    description: "again the ACK that made a forwarded flow",
    message: ack(5, FORWARDED),
    from: 1,
    expected: "forwarded",
  },
  {
    description: "an ACK of a hand-off given up on",
    message: ack(4, key(40009)),
    from: 0,
    expected: "late",
  },
  {
    description: "an old hand-off's ACK on a 4-tuple now forwarded under a newer one",
    message: ack(3, REUSED),
    from: 1,
    expected: "late",
  },
];

for (const row of ANSWERS) {
  Deno.test(`answer: ${row.description} → ${row.expected}`, () => {
    assert.equal(match_answer(book(), row.message, row.from).kind, row.expected);
  });
}

Deno.test("answer: a match in flight carries its flow and hand-off", () => {
  const b = book();
  const match = match_answer(b, ack(9, IN_FLIGHT), 0);
  assert.ok(match.kind === "pending");
  assert.equal(match.flow, flow_key_string(IN_FLIGHT));
  assert.equal(match.pending, b.pending.get(flow_key_string(IN_FLIGHT)));
});

const end = (id: number, k: FlowKey, epoch = EPOCH): FlowEnd => ({
  type: "flow_end",
  epoch,
  id,
  key: k,
  reason: FLOW_END_FIN,
  counts: { packets_to_server: 1, packets_to_client: 1 },
});

const FLOW_ENDS: { description: string; message: FlowEnd; from: number; expected: FlowEndMatch }[] =
  [
    {
      description: "the forwarded flow's end, naming its hand-off, from its agent",
      message: end(5, FORWARDED),
      from: 1,
      expected: "end",
    },
    {
      description: "the newer flow's end on a reused 4-tuple",
      message: end(8, REUSED),
      from: 2,
      expected: "end",
    },
    {
      description: "a replayed FLOW_END of the older flow on that 4-tuple (must not end the newer)",
      message: end(3, REUSED),
      from: 1,
      expected: "unmatched",
    },
    {
      description: "the right hand-off, from another agent (made up about another's flow)",
      message: end(5, FORWARDED),
      from: 0,
      expected: "unmatched",
    },
    {
      description: "another epoch (a previous director)",
      message: end(5, FORWARDED, EPOCH + 1),
      from: 1,
      expected: "unmatched",
    },
    {
      description: "an id never issued",
      message: end(77, FORWARDED),
      from: 1,
      expected: "unmatched",
    },
    {
      description: "a retransmission after the flow is gone here: ACK only",
      message: end(6, key(40010)),
      from: 1,
      expected: "repeat",
    },
    {
      description: "a FLOW_END for the flow still in flight (not forwarded): ACK only",
      message: end(9, IN_FLIGHT),
      from: 0,
      expected: "repeat",
    },
  ];

for (const row of FLOW_ENDS) {
  Deno.test(`FLOW_END: ${row.description} → ${row.expected}`, () => {
    assert.equal(match_flow_end(book(), row.message, row.from), row.expected);
  });
}

Deno.test("matching: after 2^32 hand-offs every id has been issued", () => {
  const b = { ...book(), next_id: 2 ** 32 + 5 };
  assert.equal(match_answer(b, ack(4_000_000_000, key(40011)), 0).kind, "late");
});
