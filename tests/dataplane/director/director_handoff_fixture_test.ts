// The director's hand-off in the dataplane (issue 9), as packet fixtures in
// the form of director_fixture_test.ts: the one HANDOFF datagram a complete
// request produces, written into a fresh mbuf and signed under the agent's
// key; what each answer from an agent does (ACK, NACK, FLOW_END, and those
// that match nothing); the retransmission, time-out, CANCEL and next server
// on the sweep's timer; 503 when no server is left or the director drains;
// and the datagrams it drops, each under its one handoff_rx_ reason. Every
// row pins every counter, the hand-off's included, and every step says
// which datagrams the director sends (none unless it lists them), byte for
// byte: the expected frames come from the object codec under AGENT_KEY, so
// equal bytes mean equal fields and the right tag.

import assert from "node:assert/strict";
import { build_arp, ip_to_u32, TCP_FLAG_ACK, TCP_FLAG_RST } from "../../../dataplane/mod.ts";
import { type HandoffMessage } from "../../../dataplane/wire/mod.ts";
import {
  cancel,
  CLIENT_IP,
  CLIENT_MAC,
  connection,
  datagram_frame,
  DIRECTOR_IP,
  DIRECTOR_MAC,
  EPOCH,
  fixture_tests,
  type FixtureRow,
  type FixtureServer,
  flow_end_ack,
  flow_query,
  forwarded,
  forwarded_to,
  from_agent,
  GET_HEAD,
  mac_bytes,
  MSS,
  ONE_SERVER,
  OTHER_IP,
  rendezvous_agents,
  type Result,
  SERVER1,
  SERVER_MAC,
  T0,
  TWO_SERVERS,
  VIP,
  VIP_PORT,
  WALL,
} from "./director_fixture.ts";

/** GET_HEAD's selection key is baton.test/index.html: who is tried first and second of TWO_SERVERS. */
const [FIRST, SECOND] = rendezvous_agents(TWO_SERVERS, "baton.test", "/index.html");
/** A server's index (answer.server, server_stats) from its agent. */
const index_of = (agent: { agent_id: number }) => agent.agent_id - 1;
/** Time-out rows: sent at T0, resent at +50, given up at +150 (two sends per server; ms after T0). */
const RTO_MS = 50;
const TRIES = 2;
const GIVEN_UP = RTO_MS + 2 * RTO_MS;
/** `ms` after T0, on both clocks: the poll loop's and the wall clock datagrams are stamped with. */
const at = (ms: number) => ({ now: T0 + ms, wall: WALL + ms });

type Connection = ReturnType<typeof connection>;

/** The client acknowledges `bytes` bytes of the tried server's response (it commits to it). */
function acking(c: Connection, tsval: number, bytes: number): Uint8Array {
  return c.data(GET_HEAD.length, "", tsval, {
    flags: TCP_FLAG_ACK,
    ack: (c.cookie + 1 + bytes) >>> 0,
  });
}

/** A bare ACK of the client's that acknowledges nothing of a server's (no commitment). */
const bare_ack = (c: Connection, tsval: number) =>
  c.data(GET_HEAD.length, "", tsval, { flags: TCP_FLAG_ACK });

/** The three steps from the SYN to the request's ACK and its HANDOFF (id 1) to `to`. */
function requested(c: Connection, to = SERVER1) {
  return [
    { send: [c.syn], expect: [c.syn_ack] },
    { send: [c.ack], expect: [] },
    {
      send: [c.data(0, GET_HEAD, 5000)],
      expect: [c.acked(GET_HEAD.length, 5000)],
      expect_datagrams: [c.handoff(GET_HEAD, 5000, { to })],
    },
  ];
}

/** What requested() counts. */
const REQUESTED = {
  syn_cookies_sent: 1,
  handshakes_completed: 1,
  request_segments: 1,
  requests_complete: 1,
  reading_buffers_high: 1,
  flows: 1,
  handoffs_sent: 1,
};

/** The server's row of server_stats. */
function stats(result: Result, agent: { agent_id: number }) {
  return result.server_stats[index_of(agent)];
}

/** Every step says which datagrams it sends (none unless listed), and every counter is pinned. */
function strict(rows: FixtureRow[]): FixtureRow[] {
  return rows.map((row) => ({
    ...row,
    pin_handoff: true,
    steps: row.steps.map((step) => ({ ...step, expect_datagrams: step.expect_datagrams ?? [] })),
  }));
}

