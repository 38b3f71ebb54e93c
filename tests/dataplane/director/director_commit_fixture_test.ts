// One server per connection (issue 10, item 11), as packet fixtures in the
// form of director_fixture_test.ts: while a hand-off is unconfirmed the
// director forwards the client's frames to the server being tried; once the
// client acknowledges that server's bytes the connection is committed to it,
// and neither another TRY, a 503 nor the hand-off's time-out moves it.

import assert from "node:assert/strict";
import { ip_to_u32, TCP_FLAG_ACK } from "../../../dataplane/mod.ts";
import { EVENT_COMMITTED, EVENT_FLOW_GONE, GONE_TIMEOUT } from "../../../dataplane/wire/mod.ts";
import {
  CLIENT_IP,
  connection,
  fixture_tests,
  type FixtureRow,
  forwarded,
  GET_HEAD,
  type Result,
  SERVER_MAC,
  T0,
  VIP,
  VIP_PORT,
} from "./director_fixture.ts";

/** The fixture's hand-off time-out (tests/support/director_fixture_main.ts). */
const HANDOFF_TIMEOUT_MS = 600_000;
const OTHER_SERVER_MAC = "02:b7:00:00:01:03";

function event_words(type: number, client_port: number, reason: number): number[] {
  return [
    type,
    ip_to_u32(CLIENT_IP) | 0,
    ip_to_u32(VIP) | 0,
    (client_port << 16) | VIP_PORT,
    reason,
  ];
}

const rows: FixtureRow[] = [
  (() => {
    const c = connection(40101, 0x1100_0000);
    // the client acknowledges 100 bytes of the tried server's response
    const acking = (tsval: number, bytes: number) =>
      c.data(GET_HEAD.length, "", tsval, {
        flags: TCP_FLAG_ACK,
        ack: (c.cookie + 1 + bytes) >>> 0,
      });
    return {
      description:
        "the client ACKs the tried server's bytes: committed; another TRY, a 503 and the time-out keep it there",
      steps: [
        { send: [c.syn], expect: [c.syn_ack] },
        { send: [c.ack], expect: [] },
        { send: [c.data(0, GET_HEAD, 5000)], expect: [c.acked(GET_HEAD.length, 5000)] },
        { verdict: { verdict: "try", server_mac: SERVER_MAC }, expect: [] },
        { send: [acking(5001, 100)], expect: [forwarded(acking(5001, 100))] },
        // the control Worker timed out and moves on: too late, the client is the first server's
        { verdict: { verdict: "try", server_mac: OTHER_SERVER_MAC }, expect: [] },
        { send: [acking(5002, 200)], expect: [forwarded(acking(5002, 200))] },
        { verdict: { verdict: "respond", status: 503 }, expect: [] },
        // the hand-off's own time-out: forwarded from now on, not ended
        { now: T0 + HANDOFF_TIMEOUT_MS + 1, expect: [] },
        {
          now: T0 + HANDOFF_TIMEOUT_MS + 2,
          send: [acking(5003, 300)],
          expect: [forwarded(acking(5003, 300))],
        },
      ],
      counters: {
        reading_buffers_high: 1,
        syn_cookies_sent: 1,
        handshakes_completed: 1,
        request_segments: 1,
        requests_complete: 1,
        forwarded_while_handing: 2,
        handoffs_committed: 1,
        committed_kept: 3,
        forwarded: 1,
        flows: 1,
      },
      check: ({ events }: Result) =>
        assert.deepEqual(events, [event_words(EVENT_COMMITTED, 40101, 0)], "told once"),
    };
  })(),
  (() => {
    const c = connection(40102, 0x1200_0000);
    // an ACK that acknowledges nothing beyond the director's own SYN/ACK
    const bare = c.data(GET_HEAD.length, "", 5001, { flags: TCP_FLAG_ACK });
    return {
      description: "no server bytes acknowledged: not committed, the time-out ends the hand-off",
      steps: [
        { send: [c.syn], expect: [c.syn_ack] },
        { send: [c.ack], expect: [] },
        { send: [c.data(0, GET_HEAD, 5000)], expect: [c.acked(GET_HEAD.length, 5000)] },
        { verdict: { verdict: "try", server_mac: SERVER_MAC }, expect: [] },
        { send: [bare], expect: [forwarded(bare)] },
        { now: T0 + HANDOFF_TIMEOUT_MS + 1, expect: [] },
      ],
      counters: {
        reading_buffers_high: 1,
        syn_cookies_sent: 1,
        handshakes_completed: 1,
        request_segments: 1,
        requests_complete: 1,
        forwarded_while_handing: 1,
      },
      check: ({ events }: Result) =>
        assert.deepEqual(events, [event_words(EVENT_FLOW_GONE, 40102, GONE_TIMEOUT)]),
    };
  })(),
];

fixture_tests(rows);
