import assert from "node:assert/strict";
import {
  ARP_OPERATION,
  ARP_REPLY,
  ARP_REQUEST,
  build_arp,
  build_icmp_echo,
  build_tcp,
  build_udp,
  bytes_to_mac,
  create_parse_out,
  describe_frame,
  DST_IP,
  DST_PORT,
  ETH_MIN_FRAME_LENGTH,
  ETHERTYPE,
  ETHERTYPE_ARP,
  ETHERTYPE_IPV4,
  ETHERTYPE_IPV6,
  format_frame,
  ICMP_ECHO_REQUEST,
  ICMP_TYPE_CODE,
  IP_HEADER_LENGTH,
  IP_PROTOCOL,
  IP_PROTOCOL_TCP,
  IP_PROTOCOL_UDP,
  ip_to_u32,
  IP_TOTAL_LENGTH,
  ipv4_checksum_ok,
  ipv4_checksum_set,
  IPV4_FLAG_MF,
  IPV4_FRAGMENT,
  IPV4_TOTAL_LENGTH,
  L3_OFFSET,
  L4_LENGTH,
  L4_OFFSET,
  mac_copy,
  mac_equal,
  mac_is_multicast,
  mac_swap,
  mac_to_bytes,
  OUTER_VLAN_TCI,
  PARSE_ARP_TOO_SHORT,
  PARSE_ARP_UNSUPPORTED,
  PARSE_ETH_TOO_SHORT,
  PARSE_FIELDS,
  parse_frame,
  PARSE_ICMP_TOO_SHORT,
  PARSE_IP_BAD_IHL,
  PARSE_IP_BAD_TOTAL_LENGTH,
  PARSE_IP_BAD_VERSION,
  PARSE_IP_FRAGMENT,
  PARSE_IP_TOO_SHORT,
  PARSE_OK,
  PARSE_OUT_OF_BOUNDS,
  PARSE_STATUS_NAMES,
  PARSE_TCP_BAD_DATA_OFFSET,
  PARSE_TCP_TOO_SHORT,
  PARSE_UDP_BAD_LENGTH,
  PARSE_UDP_TOO_SHORT,
  PARSE_VLAN_TOO_SHORT,
  PAYLOAD_LENGTH,
  PAYLOAD_OFFSET,
  read_u16,
  read_u32,
  SRC_IP,
  SRC_PORT,
  tcp_checksum_ok,
  TCP_DATA_OFFSET,
  TCP_FLAG_ACK,
  TCP_FLAG_PSH,
  TCP_FLAG_SYN,
  TCP_FLAGS,
  TCP_HEADER_LENGTH,
  TCP_OPTIONS_LENGTH,
  TCP_OPTIONS_OFFSET,
  type TcpSpec,
  u32_to_ip,
  UDP_LENGTH,
  VLAN_TCI,
  write_u16,
  write_u32,
} from "../../dataplane/mod.ts";
import { mulberry32 } from "../support/random.ts";

const CLIENT = { mac: "02:00:00:00:00:0c", ip: "198.18.0.10", port: 40001 };
const VIP = { mac: "02:00:00:00:00:0d", ip: "198.18.0.100", port: 80 };
const ETH = 14;

function tcp(overrides: Partial<TcpSpec> = {}): Uint8Array {
  return build_tcp({
    src_mac: CLIENT.mac,
    dst_mac: VIP.mac,
    src_ip: CLIENT.ip,
    dst_ip: VIP.ip,
    src_port: CLIENT.port,
    dst_port: VIP.port,
    seq: 1000,
    ack: 2000,
    flags: TCP_FLAG_ACK | TCP_FLAG_PSH,
    payload: "GET / HTTP/1.1\r\n\r\n",
    ...overrides,
  });
}

function parse(bytes: Uint8Array, offset = 0, length = bytes.length - offset) {
  const out = create_parse_out();
  const status = parse_frame(bytes, offset, length, out);
  return { status, out };
}

