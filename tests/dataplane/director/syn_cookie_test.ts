import assert from "node:assert/strict";
import {
  cookie_check,
  cookie_info,
  cookie_info_mss,
  cookie_info_sack,
  cookie_info_ts,
  cookie_info_wscale,
  COOKIE_MAC_BITS,
  COOKIE_MAC_MASK,
  cookie_make,
  COOKIE_MSS_TABLE,
  COOKIE_NO_TSECR,
  cookie_slot,
  COOKIE_SLOT_SECONDS,
  COOKIE_SLOTS,
  cookie_tsval,
  COOKIE_TSVAL_MASK,
  COOKIE_WSCALE_NONE,
  create_cookie_key,
  halfsiphash32,
} from "../../../dataplane/director/mod.ts";
import { mulberry32 } from "../../support/random.ts";

function random_u32(random: () => number): number {
  return Math.floor(random() * 4294967296) >>> 0;
}

// vectors_hsip32 from the SipHash reference implementation (veorq/SipHash, vectors.h):
// HalfSipHash-2-4, 32-bit output, key = 00 01 .. 07, message = 00 01 .. (n-1) for
// n = 0..63. Each entry is the 4 output bytes in the order the reference writes them.
const VECTORS_HSIP32 = [
  "a9359f5b",
  "27475ab8",
  "fa62a603",
  "8afee704",
  "2a6e4689",
  "c5fab669",
  "5863fc23",
  "8bcf63c5",
  "d0b8848f",
  "f806e779",
  "94b07934",
  "08083050",
  "57f0872f",
  "77e663ff",
  "d6fff87c",
  "74fe2b97",
  "d9b5ac84",
  "c474645b",
  "465b8d9b",
  "7befe387",
  "e34d1045",
  "613f62b3",
  "70f367fe",
  "e6adb8bd",
  "27400c63",
  "26787875",
  "4f567b5f",
  "3ab0e669",
  "b0644000",
  "ff670fb4",
  "509e338b",
  "5d589f1a",
  "fee72112",
  "33753259",
  "6a434f8c",
  "fe28b729",
  "e75cc6ec",
  "697e8d54",
  "63688b0f",
  "650b62b4",
  "b6bc1840",
  "5d074505",
  "2442fd2e",
  "7bb7863a",
  "7705d548",
  "d75208b1",
  "b6d499c8",
  "0892202e",
  "69e12ce3",
  "8db580e5",
  "369764c6",
  "016e0204",
  "3b85f3d4",
  "fedb66be",
  "1e692a3a",
  "c68984c0",
  "a5c5b940",
  "9be9e88c",
  "7dbc8140",
  "7c078ec5",
  "d4e76c73",
  "428fcbb9",
  "bd83997a",
  "59ea4a74",
];

function hex_of_u32_le(value: number): string {
  let text = "";
  for (let i = 0; i < 4; i++) text += ((value >>> (8 * i)) & 0xff).toString(16).padStart(2, "0");
  return text;
}

const KEY = create_cookie_key(new Uint8Array([0, 1, 2, 3, 4, 5, 6, 7]));
const OTHER_KEY = create_cookie_key(new Uint8Array([0, 1, 2, 3, 4, 5, 6, 8]));

Deno.test("halfsiphash32 matches all 64 reference vectors_hsip32", () => {
  assert.equal(VECTORS_HSIP32.length, 64);
  const message = new Uint8Array(64).map((_, i) => i);
  for (let n = 0; n < 64; n++) {
    const tag = halfsiphash32(KEY, message, { length: n });
    assert.equal(hex_of_u32_le(tag), VECTORS_HSIP32[n], `message length ${n}`);
  }
});

Deno.test("halfsiphash32 honours start: hashing a sub-range equals hashing a copy", () => {
  const bytes = new Uint8Array(40).map((_, i) => (i * 37) & 0xff);
  for (let start = 0; start < 8; start++) {
    for (const length of [0, 1, 2, 3, 4, 5, 23, 24, 31]) {
      const copy = bytes.slice(start, start + length);
      assert.equal(halfsiphash32(KEY, bytes, { start, length }), halfsiphash32(KEY, copy));
    }
  }
});

