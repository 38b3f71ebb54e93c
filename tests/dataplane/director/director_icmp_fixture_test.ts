// ICMP errors to a VIP as packet fixtures, in the form of
// director_fixture_test.ts (issue 10 item 9). After a hand-off the server
// sends from the VIP, so a router that cannot forward its segment (too big,
// DF set) sends fragmentation-needed to the VIP, that is to the director. An
// error quoting a segment of a flow the director forwards goes to that flow's
// server with only its Ethernet header changed (the agent moves the quote
// into the stack's space); one quoting no such flow, or a quote that lies, is
// dropped and counted; echo is still answered, an error never is. Each row
// pins every counter.

import assert from "node:assert/strict";
import {
  build_icmp_echo,
  build_tcp,
  build_udp,
  icmp_checksum_set,
  read_u32,
  TCP_FLAG_ACK,
  TCP_FLAG_PSH,
  write_u16,
  write_u32,
} from "../../../dataplane/mod.ts";
import {
  CLIENT_IP,
  CLIENT_MAC,
  connection,
  DIRECTOR_MAC,
  fixture_tests,
  type FixtureRow,
  forwarded,
  GET_HEAD,
  type Result,
  SERVER_MAC,
  type Step,
  ts,
  VIP,
  VIP_PORT,
} from "./director_fixture.ts";

/** The router between the servers and the client that sends the errors. */
const ROUTER_MAC = "02:b7:00:00:00:fe";
const ROUTER_IP = "198.18.0.254";
const DEST_UNREACHABLE = 3;
const FRAGMENTATION_NEEDED = 4;
const HOST_UNREACHABLE = 1;
const TIME_EXCEEDED = 11;
const PARAMETER_PROBLEM = 12;
const REDIRECT = 5;
/** The next-hop MTU the router announces. */
const NEXT_HOP_MTU = 1400;
/** Linux quotes as much as keeps the error within 576 bytes: 576 − 20 − 8. */
const LINUX_QUOTE = 548;
/** RFC 792's minimum: the IPv4 header and the first 8 bytes of TCP (ports and seq). */
const MINIMAL_QUOTE = 28;
/** Where the quote starts in an error frame: Ethernet, IPv4, ICMP header. */
const QUOTE_AT = 14 + 20 + 8;

type Connection = ReturnType<typeof connection>;

/**
 * The server's segment (after the hand-off, from the VIP, in the director's
 * sequence space) `sent` bytes into its response, as the router got it: a
 * full 1500-byte packet with DF.
 */
function server_segment(c: Connection, client_port: number, sent: number): Uint8Array {
  return build_tcp({
    src_mac: SERVER_MAC,
    dst_mac: ROUTER_MAC,
    src_ip: VIP,
    dst_ip: CLIENT_IP,
    src_port: VIP_PORT,
    dst_port: client_port,
    seq: (c.cookie + 1 + sent) >>> 0,
    ack: (c.isn + 1 + GET_HEAD.length) >>> 0,
    flags: TCP_FLAG_PSH | TCP_FLAG_ACK,
    window: 502,
    options: ts(90_000, 5000),
    payload: 1448,
  });
}

/** The first `length` bytes of a frame's IPv4 datagram: what an ICMP error quotes. */
const quote_of = (frame: Uint8Array, length: number) => frame.slice(14, 14 + length);

/**
 * An ICMP error from the router to the VIP: type, code, the header's second
 * word (fragmentation-needed: the next-hop MTU in its low 16 bits, RFC 1191)
 * and the quote, with a full checksum.
 */
function icmp_error(type: number, code: number, quote: Uint8Array, word = 0): Uint8Array {
  const frame = build_icmp_echo({
    src_mac: ROUTER_MAC,
    dst_mac: DIRECTOR_MAC,
    src_ip: ROUTER_IP,
    dst_ip: VIP,
    id: word >>> 16,
    sequence: word & 0xffff,
    payload: quote,
  });
  frame[34] = type;
  frame[35] = code;
  icmp_checksum_set(frame, 14);
  return frame;
}

const frag_needed = (quote: Uint8Array) =>
  icmp_error(DEST_UNREACHABLE, FRAGMENTATION_NEEDED, quote, NEXT_HOP_MTU);

/** The quoted TCP seq of an error frame whose quote has a 20-byte IPv4 header. */
const quoted_seq = (frame: Uint8Array) => read_u32(frame, QUOTE_AT + 20 + 4);

/** The steps that bring connection c to FORWARDING (to SERVER_MAC). */
function forwarded_flow(c: Connection): Step[] {
  return [
    { send: [c.syn], expect: [c.syn_ack] },
    { send: [c.ack], expect: [] },
    { send: [c.data(0, GET_HEAD, 5000)], expect: [c.acked(GET_HEAD.length, 5000)] },
    { answer: { type: "handoff_ack" }, expect: [] },
  ];
}

