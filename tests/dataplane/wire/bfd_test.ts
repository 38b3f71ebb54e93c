// The BFD control packet codec (dataplane/wire/bfd.ts): one row per packet,
// good and bad, each with the code bfd_read gives and the fields it reads;
// a written packet reads back the same; and a whole frame written in place
// is the frame build_udp makes from the same fields (TTL 255, DSCP CS6, port
// 3784), its checksums checked by recomputing them.

import assert from "node:assert/strict";
import {
  BF_DESIRED_MIN_TX,
  BF_DETECT_MULT,
  BF_DIAG,
  BF_FLAGS,
  BF_LENGTH,
  BF_MY_DISCR,
  BF_REQUIRED_MIN_ECHO_RX,
  BF_REQUIRED_MIN_RX,
  BF_STATE,
  BF_VERSION,
  BF_YOUR_DISCR,
  BFD_AUTHENTICATED,
  BFD_BAD_LENGTH,
  BFD_BAD_VERSION,
  BFD_DOWN,
  BFD_FIELDS,
  BFD_FLAG_AUTH,
  BFD_FLAG_CPI,
  BFD_FLAG_FINAL,
  BFD_FLAG_MULTIPOINT,
  BFD_FLAG_POLL,
  BFD_FRAME_LENGTH,
  BFD_FRAME_PACKET,
  BFD_INIT,
  BFD_MULTIPOINT,
  BFD_PACKET_LENGTH,
  BFD_PORT,
  bfd_read,
  BFD_READ_FAILURES,
  BFD_READ_OK,
  BFD_TRUNCATED,
  BFD_UP,
  bfd_write,
  BFD_ZERO_DISCRIMINATOR,
  BFD_ZERO_MULTIPLIER,
  create_bfd_fields,
  create_frame_address,
  FA_DST_IP,
  FA_DST_MAC_HI,
  FA_DST_MAC_LO,
  FA_SRC_IP,
  FA_SRC_MAC_HI,
  FA_SRC_MAC_LO,
  FA_SRC_PORT,
  write_bfd_frame,
} from "../../../dataplane/wire/mod.ts";
import {
  build_udp,
  ip_to_u32,
  ipv4_checksum_ok,
  mac_hi,
  mac_lo,
  mac_to_bytes,
  udp_checksum_ok,
} from "../../../dataplane/mod.ts";

/** A BFD packet's fields by name; what a row's bytes are built from. */
interface Packet {
  version?: number;
  diag?: number;
  state?: number;
  flags?: number;
  multiplier?: number;
  length?: number;
  my?: number;
  your?: number;
  min_tx_us?: number;
  min_rx_us?: number;
  echo_us?: number;
}

/** The bytes of a packet, field by field (not through bfd_write, which the rows test). */
function packet_bytes(p: Packet, total = BFD_PACKET_LENGTH): Uint8Array {
  const bytes = new Uint8Array(total);
  const view = new DataView(bytes.buffer);
  bytes[0] = ((p.version ?? 1) << 5) | (p.diag ?? 0);
  bytes[1] = ((p.state ?? BFD_DOWN) << 6) | (p.flags ?? 0);
  bytes[2] = p.multiplier ?? 3;
  bytes[3] = p.length ?? BFD_PACKET_LENGTH;
  if (total >= 24) {
    view.setUint32(4, p.my ?? 0x11223344);
    view.setUint32(8, p.your ?? 0);
    view.setUint32(12, p.min_tx_us ?? 1_000_000);
    view.setUint32(16, p.min_rx_us ?? 100_000);
    view.setUint32(20, p.echo_us ?? 0);
  }
  return bytes;
}

interface ReadCase {
  description: string;
  input: Uint8Array;
  expect: number;
  fields?: Partial<Record<number, number>>;
}

