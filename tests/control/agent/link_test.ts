// The agent's side of the protocol, driven step by step without DPDK or a
// socket: a fake adoption ring, a fake socket and two fixed clocks. Each
// test is a short story (HANDOFF → dataplane event → answer → a copy
// later) that checks what reaches the dataplane, what goes back to the
// director (decoded as the director would), and the counters.

import assert from "node:assert/strict";
import { create_agent_link } from "../../../control/agent/link.ts";
import type { AgentControlSpec } from "../../../control/agent/mod.ts";
import {
  type AgentEvent,
  decode_handoff_record,
  decode_message,
  encode_message,
  EVENT_ADOPTED,
  EVENT_FLOW_END,
  EVENT_REFUSED,
  FLOW_END_FIN,
  type FlowKey,
  type HandoffMessage,
  import_handoff_key,
  NACK_BAD_REQUEST,
  NACK_TABLE_FULL,
  parse_key_text,
} from "../../../dataplane/wire/mod.ts";
import { ip_to_u32 } from "../../../dataplane/mod.ts";

const KEY_HEX = "33".repeat(32);
const OTHER_KEY_HEX = "44".repeat(32);
const KEY = await import_handoff_key(parse_key_text(KEY_HEX));
const OTHER_KEY = await import_handoff_key(parse_key_text(OTHER_KEY_HEX));
const AGENT = 3;
const DIRECTOR = { address: "198.19.0.1", port: 7700 };
const WALL = 1_754_000_000_000;
const EPOCH = 0xdecafbad;

const SPEC: AgentControlSpec = {
  host: "198.19.0.13",
  port: 7711,
  agent_id: AGENT,
  key: parse_key_text(KEY_HEX),
  directors: [{ host: "198.19.0.1", port: 7700 }],
  vips: ["198.18.0.100"],
  freshness_ms: 10_000,
  max_datagram: 1472,
  max_request: 1360,
  adoption_ring: 0,
  event_ring: 0,
};

const FLOW: FlowKey = {
  client_ip: ip_to_u32("198.18.0.1"),
  vip: ip_to_u32("198.18.0.100"),
  client_port: 40000,
  vip_port: 80,
};
const REQUEST = new TextEncoder().encode("GET / HTTP/1.1\r\nHost: vip\r\n\r\n");

function handoff(id: number, key: FlowKey = FLOW): HandoffMessage {
  return {
    type: "handoff",
    epoch: EPOCH,
    id,
    key,
    state: {
      client_mac: new Uint8Array([2, 0, 0, 0, 0, 1]),
      client_isn: 1000,
      director_isn: 5000,
      client_next_seq: 1001 + REQUEST.length,
      director_next_seq: 5001,
      client_window: 64240,
      client_mss: 1460,
      director_mss: 1460,
      client_wscale: 7,
      director_wscale: 7,
      sack_permitted: true,
      timestamps: true,
      client_tsval: 1,
      director_tsval: 2,
      request: REQUEST,
    },
  };
}

/** An agent link with a fake ring and socket; clocks move when a test says so. */
async function agent(spec: Partial<AgentControlSpec> = {}) {
  const enqueued: Uint8Array[] = [];
  const sent: { datagram: Uint8Array; to: { address: string; port: number } }[] = [];
  const clock = { now: 0, wall: WALL };
  const link = await create_agent_link({ ...SPEC, ...spec }, {
    enqueue: (record) => (enqueued.push(record), true),
    send: (datagram, to) => sent.push({ datagram, to }),
    now: () => clock.now,
    wall_clock: () => clock.wall,
  });
  /** The director sends: its key, naming agent 3, stamped at the agent's wall clock unless told. */
  const from_director = async (
    message: HandoffMessage,
    options: { key?: typeof KEY; agent?: number; sent?: number; from?: typeof DIRECTOR } = {},
  ) => {
    const bytes = await encode_message(message, options.key ?? KEY, {
      agent: options.agent ?? AGENT,
      now: options.sent ?? clock.wall,
    });
    await link.on_datagram(bytes, options.from ?? DIRECTOR);
  };
  /** What the agent sent back, decoded as the director would (agent 3's key, naming agent 3). */
  const replies = async () => {
    const out = [];
    for (const { datagram, to } of sent.splice(0)) {
      assert.deepEqual(to, DIRECTOR, "answers go to the director that sent the hand-off");
      const result = await decode_message(datagram, KEY, { agent: AGENT, now: clock.wall });
      assert.ok(result.ok, `the director reads the agent's reply (${!result.ok && result.reason})`);
      out.push({ ...result.message, sent_at: result.sent_at });
    }
    return out;
  };
  const event = (type: number, id: number, reason = 0): AgentEvent => ({
    type,
    reason,
    epoch: EPOCH,
    id,
    ...FLOW,
    packets_to_server: 3,
    packets_to_client: 4,
  });
  return { link, enqueued, sent, clock, from_director, replies, event };
}