Deno.test("create_cookie_key rejects short keys and reads words little-endian", () => {
  assert.throws(() => create_cookie_key(new Uint8Array(7)), RangeError);
  const key = create_cookie_key(new Uint8Array([1, 0, 0, 0, 0, 0, 0, 0x80, 99]));
  assert.equal(key.k0, 1);
  assert.equal(key.k1 >>> 0, 0x80000000);
});

interface Flow {
  client_ip: number;
  vip: number;
  client_port: number;
  vip_port: number;
  client_isn: number;
}

function random_flow(random: () => number): Flow {
  return {
    client_ip: random_u32(random),
    vip: random_u32(random),
    client_port: Math.floor(random() * 65536),
    vip_port: Math.floor(random() * 65536),
    client_isn: random_u32(random),
  };
}

function make(flow: Flow, now_s: number, info: number, key = KEY): number {
  return cookie_make(
    key,
    flow.client_ip,
    flow.vip,
    flow.client_port,
    flow.vip_port,
    flow.client_isn,
    now_s,
    info,
  );
}

function check(flow: Flow, cookie: number, tsecr: number, now_s: number, key = KEY): number {
  return cookie_check(
    key,
    flow.client_ip,
    flow.vip,
    flow.client_port,
    flow.vip_port,
    flow.client_isn,
    cookie,
    tsecr,
    now_s,
  );
}

/** What the client echoes on its ACK: the SYN/ACK's TSval with timestamps, none without. */
function echo(info: number, clock: number): number {
  return cookie_info_ts(info) ? cookie_tsval(clock, info) : COOKIE_NO_TSECR;
}

/** The options a SYN can offer, as the cookie keeps them. */
function random_info(random: () => number): number {
  const wscale = random() < 0.2 ? COOKIE_WSCALE_NONE : Math.floor(random() * 15);
  return cookie_info(
    COOKIE_MSS_TABLE[Math.floor(random() * 8)],
    wscale,
    random() < 0.5,
    random() < 0.5,
  );
}

Deno.test("cookie layout: the constants say 25 MAC bits, 16 slots of 64 s, 6 TSval bits", () => {
  assert.equal(COOKIE_MAC_BITS, 25);
  assert.equal(COOKIE_MAC_MASK, 2 ** 25 - 1);
  assert.equal(COOKIE_SLOTS, 16);
  assert.equal(COOKIE_SLOT_SECONDS, 64);
  assert.equal(COOKIE_TSVAL_MASK, 0x3f);
  // 4 slot bits + 3 MSS bits + 25 MAC bits fill the ISN
  assert.equal(Math.log2(COOKIE_SLOTS) + Math.log2(COOKIE_MSS_TABLE.length) + COOKIE_MAC_BITS, 32);
});

Deno.test("cookie round trip: random flows, times and options come back intact", () => {
  const random = mulberry32(0x5c00c1e);
  for (let i = 0; i < 20_000; i++) {
    const flow = random_flow(random);
    const info = random_info(random);
    const now_s = Math.floor(random() * 2_000_000_000);
    const clock = random_u32(random);
    const cookie = make(flow, now_s, info);
    assert.ok(cookie >= 0 && cookie <= 0xffffffff && Number.isInteger(cookie));
    assert.equal(cookie >>> 28, cookie_slot(now_s), "slot in the top 4 bits");
    assert.equal(
      COOKIE_MSS_TABLE[(cookie >>> 25) & 7],
      cookie_info_mss(info),
      "MSS index in the next 3",
    );
    assert.equal(check(flow, cookie, echo(info, clock), now_s), info);
  }
});