function sending(): FixtureRow[] {
  return [
    (() => {
      const c = connection(42000, 0x7000_0000);
      const request = new TextEncoder().encode(GET_HEAD);
      // every field spelled out once here; later rows build the same with c.handoff
      const handoff: HandoffMessage = {
        type: "handoff",
        epoch: EPOCH,
        id: 1,
        key: {
          client_ip: ip_to_u32(CLIENT_IP),
          vip: ip_to_u32(VIP),
          client_port: 42000,
          vip_port: VIP_PORT,
        },
        state: {
          client_mac: mac_bytes(CLIENT_MAC),
          client_isn: c.isn,
          director_isn: c.cookie,
          client_next_seq: (c.isn + 1 + request.length) >>> 0,
          director_next_seq: (c.cookie + 1) >>> 0,
          client_window: 502,
          client_mss: MSS,
          director_mss: MSS,
          client_wscale: 7,
          director_wscale: 7,
          sack_permitted: true,
          timestamps: true,
          client_tsval: 5000,
          director_tsval: c.director_tsval,
          ts_route: c.route_code(1),
          request,
        },
      };
      return {
        description:
          "one complete request: exactly one HANDOFF, with every field and the tag, to the server's agent, with the ACK",
        steps: [
          { send: [c.syn], expect: [c.syn_ack] },
          { send: [c.ack], expect: [] },
          {
            send: [c.data(0, GET_HEAD, 5000)],
            expect: [c.acked(GET_HEAD.length, 5000)],
            expect_datagrams: [
              datagram_frame(handoff, { mac: SERVER_MAC, ip: OTHER_IP, agent_id: 1 }),
            ],
          },
          // nothing more while the agent is silent (the time-out is far off)
          { now: T0 + 1000, expect: [] },
        ],
        counters: {
          ...REQUESTED,
          handoffs_pending: 1,
          reading_buffers: 1,
        },
        check: (result: Result) => {
          assert.deepEqual(
            result.handoffs.map((h) => [h.step, h.message.type, h.to_ip, h.to_mac]),
            [[2, "handoff", OTHER_IP, SERVER_MAC]],
            "one datagram, in the request's step, to srv1's agent",
          );
          // Ethernet, IPv4, UDP, the datagram's header, the HANDOFF's fields, the request, a
          // full 32-byte HMAC-SHA256 tag: one frame
          assert.equal(
            result.output.find((f) => f.length > 200 && f[23] === 17)?.length,
            14 + 20 + 8 + 24 + 56 + request.length + 32,
          );
        },
      };
    })(),
    (() => {
      const c = connection(42001, 0x7100_0000);
      const gateway = "02:b7:00:00:00:fe";
      return {
        description:
          "an L3 fabric: the HANDOFF goes to the gateway's MAC, still addressed to the agent's IP",
        gateway_mac: gateway,
        steps: [
          { send: [c.syn], expect: [c.syn_ack] },
          { send: [c.ack], expect: [] },
          {
            send: [c.data(0, GET_HEAD, 5000)],
            expect: [c.acked(GET_HEAD.length, 5000)],
            expect_datagrams: [
              c.handoff(GET_HEAD, 5000, { to: { mac: gateway, ip: OTHER_IP, agent_id: 1 } }),
            ],
          },
        ],
        counters: { ...REQUESTED, handoffs_pending: 1, reading_buffers: 1 },
      };
    })(),
    (() => {
      const c = connection(42002, 0x7200_0000);
      return {
        description: "draining: the request gets 503 with its ACK, and no HANDOFF goes out",
        draining: true,
        steps: [
          { send: [c.syn], expect: [c.syn_ack] },
          { send: [c.ack], expect: [] },
          {
            send: [c.data(0, GET_HEAD, 5000)],
            expect: [c.acked(GET_HEAD.length, 5000), c.response(503, GET_HEAD.length, 5000)],
          },
        ],
        counters: {
          ...REQUESTED,
          handoffs_sent: 0,
          refused_draining: 1,
          responses_503: 1,
          // the 503, sent by the service call after the burst
          timers_fired: 1,
        },
      };
    })(),
    (() => {
      const c = connection(42003, 0x7300_0000);
      return {
        description:
          "fail open: the VIP's only server is unhealthy, so it is tried all the same (fail_open)",
        servers: [{ ...ONE_SERVER[0], healthy: false }],
        steps: [...requested(c)],
        counters: { ...REQUESTED, handoffs_pending: 1, reading_buffers: 1, fail_open: 1 },
      };
    })(),
    (() => {
      const c = connection(42004, 0x7400_0000);
      // the server rendezvous would pick first is unhealthy: the other one is tried
      const servers: FixtureServer[] = TWO_SERVERS.map((s, i) =>
        i === index_of(FIRST) ? { ...s, healthy: false } : s
      );
      return {
        description:
          "one of two servers unhealthy (rendezvous' first): the healthy one gets the HANDOFF, no fail_open",
        servers,
        steps: [...requested(c, SECOND)],
        counters: { ...REQUESTED, handoffs_pending: 1, reading_buffers: 1 },
      };
    })(),
    {
      description: "ARP request for the director's own fabric address: answered from its MAC",
      steps: [{
        send: [build_arp({
          operation: "request",
          sender_mac: SERVER_MAC,
          sender_ip: OTHER_IP,
          target_ip: DIRECTOR_IP,
          pad_to: 60,
        })],
        expect: [build_arp({
          operation: "reply",
          sender_mac: DIRECTOR_MAC,
          sender_ip: DIRECTOR_IP,
          target_mac: SERVER_MAC,
          target_ip: OTHER_IP,
          pad_to: 60,
        })],
      }],
      counters: { arp_replies: 1 },
    },
  ];
}

