// One server per connection (issue 10, item 11), as packet fixtures in the
// form of director_fixture_test.ts: while a hand-off is unconfirmed the
// director forwards the client's frames to the server being tried; once the
// client acknowledges that server's bytes the connection is committed to it,
// and neither its agent's NACK (which would send the HANDOFF to the next
// server, or answer 503 when none is left) nor the hand-off's time-out
// moves it. Since issue 9 the director tries the next server itself, so
// every row pins the hand-off counters too.

import assert from "node:assert/strict";
import { TCP_FLAG_ACK } from "../../../dataplane/mod.ts";
import {
  cancel,
  connection,
  fixture_tests,
  type FixtureRow,
  forwarded,
  forwarded_to,
  GET_HEAD,
  rendezvous_agents,
  T0,
  TWO_SERVERS,
} from "./director_fixture.ts";

/** A short hand-off time-out for these rows: resent at +50, given up at +150. */
const RTO_MS = 50;
const TRIES = 2;
const GIVEN_UP = T0 + RTO_MS + 2 * RTO_MS;
/** Who is tried first for GET_HEAD (Host baton.test, /index.html) among TWO_SERVERS. */
const [FIRST] = rendezvous_agents(TWO_SERVERS, "baton.test", "/index.html");

type Connection = ReturnType<typeof connection>;

/** The client acknowledges `bytes` bytes of the tried server's response. */
function acking(c: Connection, tsval: number, bytes: number): Uint8Array {
  return c.data(GET_HEAD.length, "", tsval, {
    flags: TCP_FLAG_ACK,
    ack: (c.cookie + 1 + bytes) >>> 0,
  });
}