Deno.test("every (mss, wscale, sack, ts) combination round-trips through ISN and TSecr", () => {
  const random = mulberry32(0xc0b1);
  let combinations = 0;
  for (const mss of COOKIE_MSS_TABLE) {
    for (let w = 0; w <= 15; w++) {
      const wscale = w === 15 ? COOKIE_WSCALE_NONE : w;
      for (const sack of [false, true]) {
        for (const ts of [false, true]) {
          combinations++;
          const info = cookie_info(mss, wscale, sack, ts);
          for (let k = 0; k < 8; k++) {
            const flow = random_flow(random);
            const now_s = Math.floor(random() * 2_000_000_000);
            // the ACK may come in the same slot or the next one
            const ack_s = now_s + Math.floor(random() * COOKIE_SLOT_SECONDS);
            const clock = random_u32(random);
            const got = check(flow, make(flow, now_s, info), echo(info, clock), ack_s);
            const what = `mss ${mss} wscale ${wscale} sack ${sack} ts ${ts}`;
            assert.equal(got, info, what);
            assert.equal(cookie_info_mss(got), mss, what);
            assert.equal(cookie_info_ts(got), ts, what);
            // without timestamps there is nowhere to carry them: none and false, by design
            assert.equal(cookie_info_wscale(got), ts ? wscale : COOKIE_WSCALE_NONE, what);
            assert.equal(cookie_info_sack(got), ts && sack, what);
          }
        }
      }
    }
  }
  assert.equal(combinations, 8 * 16 * 2 * 2);
});

Deno.test("cookie_tsval: the option bits in the low 6, never ahead of the clock, non-decreasing", () => {
  const random = mulberry32(0x7a1);
  const info = cookie_info(1460, 7, true, true);
  assert.equal(info & 0x3f, 7 | 0x10, "wscale 7 in bits 3..0, SACK in bit 4");
  assert.equal(cookie_info(1460, COOKIE_WSCALE_NONE, false, true) & 0x3f, 15, "none is 15");
  // Linux: (ts & ~0x3f) | options, one step of 64 back when that would be ahead of the clock
  assert.equal(cookie_tsval(1_070_000, info), 1_069_952 + 23); // 1_070_000 & 0x3f = 48 ≥ 23
  assert.equal(cookie_tsval(1_069_960, info), 1_069_888 + 23); // & 0x3f = 8 < 23: back 64
  assert.equal(cookie_tsval(5, info), 2 ** 32 - 64 + 23, "wraps modulo 2^32");
  assert.equal(cookie_tsval(2 ** 32 - 1, info), 2 ** 32 - 64 + 23);
  for (let i = 0; i < 100_000; i++) {
    const options_info = random_info(random) | 0x40;
    const clock = random_u32(random);
    const tsval = cookie_tsval(clock, options_info);
    assert.equal(tsval & 0x3f, options_info & 0x3f);
    const behind = (clock - tsval) >>> 0;
    assert.ok(behind < 64, `TSval ${tsval} is ${behind} behind clock ${clock}`);
    const later = (clock + Math.floor(random() * 200_000)) >>> 0;
    const step = (cookie_tsval(later, options_info) - tsval) >>> 0;
    assert.ok(step < 2 ** 31, "a later clock never gives an earlier TSval");
  }
});

Deno.test("cookie lifetime: this slot and the previous one are valid, older, future and expired are not", () => {
  const random = mulberry32(64);
  const base = 1_700_000_000 - (1_700_000_000 % COOKIE_SLOT_SECONDS); // start of a slot
  for (let i = 0; i < 200; i++) {
    const flow = random_flow(random);
    for (const info of [cookie_info(1460, 7, true, true), cookie_info(1460, 7, true, false)]) {
      const cookie = make(flow, base, info);
      const tsecr = echo(info, random_u32(random));
      assert.equal(check(flow, cookie, tsecr, base), info);
      assert.equal(check(flow, cookie, tsecr, base + 63), info, "same slot");
      assert.equal(check(flow, cookie, tsecr, base + 64), info, "previous slot");
      assert.equal(check(flow, cookie, tsecr, base + 127), info, "previous slot, last second");
      assert.equal(check(flow, cookie, tsecr, base + 128), -1, "two slots old: expired");
      assert.equal(check(flow, cookie, tsecr, base + 15 * 64), -1, "15 slots old");
      assert.equal(check(flow, cookie, tsecr, base - 1), -1, "from the future");
      // t wraps every 16 slots, but the MAC covers the whole slot counter
      assert.equal(check(flow, cookie, tsecr, base + 16 * 64), -1, "16 slots old, same t");
      assert.equal(check(flow, cookie, tsecr, base + 17 * 64), -1, "17 slots old, t one behind");
    }
  }
});