Deno.test("parse_frame: a plain TCP frame fills every field", () => {
  const frame = tcp();
  const { status, out } = parse(frame);
  assert.strictEqual(status, PARSE_OK);
  const expected: Record<string, number> = {
    ETHERTYPE: ETHERTYPE_IPV4,
    VLAN_TCI: -1,
    OUTER_VLAN_TCI: -1,
    L3_OFFSET: 14,
    IP_HEADER_LENGTH: 20,
    IP_TOTAL_LENGTH: 20 + 20 + 18,
    IP_PROTOCOL: IP_PROTOCOL_TCP,
    SRC_IP: ip_to_u32(CLIENT.ip) | 0,
    DST_IP: ip_to_u32(VIP.ip) | 0,
    L4_OFFSET: 34,
    L4_LENGTH: 38,
    SRC_PORT: CLIENT.port,
    DST_PORT: VIP.port,
    TCP_HEADER_LENGTH: 20,
    TCP_FLAGS: TCP_FLAG_ACK | TCP_FLAG_PSH,
    TCP_OPTIONS_OFFSET: 54,
    TCP_OPTIONS_LENGTH: 0,
    PAYLOAD_OFFSET: 54,
    PAYLOAD_LENGTH: 18,
    ICMP_TYPE_CODE: -1,
    ARP_OPERATION: -1,
  };
  const index: Record<string, number> = {
    ETHERTYPE,
    VLAN_TCI,
    OUTER_VLAN_TCI,
    L3_OFFSET,
    IP_HEADER_LENGTH,
    IP_TOTAL_LENGTH,
    IP_PROTOCOL,
    SRC_IP,
    DST_IP,
    L4_OFFSET,
    L4_LENGTH,
    SRC_PORT,
    DST_PORT,
    TCP_HEADER_LENGTH,
    TCP_FLAGS,
    TCP_OPTIONS_OFFSET,
    TCP_OPTIONS_LENGTH,
    PAYLOAD_OFFSET,
    PAYLOAD_LENGTH,
    ICMP_TYPE_CODE,
    ARP_OPERATION,
  };
  assert.strictEqual(Object.keys(index).length, PARSE_FIELDS);
  const actual = Object.fromEntries(Object.entries(index).map(([name, i]) => [name, out[i]]));
  assert.deepStrictEqual(actual, expected);
  assert.strictEqual(u32_to_ip(out[SRC_IP]), CLIENT.ip);
  assert.strictEqual(
    new TextDecoder().decode(frame.subarray(out[PAYLOAD_OFFSET], out[PAYLOAD_OFFSET] + 18)),
    "GET / HTTP/1.1\r\n\r\n",
  );
});

interface OkCase {
  description: string;
  input: Uint8Array;
  expected: Partial<
    Record<
      | "l3"
      | "l4"
      | "vlan"
      | "outer_vlan"
      | "ethertype"
      | "payload_offset"
      | "payload_length"
      | "ip_header_length"
      | "tcp_header_length"
      | "protocol",
      number
    >
  >;
}

const options_frame = tcp({
  flags: TCP_FLAG_SYN,
  payload: undefined,
  options: [
    { kind: "mss", value: 1460 },
    { kind: "sack_permitted" },
    { kind: "timestamp", tsval: 1, tsecr: 0 },
    { kind: "nop" },
    { kind: "wscale", shift: 7 },
  ],
});

