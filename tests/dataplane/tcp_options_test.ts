import assert from "node:assert/strict";
import {
  build_tcp,
  create_parse_out,
  decode_tcp_options,
  describe_frame,
  encode_tcp_options,
  L4_OFFSET,
  OPT_EOL_OFFSET,
  OPT_MSS,
  OPT_MSS_OFFSET,
  OPT_SACK_BLOCKS,
  OPT_SACK_OFFSET,
  OPT_SACK_PERMITTED_OFFSET,
  OPT_TIMESTAMP_OFFSET,
  OPT_UNKNOWN_COUNT,
  OPT_WSCALE,
  OPT_WSCALE_OFFSET,
  OPTIONS_MALFORMED,
  OPTIONS_OK,
  parse_frame,
  PARSE_OK,
  parse_tcp_options,
  read_u16,
  remove_option,
  rewrite_sack_blocks,
  rewrite_timestamp,
  set_mss,
  TCP_CHECKSUM,
  tcp_checksum,
  tcp_checksum_ok,
  TCP_FLAG_ACK,
  TCP_FLAG_SYN,
  TCP_OPTION_FIELDS,
  TCP_OPTIONS_LENGTH,
  TCP_OPTIONS_OFFSET,
  type TcpOption,
  type TcpSpec,
} from "../../dataplane/mod.ts";
import { mulberry32 } from "../support/random.ts";

function parse_options(bytes: number[] | Uint8Array, offset = 0, length?: number) {
  const data = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
  const out = new Int32Array(TCP_OPTION_FIELDS);
  const status = parse_tcp_options(data, offset, length ?? data.length - offset, out);
  return {
    status,
    fields: {
      mss_offset: out[OPT_MSS_OFFSET],
      mss: out[OPT_MSS],
      wscale_offset: out[OPT_WSCALE_OFFSET],
      wscale: out[OPT_WSCALE],
      sack_permitted_offset: out[OPT_SACK_PERMITTED_OFFSET],
      sack_offset: out[OPT_SACK_OFFSET],
      sack_blocks: out[OPT_SACK_BLOCKS],
      timestamp_offset: out[OPT_TIMESTAMP_OFFSET],
      unknown: out[OPT_UNKNOWN_COUNT],
      eol_offset: out[OPT_EOL_OFFSET],
    },
  };
}

const NONE = {
  mss_offset: -1,
  mss: -1,
  wscale_offset: -1,
  wscale: -1,
  sack_permitted_offset: -1,
  sack_offset: -1,
  sack_blocks: 0,
  timestamp_offset: -1,
  unknown: 0,
  eol_offset: -1,
};

const TS = (v: number, e: number) => [8, 10, ...u32(v), ...u32(e)];
function u32(v: number): number[] {
  return [v >>> 24, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff];
}

Deno.test("parse_tcp_options: well-formed layouts", () => {
  const cases = [
    { description: "no options", input: [], expected: NONE },
    {
      description: "Linux SYN: MSS, SACK-permitted, TS, NOP, WS",
      input: [2, 4, 0x05, 0xb4, 4, 2, ...TS(1, 0), 1, 3, 3, 7],
      expected: {
        ...NONE,
        mss_offset: 0,
        mss: 1460,
        sack_permitted_offset: 4,
        timestamp_offset: 6,
        wscale_offset: 17,
        wscale: 7,
      },
    },
    {
      description: "data segment: NOP NOP TS",
      input: [1, 1, ...TS(5, 6)],
      expected: { ...NONE, timestamp_offset: 2 },
    },
    {
      description: "NOP NOP SACK with 3 blocks",
      input: [1, 1, 5, 26, ...new Array(24).fill(9)],
      expected: { ...NONE, sack_offset: 2, sack_blocks: 3 },
    },
    {
      description: "SACK with 4 blocks fills 34 bytes",
      input: [5, 34, ...new Array(32).fill(1), 1, 1, 0, 0],
      expected: { ...NONE, sack_offset: 0, sack_blocks: 4, eol_offset: 36 },
    },
    {
      description: "unknown kinds (MPTCP 30, TFO 34, experimental 254) are skipped",
      input: [30, 4, 0x10, 0x01, 34, 10, 1, 2, 3, 4, 5, 6, 7, 8, 254, 2, 2, 4, 0x05, 0x78],
      expected: { ...NONE, unknown: 3, mss_offset: 16, mss: 1400 },
    },
    {
      description: "EOL ends the list: junk after it is not parsed",
      input: [3, 3, 2, 0, 0xff, 0xff, 0xff],
      expected: { ...NONE, wscale_offset: 0, wscale: 2, eol_offset: 3 },
    },
    {
      description: "a repeated kind: the last one counts",
      input: [2, 4, 0x05, 0xb4, 2, 4, 0x02, 0x18],
      expected: { ...NONE, mss_offset: 4, mss: 536 },
    },
  ];
  for (const { description, input, expected } of cases) {
    const { status, fields } = parse_options(input);
    assert.strictEqual(status, OPTIONS_OK, description);
    assert.deepStrictEqual(fields, expected, description);
  }
});