Deno.test("cookie slot wraps modulo 16", () => {
  const flow = random_flow(mulberry32(32));
  const info = cookie_info(1400, COOKIE_WSCALE_NONE, false, true);
  const tsecr = cookie_tsval(123_456, info);
  const last_slot_s = 15 * COOKIE_SLOT_SECONDS + 5; // slot 15
  const cookie = make(flow, last_slot_s, info);
  assert.equal(cookie >>> 28, 15);
  assert.equal(cookie_slot(16 * COOKIE_SLOT_SECONDS), 0);
  assert.equal(check(flow, cookie, tsecr, 16 * COOKIE_SLOT_SECONDS), info, "slot 0 accepts 15");
  assert.equal(check(flow, cookie, tsecr, 17 * COOKIE_SLOT_SECONDS), -1, "slot 1 rejects 15");
  // clocks beyond 2^32 slots keep the right slot
  assert.equal(cookie_slot(2 ** 32 * COOKIE_SLOT_SECONDS + 3 * COOKIE_SLOT_SECONDS), 3);
});

Deno.test("any single-bit change to cookie, TSecr's option bits, addresses, ports or client ISN is rejected", () => {
  const random = mulberry32(0xb17f11b);
  const samples = 2_000;
  let checks = 0;
  let accepted = 0;
  for (let i = 0; i < samples; i++) {
    const flow = random_flow(random);
    const now_s = 1_000_000 + Math.floor(random() * 10_000_000);
    const info = cookie_info(1460, Math.floor(random() * 15), random() < 0.5, true);
    const cookie = make(flow, now_s, info);
    const tsecr = echo(info, random_u32(random));
    const variants: Array<[Flow, number, number]> = [];
    for (let bit = 0; bit < 32; bit++) {
      variants.push([flow, (cookie ^ (1 << bit)) >>> 0, tsecr]);
      variants.push([{ ...flow, client_ip: (flow.client_ip ^ (1 << bit)) >>> 0 }, cookie, tsecr]);
      variants.push([{ ...flow, vip: (flow.vip ^ (1 << bit)) >>> 0 }, cookie, tsecr]);
      variants.push([
        { ...flow, client_isn: (flow.client_isn ^ (1 << bit)) >>> 0 },
        cookie,
        tsecr,
      ]);
    }
    for (let bit = 0; bit < 16; bit++) {
      variants.push([{ ...flow, client_port: flow.client_port ^ (1 << bit) }, cookie, tsecr]);
      variants.push([{ ...flow, vip_port: flow.vip_port ^ (1 << bit) }, cookie, tsecr]);
    }
    for (let bit = 0; bit < 6; bit++) variants.push([flow, cookie, (tsecr ^ (1 << bit)) >>> 0]);
    // a timestamp cookie is not a cookie without timestamps
    variants.push([flow, cookie, COOKIE_NO_TSECR]);
    for (const [changed_flow, changed_cookie, changed_tsecr] of variants) {
      checks++;
      if (check(changed_flow, changed_cookie, changed_tsecr, now_s) !== -1) accepted++;
    }
  }
  console.log(
    `single-bit changes: ${accepted} accepted of ${checks} (2^-25 would be ${
      (checks / 2 ** 25).toFixed(3)
    })`,
  );
  assert.equal(checks, samples * 167);
  assert.equal(accepted, 0);
});