const ok_cases: OkCase[] = [
  {
    description: "802.1Q tag moves L3 by 4",
    input: tcp({ vlan: 0x2064 }),
    expected: { l3: 18, l4: 38, vlan: 0x2064, outer_vlan: -1, payload_offset: 58 },
  },
  {
    description: "QinQ (0x88a8 outer, 0x8100 inner)",
    input: tcp({ vlan: 100, outer_vlan: 200 }),
    expected: { l3: 22, l4: 42, vlan: 100, outer_vlan: 200, payload_length: 18 },
  },
  {
    description: "802.1ad service tag alone",
    input: tcp({ outer_vlan: 300 }),
    expected: { l3: 18, vlan: -1, outer_vlan: 300 },
  },
  {
    description: "double 802.1Q (0x8100 0x8100)",
    input: (() => {
      const f = tcp({ vlan: 7, outer_vlan: 9 });
      write_u16(f, 12, 0x8100);
      return f;
    })(),
    expected: { l3: 22, vlan: 7, outer_vlan: 9 },
  },
  {
    description: "IPv4 with 4 bytes of options (IHL 6)",
    input: tcp({ ip_options: new Uint8Array([0x94, 0x04, 0x00, 0x00]) }),
    expected: { ip_header_length: 24, l4: 38, payload_offset: 58, payload_length: 18 },
  },
  {
    description: "IPv4 with 40 bytes of options (IHL 15)",
    input: tcp({ ip_options: new Uint8Array(40).fill(1) }),
    expected: { ip_header_length: 60, l4: 74, payload_offset: 94 },
  },
  {
    description: "TCP options: header length from the data offset",
    input: options_frame,
    expected: { tcp_header_length: 40, payload_offset: 74, payload_length: 0 },
  },
  {
    description: "Ethernet padding after a short IP packet is not payload",
    input: tcp({ payload: undefined, pad_to: ETH_MIN_FRAME_LENGTH }),
    expected: { payload_offset: 54, payload_length: 0 },
  },
  {
    description: "IPv6 is not parsed but is not malformed",
    input: (() => {
      const f = new Uint8Array(60);
      write_u16(f, 12, ETHERTYPE_IPV6);
      return f;
    })(),
    expected: { ethertype: ETHERTYPE_IPV6, l3: 14, l4: -1, protocol: -1 },
  },
  {
    description: "unknown IP protocol (GRE): payload is the whole L4",
    input: (() => {
      const f = tcp();
      f[ETH + 9] = 47;
      ipv4_checksum_set(f, ETH);
      return f;
    })(),
    expected: { protocol: 47, l4: 34, payload_offset: 34, payload_length: 38 },
  },
];

Deno.test("parse_frame: well-formed variants", () => {
  const names = {
    l3: L3_OFFSET,
    l4: L4_OFFSET,
    vlan: VLAN_TCI,
    outer_vlan: OUTER_VLAN_TCI,
    ethertype: ETHERTYPE,
    payload_offset: PAYLOAD_OFFSET,
    payload_length: PAYLOAD_LENGTH,
    ip_header_length: IP_HEADER_LENGTH,
    tcp_header_length: TCP_HEADER_LENGTH,
    protocol: IP_PROTOCOL,
  };
  for (const { description, input, expected } of ok_cases) {
    const { status, out } = parse(input);
    assert.strictEqual(PARSE_STATUS_NAMES[status], "ok", description);
    for (const [name, value] of Object.entries(expected)) {
      assert.strictEqual(out[names[name as keyof typeof names]], value, `${description}: ${name}`);
    }
  }
});

interface BadCase {
  description: string;
  input: Uint8Array;
  length?: number;
  expected: number;
}

function mutate(frame: Uint8Array, change: (f: Uint8Array) => void): Uint8Array {
  const copy = frame.slice();
  change(copy);
  return copy;
}

const arp_frame = build_arp({
  operation: "request",
  sender_mac: CLIENT.mac,
  sender_ip: CLIENT.ip,
  target_ip: VIP.ip,
});
const udp_frame = build_udp({
  src_ip: CLIENT.ip,
  dst_ip: VIP.ip,
  src_port: 5000,
  dst_port: 5001,
  payload: 12,
});
const icmp_frame = build_icmp_echo({ src_ip: CLIENT.ip, dst_ip: VIP.ip, payload: 4 });