function answers(): FixtureRow[] {
  return [
    (() => {
      const c = connection(42100, 0x8000_0000);
      const body = c.data(GET_HEAD.length, "hello", 5001);
      return {
        description:
          "HANDOFF_ACK: the flow is forwarded; its latency counted (same clock: bucket 0), the server's stats too",
        steps: [
          ...requested(c),
          { answer: { type: "handoff_ack" }, expect: [] },
          { send: [body], expect: [forwarded(body)] },
        ],
        counters: {
          ...REQUESTED,
          forwarded: 1,
          handoffs_acked: 1,
          handoff_rx_ok: 1,
          handoff_answers_taken: 1,
          flows_forwarding: 1,
          latency_bucket_0: 1,
        },
        check: (result: Result) =>
          assert.deepEqual(stats(result, SERVER1), {
            selections: 1,
            active_flows: 1,
            handoff_failures: 0,
            failure_streak: 0,
          }),
      };
    })(),
    (() => {
      const c = connection(42101, 0x8100_0000);
      return {
        description: "HANDOFF_ACK 3 ms after the HANDOFF: latency 3 ms, in the (2.5, 5] ms bucket",
        steps: [
          ...requested(c),
          { now: T0 + 3, answer: { type: "handoff_ack" }, expect: [] },
        ],
        counters: {
          ...REQUESTED,
          handoffs_acked: 1,
          handoff_rx_ok: 1,
          handoff_answers_taken: 1,
          flows_forwarding: 1,
          latency_bucket_6: 1,
          latency_sum_ms: 3,
        },
      };
    })(),
    (() => {
      const c = connection(42102, 0x8200_0000);
      const body = c.data(GET_HEAD.length, "hello", 5002);
      return {
        description:
          "HANDOFF_NACK: the next server in rendezvous order gets a HANDOFF (a new id) at once; its ACK forwards the flow there",
        servers: TWO_SERVERS,
        steps: [
          ...requested(c, FIRST),
          // the NACK first in the burst: the client's ACK behind it already goes to the next server
          {
            answer: { type: "handoff_nack", reason: 3 },
            send: [bare_ack(c, 5001)],
            expect: [forwarded_to(bare_ack(c, 5001), SECOND.mac)],
            expect_datagrams: [c.handoff(GET_HEAD, 5000, { id: 2, to: SECOND })],
          },
          { answer: { type: "handoff_ack" }, expect: [] },
          { send: [body], expect: [forwarded_to(body, SECOND.mac)] },
        ],
        counters: {
          ...REQUESTED,
          handoffs_sent: 2,
          handoffs_nacked: 1,
          nack_stack_timeout: 1,
          fallbacks: 1,
          handoffs_acked: 1,
          handoff_rx_ok: 2,
          handoff_answers_taken: 2,
          forwarded_while_handing: 1,
          forwarded: 1,
          flows_forwarding: 1,
          latency_bucket_0: 1,
        },
        check: (result: Result) => {
          assert.deepEqual(
            result.handoffs.map((h) => [h.message.id, h.to_ip]),
            [[1, FIRST.ip], [2, SECOND.ip]],
            "first to rendezvous' first, then to its second",
          );
          assert.deepEqual(stats(result, FIRST), {
            selections: 0,
            active_flows: 0,
            handoff_failures: 1,
            failure_streak: 1,
          });
          assert.deepEqual(stats(result, SECOND), {
            selections: 1,
            active_flows: 1,
            handoff_failures: 0,
            failure_streak: 0,
          });
        },
      };
    })(),
    (() => {
      const c = connection(42103, 0x8300_0000);
      return {
        description:
          "HANDOFF_NACK from the only server: no server left, 503 (no CANCEL: the agent refused it)",
        steps: [
          ...requested(c),
          {
            answer: { type: "handoff_nack", reason: 1 },
            expect: [c.response(503, GET_HEAD.length, 5000)],
          },
        ],
        counters: {
          ...REQUESTED,
          handoffs_nacked: 1,
          nack_table_full: 1,
          handoff_rx_ok: 1,
          handoff_answers_taken: 1,
          responses_503: 1,
          // the 503, sent by the service call after the burst
          timers_fired: 1,
        },
        check: (result: Result) =>
          assert.deepEqual(stats(result, SERVER1), {
            selections: 0,
            active_flows: 0,
            handoff_failures: 1,
            failure_streak: 1,
          }),
      };
    })(),
    (() => {
      const c = connection(42104, 0x8400_0000);
      return {
        description:
          "a NACK after the client ACKed the tried server's bytes: committed, the flow stays there (no 503)",
        steps: [
          ...requested(c),
          { send: [acking(c, 5001, 100)], expect: [forwarded(acking(c, 5001, 100))] },
          { answer: { type: "handoff_nack", reason: 2 }, expect: [] },
          { send: [acking(c, 5002, 200)], expect: [forwarded(acking(c, 5002, 200))] },
          // no response of the director's follows later either
          { now: T0 + 1000, expect: [] },
        ],
        counters: {
          ...REQUESTED,
          forwarded_while_handing: 1,
          handoffs_committed: 1,
          committed_kept: 1,
          handoffs_nacked: 1,
          nack_stack_reset: 1,
          handoff_rx_ok: 1,
          handoff_answers_taken: 1,
          forwarded: 1,
          flows_forwarding: 1,
        },
        check: (result: Result) =>
          assert.deepEqual(stats(result, SERVER1), {
            selections: 1,
            active_flows: 1,
            handoff_failures: 0,
            failure_streak: 0,
          }),
      };
    })(),
    (() => {
      const c = connection(42105, 0x8500_0000);
      return {
        description: "a duplicate HANDOFF_ACK (a retransmission, or a replay while fresh): ignored",
        steps: [
          ...requested(c),
          { answer: { type: "handoff_ack" }, expect: [] },
          { answer: { type: "handoff_ack" }, expect: [] },
        ],
        counters: {
          ...REQUESTED,
          handoffs_acked: 1,
          handoff_rx_ok: 2,
          handoff_answers_taken: 2,
          flows_forwarding: 1,
          latency_bucket_0: 1,
        },
        check: (result: Result) =>
          assert.equal(stats(result, SERVER1).selections, 1, "counted once"),
      };
    })(),
    (() => {
      const c = connection(42106, 0x8600_0000);
      return {
        description:
          "ACKs that match no hand-off in flight (from the other server, another epoch, an id never issued): counted, nothing changes",
        servers: TWO_SERVERS,
        steps: [
          ...requested(c, FIRST),
          {
            answer: { type: "handoff_ack", server: index_of(SECOND) },
            expect: [],
          },
          { answer: { type: "handoff_ack", epoch: (EPOCH + 1) >>> 0 }, expect: [] },
          { answer: { type: "handoff_ack", id: 99 }, expect: [] },
          // still HANDING with the first server: the client's frames go on to it
          { send: [bare_ack(c, 5001)], expect: [forwarded_to(bare_ack(c, 5001), FIRST.mac)] },
        ],
        counters: {
          ...REQUESTED,
          handoffs_pending: 1,
          reading_buffers: 1,
          answers_unmatched: 3,
          handoff_rx_ok: 3,
          handoff_answers_taken: 3,
          forwarded_while_handing: 1,
        },
      };
    })(),
  ];
}