Deno.test("a forged TSecr fails: every other option value, and timestamps added or taken away", () => {
  const random = mulberry32(0x75ec);
  const flows = 2_000;
  let checks = 0;
  let accepted = 0;
  let high_bits_kept = 0;
  for (let i = 0; i < flows; i++) {
    const flow = random_flow(random);
    const now_s = 1_000_000 + Math.floor(random() * 10_000_000);
    const info = cookie_info(1460, Math.floor(random() * 15), random() < 0.5, true);
    const cookie = make(flow, now_s, info);
    const tsecr = cookie_tsval(random_u32(random), info);
    for (let options = 0; options < 64; options++) {
      if (options === (tsecr & 0x3f)) continue;
      checks++;
      // e.g. a window scale of 14 or SACK where the client offered none
      if (check(flow, cookie, ((tsecr & ~0x3f) | options) >>> 0, now_s) !== -1) accepted++;
    }
    checks++;
    if (check(flow, cookie, COOKIE_NO_TSECR, now_s) !== -1) accepted++;
    // a cookie made without timestamps, ACKed with a timestamp option (any echo)
    const plain = cookie_info(1460, 7, true, false);
    const plain_cookie = make(flow, now_s, plain);
    checks++;
    if (check(flow, plain_cookie, random_u32(random), now_s) !== -1) accepted++;
    // TSecr's high bits are the client's echo of our clock: not part of the cookie
    if (check(flow, cookie, (tsecr ^ 0xffffffc0) >>> 0, now_s) === info) high_bits_kept++;
  }
  console.log(`forged TSecr: ${accepted} accepted of ${checks}`);
  assert.equal(checks, flows * 65);
  assert.equal(accepted, 0);
  assert.equal(high_bits_kept, flows);
});

Deno.test("a cookie made with another key is rejected", () => {
  const random = mulberry32(0x4e7);
  let accepted = 0;
  const tries = 20_000;
  for (let i = 0; i < tries; i++) {
    const flow = random_flow(random);
    const now_s = Math.floor(random() * 1e9);
    const info = random_info(random);
    const cookie = make(flow, now_s, info, OTHER_KEY);
    if (check(flow, cookie, echo(info, random_u32(random)), now_s) !== -1) accepted++;
  }
  console.log(`other key: ${accepted} accepted of ${tries}`);
  assert.equal(accepted, 0);
});

/**
 * 2^22 blind ACKs against one SYN's cookie. The attacker sent the SYN (so it
 * knows the 4-tuple and the client ISN), knows our clock (so it names a live
 * slot, the current or the previous one) and guesses the other 28 ISN bits
 * and, for a timestamp client, TSecr. cookie_check makes one MAC comparison
 * per ACK, so each is accepted with probability 2^-25: 2^22 of them accept
 * 0.125 on average, and more than 3 has probability under 10^-5. The old
 * 18-bit MAC would have let 16 through on average.
 */
function blind_acks(ts: boolean, seed: number): { accepted: number; tries: number } {
  const random = mulberry32(seed);
  const tries = 2 ** 22;
  const now_s = 5_000_000;
  const now_slot = cookie_slot(now_s);
  const flow = random_flow(random);
  const info = cookie_info(1460, 7, true, ts);
  const real = make(flow, now_s, info);
  let accepted = 0;
  for (let i = 0; i < tries; i++) {
    const slot = (now_slot - (i & 1)) & (COOKIE_SLOTS - 1);
    const forged = ((slot << 28) | (random_u32(random) & 0x0fffffff)) >>> 0;
    if (forged === real) continue; // not a forgery (2^-28 per try)
    const tsecr = ts ? random_u32(random) : COOKIE_NO_TSECR;
    if (check(flow, forged, tsecr, now_s) !== -1) accepted++;
  }
  return { accepted, tries };
}

Deno.test("forged cookies: 2^22 blind ACKs with a live slot against a timestamp client's SYN", () => {
  const { accepted, tries } = blind_acks(true, 0xf0f6ed);
  console.log(
    `blind ACKs, timestamps: ${accepted} of ${tries} accepted (bound 2^-25: ${tries / 2 ** 25})`,
  );
  assert.ok(accepted <= 3, `accepted ${accepted}`);
});

Deno.test("forged cookies: 2^22 blind ACKs with a live slot against a client without timestamps", () => {
  const { accepted, tries } = blind_acks(false, 0x0f0f6e);
  console.log(
    `blind ACKs, no timestamps: ${accepted} of ${tries} accepted (bound 2^-25: ${tries / 2 ** 25})`,
  );
  assert.ok(accepted <= 3, `accepted ${accepted}`);
});