const bad_cases: BadCase[] = [
  {
    description: "length beyond the buffer",
    input: tcp(),
    length: 1000,
    expected: PARSE_OUT_OF_BOUNDS,
  },
  { description: "13 bytes", input: tcp().slice(0, 13), expected: PARSE_ETH_TOO_SHORT },
  { description: "empty frame", input: new Uint8Array(0), expected: PARSE_ETH_TOO_SHORT },
  {
    description: "802.1Q tag cut off",
    input: tcp({ vlan: 5 }).slice(0, 16),
    expected: PARSE_VLAN_TOO_SHORT,
  },
  {
    description: "QinQ inner tag cut off",
    input: tcp({ vlan: 5, outer_vlan: 6 }).slice(0, 20),
    expected: PARSE_VLAN_TOO_SHORT,
  },
  { description: "ARP cut off", input: arp_frame.slice(0, 41), expected: PARSE_ARP_TOO_SHORT },
  {
    description: "ARP with 8-byte hardware addresses",
    input: mutate(arp_frame, (f) => (f[ETH + 4] = 8)),
    expected: PARSE_ARP_UNSUPPORTED,
  },
  {
    description: "ARP for IPv6",
    input: mutate(arp_frame, (f) => write_u16(f, ETH + 2, ETHERTYPE_IPV6)),
    expected: PARSE_ARP_UNSUPPORTED,
  },
  {
    description: "19 bytes of IPv4",
    input: tcp().slice(0, ETH + 19),
    expected: PARSE_IP_TOO_SHORT,
  },
  {
    description: "IP version 6 in an IPv4 frame",
    input: mutate(tcp(), (f) => (f[ETH] = 0x65)),
    expected: PARSE_IP_BAD_VERSION,
  },
  {
    description: "IP version 0",
    input: mutate(tcp(), (f) => (f[ETH] = 0x05)),
    expected: PARSE_IP_BAD_VERSION,
  },
  {
    description: "IHL 4",
    input: mutate(tcp(), (f) => (f[ETH] = 0x44)),
    expected: PARSE_IP_BAD_IHL,
  },
  {
    description: "IHL 0",
    input: mutate(tcp(), (f) => (f[ETH] = 0x40)),
    expected: PARSE_IP_BAD_IHL,
  },
  {
    description: "IHL 15 beyond a short frame",
    input: mutate(tcp({ payload: undefined }), (f) => (f[ETH] = 0x4f)),
    expected: PARSE_IP_BAD_IHL,
  },
  {
    description: "total length below the header",
    input: mutate(tcp(), (f) => write_u16(f, ETH + IPV4_TOTAL_LENGTH, 19)),
    expected: PARSE_IP_BAD_TOTAL_LENGTH,
  },
  {
    description: "total length beyond the frame",
    input: mutate(tcp(), (f) => write_u16(f, ETH + IPV4_TOTAL_LENGTH, f.length - ETH + 1)),
    expected: PARSE_IP_BAD_TOTAL_LENGTH,
  },
  {
    description: "frame truncated inside the payload",
    input: tcp().slice(0, 60),
    expected: PARSE_IP_BAD_TOTAL_LENGTH,
  },
  {
    description: "more-fragments flag",
    input: mutate(tcp(), (f) => write_u16(f, ETH + IPV4_FRAGMENT, IPV4_FLAG_MF)),
    expected: PARSE_IP_FRAGMENT,
  },
  {
    description: "non-zero fragment offset",
    input: mutate(tcp(), (f) => write_u16(f, ETH + IPV4_FRAGMENT, 0x4000 | 185)),
    expected: PARSE_IP_FRAGMENT,
  },
  {
    description: "TCP with 19 bytes",
    input: mutate(tcp({ payload: undefined }), (f) => write_u16(f, ETH + 2, 39)),
    expected: PARSE_TCP_TOO_SHORT,
  },
  {
    description: "TCP data offset 4",
    input: mutate(tcp(), (f) => (f[34 + TCP_DATA_OFFSET] = 0x40)),
    expected: PARSE_TCP_BAD_DATA_OFFSET,
  },
  {
    description: "TCP data offset 15 beyond the segment",
    input: mutate(tcp({ payload: 10 }), (f) => (f[34 + TCP_DATA_OFFSET] = 0xf0)),
    expected: PARSE_TCP_BAD_DATA_OFFSET,
  },
  {
    description: "UDP with 7 bytes",
    input: mutate(udp_frame, (f) => write_u16(f, ETH + 2, 27)),
    expected: PARSE_UDP_TOO_SHORT,
  },
  {
    description: "UDP length 7",
    input: mutate(udp_frame, (f) => write_u16(f, 34 + UDP_LENGTH, 7)),
    expected: PARSE_UDP_BAD_LENGTH,
  },
  {
    description: "UDP length beyond the IP payload",
    input: mutate(udp_frame, (f) => write_u16(f, 34 + UDP_LENGTH, 21)),
    expected: PARSE_UDP_BAD_LENGTH,
  },
  {
    description: "ICMP with 7 bytes",
    input: mutate(icmp_frame, (f) => write_u16(f, ETH + 2, 27)),
    expected: PARSE_ICMP_TOO_SHORT,
  },
];