const cases: ReadCase[] = [
  {
    description: "a peer opening a session: Down, Your Discriminator 0",
    input: packet_bytes({ state: BFD_DOWN, my: 0x11223344, your: 0 }),
    expect: BFD_READ_OK,
    fields: {
      [BF_VERSION]: 1,
      [BF_STATE]: BFD_DOWN,
      [BF_DETECT_MULT]: 3,
      [BF_LENGTH]: 24,
      [BF_MY_DISCR]: 0x11223344,
      [BF_YOUR_DISCR]: 0,
      [BF_DESIRED_MIN_TX]: 1_000_000,
      [BF_REQUIRED_MIN_RX]: 100_000,
      [BF_REQUIRED_MIN_ECHO_RX]: 0,
    },
  },
  {
    description: "Up with Poll, discriminators with the top bit set read as u32",
    input: packet_bytes({
      state: BFD_UP,
      flags: BFD_FLAG_POLL,
      diag: 3,
      my: 0xfedcba98,
      your: 0x80000001,
      min_tx_us: 100_000,
    }),
    expect: BFD_READ_OK,
    fields: {
      [BF_STATE]: BFD_UP,
      [BF_FLAGS]: BFD_FLAG_POLL,
      [BF_DIAG]: 3,
      [BF_MY_DISCR]: 0xfedcba98,
      [BF_YOUR_DISCR]: 0x80000001,
      [BF_DESIRED_MIN_TX]: 100_000,
    },
  },
  {
    description: "Init with Final and the C bit",
    input: packet_bytes({ state: BFD_INIT, flags: BFD_FLAG_FINAL | BFD_FLAG_CPI }),
    expect: BFD_READ_OK,
    fields: { [BF_STATE]: BFD_INIT, [BF_FLAGS]: BFD_FLAG_FINAL | BFD_FLAG_CPI },
  },
  {
    description: "padding after the packet (length 24 in a longer payload) is fine",
    input: packet_bytes({}, 40),
    expect: BFD_READ_OK,
  },
  {
    description: "fewer than 24 bytes",
    input: packet_bytes({}).subarray(0, 23),
    expect: BFD_TRUNCATED,
  },
  { description: "empty payload", input: new Uint8Array(0), expect: BFD_TRUNCATED },
  { description: "version 0", input: packet_bytes({ version: 0 }), expect: BFD_BAD_VERSION },
  { description: "version 2", input: packet_bytes({ version: 2 }), expect: BFD_BAD_VERSION },
  {
    description: "length field under 24",
    input: packet_bytes({ length: 20 }),
    expect: BFD_BAD_LENGTH,
  },
  {
    description: "length field beyond the payload (claims an auth section that is not there)",
    input: packet_bytes({ length: 26 }),
    expect: BFD_BAD_LENGTH,
  },
  {
    description: "Detect Mult 0",
    input: packet_bytes({ multiplier: 0 }),
    expect: BFD_ZERO_MULTIPLIER,
  },
  {
    description: "the Multipoint bit",
    input: packet_bytes({ flags: BFD_FLAG_MULTIPOINT }),
    expect: BFD_MULTIPOINT,
  },
  {
    description: "My Discriminator 0",
    input: packet_bytes({ my: 0 }),
    expect: BFD_ZERO_DISCRIMINATOR,
  },
  {
    description: "authentication (A bit) with its section: not run here, refused",
    input: packet_bytes({ flags: BFD_FLAG_AUTH, length: 28 }, 28),
    expect: BFD_AUTHENTICATED,
  },
];

for (const row of cases) {
  Deno.test(`bfd_read: ${row.description}`, () => {
    const out = create_bfd_fields();
    // in place, at an odd offset inside a larger region, as in an mbuf
    const region = new Uint8Array(row.input.length + 64).fill(0xee);
    region.set(row.input, 31);
    const code = bfd_read(region, 31, row.input.length, out);
    assert.equal(
      code,
      row.expect,
      `got ${BFD_READ_FAILURES[code - 1] ?? "ok"}, want ${
        BFD_READ_FAILURES[row.expect - 1] ?? "ok"
      }`,
    );
    for (const [field, value] of Object.entries(row.fields ?? {})) {
      assert.equal(out[Number(field)], value, `field ${field}`);
    }
  });
}

Deno.test("bfd_read: never reads past the region, whatever length it is told", () => {
  const out = create_bfd_fields();
  const region = packet_bytes({});
  assert.equal(bfd_read(region, 10, 24, out), BFD_TRUNCATED);
  assert.equal(bfd_read(region, -1, 24, out), BFD_TRUNCATED);
  // random bytes: some code, never an exception
  const noise = new Uint8Array(24);
  for (let i = 0; i < 2000; i++) {
    crypto.getRandomValues(noise);
    const code = bfd_read(noise, 0, 24, out);
    assert.ok(code >= BFD_READ_OK && code <= BFD_AUTHENTICATED);
  }
});

