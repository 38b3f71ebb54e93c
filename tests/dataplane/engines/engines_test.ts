// Per-burst forwarding functions over a region and descriptor table built
// here (no DPDK): Katran-style rows of {description, input, expected, counters}.
// Checksums are verified by recomputing them, never copied from the output.

import assert from "node:assert/strict";
import {
  build_arp,
  build_tcp,
  build_udp,
  COUNTER_NOT_TCP,
  COUNTER_RUNT,
  COUNTER_WORDS,
  describe_frame,
  io_burst,
  ip_to_u32,
  ipv4_checksum_ok,
  mac_burst,
  macswap_burst,
  rewrite_burst,
  tcp_checksum_ok,
} from "../../../dataplane/mod.ts";
import { DESC_WORDS, DROP } from "../../../native/mod.ts";

const A = "02:00:00:00:00:0a";
const B = "02:00:00:00:00:0b";

/** Lays frames into one region at odd offsets (as mbufs do) with a descriptor table. */
function burst_of(frames: Uint8Array[]) {
  const bytes = new Uint8Array(4096 * (frames.length + 1));
  const desc = new Int32Array(frames.length * DESC_WORDS);
  frames.forEach((frame, i) => {
    const offset = 128 + i * 4096 + (i % 3); // unaligned on purpose
    bytes.set(frame, offset);
    desc[i * DESC_WORDS] = offset;
    desc[i * DESC_WORDS + 1] = frame.length;
    desc[i * DESC_WORDS + 2] = DROP;
  });
  const frame = (i: number) =>
    bytes.slice(desc[i * DESC_WORDS], desc[i * DESC_WORDS] + desc[i * DESC_WORDS + 1]);
  const words = new Uint16Array(bytes.buffer);
  return { bytes, words, desc, frame, counters: new Float64Array(COUNTER_WORDS) };
}

const tcp = (over: Partial<Parameters<typeof build_tcp>[0]> = {}) =>
  build_tcp({
    src_mac: A,
    dst_mac: B,
    src_ip: "198.18.0.1",
    dst_ip: "198.18.0.100",
    src_port: 40000,
    dst_port: 80,
    seq: 1000,
    ack: 2000,
    payload: 100,
    ...over,
  });

Deno.test("io_burst: every frame to the tx port, bytes untouched", () => {
  const input = [
    tcp(),
    build_udp({ src_ip: "198.18.0.1", dst_ip: "198.18.0.2", src_port: 1, dst_port: 2 }),
  ];
  const b = burst_of(input);
  io_burst(b.desc, 2, 3);
  for (let i = 0; i < 2; i++) {
    assert.equal(b.desc[i * DESC_WORDS + 2], 3);
    assert.deepEqual(b.frame(i), input[i]);
  }
});

Deno.test("mac_burst: src = tx port MAC, dst = peer; runts dropped and counted", () => {
  const b = burst_of([tcp(), new Uint8Array(10)]);
  const src_mac = Uint8Array.of(2, 0xb7, 0, 0, 0, 1);
  const dst_mac = Uint8Array.of(2, 0, 0, 0, 0, 1);
  mac_burst(b.bytes, b.desc, 2, { tx_port: 1, src_mac, dst_mac, counters: b.counters });
  const out = describe_frame(b.frame(0));
  assert.equal(out.src_mac, "02:b7:00:00:00:01");
  assert.equal(out.dst_mac, "02:00:00:00:00:01");
  assert.equal(b.desc[2], 1);
  assert.equal(b.desc[DESC_WORDS + 2], DROP);
  assert.equal(b.counters[COUNTER_RUNT], 1);
});

Deno.test("macswap_burst: MACs trade places, rest identical (even and odd offsets)", () => {
  const input = [tcp(), tcp({ payload: 7 }), tcp({ payload: 300 })];
  const b = burst_of(input); // offsets +0, +1, +2: the word path and the byte path
  macswap_burst(b.bytes, b.desc, 3, { tx_port: 0, counters: b.counters, words: b.words });
  for (let i = 0; i < 3; i++) {
    const out = b.frame(i);
    assert.deepEqual(out.subarray(0, 6), input[i].subarray(6, 12));
    assert.deepEqual(out.subarray(6, 12), input[i].subarray(0, 6));
    assert.deepEqual(out.subarray(12), input[i].subarray(12));
  }
});

const REWRITE_DST = "198.18.1.1";