Deno.test("agent link: a hand-off is adopted once; a copy after its flow ended is a replay", async () => {
  const a = await agent();
  await a.from_director(handoff(1));
  assert.equal(a.enqueued.length, 1);
  const record = decode_handoff_record(a.enqueued[0])!;
  assert.equal(record.id, 1);
  assert.equal(record.epoch, EPOCH);
  // a retransmission while it is being adopted goes on: the dataplane answers duplicates
  await a.from_director(handoff(1));
  assert.equal(a.enqueued.length, 2);
  a.link.on_event(a.event(EVENT_ADOPTED, 1));
  const [ack] = await a.replies();
  assert.equal(ack.type, "handoff_ack");
  assert.equal(ack.id, 1);
  // the flow ends; the FLOW_END goes to the director
  a.clock.now = 60_000;
  a.link.on_event(a.event(EVENT_FLOW_END, 1, FLOW_END_FIN));
  const [end] = await a.replies();
  assert.equal(end.type, "flow_end");
  // a copy of the HANDOFF, authentic and fresh (a retransmission captured and replayed): dropped
  await a.from_director(handoff(1));
  assert.equal(a.enqueued.length, 2, "not adopted again");
  assert.equal(a.link.counters.handoffs_replayed, 1);
  assert.deepEqual(await a.replies(), [], "nothing answered to a replay of an ended hand-off");
  // a new hand-off of the same 4-tuple (port reuse) is a new id: it goes on
  await a.from_director(handoff(2));
  assert.equal(a.enqueued.length, 3);
  assert.equal(a.link.counters.handoffs_queued, 3);
});

Deno.test("agent link: a refused hand-off's copy gets the same NACK, not the dataplane", async () => {
  const a = await agent();
  await a.from_director(handoff(4));
  a.link.on_event(a.event(EVENT_REFUSED, 4, NACK_TABLE_FULL));
  const [nack] = await a.replies();
  assert.deepEqual([nack.type, "reason" in nack && nack.reason], ["handoff_nack", NACK_TABLE_FULL]);
  await a.from_director(handoff(4));
  assert.equal(a.enqueued.length, 1);
  const [again] = await a.replies();
  assert.deepEqual([again.type, again.id], ["handoff_nack", 4]);
  assert.equal(a.link.counters.handoffs_replayed, 1);
});

Deno.test("agent link: a cancel reaches the dataplane and makes a late HANDOFF copy a replay", async () => {
  const a = await agent();
  await a.from_director({ type: "handoff_cancel", epoch: EPOCH, id: 9, key: FLOW });
  assert.equal(a.enqueued.length, 1);
  const cancel = decode_handoff_record(a.enqueued[0])!;
  assert.deepEqual([cancel.epoch, cancel.id], [EPOCH, 9], "the dataplane checks epoch and id");
  await a.from_director(handoff(9));
  assert.equal(a.enqueued.length, 1);
  assert.equal(a.link.counters.handoffs_replayed, 1);
});

Deno.test("agent link: replay entries go once every copy would be stale anyway", async () => {
  const a = await agent();
  await a.from_director(handoff(1));
  a.link.on_event(a.event(EVENT_FLOW_END, 1, FLOW_END_FIN));
  await a.replies();
  const captured = await encode_message(handoff(1), KEY, { agent: AGENT, now: a.clock.wall });
  a.clock.now += 20_000;
  a.clock.wall += 20_000;
  a.link.tick();
  assert.equal(a.link.replays.finished.size, 0, "held 2 × freshness, then swept");
  await a.link.on_datagram(captured, DIRECTOR);
  assert.equal(a.link.decode_counters.stale, 1, "the captured copy is now stale");
  assert.equal(a.enqueued.length, 1);
});