Deno.test("parse_tcp_options: malformed lengths are rejected", () => {
  const cases = [
    { description: "length byte 0", input: [30, 0, 1, 1] },
    { description: "length byte 1", input: [30, 1, 1, 1] },
    { description: "kind without its length byte", input: [1, 1, 1, 2] },
    { description: "option running past the header", input: [1, 1, 30, 6, 0, 0] },
    { description: "MSS of length 3", input: [2, 3, 5, 1] },
    { description: "MSS of length 5", input: [2, 5, 5, 0xb4, 0, 1, 1, 1] },
    { description: "window scale of length 4", input: [3, 4, 7, 0] },
    { description: "SACK-permitted of length 3", input: [4, 3, 0, 1] },
    { description: "timestamp of length 8", input: [8, 8, 0, 0, 0, 1, 0, 0] },
    { description: "SACK of length 2 (no blocks)", input: [5, 2, 1, 1] },
    { description: "SACK of length 9", input: [5, 9, ...new Array(7).fill(0), 1, 1, 1] },
    { description: "SACK of length 11", input: [5, 11, ...new Array(9).fill(0), 1] },
    { description: "SACK with 5 blocks", input: [5, 42, ...new Array(40).fill(0), 1, 1] },
  ];
  for (const { description, input } of cases) {
    assert.strictEqual(parse_options(input).status, OPTIONS_MALFORMED, description);
    assert.strictEqual(decode_tcp_options(new Uint8Array(input), 0, input.length), null);
  }
  // a range outside the buffer is malformed, not an exception
  assert.strictEqual(parse_options([1, 1], 0, 8).status, OPTIONS_MALFORMED);
});

Deno.test("parse_tcp_options: never throws on random bytes", () => {
  const random = mulberry32(99);
  const out = new Int32Array(TCP_OPTION_FIELDS);
  let ok = 0;
  for (let n = 0; n < 20000; n++) {
    const length = Math.floor(random() * 41);
    const bytes = new Uint8Array(length + 3);
    for (let i = 0; i < bytes.length; i++) {
      bytes[i] = random() < 0.5 ? Math.floor(random() * 12) : Math.floor(random() * 256);
    }
    const status = parse_tcp_options(bytes, 3, length, out);
    assert.ok(status === OPTIONS_OK || status === OPTIONS_MALFORMED);
    if (status === OPTIONS_OK) {
      ok++;
      // every recorded option lies inside the range
      for (
        const field of [OPT_MSS_OFFSET, OPT_WSCALE_OFFSET, OPT_SACK_OFFSET, OPT_TIMESTAMP_OFFSET]
      ) {
        if (out[field] !== -1) assert.ok(out[field] >= 3 && out[field] < 3 + length);
      }
    }
  }
  assert.ok(ok > 1000 && ok < 19000, `ok ${ok}`);
});

