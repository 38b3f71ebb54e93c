// Packet fixtures: a director carries on connections it does not know
// (dataplane/director/carry.ts), as after another director's death or its
// own restart. A packet whose TSecr carries a server's routing code goes to
// that server with nothing kept; one without (or naming no server) makes
// the director ask the agents, once per flow and within its budget; the
// owner's FLOW_OWNER makes a forwarding flow whose FLOW_END ends it; a
// FLOW_END of another director's hand-off is acknowledged. Real DPDK
// (net_pcap) under the harness of director_fixture.ts.

import { ip_to_u32, TCP_FLAG_ACK, TCP_FLAG_FIN, TCP_FLAG_RST } from "../../../dataplane/mod.ts";
import { routed_tsval, ts_route_code, ts_route_mask } from "../../../dataplane/mod.ts";
import {
  CLIENT_IP,
  EPOCH,
  fixture_tests,
  type FixtureRow,
  flow_end_ack,
  flow_key,
  flow_query,
  forwarded,
  forwarded_to,
  from_agent,
  from_client,
  KEY,
  SERVER2,
  SERVER2_MAC,
  T0,
  ts,
  TWO_SERVERS,
  VIP,
  VIP_PORT,
} from "./director_fixture.ts";

/** A TSecr the agent of agent_id gave the flow of client_port (any clock: only the code counts). */
function routed_tsecr(client_port: number, agent_id: number, clock = 0x1234_5600): number {
  const mask = ts_route_mask(
    KEY,
    ip_to_u32(CLIENT_IP),
    ip_to_u32(VIP),
    (client_port << 16) | VIP_PORT,
  );
  return routed_tsval(clock, 0, ts_route_code(agent_id, mask)) >>> 0;
}

/** A client segment of a connection handed off by another director (its ISNs are unknown here). */
function segment(
  client_port: number,
  options: { tsecr?: number; flags?: number; payload?: number },
) {
  return from_client({
    src_port: client_port,
    seq: 0x5000_0000,
    ack: 0x7000_1234,
    flags: options.flags ?? TCP_FLAG_ACK,
    payload: options.payload ?? 0,
    options: options.tsecr === undefined ? [] : ts(900_000, options.tsecr),
  });
}

function owner(client_port: number, id: number, from = undefined as typeof SERVER2 | undefined) {
  return from_agent({ type: "flow_owner", epoch: EPOCH, id, key: flow_key(client_port) }, { from });
}

function rows(): FixtureRow[] {
  return [
    (() => {
      const ack = segment(43000, { tsecr: routed_tsecr(43000, 1) });
      const data = segment(43000, { tsecr: routed_tsecr(43000, 1, 0x1234_5700), payload: 300 });
      return {
        description:
          "an ACK and data of a flow handed off elsewhere, TSecr naming server 1: forwarded there, nothing kept",
        steps: [{ send: [ack, data], expect: [forwarded(ack), forwarded(data)] }],
        counters: { carried_by_tsval: 2 },
      };
    })(),
    (() => {
      const ack = segment(43001, { tsecr: routed_tsecr(43001, 2) });
      const fin = segment(43001, {
        tsecr: routed_tsecr(43001, 2),
        flags: TCP_FLAG_ACK | TCP_FLAG_FIN,
      });
      const rst = segment(43001, { tsecr: routed_tsecr(43001, 2), flags: TCP_FLAG_RST });
      return {
        description:
          "two servers, TSecr naming server 2: its ACK, bare FIN and RST all go to server 2",
        servers: TWO_SERVERS,
        steps: [{
          send: [ack, fin, rst],
          expect: [
            forwarded_to(ack, SERVER2_MAC),
            forwarded_to(fin, SERVER2_MAC),
            forwarded_to(rst, SERVER2_MAC),
          ],
        }],
        counters: { carried_by_tsval: 3 },
      };
    })(),
    (() => {
      const ack = segment(43002, { tsecr: routed_tsecr(43002, 9) });
      return {
        description:
          "TSecr naming agent 9, which no server is: dropped, each agent asked with one FLOW_QUERY",
        servers: TWO_SERVERS,
        steps: [{
          send: [ack],
          expect: [],
          expect_datagrams: [
            flow_query(43002, { id: 1 }),
            flow_query(43002, { id: 1, to: SERVER2 }),
          ],
        }],
        counters: { dropped_asked_owner: 1, queries_sent: 2 },
      };
    })(),
    (() => {
      const ack = segment(43003, {});
      return {
        description:
          "no timestamps: asked once; again within 200 ms: not asked; after 200 ms: asked again",
        steps: [
          { send: [ack], expect: [], expect_datagrams: [flow_query(43003, { id: 1 })] },
          { now: T0 + 100, send: [ack], expect: [], expect_datagrams: [] },
          {
            now: T0 + 201,
            send: [ack],
            expect: [],
            expect_datagrams: [flow_query(43003, { id: 2 })],
          },
        ],
        counters: { dropped_asked_owner: 2, dropped_query_limited: 1, queries_sent: 2 },
      };
    })(),
    (() => {
      const ack = segment(43004, {});
      const data = segment(43004, { payload: 100 });
      return {
        description:
          "FLOW_OWNER from server 1: a forwarding flow; the next packets go there; its FLOW_END (the query's id) ends it",
        steps: [
          { send: [ack], expect: [], expect_datagrams: [flow_query(43004, { id: 1 })] },
          { send: [owner(43004, 1)], expect: [] },
          { send: [data, ack], expect: [forwarded(data), forwarded(ack)] },
          {
            send: [from_agent({
              type: "flow_end",
              epoch: EPOCH,
              id: 1,
              key: flow_key(43004),
              reason: 1,
              counts: { packets_to_server: 3, packets_to_client: 4 },
            })],
            expect: [],
            expect_datagrams: [flow_end_ack(43004, { id: 1 })],
          },
        ],
        counters: {
          dropped_asked_owner: 1,
          queries_sent: 1,
          handoff_rx_ok: 2,
          handoff_answers_taken: 1,
          flows_recovered: 1,
          forwarded: 2,
          flow_ends: 1,
          ended_agent: 1,
        },
      };
    })(),
    (() => {
      const ack = segment(43005, {});
      return {
        description:
          "FLOW_OWNER naming an id this director never issued (another epoch's): nothing is made",
        steps: [
          {
            send: [
              from_agent({ type: "flow_owner", epoch: EPOCH + 1, id: 1, key: flow_key(43005) }),
              owner(43005, 7),
            ],
            expect: [],
          },
          { send: [ack], expect: [], expect_datagrams: [flow_query(43005, { id: 1 })] },
        ],
        counters: {
          handoff_rx_ok: 2,
          handoff_answers_taken: 2,
          answers_unmatched: 2,
          dropped_asked_owner: 1,
          queries_sent: 1,
        },
      };
    })(),
    {
      description:
        "FLOW_END of a hand-off by another director (or by this one before a restart): acknowledged, so the agent stops",
      steps: [{
        send: [from_agent({
          type: "flow_end",
          epoch: EPOCH + 5,
          id: 99,
          key: flow_key(43006),
          reason: 1,
          counts: { packets_to_server: 1, packets_to_client: 1 },
        })],
        expect: [],
        // written into the FLOW_END's own mbuf: its epoch and id
        expect_datagrams: [flow_end_ack(43006, { epoch: EPOCH + 5, id: 99 })],
      }],
      counters: { handoff_rx_ok: 1, flow_ends_foreign: 1 },
    },
  ];
}

fixture_tests(rows());
