// The director's side of the agents' datagrams, driven without DPDK or a
// socket: a director with three servers (each its agent's address, id and
// own key), a fake verdict ring and a fake socket. Rows show what reaches
// the hand-off logic at all (the sender's address first, then that agent's
// key, its id, the clock), and stories show that an answer counts only
// from the agent the hand-off went to and that a FLOW_END tears down only
// the flow its hand-off made.

import assert from "node:assert/strict";
import { on_agent_datagram } from "../../../control/director/agent_link.ts";
import { flow_committed, retransmit_due } from "../../../control/director/pending.ts";
import {
  decode_message,
  encode_message,
  FLOW_END_FIN,
  flow_key_string,
  type FlowKey,
  type HandoffKey,
  type HandoffMessage,
  import_handoff_key,
  NACK_TABLE_FULL,
  new_decode_counters,
  VERDICT_FORGET,
  VERDICT_FORWARD,
  verdict_type,
  VERDICT_WORDS,
} from "../../../dataplane/wire/mod.ts";

type DirectorControl = Parameters<typeof on_agent_datagram>[0];

const WALL = 1_754_000_000_000;
const EPOCH = 0xdecafbad;
const AGENTS = [
  { host: "198.19.0.11", port: 7711, id: 1 },
  { host: "198.19.0.12", port: 7711, id: 2 },
  { host: "198.19.0.13", port: 7711, id: 3 },
];
const KEYS: HandoffKey[] = [];
for (let i = 0; i < AGENTS.length; i++) {
  KEYS.push(await import_handoff_key(new Uint8Array(32).fill(0x11 * (i + 1))));
}
const key = (client_port: number): FlowKey => ({
  client_ip: 0xc6120001,
  vip: 0xc6120064,
  client_port,
  vip_port: 80,
});

/** A director control state with what the datagram path touches; counters start at 0. */
function director() {
  const verdicts: number[] = [];
  const sent: { datagram: Uint8Array; port: number; host: string }[] = [];
  const verdict = new Int32Array(VERDICT_WORDS);
  const counters = new Proxy({} as Record<string, number>, {
    get: (target, name: string) => target[name] ?? 0,
  });
  const ctl = {
    spec: { max_datagram: 1472, freshness_ms: 10_000, verdict_ring: 0, mss: 1460 },
    director: { fail_after: 3, handoff_rto_ms: 50, handoff_tries: 4 },
    native: {
      ring_enqueue: () => (verdicts.push(verdict_type(verdict)), true),
    },
    epoch: EPOCH,
    next_id: 20,
    servers: AGENTS.map((a, i) => ({
      name: `web${a.id}`,
      weight: 1,
      mac_hi: 0x02b70000,
      mac_lo: 0x0100 + a.id,
      agent: { host: a.host, port: a.port },
      agent_id: a.id,
      hmac_key: KEYS[i],
      healthy: true,
      consecutive_failures: 0,
      selections: 0,
      handoff_failures: 0,
      active_flows: 0,
    })),
    agents_by_address: new Map(AGENTS.map((a, i) => [`${a.host}:${a.port}`, i])),
    pending: new Map(),
    pending_by_id: new Map(),
    forwarding: new Map(),
    latencies: new Float64Array(4096),
    latency_count: 0,
    latency_buckets: new Float64Array(16),
    latency_sum_ms: 0,
    counters,
    decode_counters: new_decode_counters(),
    socket: {
      send: (datagram: Uint8Array, port: number, host: string) =>
        sent.push({ datagram, port, host }),
    },
    verdict,
    verdict_bytes: new Uint8Array(verdict.buffer),
    wall_clock: () => WALL,
  } as unknown as DirectorControl;
  /** Hand-off `id` of flow `k` in flight to server `server`. */
  const in_flight = (id: number, k: FlowKey, server: number) => {
    const flow = flow_key_string(k);
    ctl.pending.set(flow, {
      record: {} as never,
      key: k,
      order: [],
      server,
      id,
      message: {} as never,
      sends: 1,
      first_sent_at: performance.now(),
      next_at: Infinity,
      committed: false,
    });
    ctl.pending_by_id.set(id, flow);
  };
  /** Agent `server` sends: from its address, under its key, naming it, stamped now (unless told). */
  const from_agent = async (
    server: number,
    message: HandoffMessage,
    options: {
      key?: HandoffKey;
      agent?: number;
      sent?: number;
      from?: { address: string; port: number };
    } = {},
  ) => {
    const a = AGENTS[server];
    const bytes = await encode_message(message, options.key ?? KEYS[server], {
      agent: options.agent ?? a.id,
      now: options.sent ?? WALL,
    });
    await on_agent_datagram(ctl, bytes, options.from ?? { address: a.host, port: a.port });
  };
  /** What the director sent to agent `server`, decoded as that agent would. */
  const sent_to = async (server: number) => {
    const a = AGENTS[server];
    const out = [];
    for (const s of sent.splice(0)) {
      assert.deepEqual([s.host, s.port], [a.host, a.port]);
      const result = await decode_message(s.datagram, KEYS[server], { agent: a.id, now: WALL });
      assert.ok(result.ok);
      out.push(result.message);
    }
    return out;
  };
  return { ctl, verdicts, sent, counters, in_flight, from_agent, sent_to };
}