Deno.test("encode/decode round-trip; unknown kinds preserved; padding; size limit", () => {
  const list: TcpOption[] = [
    { kind: "mss", value: 8960 },
    { kind: "raw", code: 30, data: new Uint8Array([0x10, 0x81]) },
    { kind: "sack_permitted" },
    { kind: "nop" },
    { kind: "wscale", shift: 14 },
  ];
  const bytes = encode_tcp_options(list);
  assert.deepStrictEqual(
    [...bytes],
    [2, 4, 0x23, 0x00, 30, 4, 0x10, 0x81, 4, 2, 1, 3, 3, 14, 0, 0],
  );
  assert.deepStrictEqual(decode_tcp_options(bytes, 0, bytes.length), [...list, { kind: "eol" }]);
  assert.strictEqual(encode_tcp_options([]).length, 0);
  assert.strictEqual(encode_tcp_options([{ kind: "nop" }]).length, 4);
  assert.throws(
    () =>
      encode_tcp_options([
        { kind: "sack", blocks: [[1, 2], [3, 4], [5, 6], [7, 8]] },
        { kind: "mss", value: 1 },
        { kind: "nop" },
        { kind: "nop" },
        { kind: "nop" },
      ]),
    RangeError,
  );
  // a SYN's unknown option survives a full build/describe round trip
  const frame = build_tcp({
    src_ip: "198.18.0.1",
    dst_ip: "198.18.0.2",
    src_port: 1,
    dst_port: 2,
    flags: TCP_FLAG_SYN,
    options: [{ kind: "raw", code: 34, data: new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]) }],
  });
  assert.deepStrictEqual(describe_frame(frame).tcp?.options, [
    { kind: "raw", code: 34, data: new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]) },
    { kind: "eol" }, // 10 bytes padded to 12
  ]);
});

// ------------------------------------------------------------------ rewriters

const BASE: TcpSpec = {
  src_mac: "02:00:00:00:00:0c",
  dst_mac: "02:00:00:00:00:0d",
  src_ip: "198.18.0.10",
  dst_ip: "198.18.0.100",
  src_port: 40001,
  dst_port: 80,
  seq: 100,
  ack: 200,
  flags: TCP_FLAG_ACK,
  payload: 7,
};

function tcp(options: TcpOption[], extra: Partial<TcpSpec> = {}): Uint8Array {
  return build_tcp({ ...BASE, ...extra, options });
}

// Parses a frame and its options; returns the offsets the rewriters need.
function locate(frame: Uint8Array) {
  const out = create_parse_out();
  assert.strictEqual(parse_frame(frame, 0, frame.length, out), PARSE_OK);
  const options = new Int32Array(TCP_OPTION_FIELDS);
  assert.strictEqual(
    parse_tcp_options(frame, out[TCP_OPTIONS_OFFSET], out[TCP_OPTIONS_LENGTH], options),
    OPTIONS_OK,
  );
  return { tcp_offset: out[L4_OFFSET], options };
}

const sack = (...blocks: Array<[number, number]>): TcpOption => ({ kind: "sack", blocks });
const NOP: TcpOption = { kind: "nop" };