Deno.test("parse_frame: every malformation has its own status", () => {
  const seen = new Set<number>();
  for (const { description, input, length, expected } of bad_cases) {
    const { status } = parse(input, 0, length ?? input.length);
    assert.strictEqual(PARSE_STATUS_NAMES[status], PARSE_STATUS_NAMES[expected], description);
    seen.add(status);
  }
  // each non-OK status is exercised at least once
  for (let status = 1; status < PARSE_STATUS_NAMES.length; status++) {
    assert.ok(seen.has(status), `no case for ${PARSE_STATUS_NAMES[status]}`);
  }
  const negative = parse(tcp(), -1, 10);
  assert.strictEqual(negative.status, PARSE_OUT_OF_BOUNDS);
});

Deno.test("parse_frame: a fragment still reports its L3 fields", () => {
  const { status, out } = parse(mutate(tcp(), (f) => write_u16(f, ETH + IPV4_FRAGMENT, 0x2000)));
  assert.strictEqual(status, PARSE_IP_FRAGMENT);
  assert.strictEqual(out[IP_PROTOCOL], IP_PROTOCOL_TCP);
  assert.strictEqual(u32_to_ip(out[DST_IP]), VIP.ip);
  assert.strictEqual(out[L4_OFFSET], -1);
});

Deno.test("parse_frame: ARP, UDP, ICMP", () => {
  let r = parse(arp_frame);
  assert.strictEqual(r.status, PARSE_OK);
  assert.strictEqual(r.out[ETHERTYPE], ETHERTYPE_ARP);
  assert.strictEqual(r.out[ARP_OPERATION], ARP_REQUEST);
  assert.strictEqual(u32_to_ip(r.out[SRC_IP]), CLIENT.ip);
  assert.strictEqual(u32_to_ip(r.out[DST_IP]), VIP.ip);
  assert.strictEqual(r.out[IP_PROTOCOL], -1);

  r = parse(udp_frame);
  assert.strictEqual(r.status, PARSE_OK);
  assert.deepStrictEqual(
    [
      r.out[IP_PROTOCOL],
      r.out[SRC_PORT],
      r.out[DST_PORT],
      r.out[PAYLOAD_OFFSET],
      r.out[PAYLOAD_LENGTH],
    ],
    [IP_PROTOCOL_UDP, 5000, 5001, 42, 12],
  );
  assert.strictEqual(r.out[TCP_FLAGS], -1);

  r = parse(icmp_frame);
  assert.strictEqual(r.status, PARSE_OK);
  assert.strictEqual(r.out[ICMP_TYPE_CODE], ICMP_ECHO_REQUEST << 8);
  assert.strictEqual(r.out[PAYLOAD_LENGTH], 4);
  assert.strictEqual(r.out[SRC_PORT], -1);
});