Deno.test("forged cookies: fully random ACKs mostly name a dead slot", () => {
  const random = mulberry32(0xdead5);
  const tries = 1_000_000;
  const now_s = 5_000_000;
  const flow = random_flow(random);
  let accepted = 0;
  for (let i = 0; i < tries; i++) {
    flow.client_isn = random_u32(random);
    const tsecr = random() < 0.5 ? random_u32(random) : COOKIE_NO_TSECR;
    if (check(flow, random_u32(random), tsecr, now_s) !== -1) accepted++;
  }
  // 2 live slots of 16, then 2^-25: 2^-28 per ACK
  console.log(
    `fully random ACKs: ${accepted} of ${tries} (expect ${(tries / 2 ** 28).toFixed(4)})`,
  );
  assert.ok(accepted <= 1, `accepted ${accepted}`);
});

Deno.test("cookie_info rounds the MSS down to the table, never below 536", () => {
  const cases = [
    { mss: 0, expected: 536 },
    { mss: 200, expected: 536 },
    { mss: 536, expected: 536 },
    { mss: 1219, expected: 536 },
    { mss: 1220, expected: 1220 },
    { mss: 1299, expected: 1220 },
    { mss: 1380, expected: 1360 },
    { mss: 1440, expected: 1440 },
    { mss: 1451, expected: 1440 },
    { mss: 1452, expected: 1452 },
    { mss: 1459, expected: 1452 },
    { mss: 1460, expected: 1460 },
    { mss: 8960, expected: 1460 },
    { mss: 65535, expected: 1460 },
  ];
  for (const { mss, expected } of cases) {
    for (const ts of [false, true]) {
      assert.equal(cookie_info_mss(cookie_info(mss, 0, false, ts)), expected, `mss ${mss}`);
    }
  }
  for (const entry of COOKIE_MSS_TABLE) {
    assert.equal(cookie_info_mss(cookie_info(entry, 0, false, false)), entry);
  }
});

Deno.test("cookie_info keeps wscale and SACK with timestamps, drops them without", () => {
  for (let wscale = 0; wscale <= 14; wscale++) {
    for (const sack of [false, true]) {
      const info = cookie_info(1452, wscale, sack, true);
      assert.ok(info >= 0 && info < 1024);
      assert.equal(cookie_info_wscale(info), wscale);
      assert.equal(cookie_info_sack(info), sack);
      assert.equal(cookie_info_ts(info), true);
      assert.equal(cookie_info_mss(info), 1452);
      const plain = cookie_info(1452, wscale, sack, false);
      assert.equal(cookie_info_wscale(plain), COOKIE_WSCALE_NONE);
      assert.equal(cookie_info_sack(plain), false);
      assert.equal(cookie_info_ts(plain), false);
      assert.equal(cookie_info_mss(plain), 1452);
    }
  }
  assert.equal(cookie_info_wscale(cookie_info(1460, COOKIE_WSCALE_NONE, true, true)), 255);
  assert.equal(cookie_info_sack(cookie_info(1460, COOKIE_WSCALE_NONE, true, true)), true);
  // RFC 7323: a shift above 14 is used as 14
  assert.equal(cookie_info_wscale(cookie_info(1460, 15, false, true)), 14);
  assert.equal(cookie_info_wscale(cookie_info(1460, 200, false, true)), 14);
  // the distinct infos: 8 MSS × (16 wscale × 2 SACK with timestamps + 1 without)
  const seen = new Set<number>();
  for (const mss of COOKIE_MSS_TABLE) {
    for (let w = 0; w <= 15; w++) {
      for (const sack of [false, true]) {
        for (const ts of [false, true]) {
          seen.add(cookie_info(mss, w === 15 ? COOKIE_WSCALE_NONE : w, sack, ts));
        }
      }
    }
  }
  assert.equal(seen.size, 8 * (16 * 2 + 1));
});