const ack = (id: number, k: FlowKey): HandoffMessage => ({
  type: "handoff_ack",
  epoch: EPOCH,
  id,
  key: k,
});
const end = (id: number, k: FlowKey): HandoffMessage => ({
  type: "flow_end",
  epoch: EPOCH,
  id,
  key: k,
  reason: FLOW_END_FIN,
  counts: { packets_to_server: 5, packets_to_client: 9 },
});

const DROPS: {
  description: string;
  send: (d: ReturnType<typeof director>) => Promise<void>;
  result: string;
}[] = [
  {
    description: "from an address that is no agent's (no HMAC computed)",
    send: (d) => d.from_agent(0, ack(5, key(1)), { from: { address: "198.19.0.66", port: 7711 } }),
    result: "unknown_source",
  },
  {
    description: "from an agent's host but another port",
    send: (d) => d.from_agent(0, ack(5, key(1)), { from: { address: "198.19.0.11", port: 40000 } }),
    result: "unknown_source",
  },
  {
    description: "from agent 1's address under agent 2's key",
    send: (d) => d.from_agent(0, ack(5, key(1)), { key: KEYS[1], agent: 2 }),
    result: "bad_mac",
  },
  {
    description: "from agent 1's address, its key, naming agent 2",
    send: (d) => d.from_agent(0, ack(5, key(1)), { agent: 2 }),
    result: "wrong_agent",
  },
  {
    description: "stamped 11 s ago",
    send: (d) => d.from_agent(0, ack(5, key(1)), { sent: WALL - 11_000 }),
    result: "stale",
  },
];

for (const row of DROPS) {
  Deno.test(`director: an agent's datagram ${row.description} → ${row.result}`, async () => {
    const d = director();
    d.in_flight(5, key(1), 0);
    await row.send(d);
    assert.equal(d.ctl.decode_counters[row.result as "ok"], 1);
    assert.equal(d.ctl.decode_counters.ok, 0);
    assert.equal(d.ctl.pending.size, 1, "the hand-off is still in flight");
    assert.deepEqual(d.verdicts, []);
  });
}

Deno.test("director: an ACK counts only from the agent the hand-off went to", async () => {
  const d = director();
  d.in_flight(5, key(1), 0);
  // agent 2, authentic under its own key, acknowledges agent 1's hand-off
  await d.from_agent(1, ack(5, key(1)));
  await d.from_agent(1, {
    type: "handoff_nack",
    epoch: EPOCH,
    id: 5,
    key: key(1),
    reason: NACK_TABLE_FULL,
  });
  assert.equal(d.counters.answers_unmatched, 2);
  assert.equal(d.ctl.pending.size, 1);
  // agent 1 does
  await d.from_agent(0, ack(5, key(1)));
  assert.equal(d.counters.handoffs_acked, 1);
  assert.deepEqual(d.ctl.forwarding.get(flow_key_string(key(1))), { server: 0, id: 5 });
  assert.deepEqual(d.verdicts, [VERDICT_FORWARD]);
  // its duplicate changes nothing
  await d.from_agent(0, ack(5, key(1)));
  assert.equal(d.counters.handoffs_acked, 1);
  assert.equal(d.sent.length, 0);
});

Deno.test("director: a late ACK is answered with a CANCEL to that agent, under its key", async () => {
  const d = director();
  await d.from_agent(2, ack(7, key(2)));
  assert.equal(d.counters.late_acks, 1);
  const [cancel] = await d.sent_to(2);
  assert.deepEqual([cancel.type, cancel.id], ["handoff_cancel", 7]);
});