const rows: FixtureRow[] = [
  (() => {
    const c = connection(40101, 0x1100_0000);
    return {
      // changed by design (issue 9): "another TRY" was the control Worker's move to the next
      // server; now that move is the director's own, on the tried agent's NACK
      description:
        "the client ACKs the tried server's bytes: committed; its agent's NACK keeps it there (no next server)",
      servers: TWO_SERVERS,
      pin_handoff: true,
      steps: [
        { send: [c.syn], expect: [c.syn_ack] },
        { send: [c.ack], expect: [] },
        {
          send: [c.data(0, GET_HEAD, 5000)],
          expect: [c.acked(GET_HEAD.length, 5000)],
          expect_datagrams: [c.handoff(GET_HEAD, 5000, { to: FIRST })],
        },
        { send: [acking(c, 5001, 100)], expect: [forwarded_to(acking(c, 5001, 100), FIRST.mac)] },
        // uncommitted, this would send a HANDOFF to the other server: too late, the client is this one's
        { answer: { type: "handoff_nack", reason: 1 }, expect: [], expect_datagrams: [] },
        { send: [acking(c, 5002, 200)], expect: [forwarded_to(acking(c, 5002, 200), FIRST.mac)] },
      ],
      counters: {
        reading_buffers_high: 1,
        syn_cookies_sent: 1,
        handshakes_completed: 1,
        request_segments: 1,
        requests_complete: 1,
        forwarded_while_handing: 1,
        handoffs_committed: 1,
        committed_kept: 1,
        forwarded: 1,
        flows: 1,
        handoffs_sent: 1,
        handoffs_nacked: 1,
        nack_table_full: 1,
        handoff_rx_ok: 1,
        handoff_answers_taken: 1,
        flows_forwarding: 1,
      },
      check: ({ server_stats }) => {
        const first = server_stats[FIRST.agent_id - 1];
        const other = server_stats[2 - FIRST.agent_id];
        // kept, not failed: a NACK the client overruled is no mark against the server
        assert_stats(first, { selections: 1, active_flows: 1, handoff_failures: 0 });
        assert_stats(other, { selections: 0, active_flows: 0, handoff_failures: 0 });
      },
    };
  })(),
  (() => {
    const c = connection(40103, 0x1300_0000);
    return {
      // changed by design (issue 9): the time-out is the director's own (resend at +50, give up
      // at +150), and a committed flow given up on gets no CANCEL and no next server
      description:
        "committed, then the hand-off times out: kept at the tried server, no CANCEL, no HANDOFF to the next",
      servers: TWO_SERVERS,
      handoff_rto_ms: RTO_MS,
      handoff_tries: TRIES,
      pin_handoff: true,
      steps: [
        { send: [c.syn], expect: [c.syn_ack] },
        { send: [c.ack], expect: [] },
        {
          send: [c.data(0, GET_HEAD, 5000)],
          expect: [c.acked(GET_HEAD.length, 5000)],
          expect_datagrams: [c.handoff(GET_HEAD, 5000, { to: FIRST })],
        },
        { send: [acking(c, 5001, 100)], expect: [forwarded_to(acking(c, 5001, 100), FIRST.mac)] },
        {
          now: T0 + RTO_MS,
          expect: [],
          expect_datagrams: [c.handoff(GET_HEAD, 5000, { to: FIRST })],
        },
        { now: GIVEN_UP, expect: [], expect_datagrams: [] },
        {
          now: GIVEN_UP + 1,
          send: [acking(c, 5003, 300)],
          expect: [forwarded_to(acking(c, 5003, 300), FIRST.mac)],
          expect_datagrams: [],
        },
      ],
      counters: {
        reading_buffers_high: 1,
        syn_cookies_sent: 1,
        handshakes_completed: 1,
        request_segments: 1,
        requests_complete: 1,
        forwarded_while_handing: 1,
        handoffs_committed: 1,
        committed_kept: 1,
        forwarded: 1,
        flows: 1,
        handoffs_sent: 1,
        handoff_retransmits: 1,
        handoff_timeouts: 1,
        // both deadlines (resend, give up) fired from the timer wheel
        timers_fired: 2,
        flows_forwarding: 1,
      },
      check: ({ server_stats }) => {
        assert_stats(server_stats[FIRST.agent_id - 1], {
          selections: 1,
          active_flows: 1,
          handoff_failures: 0,
        });
      },
    };
  })(),
  (() => {
    const c = connection(40102, 0x1200_0000);
    // an ACK that acknowledges nothing beyond the director's own SYN/ACK
    const bare = c.data(GET_HEAD.length, "", 5001, { flags: TCP_FLAG_ACK });
    return {
      // changed by design (issue 9): the director gives the server up itself (CANCEL), and with
      // no other server the client gets a 503 (was: a FLOW_GONE event to the control Worker)
      description:
        "no server bytes acknowledged: not committed, the time-out ends the hand-off (CANCEL, then 503)",
      handoff_rto_ms: RTO_MS,
      handoff_tries: TRIES,
      pin_handoff: true,
      steps: [
        { send: [c.syn], expect: [c.syn_ack] },
        { send: [c.ack], expect: [] },
        {
          send: [c.data(0, GET_HEAD, 5000)],
          expect: [c.acked(GET_HEAD.length, 5000)],
          expect_datagrams: [c.handoff(GET_HEAD, 5000)],
        },
        { send: [bare], expect: [forwarded(bare)] },
        { now: T0 + RTO_MS, expect: [], expect_datagrams: [c.handoff(GET_HEAD, 5000)] },
        // given up: the CANCEL to the agent, and with no server left the 503 to the client
        {
          now: GIVEN_UP,
          expect: [c.response(503, GET_HEAD.length, 5000)],
          expect_datagrams: [cancel(40102)],
        },
      ],
      counters: {
        reading_buffers_high: 1,
        syn_cookies_sent: 1,
        handshakes_completed: 1,
        request_segments: 1,
        requests_complete: 1,
        forwarded_while_handing: 1,
        responses_503: 1,
        flows: 1,
        handoffs_sent: 1,
        handoff_retransmits: 1,
        handoff_timeouts: 1,
        cancels_sent: 1,
        // the resend and the give-up; the 503 is sent by the same service call
        timers_fired: 2,
      },
      check: ({ server_stats }) => {
        assert_stats(server_stats[0], {
          selections: 0,
          active_flows: 0,
          handoff_failures: 1,
        });
      },
    };
  })(),
];

/** The server's row of server_stats, as far as these rows care. */
function assert_stats(
  got: Record<string, number>,
  want: { selections: number; active_flows: number; handoff_failures: number },
): void {
  const { selections, active_flows, handoff_failures } = got;
  assert.deepEqual({ selections, active_flows, handoff_failures }, want, "server stats");
}

fixture_tests(rows);