Deno.test("parse_frame: frames inside a shared region, and no stale fields between calls", () => {
  const region = new Uint8Array(4096).fill(0xee);
  const a = tcp({ vlan: 12 });
  const b = arp_frame;
  region.set(a, 1001); // odd offset: IPv4 lands unaligned
  region.set(b, 2048);
  const out = create_parse_out();
  assert.strictEqual(parse_frame(region, 1001, a.length, out), PARSE_OK);
  assert.strictEqual(out[L3_OFFSET], 1001 + 18);
  assert.strictEqual(out[PAYLOAD_OFFSET], 1001 + 58);
  assert.strictEqual(out[SRC_PORT], CLIENT.port);
  assert.strictEqual(parse_frame(region, 2048, b.length, out), PARSE_OK);
  assert.strictEqual(out[SRC_PORT], -1);
  assert.strictEqual(out[VLAN_TCI], -1);
  assert.strictEqual(out[ARP_OPERATION], ARP_REQUEST);
  // the region's trailing bytes do not count: a length cut in the TCP header fails
  assert.strictEqual(parse_frame(region, 1001, 18 + 20 + 10, out), PARSE_IP_BAD_TOTAL_LENGTH);
});

function check_invariants(status: number, out: Int32Array, offset: number, length: number) {
  assert.ok(Number.isInteger(status) && status >= 0 && status < PARSE_STATUS_NAMES.length);
  if (status !== PARSE_OK) return;
  const end = offset + length;
  for (const field of [L3_OFFSET, L4_OFFSET, PAYLOAD_OFFSET]) {
    if (out[field] !== -1) assert.ok(out[field] >= offset && out[field] <= end);
  }
  if (out[PAYLOAD_OFFSET] !== -1) assert.ok(out[PAYLOAD_OFFSET] + out[PAYLOAD_LENGTH] <= end);
  if (out[L4_OFFSET] !== -1) assert.ok(out[L4_OFFSET] + out[L4_LENGTH] <= end);
}

Deno.test("parse_frame: never throws on garbage, truncations or mutations", () => {
  const random = mulberry32(0xbad);
  const out = create_parse_out();
  const templates = [
    tcp(),
    tcp({ vlan: 1, outer_vlan: 2 }),
    options_frame,
    tcp({ ip_options: new Uint8Array(8).fill(1) }),
    arp_frame,
    udp_frame,
    icmp_frame,
  ];
  let checked = 0;
  const ok_statuses = new Set<number>();
  // truncations at every length
  for (const template of templates) {
    for (let length = 0; length <= template.length; length++) {
      const status = parse_frame(template, 0, length, out);
      check_invariants(status, out, 0, length);
      checked++;
    }
  }
  // random garbage, biased towards IPv4/VLAN ethertypes so deeper code runs
  const region = new Uint8Array(300);
  for (let n = 0; n < 5000; n++) {
    const length = Math.floor(random() * 200);
    const offset = Math.floor(random() * 100);
    for (let i = 0; i < region.length; i++) region[i] = Math.floor(random() * 256);
    const kind = n % 4;
    if (kind > 0 && length >= 14) {
      write_u16(region, offset + 12, [0, ETHERTYPE_IPV4, 0x8100, ETHERTYPE_ARP][kind]);
      if (kind === 1) region[offset + 14] = 0x45;
    }
    const status = parse_frame(region, offset, length, out);
    check_invariants(status, out, offset, length);
    ok_statuses.add(status);
    checked++;
  }
  // random byte mutations of valid frames
  for (let n = 0; n < 5000; n++) {
    const frame = templates[n % templates.length].slice();
    const flips = 1 + Math.floor(random() * 4);
    for (let k = 0; k < flips; k++) {
      frame[Math.floor(random() * Math.min(frame.length, 60))] = Math.floor(random() * 256);
    }
    const status = parse_frame(frame, 0, frame.length, out);
    check_invariants(status, out, 0, frame.length);
    ok_statuses.add(status);
    checked++;
  }
  assert.ok(checked > 10000);
  assert.ok(ok_statuses.size > 8, `garbage reached only ${ok_statuses.size} distinct statuses`);
});

