import assert from "node:assert/strict";
import {
  build_icmp_echo,
  build_tcp,
  build_udp,
  checksum_fold,
  checksum_sum,
  checksum_update16,
  checksum_update32,
  icmp_checksum_ok,
  internet_checksum,
  IPV4_CHECKSUM,
  ipv4_checksum_ok,
  IPV4_DST,
  ipv4_header_checksum,
  IPV4_SRC,
  IPV4_TTL,
  read_u16,
  read_u32,
  TCP_ACK,
  TCP_CHECKSUM,
  tcp_checksum,
  tcp_checksum_ok,
  TCP_DST_PORT,
  TCP_SEQ,
  TCP_WINDOW,
  u32_to_ip,
  UDP_CHECKSUM,
  udp_checksum,
  udp_checksum_ok,
  udp_checksum_set,
  write_u16,
  write_u32,
} from "../../dataplane/mod.ts";
import { mulberry32 } from "../support/random.ts";

// Seeded PRNG so failures reproduce.

// A deliberately naive reference: pad, sum 16-bit words with BigInt, fold.
function reference_checksum(data: number[]): number {
  const padded = data.length % 2 === 0 ? data : [...data, 0];
  let sum = 0n;
  for (let i = 0; i < padded.length; i += 2) sum += BigInt((padded[i] << 8) | padded[i + 1]);
  while (sum > 0xffffn) sum = (sum & 0xffffn) + (sum >> 16n);
  return Number(~sum & 0xffffn);
}

const ETH = 14;

Deno.test("internet_checksum: RFC 1071 and textbook vectors", () => {
  const cases = [
    {
      description: "RFC 1071 section 3 example (sum 0xddf2)",
      input: [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7],
      expected_sum: 0xddf2,
      expected: 0x220d,
    },
    {
      description: "IPv4 header from RFC 1071-style worked example (field zeroed)",
      input: [
        0x45,
        0x00,
        0x00,
        0x73,
        0x00,
        0x00,
        0x40,
        0x00,
        0x40,
        0x11,
        0x00,
        0x00,
        0xc0,
        0xa8,
        0x00,
        0x01,
        0xc0,
        0xa8,
        0x00,
        0xc7,
      ],
      expected_sum: 0x479e,
      expected: 0xb861,
    },
    {
      description: "odd length pads the last byte",
      input: [0x01],
      expected_sum: 0x0100,
      expected: 0xfeff,
    },
    {
      description: "odd length, three bytes",
      input: [0x12, 0x34, 0x56],
      expected_sum: 0x6834,
      expected: 0x97cb,
    },
    {
      description: "all zeros give 0xffff",
      input: [0, 0, 0, 0],
      expected_sum: 0,
      expected: 0xffff,
    },
    { description: "empty range", input: [], expected_sum: 0, expected: 0xffff },
    {
      description: "end-around carry",
      input: [0xff, 0xff, 0x00, 0x01],
      expected_sum: 0x0001,
      expected: 0xfffe,
    },
  ];
  for (const { description, input, expected_sum, expected } of cases) {
    const bytes = new Uint8Array(input);
    assert.strictEqual(
      checksum_fold(checksum_sum(bytes, 0, bytes.length, 0)),
      expected_sum,
      description,
    );
    assert.strictEqual(internet_checksum(bytes, 0, bytes.length), expected, description);
    assert.strictEqual(reference_checksum(input), expected, `reference: ${description}`);
  }
});

Deno.test("internet_checksum: sub-ranges, initial sums and random data match the reference", () => {
  const random = mulberry32(1071);
  for (let n = 0; n < 2000; n++) {
    const length = Math.floor(random() * 200);
    const offset = Math.floor(random() * 7);
    const region = new Uint8Array(offset + length + 5);
    for (let i = 0; i < region.length; i++) region[i] = Math.floor(random() * 256);
    const data = Array.from(region.subarray(offset, offset + length));
    assert.strictEqual(internet_checksum(region, offset, length), reference_checksum(data));
    // an initial sum behaves like two extra leading bytes
    const initial = Math.floor(random() * 0x10000);
    assert.strictEqual(
      internet_checksum(region, offset, length, initial),
      reference_checksum([initial >> 8, initial & 0xff, ...data]),
    );
  }
});