function timers(): FixtureRow[] {
  return [
    (() => {
      const c = connection(42202, 0x9200_0000);
      return {
        description: "ACKed before its resend is due: its timer is cancelled, nothing is resent",
        handoff_rto_ms: RTO_MS,
        handoff_tries: TRIES,
        steps: [
          ...requested(c),
          { ...at(10), answer: { type: "handoff_ack" }, expect: [] },
          { ...at(RTO_MS), expect: [] },
          { ...at(GIVEN_UP), expect: [] },
        ],
        counters: {
          ...REQUESTED,
          handoffs_acked: 1,
          handoff_rx_ok: 1,
          handoff_answers_taken: 1,
          flows_forwarding: 1,
          // 10 ms: the (5, 10] ms bucket
          latency_bucket_7: 1,
          latency_sum_ms: 10,
          // the ACK took the resend's timer off the wheel: nothing fires at +50
        },
      };
    })(),
    (() => {
      const c = connection(42200, 0x9000_0000);
      // every datagram stamped when it is sent: a retransmission is a fresh copy
      const first = (ms: number) => c.handoff(GET_HEAD, 5000, { to: FIRST, wall: WALL + ms });
      const second = (ms: number) =>
        c.handoff(GET_HEAD, 5000, { id: 2, to: SECOND, wall: WALL + ms });
      return {
        description:
          "time-out: resent at +50 (same id, stamped anew), at +150 a CANCEL to it and a HANDOFF to the next; that one too, then 503",
        servers: TWO_SERVERS,
        handoff_rto_ms: RTO_MS,
        handoff_tries: TRIES,
        steps: [
          ...requested(c, FIRST),
          { ...at(RTO_MS - 1), expect: [] },
          { ...at(RTO_MS), expect: [], expect_datagrams: [first(RTO_MS)] },
          { ...at(GIVEN_UP - 1), expect: [] },
          {
            ...at(GIVEN_UP),
            expect: [],
            expect_datagrams: [
              cancel(42200, { to: FIRST, wall: WALL + GIVEN_UP }),
              second(GIVEN_UP),
            ],
          },
          { ...at(GIVEN_UP + RTO_MS), expect: [], expect_datagrams: [second(GIVEN_UP + RTO_MS)] },
          { ...at(GIVEN_UP + 3 * RTO_MS - 1), expect: [] },
          // none left: the 503 goes out with the CANCEL
          {
            ...at(GIVEN_UP + 3 * RTO_MS),
            expect: [c.response(503, GET_HEAD.length, 5000)],
            expect_datagrams: [
              cancel(42200, { id: 2, to: SECOND, wall: WALL + GIVEN_UP + 3 * RTO_MS }),
            ],
          },
        ],
        counters: {
          ...REQUESTED,
          handoffs_sent: 2,
          handoff_retransmits: 2,
          handoff_timeouts: 2,
          fallbacks: 1,
          cancels_sent: 2,
          responses_503: 1,
          // +50, +150, +200, +300: each deadline from the timer wheel, on time
          timers_fired: 4,
        },
        check: (result: Result) => {
          for (const agent of [FIRST, SECOND]) {
            assert.deepEqual(stats(result, agent), {
              selections: 0,
              active_flows: 0,
              handoff_failures: 1,
              failure_streak: 1,
            });
          }
        },
      };
    })(),
    (() => {
      const c = connection(42201, 0x9100_0000);
      const body = c.data(GET_HEAD.length, "hello", 5001);
      return {
        description:
          "a late ACK from the server given up on (after its CANCEL): answered with a CANCEL in the ACK's own mbuf",
        servers: TWO_SERVERS,
        handoff_rto_ms: RTO_MS,
        handoff_tries: TRIES,
        steps: [
          ...requested(c, FIRST),
          {
            ...at(RTO_MS),
            expect: [],
            expect_datagrams: [c.handoff(GET_HEAD, 5000, { to: FIRST, wall: WALL + RTO_MS })],
          },
          {
            ...at(GIVEN_UP),
            expect: [],
            expect_datagrams: [
              cancel(42201, { to: FIRST, wall: WALL + GIVEN_UP }),
              c.handoff(GET_HEAD, 5000, { id: 2, to: SECOND, wall: WALL + GIVEN_UP }),
            ],
          },
          // the first server's agent adopted it after all: it must forget it again
          {
            ...at(GIVEN_UP + 1),
            answer: { type: "handoff_ack", server: index_of(FIRST), id: 1 },
            expect: [],
            expect_datagrams: [cancel(42201, { to: FIRST, wall: WALL + GIVEN_UP + 1 })],
          },
          // the hand-off to the second goes on unharmed
          { ...at(GIVEN_UP + 2), answer: { type: "handoff_ack" }, expect: [] },
          { ...at(GIVEN_UP + 3), send: [body], expect: [forwarded_to(body, SECOND.mac)] },
        ],
        counters: {
          ...REQUESTED,
          handoffs_sent: 2,
          handoff_retransmits: 1,
          handoff_timeouts: 1,
          fallbacks: 1,
          // one for the time-out, one for the late ACK; the late ACK is answered in place,
          // so it is not among the frames dropped (handoff_answers_taken is the second ACK)
          cancels_sent: 2,
          late_acks: 1,
          handoffs_acked: 1,
          handoff_rx_ok: 2,
          handoff_answers_taken: 1,
          forwarded: 1,
          flows_forwarding: 1,
          // 152 ms from the first HANDOFF to the ACK: the (100, 250] ms bucket
          latency_bucket_11: 1,
          latency_sum_ms: GIVEN_UP + 2,
          // the resend and the give-up
          timers_fired: 2,
        },
        check: (result: Result) => {
          assert.equal(stats(result, FIRST).handoff_failures, 1);
          assert.equal(stats(result, FIRST).selections, 0, "the late ACK does not make it FIRST's");
          assert.equal(stats(result, SECOND).active_flows, 1);
        },
      };
    })(),
  ];
}

