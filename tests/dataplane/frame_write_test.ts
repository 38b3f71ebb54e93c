// write_tcp_frame (frame_write.ts), the in-place writer of the segments a
// role makes per connection, against build_tcp (frame_build.ts), the
// builder the fixtures' expected frames come from: for random segments
// (addresses, ports, numbers, flags, every subset of the options the writer
// knows, payloads of every size up to a full MSS) the two must agree byte
// for byte, the writer must write every byte of its frame (the mbuf it gets
// holds an earlier frame's bytes) and none past it.

import assert from "node:assert/strict";
import {
  build_tcp,
  bytes_to_mac,
  create_tcp_frame_fields,
  describe_frame,
  tcp_frame_length,
  type TcpFrameFields,
  type TcpOption,
  u32_to_ip,
  write_mac_words,
  write_tcp_frame,
} from "../../dataplane/mod.ts";
import { mulberry32 } from "../support/random.ts";

function mac_string(hi: number, lo: number): string {
  const bytes = new Uint8Array(6);
  write_mac_words(bytes, 0, hi, lo);
  return bytes_to_mac(bytes);
}

/** The options build_tcp is given for the fields, in the writer's order. */
function options_of(f: TcpFrameFields): TcpOption[] {
  const options: TcpOption[] = [];
  if (f.mss >= 0) options.push({ kind: "mss", value: f.mss });
  if (f.sack_permitted) options.push({ kind: "sack_permitted" });
  if (f.wscale >= 0) options.push({ kind: "nop" }, { kind: "wscale", shift: f.wscale });
  if (f.timestamps) {
    options.push({ kind: "nop" }, { kind: "nop" }, {
      kind: "timestamp",
      tsval: f.tsval,
      tsecr: f.tsecr,
    });
  }
  return options;
}

function built(f: TcpFrameFields, payload: Uint8Array): Uint8Array {
  return build_tcp({
    src_mac: mac_string(f.src_mac_hi, f.src_mac_lo),
    dst_mac: mac_string(f.dst_mac_hi, f.dst_mac_lo),
    src_ip: u32_to_ip(f.src_ip >>> 0),
    dst_ip: u32_to_ip(f.dst_ip >>> 0),
    src_port: f.src_port,
    dst_port: f.dst_port,
    seq: f.seq,
    ack: f.ack,
    flags: f.flags,
    window: f.window,
    options: options_of(f),
    payload,
  });
}

Deno.test("write_tcp_frame writes what build_tcp builds, for 5,000 random segments", () => {
  const random = mulberry32(0x5e9);
  const u32 = () => Math.floor(random() * 0x1_0000_0000);
  const u16 = () => Math.floor(random() * 0x1_0000);
  const source = new Uint8Array(4096).map(() => Math.floor(random() * 256));
  const region = new Uint8Array(8192);
  const f = create_tcp_frame_fields();
  const lengths = new Set<number>();
  for (let round = 0; round < 5000; round++) {
    // int32 words, as the flow tables hold them, half the time
    const signed = random() < 0.5;
    f.src_mac_hi = u32() | 0;
    f.src_mac_lo = u16();
    f.dst_mac_hi = u32() | 0;
    f.dst_mac_lo = u16();
    f.src_ip = signed ? u32() | 0 : u32();
    f.dst_ip = signed ? u32() | 0 : u32();
    f.src_port = u16();
    f.dst_port = u16();
    f.seq = u32();
    f.ack = u32();
    f.flags = Math.floor(random() * 256);
    f.window = u16();
    f.mss = random() < 0.5 ? u16() : -1;
    f.sack_permitted = random() < 0.5;
    f.wscale = random() < 0.5 ? Math.floor(random() * (random() < 0.9 ? 15 : 256)) : -1;
    f.timestamps = random() < 0.5;
    f.tsval = u32();
    f.tsecr = random() < 0.2 ? 0 : u32();
    const payload_length = random() < 0.3 ? 0 : Math.floor(random() * 1461);
    const from = Math.floor(random() * (source.length - payload_length));
    const payload = source.slice(from, from + payload_length);
    const expected = built(f, payload);
    // an odd offset, as in an mbuf, over bytes an earlier frame left
    const o = 1 + 2 * Math.floor(random() * 1000);
    region.fill(0xa5);
    const length = tcp_frame_length(f, payload_length);
    assert.equal(length, expected.length, `round ${round}: the length claimed`);
    assert.equal(write_tcp_frame(region, o, f, source, from, payload_length), expected.length);
    const frame = region.subarray(o, o + length);
    if (!frame.every((byte, k) => byte === expected[k])) {
      assert.deepEqual(describe_frame(frame), describe_frame(expected), `round ${round}`);
      assert.deepEqual(frame, expected, `round ${round}`);
    }
    assert.equal(region[o - 1], 0xa5, "nothing written before the frame");
    assert.equal(region[o + length], 0xa5, "nothing written after it");
    lengths.add(length - payload_length);
  }
  // every header length the options can make: 54 + 0, 4, 8, ..., 24
  assert.deepEqual([...lengths].sort((a, b) => a - b), [54, 58, 62, 66, 70, 74, 78]);
});

Deno.test("write_tcp_frame: the agent's SYN to the stack, option by option", () => {
  const f = create_tcp_frame_fields();
  f.src_mac_hi = 0x02b70000;
  f.src_mac_lo = 0x0001;
  f.dst_mac_hi = 0x02b70000;
  f.dst_mac_lo = 0x0101;
  f.src_ip = 0xc6120001;
  f.dst_ip = 0xc6120064;
  f.src_port = 40000;
  f.dst_port = 80;
  f.seq = 1000;
  f.flags = 0x02;
  f.window = 64240;
  f.mss = 1460;
  f.sack_permitted = true;
  f.wscale = 7;
  f.timestamps = true;
  f.tsval = 0xdeadbeef;
  f.tsecr = 0;
  const region = new Uint8Array(128);
  const length = write_tcp_frame(region, 3, f, region, 0, 0);
  const d = describe_frame(region.slice(3, 3 + length));
  assert.ok(d.ipv4?.checksum_ok && d.tcp?.checksum_ok, "checksums");
  assert.deepEqual(d.tcp?.options, [
    { kind: "mss", value: 1460 },
    { kind: "sack_permitted" },
    { kind: "nop" },
    { kind: "wscale", shift: 7 },
    { kind: "nop" },
    { kind: "nop" },
    { kind: "timestamp", tsval: 0xdeadbeef, tsecr: 0 },
    { kind: "eol" },
  ]);
});