const rewrite_cases = [
  {
    description: "plain segment: dst and seq move, checksums stay valid",
    input: tcp(),
    seq_delta: 0x10000,
    expect: { seq: 1000 + 0x10000, dst: REWRITE_DST, forwarded: true },
    counters: { not_tcp: 0 },
  },
  {
    description: "sequence wraps around 2^32",
    input: tcp({ seq: 0xffff_fff0 }),
    seq_delta: 0x20,
    expect: { seq: 0x10, dst: REWRITE_DST, forwarded: true },
    counters: { not_tcp: 0 },
  },
  {
    description: "negative delta (mod 2^32) with IPv4 options and TCP options",
    input: tcp({
      seq: 5,
      ip_options: Uint8Array.of(1, 1, 1, 0),
      options: [{ kind: "timestamp", tsval: 1, tsecr: 2 }],
      flags: 0x18,
    }),
    seq_delta: -10,
    expect: { seq: 0xffff_fffb, dst: REWRITE_DST, forwarded: true },
    counters: { not_tcp: 0 },
  },
  {
    description: "one-byte payload: odd TCP length",
    input: tcp({ payload: 1 }),
    seq_delta: 1,
    expect: { seq: 1001, dst: REWRITE_DST, forwarded: true },
    counters: { not_tcp: 0 },
  },
  {
    description: "ARP is not TCP: dropped and counted",
    input: build_arp({
      operation: "request",
      sender_mac: A,
      sender_ip: "198.18.0.1",
      target_ip: "198.18.0.2",
      pad_to: 60,
    }),
    seq_delta: 1,
    expect: { forwarded: false },
    counters: { not_tcp: 1 },
  },
  {
    description: "UDP is not TCP: dropped and counted",
    input: build_udp({
      src_ip: "198.18.0.1",
      dst_ip: "198.18.0.2",
      src_port: 1,
      dst_port: 2,
      payload: 30,
    }),
    seq_delta: 1,
    expect: { forwarded: false },
    counters: { not_tcp: 1 },
  },
  {
    description: "truncated TCP header (IHL says 24, frame ends early): dropped",
    input: tcp({ ip_options: Uint8Array.of(1, 1, 1, 0), payload: 0 }).slice(0, 14 + 24 + 10),
    seq_delta: 1,
    expect: { forwarded: false },
    counters: { not_tcp: 1 },
  },
];

for (const c of rewrite_cases) {
  Deno.test(`rewrite_burst: ${c.description}`, () => {
    const b = burst_of([c.input]);
    rewrite_burst(b.bytes, b.desc, 1, {
      tx_port: 2,
      dst_ip: ip_to_u32(REWRITE_DST),
      seq_delta: c.seq_delta,
      counters: b.counters,
      words: b.words,
    });
    assert.equal(b.counters[COUNTER_NOT_TCP], c.counters.not_tcp);
    if (!c.expect.forwarded) {
      assert.equal(b.desc[2], DROP);
      return;
    }
    assert.equal(b.desc[2], 2);
    const out = b.frame(0);
    const d = describe_frame(out);
    assert.equal(d.src_mac, B);
    assert.equal(d.dst_mac, A);
    assert.equal(d.ipv4?.dst_ip, c.expect.dst);
    assert.equal(d.tcp?.seq, c.expect.seq);
    assert.ok(ipv4_checksum_ok(out, 14), "IPv4 checksum recomputes");
    assert.ok(tcp_checksum_ok(out, 14), "TCP checksum recomputes");
  });
}

Deno.test("rewrite_burst: 5,000 random segments keep both checksums valid", () => {
  let seed = 0x12345678;
  const random = () => {
    seed = (Math.imul(seed ^ (seed >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) >>> 0;
    return seed;
  };
  const frames = Array.from({ length: 5000 }, () =>
    tcp({
      src_ip: `198.18.${random() & 0xff}.${random() & 0xff}`,
      dst_ip: `198.19.${random() & 0xff}.${random() & 0xff}`,
      seq: random(),
      ack: random(),
      src_port: random() & 0xffff,
      payload: random() % 200,
    }));
  for (let start = 0; start < frames.length; start += 500) {
    const chunk = frames.slice(start, start + 500);
    const b = burst_of(chunk);
    rewrite_burst(b.bytes, b.desc, chunk.length, {
      tx_port: 0,
      dst_ip: random(),
      seq_delta: random(),
      counters: b.counters,
      words: b.words,
    });
    for (let i = 0; i < chunk.length; i++) {
      const out = b.frame(i);
      assert.ok(ipv4_checksum_ok(out, 14) && tcp_checksum_ok(out, 14), `frame ${start + i}`);
    }
  }
});