function flow_ends(): FixtureRow[] {
  return [
    (() => {
      const c = connection(42300, 0xa000_0000);
      const d = connection(42301, 0xa100_0000);
      const body = c.data(GET_HEAD.length, "hello", 5001);
      const rst = c.data(GET_HEAD.length, "", 5002, { flags: TCP_FLAG_RST, options: [] });
      return {
        description:
          "FLOW_END: another hand-off's id is unmatched (no ACK, flow kept); its own removes the flow with a FLOW_END_ACK; a repeat is ACKed again",
        steps: [
          ...requested(c),
          { answer: { type: "handoff_ack" }, expect: [] },
          { send: [d.syn], expect: [d.syn_ack] },
          { send: [d.ack], expect: [] },
          {
            send: [d.data(0, GET_HEAD, 6000)],
            expect: [d.acked(GET_HEAD.length, 6000)],
            expect_datagrams: [d.handoff(GET_HEAD, 6000, { id: 2 })],
          },
          { answer: { type: "handoff_ack" }, expect: [] },
          // c's flow, but d's hand-off id: a replay of an older hand-off's, or a confused agent
          { answer: { type: "flow_end", client_port: 42300, id: 2 }, expect: [] },
          { send: [body], expect: [forwarded(body)] },
          {
            answer: { type: "flow_end", client_port: 42300 },
            expect: [],
            expect_datagrams: [flow_end_ack(42300)],
          },
          // the agent did not get our FLOW_END_ACK and sends its FLOW_END again
          {
            answer: { type: "flow_end", client_port: 42300 },
            expect: [],
            expect_datagrams: [flow_end_ack(42300)],
          },
          { send: [rst], expect: [], expect_datagrams: [flow_query(42300, { id: 3 })] },
        ],
        counters: {
          syn_cookies_sent: 2,
          handshakes_completed: 2,
          request_segments: 2,
          requests_complete: 2,
          reading_buffers_high: 1,
          flows: 1,
          handoffs_sent: 2,
          handoffs_acked: 2,
          latency_bucket_0: 2,
          forwarded: 1,
          flow_ends_unmatched: 1,
          flow_ends: 1,
          ended_agent: 1,
          flow_end_repeats: 1,
          // the RST after the flow went: no flow, no cookie, no TSecr, so the agents are asked
          dropped_asked_owner: 1,
          queries_sent: 1,
          handoff_rx_ok: 5,
          // the two ACKs and the unmatched FLOW_END; the others are answered in their own mbufs
          handoff_answers_taken: 3,
          flows_forwarding: 1,
        },
        check: (result: Result) =>
          assert.deepEqual(
            [stats(result, SERVER1).selections, stats(result, SERVER1).active_flows],
            [2, 1],
            "d's flow is still the server's",
          ),
      };
    })(),
    (() => {
      const c = connection(42302, 0xa200_0000);
      return {
        description: "FLOW_END naming an id never issued: unmatched, no ACK, the flow kept",
        steps: [
          ...requested(c),
          { answer: { type: "handoff_ack" }, expect: [] },
          { answer: { type: "flow_end", id: 77 }, expect: [] },
        ],
        counters: {
          ...REQUESTED,
          handoffs_acked: 1,
          latency_bucket_0: 1,
          flow_ends_unmatched: 1,
          handoff_rx_ok: 2,
          handoff_answers_taken: 2,
          flows_forwarding: 1,
        },
      };
    })(),
  ];
}