Deno.test("director: a FLOW_END tears down only the flow its hand-off made", async () => {
  const d = director();
  const reused = key(3);
  // hand-off 8 made the flow now forwarded to agent 3 on this 4-tuple; hand-off 4 was an older one
  d.ctl.forwarding.set(flow_key_string(reused), { server: 2, id: 8 });
  d.ctl.servers[2].active_flows = 1;
  // a replayed FLOW_END of the older hand-off (from the agent that had it): ignored, not acknowledged
  await d.from_agent(1, end(4, reused));
  // the right hand-off's id, but from an agent that does not have the flow
  await d.from_agent(0, end(8, reused));
  assert.equal(d.counters.flow_ends_unmatched, 2);
  assert.ok(d.ctl.forwarding.has(flow_key_string(reused)), "the newer flow is still forwarded");
  assert.deepEqual(d.verdicts, []);
  assert.equal(d.sent.length, 0);
  // its own end: forgotten, the dataplane told, acknowledged to that agent
  await d.from_agent(2, end(8, reused));
  assert.equal(d.counters.flow_ends, 1);
  assert.equal(d.ctl.forwarding.size, 0);
  assert.equal(d.ctl.servers[2].active_flows, 0);
  assert.deepEqual(d.verdicts, [VERDICT_FORGET]);
  const [ack_of_end] = await d.sent_to(2);
  assert.deepEqual([ack_of_end.type, ack_of_end.id], ["flow_end_ack", 8]);
  // its retransmission: acknowledged again, nothing else
  await d.from_agent(2, end(8, reused));
  assert.equal(d.counters.flow_end_repeats, 1);
  assert.equal((await d.sent_to(2)).length, 1);
  assert.deepEqual(d.verdicts, [VERDICT_FORGET]);
});

Deno.test("director: answers from another director epoch or for ids never issued are ignored", async () => {
  const d = director();
  d.ctl.forwarding.set(flow_key_string(key(4)), { server: 0, id: 9 });
  await d.from_agent(0, { ...end(9, key(4)), epoch: EPOCH + 1 } as HandoffMessage);
  await d.from_agent(0, end(999, key(4)));
  await d.from_agent(0, ack(999, key(5)));
  assert.equal(d.counters.flow_ends_unmatched, 2);
  assert.equal(d.counters.answers_unmatched, 1);
  assert.equal(d.ctl.forwarding.size, 1);
  assert.equal(d.sent.length, 0);
});

Deno.test("director: a hand-off committed by the client (it ACKed the server's bytes) never fails over", async () => {
  // a NACK from the tried agent: the flow stays with that server
  const d = director();
  d.in_flight(9, key(9), 0);
  d.ctl.pending.get(flow_key_string(key(9)))!.order = [1, 2];
  flow_committed(d.ctl, key(9));
  await d.from_agent(0, {
    type: "handoff_nack",
    epoch: EPOCH,
    id: 9,
    key: key(9),
    reason: NACK_TABLE_FULL,
  });
  assert.deepEqual(d.ctl.forwarding.get(flow_key_string(key(9))), { server: 0, id: 9 });
  assert.deepEqual(
    d.verdicts,
    [VERDICT_FORWARD],
    "forwarded to the tried server, no TRY elsewhere",
  );
  assert.equal(d.sent.length, 0, "no HANDOFF to another agent");
  assert.equal(d.counters.committed_kept, 1);
  // and out of tries: the same (an uncommitted one would CANCEL and move to the next server)
  d.verdicts.splice(0);
  d.in_flight(10, key(10), 0);
  const p = d.ctl.pending.get(flow_key_string(key(10)))!;
  p.order = [1];
  p.sends = 4; // handoff_tries
  p.next_at = 0;
  flow_committed(d.ctl, key(10));
  retransmit_due(d.ctl, performance.now());
  assert.deepEqual(d.ctl.forwarding.get(flow_key_string(key(10))), { server: 0, id: 10 });
  assert.deepEqual(d.verdicts, [VERDICT_FORWARD]);
  assert.equal(d.sent.length, 0, "no CANCEL, no HANDOFF elsewhere");
  assert.equal(d.counters.committed_kept, 2);
});