Deno.test("build_tcp and describe_frame agree on every field", () => {
  const frame = tcp({
    vlan: 42,
    seq: 0xfffffffe,
    ack: 0x80000000,
    flags: TCP_FLAG_SYN | TCP_FLAG_ACK,
    window: 29200,
    ip_id: 0x1234,
    ttl: 63,
    payload: undefined,
    options: [{ kind: "mss", value: 1460 }, { kind: "nop" }, { kind: "wscale", shift: 7 }],
  });
  const d = describe_frame(frame);
  assert.deepStrictEqual(d, {
    status: "ok",
    dst_mac: VIP.mac,
    src_mac: CLIENT.mac,
    ethertype: ETHERTYPE_IPV4,
    vlan: 42,
    ipv4: {
      header_length: 20,
      total_length: 48,
      id: 0x1234,
      fragment: 0x4000,
      ttl: 63,
      tos: 0,
      protocol: 6,
      src_ip: CLIENT.ip,
      dst_ip: VIP.ip,
      checksum: read_u16(frame, 18 + 10),
      checksum_ok: true,
    },
    tcp: {
      src_port: CLIENT.port,
      dst_port: VIP.port,
      seq: 0xfffffffe,
      ack: 0x80000000,
      header_length: 28,
      flags: 0x12,
      flag_names: "SYN|ACK",
      window: 29200,
      checksum: read_u16(frame, 38 + 16),
      checksum_ok: true,
      urgent: 0,
      options: [
        { kind: "mss", value: 1460 },
        { kind: "nop" },
        { kind: "wscale", shift: 7 },
      ],
    },
    payload: new Uint8Array(0),
  });
  assert.ok(ipv4_checksum_ok(frame, 18));
  assert.ok(tcp_checksum_ok(frame, 18));
  assert.match(format_frame(frame), /198\.18\.0\.10:40001 > 198\.18\.0\.100:80 TCP \[SYN\|ACK\]/);
  assert.ok(!format_frame(frame).includes("bad"));
});

Deno.test("build_udp, build_icmp_echo, build_arp describe as built", () => {
  const udp = describe_frame(udp_frame);
  assert.strictEqual(udp.status, "ok");
  assert.deepStrictEqual(udp.udp && { ...udp.udp, checksum: 0 }, {
    src_port: 5000,
    dst_port: 5001,
    length: 20,
    checksum: 0,
    checksum_ok: true,
  });
  assert.strictEqual(udp.payload?.length, 12);

  const echo = describe_frame(build_icmp_echo({
    src_ip: CLIENT.ip,
    dst_ip: VIP.ip,
    reply: true,
    id: 7,
    sequence: 9,
    payload: "ping",
  }));
  assert.strictEqual(echo.icmp?.type, 0);
  assert.strictEqual(echo.icmp?.checksum_ok, true);
  assert.strictEqual(new TextDecoder().decode(echo.payload), "ping");

  const reply = build_arp({
    operation: "reply",
    sender_mac: VIP.mac,
    sender_ip: VIP.ip,
    target_mac: CLIENT.mac,
    target_ip: CLIENT.ip,
    pad_to: ETH_MIN_FRAME_LENGTH,
  });
  assert.strictEqual(reply.length, 60);
  assert.deepStrictEqual(describe_frame(reply), {
    status: "ok",
    dst_mac: CLIENT.mac,
    src_mac: VIP.mac,
    ethertype: ETHERTYPE_ARP,
    arp: {
      operation: ARP_REPLY,
      sender_mac: VIP.mac,
      sender_ip: VIP.ip,
      target_mac: CLIENT.mac,
      target_ip: CLIENT.ip,
    },
  });
  const request = describe_frame(arp_frame);
  assert.strictEqual(request.dst_mac, "ff:ff:ff:ff:ff:ff");
  assert.strictEqual(request.arp?.target_mac, "00:00:00:00:00:00");
  assert.strictEqual(
    format_frame(arp_frame).endsWith("who-has 198.18.0.100 tell 198.18.0.10"),
    true,
  );
});