function dropped(): FixtureRow[] {
  return [
    (() => {
      const c = connection(42400, 0xb000_0000);
      const ack: HandoffMessage = { type: "handoff_ack", epoch: EPOCH, id: 1, key: c.key };
      const bent = [
        // one bit of the tag
        from_agent(ack, {
          bend: (d) => {
            d[d.length - 1] ^= 0x01;
            return d;
          },
        }),
        // one byte short of its tag
        from_agent(ack, { bend: (d) => d.subarray(0, d.length - 1) }),
        // a minute old: outside the director's 10 s freshness
        from_agent(ack, { now: WALL - 60_000 }),
        // authentic, but naming srv2's agent while it comes from srv1's
        from_agent(ack, { agent_id: 2 }),
        // not from any server's agent: dropped before any HMAC
        from_agent(ack, { src_ip: "198.18.0.99" }),
        // not a baton datagram at all
        from_agent(ack, {
          bend: (d) => {
            d[0] ^= 0xff;
            return d;
          },
        }),
      ];
      return {
        description:
          "bad datagrams (tag, truncated, stale, wrong agent, unknown source, magic): each counted under its reason, dropped, nothing else",
        steps: [
          ...requested(c),
          { send: bent, expect: [] },
          // the same ACK unbent is taken: the flow waited for it unharmed
          { send: [from_agent(ack)], expect: [] },
        ],
        counters: {
          ...REQUESTED,
          handoff_rx_bad_mac: 1,
          handoff_rx_truncated: 1,
          handoff_rx_stale: 1,
          handoff_rx_wrong_agent: 1,
          handoff_rx_unknown_source: 1,
          handoff_rx_bad_magic: 1,
          handoff_rx_ok: 1,
          handoffs_acked: 1,
          handoff_answers_taken: 1,
          latency_bucket_0: 1,
          flows_forwarding: 1,
        },
      };
    })(),
    (() => {
      const c = connection(42401, 0xb100_0000);
      const ack: HandoffMessage = { type: "handoff_ack", epoch: EPOCH, id: 1, key: c.key };
      return {
        description:
          "only bad datagrams: the flow is still HANDING, nothing sent, only the reasons counted",
        steps: [
          ...requested(c),
          {
            send: [
              from_agent(ack, {
                bend: (d) => {
                  d[30] ^= 0x80; // a bit of the body: the tag no longer matches
                  return d;
                },
              }),
              from_agent(ack, { bend: (d) => d.subarray(0, 20) }),
            ],
            expect: [],
          },
        ],
        counters: {
          ...REQUESTED,
          handoffs_pending: 1,
          reading_buffers: 1,
          handoff_rx_bad_mac: 1,
          handoff_rx_truncated: 1,
        },
      };
    })(),
  ];
}

fixture_tests(strict([...sending(), ...answers(), ...timers(), ...flow_ends(), ...dropped()]));