const DROPS: {
  description: string;
  send: (a: Awaited<ReturnType<typeof agent>>) => Promise<void>;
  counter: string;
}[] = [
  {
    description: "from a host that is not a configured director (no HMAC computed)",
    send: (a) => a.from_director(handoff(1), { from: { address: "198.19.0.66", port: 7700 } }),
    counter: "unknown_source",
  },
  {
    description: "from the director's host but another port",
    send: (a) => a.from_director(handoff(1), { from: { address: "198.19.0.1", port: 7799 } }),
    counter: "unknown_source",
  },
  {
    description: "for another agent, under a key both share",
    send: (a) => a.from_director(handoff(1), { agent: 4 }),
    counter: "wrong_agent",
  },
  {
    description: "for another agent, under that agent's key",
    send: (a) => a.from_director(handoff(1), { agent: 4, key: OTHER_KEY }),
    counter: "bad_mac",
  },
  {
    description: "sent 10.001 s before the agent's clock",
    send: (a) => a.from_director(handoff(1), { sent: WALL - 10_001 }),
    counter: "stale",
  },
  {
    description: "stamped 10.001 s ahead of the agent's clock",
    send: (a) => a.from_director(handoff(1), { sent: WALL + 10_001 }),
    counter: "stale",
  },
  {
    description: "of the old version (1)",
    send: async (a) => {
      const bytes = await encode_message(handoff(1), KEY, { agent: AGENT, now: WALL });
      bytes[2] = 1;
      await a.link.on_datagram(bytes, DIRECTOR);
    },
    counter: "bad_version",
  },
];

for (const row of DROPS) {
  Deno.test(`agent link: a HANDOFF ${row.description} → ${row.counter}, nothing adopted`, async () => {
    const a = await agent();
    await row.send(a);
    assert.equal(a.enqueued.length, 0);
    assert.equal(a.sent.length, 0, "nothing is answered to a bad datagram");
    assert.equal(a.link.decode_counters[row.counter as "ok"], 1);
    assert.equal(a.link.decode_counters.ok, 0);
  });
}

Deno.test("agent link: without a directors list any sender's authentic datagram is read", async () => {
  const a = await agent({ directors: undefined });
  await a.from_director(handoff(1), { from: { address: "127.0.0.1", port: 40123 } });
  assert.equal(a.enqueued.length, 1);
});

const REFUSALS: { description: string; key: Partial<FlowKey>; counter: string }[] = [
  {
    description: "a VIP the server does not hold",
    key: { vip: ip_to_u32("198.18.0.11") },
    counter: "refused_wrong_vip",
  },
  {
    description: "a loopback client",
    key: { client_ip: ip_to_u32("127.0.0.1") },
    counter: "refused_bad_client",
  },
  {
    description: "a broadcast client",
    key: { client_ip: 0xffff_ffff },
    counter: "refused_bad_client",
  },
  {
    description: "a multicast client",
    key: { client_ip: ip_to_u32("224.0.0.5") },
    counter: "refused_bad_client",
  },
  {
    description: "the VIP as the client",
    key: { client_ip: FLOW.vip },
    counter: "refused_bad_client",
  },
];

for (const row of REFUSALS) {
  Deno.test(`agent link: an authentic HANDOFF for ${row.description} → NACK, ${row.counter}`, async () => {
    const a = await agent();
    await a.from_director(handoff(5, { ...FLOW, ...row.key }));
    assert.equal(a.enqueued.length, 0, "the dataplane never sees it");
    const [nack] = await a.replies();
    assert.deepEqual([nack.type, "reason" in nack && nack.reason], [
      "handoff_nack",
      NACK_BAD_REQUEST,
    ]);
    assert.equal(a.link.counters[row.counter as "refused_wrong_vip"], 1);
    // its retransmission gets the same answer, still without the dataplane
    await a.from_director(handoff(5, { ...FLOW, ...row.key }));
    assert.equal((await a.replies())[0].type, "handoff_nack");
    assert.equal(a.enqueued.length, 0);
  });
}

Deno.test("agent link: FLOW_END is re-stamped when retransmitted and stops at its own ACK", async () => {
  const a = await agent();
  await a.from_director(handoff(1));
  a.link.on_event(a.event(EVENT_FLOW_END, 1, FLOW_END_FIN));
  const [first] = await a.replies();
  a.clock.now += 500;
  a.clock.wall += 500;
  a.link.tick();
  const [second] = await a.replies();
  assert.equal(second.type, "flow_end");
  assert.equal(second.sent_at - first.sent_at, 500, "a fresh timestamp on the copy");
  // an ACK naming an older hand-off of this 4-tuple does not stop it
  await a.from_director({ type: "flow_end_ack", epoch: EPOCH, id: 0, key: FLOW });
  assert.equal(a.link.counters.flow_end_acks_unmatched, 1);
  await a.from_director({ type: "flow_end_ack", epoch: EPOCH, id: 1, key: FLOW });
  assert.equal(a.link.counters.flow_ends_acked, 1);
  a.clock.now += 10_000;
  a.link.tick();
  assert.equal(a.sent.length, 0);
});

Deno.test("agent link: events for hand-offs it has no director for are counted, not answered", async () => {
  const a = await agent();
  a.link.on_event(a.event(EVENT_ADOPTED, 77));
  assert.equal(a.link.counters.events_without_director, 1);
  assert.equal(a.sent.length, 0);
});