/** What a forwarded flow's handshake and request count. */
const FORWARDED_FLOW = {
  syn_cookies_sent: 1,
  handshakes_completed: 1,
  request_segments: 1,
  requests_complete: 1,
  reading_buffers_high: 1,
  flows: 1,
};

function forwarded_rows(): FixtureRow[] {
  return [
    (() => {
      const c = connection(41000, 0x6000_0000);
      const error = frag_needed(quote_of(server_segment(c, 41000, 1448 * 9), LINUX_QUOTE));
      return {
        description:
          "fragmentation needed quoting a forwarded flow's segment: to its server, only the Ethernet header changes",
        steps: [...forwarded_flow(c), { send: [error], expect: [forwarded(error)] }],
        counters: { ...FORWARDED_FLOW, icmp_errors_forwarded: 1 },
        check: ({ output }: Result) => {
          const sent = output.at(-1)!;
          // the quote stays in the director's space: the agent translates it
          assert.equal(quoted_seq(sent), (c.cookie + 1 + 1448 * 9) >>> 0);
          assert.equal((sent[14 + 20 + 6] << 8) | sent[14 + 20 + 7], NEXT_HOP_MTU);
        },
      };
    })(),
    (() => {
      const c = connection(41001, 0x6100_0000);
      const quote = quote_of(server_segment(c, 41001, 0), MINIMAL_QUOTE);
      const errors = [
        icmp_error(TIME_EXCEEDED, 0, quote),
        icmp_error(DEST_UNREACHABLE, HOST_UNREACHABLE, quote),
        // parameter problem: the pointer (byte 4) names the quoted byte at fault
        icmp_error(PARAMETER_PROBLEM, 0, quote, 0x0800_0000),
      ];
      return {
        description:
          "time exceeded, host unreachable and parameter problem with RFC 792's minimal quote: forwarded",
        steps: [...forwarded_flow(c), { send: errors, expect: errors.map(forwarded) }],
        counters: { ...FORWARDED_FLOW, icmp_errors_forwarded: 3 },
      };
    })(),
    (() => {
      const c = connection(41002, 0x6200_0000);
      const error = frag_needed(quote_of(server_segment(c, 41002, 0), LINUX_QUOTE));
      return {
        // changed by design (issue 9): a HANDING flow has a server being tried from the moment its
        // HANDOFF goes out (with the request's ACK), so there is no "no server yet" to drop for
        description:
          "while reading the request: dropped; once handing it, with a server being tried at once: to it",
        steps: [
          { send: [c.syn], expect: [c.syn_ack] },
          { send: [c.ack], expect: [] },
          { send: [c.data(0, GET_HEAD.slice(0, 10), 5000)], expect: [c.acked(10, 5000)] },
          // the director terminates the connection itself: its segments are small, it keeps no PMTU
          { send: [error], expect: [] },
          {
            send: [c.data(10, GET_HEAD.slice(10), 5001)],
            expect: [c.acked(GET_HEAD.length, 5001)],
          },
          // the server being tried may already be sending its response
          { send: [error], expect: [forwarded(error)] },
          // and after its agent's ACK, as for any forwarded flow
          { answer: { type: "handoff_ack" }, send: [error], expect: [forwarded(error)] },
        ],
        counters: {
          syn_cookies_sent: 1,
          handshakes_completed: 1,
          request_segments: 2,
          requests_complete: 1,
          reading_buffers_high: 1,
          flows: 1,
          dropped_icmp_not_forwarded: 1,
          icmp_errors_forwarded: 2,
        },
      };
    })(),
  ];
}