Deno.test("checksum_fold: carries, big accumulators", () => {
  const cases = [
    { input: 0, expected: 0 },
    { input: 0xffff, expected: 0xffff },
    { input: 0x10000, expected: 1 },
    { input: 0x1fffe, expected: 0xffff },
    { input: 0xffffffff, expected: 0xffff },
    { input: 2 ** 32, expected: 1 },
    { input: 2 ** 40 + 5, expected: (2 ** 40 + 5) % 0xffff },
  ];
  for (const { input, expected } of cases) {
    assert.strictEqual(checksum_fold(input), expected, `fold(${input})`);
  }
});

Deno.test("IPv4, TCP, UDP, ICMP checksums of built frames verify and detect corruption", () => {
  const tcp = build_tcp({
    src_ip: "198.18.0.1",
    dst_ip: "198.18.0.2",
    src_port: 40000,
    dst_port: 80,
    seq: 0xfffffff0,
    ack: 7,
    payload: "GET / HTTP/1.1\r\n\r\n",
  });
  assert.ok(ipv4_checksum_ok(tcp, ETH));
  assert.ok(tcp_checksum_ok(tcp, ETH));
  assert.strictEqual(read_u16(tcp, ETH + IPV4_CHECKSUM), ipv4_header_checksum(tcp, ETH));
  // the TCP checksum matches a reference over pseudo-header + segment
  const segment = Array.from(tcp.subarray(ETH + 20));
  segment[16] = 0;
  segment[17] = 0;
  const pseudo = [...tcp.subarray(ETH + 12, ETH + 20), 0, 6, 0, segment.length];
  assert.strictEqual(
    read_u16(tcp, ETH + 20 + TCP_CHECKSUM),
    reference_checksum([...pseudo, ...segment]),
  );
  assert.strictEqual(tcp_checksum(tcp, ETH), read_u16(tcp, ETH + 20 + TCP_CHECKSUM));

  const corrupted = tcp.slice();
  corrupted[corrupted.length - 1] ^= 0x20;
  assert.ok(!tcp_checksum_ok(corrupted, ETH));
  assert.ok(ipv4_checksum_ok(corrupted, ETH));
  corrupted[ETH + IPV4_TTL] -= 1;
  assert.ok(!ipv4_checksum_ok(corrupted, ETH));

  const udp = build_udp({
    src_ip: "198.18.0.1",
    dst_ip: "198.18.0.2",
    src_port: 5000,
    dst_port: 6000,
    payload: "hand-off",
  });
  assert.ok(udp_checksum_ok(udp, ETH));
  udp[udp.length - 1] ^= 1;
  assert.ok(!udp_checksum_ok(udp, ETH));
  write_u16(udp, ETH + 20 + UDP_CHECKSUM, 0);
  assert.ok(udp_checksum_ok(udp, ETH), "0 means the sender computed none");

  const icmp = build_icmp_echo({
    src_ip: "198.18.0.1",
    dst_ip: "198.18.0.2",
    id: 9,
    sequence: 3,
    payload: 11,
  });
  assert.ok(icmp_checksum_ok(icmp, ETH));
  icmp[icmp.length - 2] ^= 0x80;
  assert.ok(!icmp_checksum_ok(icmp, ETH));
});