Deno.test("rewrite_sack_blocks: 1-4 blocks across 2^32, aligned and odd offsets", () => {
  const cases = [
    {
      description: "one block, positive delta wrapping past 2^32",
      input: [NOP, NOP, sack([0xfffffff0, 0xfffffffa])],
      delta: 0x20,
      expected: [NOP, NOP, sack([0x10, 0x1a])],
    },
    {
      description: "two blocks, negative delta (edge − ISN_d + ISN_s) wrapping below 0",
      input: [NOP, NOP, sack([0x10, 0x20], [0x30, 0x40])],
      delta: -0x18,
      expected: [NOP, NOP, sack([0xfffffff8, 0x8], [0x18, 0x28])],
    },
    {
      description: "three blocks straddling the wrap, delta of nearly 2^32",
      input: [NOP, NOP, sack([0xffffff00, 0x100], [0x200, 0x300], [0x7fffffff, 0x80000000])],
      delta: 0xffffffff,
      expected: [NOP, NOP, sack([0xfffffeff, 0xff], [0x1ff, 0x2ff], [0x7ffffffe, 0x7fffffff])],
    },
    {
      description: "four blocks (no room for NOPs)",
      input: [sack([1, 2], [3, 4], [5, 6], [0xffffffff, 0])],
      delta: 1,
      expected: [sack([2, 3], [4, 5], [6, 7], [0, 1])],
    },
    {
      description: "odd offset: a single NOP before the SACK option",
      input: [NOP, sack([0xfffffffe, 0x00000005], [0x12345678, 0x9abcdef0])],
      delta: 0x01020304,
      expected: [NOP, sack([0x01020302, 0x01020309], [0x1336597c, 0x9bbee1f4])],
    },
    {
      description: "odd offset after a window scale option, with a timestamp before",
      input: [
        NOP,
        NOP,
        { kind: "timestamp", tsval: 1, tsecr: 2 } as TcpOption,
        { kind: "wscale", shift: 1 } as TcpOption,
        sack([9, 10]),
      ],
      delta: -10,
      expected: [
        NOP,
        NOP,
        { kind: "timestamp", tsval: 1, tsecr: 2 } as TcpOption,
        { kind: "wscale", shift: 1 } as TcpOption,
        sack([0xffffffff, 0]),
      ],
    },
  ];
  for (const { description, input, delta, expected } of cases) {
    const frame = tcp(input);
    const { tcp_offset, options } = locate(frame);
    rewrite_sack_blocks(
      frame,
      tcp_offset,
      options[OPT_SACK_OFFSET],
      options[OPT_SACK_BLOCKS],
      delta,
    );
    // the builder computes the checksum from scratch: byte equality proves the incremental one
    assert.deepStrictEqual(
      describe_frame(frame).tcp?.options,
      describe_frame(tcp(expected)).tcp?.options,
      description,
    );
    assert.deepStrictEqual(frame, tcp(expected), description);
  }
});

Deno.test("rewrite_timestamp: TSval + Δ, TSecr − Δ, wrap, odd offset", () => {
  const ts = (tsval: number, tsecr: number): TcpOption => ({ kind: "timestamp", tsval, tsecr });
  const cases = [
    {
      description: "NOP NOP TS: continue the director's clock",
      input: [NOP, NOP, ts(1000, 2000)],
      tsval_delta: 0x7000_0000,
      tsecr_delta: 0,
      expected: [NOP, NOP, ts(0x7000_03e8, 2000)],
    },
    {
      description: "TSecr back across zero",
      input: [NOP, NOP, ts(0xffff_fff0, 5)],
      tsval_delta: 0x20,
      tsecr_delta: -10,
      expected: [NOP, NOP, ts(0x10, 0xffff_fffb)],
    },
    {
      description: "odd offset (SYN layout: MSS, SACK-perm, TS at 6+1)",
      input: [
        { kind: "mss", value: 1460 } as TcpOption,
        NOP,
        ts(0xdeadbeef, 0),
        { kind: "wscale", shift: 7 } as TcpOption,
      ],
      tsval_delta: 0x21524111,
      tsecr_delta: 0x12345678,
      expected: [
        { kind: "mss", value: 1460 } as TcpOption,
        NOP,
        ts(0, 0x12345678),
        { kind: "wscale", shift: 7 } as TcpOption,
      ],
    },
    {
      description: "zero deltas leave the frame untouched",
      input: [NOP, NOP, ts(1, 2)],
      tsval_delta: 0,
      tsecr_delta: 2 ** 32,
      expected: [NOP, NOP, ts(1, 2)],
    },
  ];
  for (const { description, input, tsval_delta, tsecr_delta, expected } of cases) {
    const frame = tcp(input);
    const { tcp_offset, options } = locate(frame);
    rewrite_timestamp(frame, tcp_offset, options[OPT_TIMESTAMP_OFFSET], tsval_delta, tsecr_delta);
    assert.deepStrictEqual(frame, tcp(expected), description);
  }
});