function dropped_rows(): FixtureRow[] {
  return [
    (() => {
      const c = connection(41100, 0x6300_0000);
      const other = connection(41101, 0x6400_0000);
      return {
        description:
          "fragmentation needed quoting a 4-tuple with no flow (another client port): dropped, nothing answers it",
        steps: [
          ...forwarded_flow(c),
          {
            send: [frag_needed(quote_of(server_segment(other, 41101, 0), LINUX_QUOTE))],
            expect: [],
          },
        ],
        counters: { ...FORWARDED_FLOW, dropped_icmp_unknown_flow: 1 },
      };
    })(),
    (() => {
      const c = connection(41102, 0x6500_0000);
      const segment = server_segment(c, 41102, 0);
      const bent = (length: number, bend: (quote: Uint8Array) => void) => {
        const quote = quote_of(segment, length);
        bend(quote);
        return frag_needed(quote);
      };
      const from_the_client = build_tcp({
        src_mac: CLIENT_MAC,
        dst_mac: DIRECTOR_MAC,
        src_ip: CLIENT_IP,
        dst_ip: VIP,
        src_port: 41102,
        dst_port: VIP_PORT,
        seq: c.isn + 1,
        ack: c.cookie + 1,
      });
      const udp = build_udp({
        src_ip: VIP,
        dst_ip: CLIENT_IP,
        src_port: VIP_PORT,
        dst_port: 41102,
        payload: 100,
      });
      const malformed = [
        // the IPv4 header and 4 bytes of TCP: no sequence number
        frag_needed(quote_of(segment, 24)),
        // the IPv4 header alone
        frag_needed(quote_of(segment, 20)),
        // IHL 15 (60 bytes) in a 28-byte quote
        bent(MINIMAL_QUOTE, (q) => (q[0] = 0x4f)),
        // IHL 4: shorter than an IPv4 header
        bent(MINIMAL_QUOTE, (q) => (q[0] = 0x44)),
        // IPv6 in the version nibble
        bent(MINIMAL_QUOTE, (q) => (q[0] = 0x65)),
        // a later fragment: what follows the header is not the TCP header
        bent(MINIMAL_QUOTE, (q) => write_u16(q, 6, 0x4000 | 185)),
        // UDP from the VIP: the director never sends any
        frag_needed(quote_of(udp, MINIMAL_QUOTE)),
        // the client's segment to the VIP: not a datagram the VIP sent
        frag_needed(quote_of(from_the_client, MINIMAL_QUOTE)),
        // the flow's ports and seq, from another source address
        bent(MINIMAL_QUOTE, (q) => write_u32(q, 12, 0xc612_000b)),
      ];
      return {
        description:
          "quotes that lie (truncated, IHL beyond the quote or below 20, not IPv4, a later fragment, not TCP, not from the VIP): dropped",
        steps: [...forwarded_flow(c), { send: malformed, expect: [] }],
        counters: { ...FORWARDED_FLOW, dropped_icmp_malformed: malformed.length },
      };
    })(),
    (() => {
      const c = connection(41103, 0x6600_0000);
      const error = frag_needed(quote_of(server_segment(c, 41103, 0), LINUX_QUOTE));
      const bad_checksum = error.slice();
      bad_checksum[14 + 20 + 2] ^= 0x5a;
      const bad_quote = error.slice();
      bad_quote[QUOTE_AT + 20 + 4] ^= 0x01; // the quoted seq changed after the checksum
      return {
        description:
          "a bad ICMP checksum (in the field, or a quote changed on the way): dropped; the intact error is forwarded",
        steps: [
          ...forwarded_flow(c),
          { send: [bad_checksum, bad_quote, error], expect: [forwarded(error)] },
        ],
        counters: { ...FORWARDED_FLOW, dropped_icmp_bad_checksum: 2, icmp_errors_forwarded: 1 },
      };
    })(),
    (() => {
      const c = connection(41104, 0x6700_0000);
      const quote = quote_of(server_segment(c, 41104, 0), MINIMAL_QUOTE);
      return {
        description:
          "a redirect quoting a forwarded flow, and an echo reply to the VIP: dropped as before (no server reroutes on one)",
        steps: [
          ...forwarded_flow(c),
          {
            send: [
              icmp_error(REDIRECT, 1, quote, 0xc612_00fd),
              build_icmp_echo({
                src_mac: CLIENT_MAC,
                dst_mac: DIRECTOR_MAC,
                src_ip: CLIENT_IP,
                dst_ip: VIP,
                reply: true,
                id: 1,
                sequence: 1,
                payload: 8,
              }),
            ],
            expect: [],
          },
        ],
        counters: { ...FORWARDED_FLOW, dropped_other: 2 },
      };
    })(),
    (() => {
      const c = connection(41105, 0x6800_0000);
      const error = frag_needed(quote_of(server_segment(c, 41105, 0), LINUX_QUOTE));
      const echo = (reply: boolean) =>
        build_icmp_echo({
          src_mac: reply ? DIRECTOR_MAC : CLIENT_MAC,
          dst_mac: reply ? CLIENT_MAC : DIRECTOR_MAC,
          src_ip: reply ? VIP : CLIENT_IP,
          dst_ip: reply ? CLIENT_IP : VIP,
          reply,
          ttl: reply ? 64 : 50,
          id: 0x4242,
          sequence: 3,
          payload: 56,
        });
      return {
        description:
          "an echo request beside ICMP errors is still answered; the errors themselves never are",
        steps: [
          ...forwarded_flow(c),
          { send: [echo(false), error], expect: [echo(true), forwarded(error)] },
        ],
        counters: { ...FORWARDED_FLOW, echo_replies: 1, icmp_errors_forwarded: 1 },
      };
    })(),
  ];
}

fixture_tests([...forwarded_rows(), ...dropped_rows()]);