Deno.test("udp_checksum: a computed 0 is sent as 0xffff", () => {
  const frame = build_udp({
    src_ip: "198.18.0.1",
    dst_ip: "198.18.0.2",
    src_port: 1,
    dst_port: 2,
    payload: new Uint8Array(2),
  });
  // choose the last payload word so the one's complement sum becomes 0xffff
  write_u16(frame, frame.length - 2, 0);
  const value_with_zero_word = ~checksum_fold(
    checksum_sum(frame, ETH + 12, 8, 17 + 10) + checksum_sum(frame, ETH + 20, 6, 0),
  ) & 0xffff;
  write_u16(frame, frame.length - 2, value_with_zero_word);
  assert.strictEqual(udp_checksum(frame, ETH), 0xffff);
  udp_checksum_set(frame, ETH);
  assert.strictEqual(read_u16(frame, ETH + 20 + UDP_CHECKSUM), 0xffff);
  assert.ok(udp_checksum_ok(frame, ETH));
});

Deno.test("checksum_update16: RFC 1624 section 3 example gives 0x0000, not 0xffff", () => {
  // other header words sum to 0xcd7a; m = 0x5555 → m' = 0x3285
  const bytes = new Uint8Array(2);
  write_u16(bytes, 0, 0xdd2f);
  checksum_update16(bytes, 0, 0x5555, 0x3285);
  assert.strictEqual(read_u16(bytes, 0), 0x0000);
  // and back
  checksum_update16(bytes, 0, 0x3285, 0x5555);
  assert.strictEqual(read_u16(bytes, 0), 0xdd2f);
});

Deno.test("checksum_update16: a change that makes the checksum 0x0000 matches a full recompute", () => {
  const random = mulberry32(1624);
  let zero_cases = 0;
  for (let n = 0; n < 500; n++) {
    const frame = random_tcp(random);
    const l4 = ETH + 20;
    const old_window = read_u16(frame, l4 + TCP_WINDOW);
    // window value w such that the full checksum becomes 0x0000: fold(other + w) = 0xffff
    write_u16(frame, l4 + TCP_WINDOW, 0);
    const other = checksum_fold(
      checksum_sum(frame, ETH + 12, 8, 6 + (frame.length - l4)) +
        checksum_sum(frame, l4, 16, 0) + checksum_sum(frame, l4 + 18, frame.length - l4 - 18, 0),
    );
    write_u16(frame, l4 + TCP_WINDOW, old_window);
    const new_window = (0xffff - other) & 0xffff;
    write_u16(frame, l4 + TCP_WINDOW, new_window);
    checksum_update16(frame, l4 + TCP_CHECKSUM, old_window, new_window);
    assert.strictEqual(read_u16(frame, l4 + TCP_CHECKSUM), tcp_checksum(frame, ETH));
    assert.ok(tcp_checksum_ok(frame, ETH));
    if (read_u16(frame, l4 + TCP_CHECKSUM) === 0) zero_cases++;
  }
  assert.ok(zero_cases > 400, `only ${zero_cases} cases reached a 0x0000 checksum`);
});

Deno.test("checksum_update: a field holding 0xffff (the other zero) still updates correctly", () => {
  const random = mulberry32(65535);
  let checked = 0;
  for (let n = 0; n < 500; n++) {
    const frame = random_tcp(random);
    const l4 = ETH + 20;
    // force the true checksum to 0x0000 (as above), then store it as 0xffff
    const old_window = read_u16(frame, l4 + TCP_WINDOW);
    write_u16(frame, l4 + TCP_WINDOW, 0);
    const other = checksum_fold(
      checksum_sum(frame, ETH + 12, 8, 6 + (frame.length - l4)) +
        checksum_sum(frame, l4, 16, 0) + checksum_sum(frame, l4 + 18, frame.length - l4 - 18, 0),
    );
    write_u16(frame, l4 + TCP_WINDOW, (0xffff - other) & 0xffff);
    if (tcp_checksum(frame, ETH) !== 0) {
      write_u16(frame, l4 + TCP_WINDOW, old_window);
      continue;
    }
    write_u16(frame, l4 + TCP_CHECKSUM, 0xffff);
    assert.ok(tcp_checksum_ok(frame, ETH), "0xffff verifies like 0x0000");
    const old_seq = read_u32(frame, l4 + TCP_SEQ);
    const new_seq = Math.floor(random() * 2 ** 32);
    write_u32(frame, l4 + TCP_SEQ, new_seq);
    checksum_update32(frame, l4 + TCP_CHECKSUM, old_seq, new_seq);
    assert.ok(tcp_checksum_ok(frame, ETH));
    assert.strictEqual(read_u16(frame, l4 + TCP_CHECKSUM), tcp_checksum(frame, ETH));
    checked++;
  }
  assert.ok(checked > 400, `only ${checked} cases held a 0xffff checksum field`);
});