Deno.test("bfd_write then bfd_read gives the same fields (version 1, length 24, no A bit)", () => {
  const fields = create_bfd_fields();
  fields[BF_DIAG] = 1;
  fields[BF_STATE] = BFD_UP;
  fields[BF_FLAGS] = BFD_FLAG_POLL | BFD_FLAG_CPI | BFD_FLAG_AUTH; // the A bit is never written
  fields[BF_DETECT_MULT] = 5;
  fields[BF_MY_DISCR] = 0xffffffff;
  fields[BF_YOUR_DISCR] = 1;
  fields[BF_DESIRED_MIN_TX] = 300_000;
  fields[BF_REQUIRED_MIN_RX] = 50_000;
  fields[BF_REQUIRED_MIN_ECHO_RX] = 0;
  const bytes = new Uint8Array(30);
  bfd_write(bytes, 3, fields);
  const back = create_bfd_fields();
  assert.equal(bfd_read(bytes, 3, 24, back), BFD_READ_OK);
  assert.equal(back[BF_VERSION], 1);
  assert.equal(back[BF_LENGTH], 24);
  assert.equal(back[BF_FLAGS], BFD_FLAG_POLL | BFD_FLAG_CPI);
  for (
    const k of [
      BF_DIAG,
      BF_STATE,
      BF_DETECT_MULT,
      BF_MY_DISCR,
      BF_YOUR_DISCR,
      BF_DESIRED_MIN_TX,
      BF_REQUIRED_MIN_RX,
    ]
  ) {
    assert.equal(back[k], fields[k], `field ${k}`);
  }
  assert.equal(back.length, BFD_FIELDS);
});

Deno.test("write_bfd_frame: the frame build_udp makes from the same fields, checksums good", () => {
  const fields = create_bfd_fields();
  fields[BF_STATE] = BFD_INIT;
  fields[BF_FLAGS] = BFD_FLAG_CPI;
  fields[BF_DETECT_MULT] = 3;
  fields[BF_MY_DISCR] = 0x01020304;
  fields[BF_YOUR_DISCR] = 0xa0b0c0d0;
  fields[BF_DESIRED_MIN_TX] = 1_000_000;
  fields[BF_REQUIRED_MIN_RX] = 100_000;
  const payload = new Uint8Array(24);
  bfd_write(payload, 0, fields);
  const expected = build_udp({
    src_mac: "02:b7:00:00:00:02",
    dst_mac: "02:b7:00:00:40:01",
    src_ip: "198.18.0.2",
    dst_ip: "198.18.0.201",
    src_port: 49153,
    dst_port: BFD_PORT,
    ttl: 255,
    tos: 0xc0,
    ip_id: 0,
    payload,
  });
  const address = create_frame_address();
  const src = mac_to_bytes("02:b7:00:00:00:02");
  const dst = mac_to_bytes("02:b7:00:00:40:01");
  address[FA_SRC_MAC_HI] = mac_hi(src, 0);
  address[FA_SRC_MAC_LO] = mac_lo(src, 0);
  address[FA_DST_MAC_HI] = mac_hi(dst, 0);
  address[FA_DST_MAC_LO] = mac_lo(dst, 0);
  address[FA_SRC_IP] = ip_to_u32("198.18.0.2");
  address[FA_DST_IP] = ip_to_u32("198.18.0.201");
  address[FA_SRC_PORT] = 49153;
  const region = new Uint8Array(200).fill(0x55);
  const length = write_bfd_frame(region, 17, address, fields);
  assert.equal(length, BFD_FRAME_LENGTH);
  const frame = region.subarray(17, 17 + length);
  assert.equal(frame[14 + 8], 255, "GTSM: TTL 255");
  assert.ok(ipv4_checksum_ok(frame, 14));
  assert.ok(udp_checksum_ok(frame, 14));
  assert.deepEqual([...frame], [...expected]);
  const back = create_bfd_fields();
  assert.equal(bfd_read(frame, BFD_FRAME_PACKET, 24, back), BFD_READ_OK);
  assert.equal(back[BF_YOUR_DISCR], 0xa0b0c0d0);
});