Deno.test("describe_frame reports broken checksums and malformed frames", () => {
  const frame = tcp();
  frame[frame.length - 1] ^= 1;
  assert.strictEqual(describe_frame(frame).tcp?.checksum_ok, false);
  assert.match(format_frame(frame), /bad tcp csum/);
  assert.deepStrictEqual(describe_frame(new Uint8Array(5)), { status: "eth_too_short" });
  const bad = describe_frame(mutate(tcp(), (f) => (f[34 + TCP_DATA_OFFSET] = 0x30)));
  assert.strictEqual(bad.status, "tcp_bad_data_offset");
  assert.strictEqual(bad.tcp, undefined);
  assert.strictEqual(bad.ipv4?.src_ip, CLIENT.ip);
});

Deno.test("read/write u16/u32 big-endian at unaligned offsets", () => {
  const bytes = new Uint8Array(9);
  write_u32(bytes, 1, 0xdeadbeef);
  assert.deepStrictEqual([...bytes.subarray(1, 5)], [0xde, 0xad, 0xbe, 0xef]);
  assert.strictEqual(read_u32(bytes, 1), 0xdeadbeef);
  write_u32(bytes, 5, -1);
  assert.strictEqual(read_u32(bytes, 5), 0xffffffff);
  write_u16(bytes, 3, 0xabcd);
  assert.strictEqual(read_u16(bytes, 3), 0xabcd);
  assert.strictEqual(read_u32(bytes, 1), 0xdeadabcd);
});

Deno.test("MAC helpers: swap, copy, equal, multicast", () => {
  const frame = tcp();
  const region = new Uint8Array(200);
  region.set(frame, 3);
  mac_swap(region, 3);
  assert.strictEqual(bytes_to_mac(region, 3), CLIENT.mac);
  assert.strictEqual(bytes_to_mac(region, 9), VIP.mac);
  assert.ok(mac_equal(region, 3, frame, 6));
  assert.ok(!mac_equal(region, 3, frame, 0));
  const next_hop = mac_to_bytes("02:aa:bb:cc:dd:ee");
  mac_copy(region, 3, next_hop, 0);
  assert.strictEqual(bytes_to_mac(region, 3), "02:aa:bb:cc:dd:ee");
  assert.ok(mac_is_multicast(mac_to_bytes("ff:ff:ff:ff:ff:ff"), 0));
  assert.ok(mac_is_multicast(mac_to_bytes("01:00:5e:00:00:01"), 0));
  assert.ok(!mac_is_multicast(next_hop, 0));
});

Deno.test("address conversions round-trip and reject junk", () => {
  const cases = [
    { ip: "0.0.0.0", u32: 0 },
    { ip: "198.18.0.1", u32: 0xc6120001 },
    { ip: "255.255.255.255", u32: 0xffffffff },
    { ip: "10.1.2.3", u32: 0x0a010203 },
  ];
  for (const { ip, u32 } of cases) {
    assert.strictEqual(ip_to_u32(ip), u32);
    assert.strictEqual(u32_to_ip(u32), ip);
    assert.strictEqual(u32_to_ip(u32 | 0), ip, "int32 bits from an out record");
  }
  for (const bad of ["1.2.3", "1.2.3.256", "a.b.c.d", "1.2.3.4.5", "", "1..2.3", "-1.2.3.4"]) {
    assert.throws(() => ip_to_u32(bad), TypeError, bad);
  }
  assert.deepStrictEqual([...mac_to_bytes("02-00-5E-10-00-01")], [2, 0, 0x5e, 0x10, 0, 1]);
  assert.strictEqual(bytes_to_mac(mac_to_bytes("AA:bb:0c:0D:ee:FF")), "aa:bb:0c:0d:ee:ff");
  for (const bad of ["02:00:00:00:00", "02:00:00:00:00:0g", "0200.0000.0001"]) {
    assert.throws(() => mac_to_bytes(bad), TypeError, bad);
  }
});