function random_tcp(random: () => number): Uint8Array {
  const u32 = () => Math.floor(random() * 2 ** 32);
  return build_tcp({
    src_ip: u32_to_ip(u32()),
    dst_ip: u32_to_ip(u32()),
    src_port: Math.floor(random() * 65536),
    dst_port: Math.floor(random() * 65536),
    seq: u32(),
    ack: u32(),
    flags: Math.floor(random() * 256),
    window: Math.floor(random() * 65536),
    ip_id: Math.floor(random() * 65536),
    ttl: Math.floor(random() * 256),
    payload: Math.floor(random() * 64),
  });
}

Deno.test("checksum_update16/32: incremental equals full recompute over random packets", () => {
  const random = mulberry32(20240601);
  const l3 = ETH;
  const l4 = ETH + 20;
  for (let n = 0; n < 5000; n++) {
    const frame = random_tcp(random);
    const change = Math.floor(random() * 6);
    // sometimes pick extreme values to hit carries and the all-ones word
    const extreme = random() < 0.2;
    const new32 = extreme ? (random() < 0.5 ? 0xffffffff : 0) : Math.floor(random() * 2 ** 32);
    const new16 = extreme ? (random() < 0.5 ? 0xffff : 0) : Math.floor(random() * 65536);
    if (change === 0 || change === 1) {
      const at = l4 + (change === 0 ? TCP_SEQ : TCP_ACK);
      const old = read_u32(frame, at);
      write_u32(frame, at, new32);
      checksum_update32(frame, l4 + TCP_CHECKSUM, old, new32);
    } else if (change === 2) {
      // the destination address is in both the IPv4 header and the pseudo-header
      const old = read_u32(frame, l3 + IPV4_DST);
      write_u32(frame, l3 + IPV4_DST, new32);
      checksum_update32(frame, l3 + IPV4_CHECKSUM, old, new32);
      checksum_update32(frame, l4 + TCP_CHECKSUM, old, new32);
    } else if (change === 3) {
      const old = read_u32(frame, l3 + IPV4_SRC);
      write_u32(frame, l3 + IPV4_SRC, new32);
      checksum_update32(frame, l3 + IPV4_CHECKSUM, old, new32);
      checksum_update32(frame, l4 + TCP_CHECKSUM, old, new32);
    } else if (change === 4) {
      const at = l4 + (random() < 0.5 ? TCP_WINDOW : TCP_DST_PORT);
      const old = read_u16(frame, at);
      write_u16(frame, at, new16);
      checksum_update16(frame, l4 + TCP_CHECKSUM, old, new16);
    } else {
      // TTL shares a 16-bit word with the protocol
      const old = read_u16(frame, l3 + IPV4_TTL);
      frame[l3 + IPV4_TTL] = (frame[l3 + IPV4_TTL] - 1) & 0xff;
      checksum_update16(frame, l3 + IPV4_CHECKSUM, old, read_u16(frame, l3 + IPV4_TTL));
    }
    assert.strictEqual(read_u16(frame, l3 + IPV4_CHECKSUM), ipv4_header_checksum(frame, l3));
    assert.strictEqual(read_u16(frame, l4 + TCP_CHECKSUM), tcp_checksum(frame, l3));
  }
});