Deno.test("set_mss and remove_option keep the checksum and header length", () => {
  const mss = (value: number): TcpOption => ({ kind: "mss", value });
  const ts: TcpOption = { kind: "timestamp", tsval: 7, tsecr: 9 };
  const sp: TcpOption = { kind: "sack_permitted" };
  const ws: TcpOption = { kind: "wscale", shift: 9 };
  const syn = { flags: TCP_FLAG_SYN, payload: undefined };

  // aligned MSS
  let frame = tcp([mss(1460), sp, ts, NOP, ws], syn);
  let found = locate(frame);
  set_mss(frame, found.tcp_offset, found.options[OPT_MSS_OFFSET], 1400);
  assert.deepStrictEqual(frame, tcp([mss(1400), sp, ts, NOP, ws], syn));

  // MSS at an odd offset
  frame = tcp([NOP, mss(0xffff), NOP, NOP, NOP], syn);
  found = locate(frame);
  set_mss(frame, found.tcp_offset, found.options[OPT_MSS_OFFSET], 0x0100);
  assert.deepStrictEqual(frame, tcp([NOP, mss(0x0100), NOP, NOP, NOP], syn));

  // the client never offered SACK to the director: strip it from the stack's SYN/ACK
  frame = tcp([mss(1460), sp, ts, NOP, ws], syn);
  found = locate(frame);
  remove_option(frame, found.tcp_offset, found.options[OPT_SACK_PERMITTED_OFFSET], 2);
  assert.deepStrictEqual(frame, tcp([mss(1460), NOP, NOP, ts, NOP, ws], syn));
  assert.strictEqual(locate(frame).options[OPT_SACK_PERMITTED_OFFSET], -1);

  // timestamps at an odd offset removed
  frame = tcp([mss(1460), NOP, ts, ws], syn);
  found = locate(frame);
  remove_option(frame, found.tcp_offset, found.options[OPT_TIMESTAMP_OFFSET], 10);
  assert.deepStrictEqual(frame, tcp([mss(1460), NOP, ...new Array(10).fill(NOP), ws], syn));
  assert.ok(tcp_checksum_ok(frame, 14));
});

Deno.test("rewriters over random option layouts keep the checksum equal to a full recompute", () => {
  const random = mulberry32(0x5ac);
  const u32 = () => Math.floor(random() * 2 ** 32);
  let rewritten = 0;
  for (let n = 0; n < 3000; n++) {
    // random prefix of NOPs / short options shifts the parity of what follows
    const list: TcpOption[] = [];
    const lead = Math.floor(random() * 3);
    for (let i = 0; i < lead; i++) list.push(NOP);
    const blocks = 1 + Math.floor(random() * 3);
    const want_ts = random() < 0.5;
    if (want_ts) list.push({ kind: "timestamp", tsval: u32(), tsecr: u32() });
    if (random() < 0.4) list.push({ kind: "wscale", shift: 3 });
    const edges: Array<[number, number]> = [];
    for (let b = 0; b < blocks; b++) edges.push([u32(), u32()]);
    list.push({ kind: "sack", blocks: edges });
    let frame: Uint8Array;
    try {
      frame = tcp(list, { payload: Math.floor(random() * 20) });
    } catch {
      continue; // more than 40 bytes of options
    }
    const { tcp_offset, options } = locate(frame);
    const sack_delta = u32() - 2 ** 31;
    rewrite_sack_blocks(
      frame,
      tcp_offset,
      options[OPT_SACK_OFFSET],
      options[OPT_SACK_BLOCKS],
      sack_delta,
    );
    if (want_ts) {
      rewrite_timestamp(frame, tcp_offset, options[OPT_TIMESTAMP_OFFSET], u32(), -u32());
    }
    assert.strictEqual(read_u16(frame, tcp_offset + TCP_CHECKSUM), tcp_checksum(frame, 14));
    const decoded = describe_frame(frame).tcp?.options?.find((o) => o.kind === "sack");
    assert.deepStrictEqual(
      decoded,
      sack(
        ...edges.map(([l, r]) =>
          [(l + sack_delta) >>> 0, (r + sack_delta) >>> 0] as [number, number]
        ),
      ),
    );
    rewritten++;
  }
  assert.ok(rewritten > 2500);
});
