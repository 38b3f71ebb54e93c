import assert from "node:assert/strict";
import {
  cookie_check,
  cookie_info,
  cookie_info_mss,
  cookie_info_sack,
  cookie_info_ts,
  cookie_info_wscale,
  COOKIE_MAC_MASK,
  cookie_make,
  COOKIE_MSS_TABLE,
  cookie_slot,
  COOKIE_SLOT_SECONDS,
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

function check(flow: Flow, cookie: number, now_s: number, key = KEY): number {
  return cookie_check(
    key,
    flow.client_ip,
    flow.vip,
    flow.client_port,
    flow.vip_port,
    flow.client_isn,
    cookie,
    now_s,
  );
}

Deno.test("cookie round trip: random flows, ISNs and infos come back intact", () => {
  const random = mulberry32(0x5c00c1e);
  for (let i = 0; i < 20_000; i++) {
    const flow = random_flow(random);
    const info = Math.floor(random() * 512);
    const now_s = Math.floor(random() * 2_000_000_000);
    const cookie = make(flow, now_s, info);
    assert.ok(cookie >= 0 && cookie <= 0xffffffff && Number.isInteger(cookie));
    assert.equal(cookie >>> 27, cookie_slot(now_s), "slot in the top 5 bits");
    assert.equal((cookie >>> 18) & 0x1ff, info, "info in the next 9 bits");
    assert.equal(check(flow, cookie, now_s), info);
  }
});

Deno.test("cookie lifetime: this slot and the previous one are valid, older and future are not", () => {
  const random = mulberry32(64);
  const base = 1_700_000_000 - (1_700_000_000 % COOKIE_SLOT_SECONDS); // start of a slot
  for (let i = 0; i < 200; i++) {
    const flow = random_flow(random);
    const info = cookie_info(1460, 7, true, true);
    const cookie = make(flow, base, info);
    assert.equal(check(flow, cookie, base), info);
    assert.equal(check(flow, cookie, base + 63), info, "same slot");
    assert.equal(check(flow, cookie, base + 64), info, "previous slot");
    assert.equal(check(flow, cookie, base + 127), info, "previous slot, last second");
    assert.equal(check(flow, cookie, base + 128), -1, "two slots old");
    assert.equal(check(flow, cookie, base + 31 * 64), -1, "31 slots old");
    assert.equal(check(flow, cookie, base - 1), -1, "from the future");
    // t wraps every 32 slots, but the MAC covers the whole slot counter
    assert.equal(check(flow, cookie, base + 32 * 64), -1, "32 slots old, same t");
    assert.equal(check(flow, cookie, base + 33 * 64), -1, "33 slots old, t one behind");
  }
});

Deno.test("cookie slot wraps modulo 32", () => {
  const flow = random_flow(mulberry32(32));
  const info = cookie_info(1400, COOKIE_WSCALE_NONE, false, true);
  const last_slot_s = 31 * COOKIE_SLOT_SECONDS + 5; // slot 31
  const cookie = make(flow, last_slot_s, info);
  assert.equal(cookie >>> 27, 31);
  assert.equal(cookie_slot(32 * COOKIE_SLOT_SECONDS), 0);
  assert.equal(check(flow, cookie, 32 * COOKIE_SLOT_SECONDS), info, "slot 0 accepts slot 31");
  assert.equal(check(flow, cookie, 33 * COOKIE_SLOT_SECONDS), -1, "slot 1 rejects slot 31");
  // clocks beyond 2^32 slots keep the right slot
  assert.equal(cookie_slot(2 ** 32 * COOKIE_SLOT_SECONDS + 3 * COOKIE_SLOT_SECONDS), 3);
});

Deno.test("any single-bit change to cookie, addresses, ports or client ISN is rejected", () => {
  const random = mulberry32(0xb17f11b);
  const samples = 2_000;
  let checks = 0;
  let accepted = 0;
  for (let i = 0; i < samples; i++) {
    const flow = random_flow(random);
    const now_s = 1_000_000 + Math.floor(random() * 10_000_000);
    const info = Math.floor(random() * 512);
    const cookie = make(flow, now_s, info);
    const variants: Array<[Flow, number]> = [];
    for (let bit = 0; bit < 32; bit++) {
      variants.push([flow, (cookie ^ (1 << bit)) >>> 0]);
      variants.push([{ ...flow, client_ip: (flow.client_ip ^ (1 << bit)) >>> 0 }, cookie]);
      variants.push([{ ...flow, vip: (flow.vip ^ (1 << bit)) >>> 0 }, cookie]);
      variants.push([{ ...flow, client_isn: (flow.client_isn ^ (1 << bit)) >>> 0 }, cookie]);
    }
    for (let bit = 0; bit < 16; bit++) {
      variants.push([{ ...flow, client_port: flow.client_port ^ (1 << bit) }, cookie]);
      variants.push([{ ...flow, vip_port: flow.vip_port ^ (1 << bit) }, cookie]);
    }
    for (const [changed_flow, changed_cookie] of variants) {
      checks++;
      if (check(changed_flow, changed_cookie, now_s) !== -1) accepted++;
    }
  }
  console.log(
    `single-bit changes: ${accepted} accepted of ${checks} (2^-18 would be ${
      (checks / 2 ** 18).toFixed(2)
    })`,
  );
  assert.equal(checks, samples * 160);
  assert.ok(accepted <= 8, `accepted ${accepted}`);
  assert.ok(1 - accepted / checks >= 0.999);
});

Deno.test("a cookie made with another key is rejected", () => {
  const random = mulberry32(0x4e7);
  let accepted = 0;
  const tries = 20_000;
  for (let i = 0; i < tries; i++) {
    const flow = random_flow(random);
    const now_s = Math.floor(random() * 1e9);
    const cookie = make(flow, now_s, Math.floor(random() * 512), OTHER_KEY);
    if (check(flow, cookie, now_s) !== -1) accepted++;
  }
  console.log(`other key: ${accepted} accepted of ${tries}`);
  assert.ok(accepted <= 3, `accepted ${accepted}`);
});

Deno.test("forged cookies pass at the 2^-18 rate", () => {
  const random = mulberry32(0xf0f6ed);
  const tries = 1_000_000;
  const now_s = 5_000_000;
  const now_slot = cookie_slot(now_s);
  let accepted_in_slot = 0;
  let accepted_any = 0;
  const flow = random_flow(random);
  for (let i = 0; i < tries; i++) {
    flow.client_isn = random_u32(random);
    // An attacker who knows the clock picks a live slot; the other 27 bits are a guess.
    const slot = (now_slot - (random() < 0.5 ? 0 : 1)) & 31;
    const forged = ((slot << 27) | (random_u32(random) & 0x7ffffff)) >>> 0;
    if (check(flow, forged, now_s) !== -1) accepted_in_slot++;
    // A blind attacker: all 32 bits random, so 30 of 32 slots are dead on arrival.
    if (check(flow, random_u32(random), now_s) !== -1) accepted_any++;
  }
  console.log(
    `forged: ${accepted_in_slot} of ${tries} with a live slot (expect ${
      (tries / 2 ** 18).toFixed(1)
    }), ${accepted_any} fully random (expect ${(tries * 2 / 32 / 2 ** 18).toFixed(2)})`,
  );
  assert.ok(accepted_in_slot < 40, `accepted ${accepted_in_slot}`);
  assert.ok(accepted_any < 10, `accepted ${accepted_any}`);
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
    assert.equal(cookie_info_mss(cookie_info(mss, 0, false, false)), expected, `mss ${mss}`);
  }
  for (const entry of COOKIE_MSS_TABLE) {
    assert.equal(cookie_info_mss(cookie_info(entry, 0, false, false)), entry);
  }
});

Deno.test("cookie_info packs wscale, SACK and timestamps into 9 bits", () => {
  for (let wscale = 0; wscale <= 14; wscale++) {
    for (const sack of [false, true]) {
      for (const ts of [false, true]) {
        const info = cookie_info(1452, wscale, sack, ts);
        assert.ok(info >= 0 && info < 512);
        assert.equal(cookie_info_wscale(info), wscale);
        assert.equal(cookie_info_sack(info), sack);
        assert.equal(cookie_info_ts(info), ts);
        assert.equal(cookie_info_mss(info), 1452);
      }
    }
  }
  assert.equal(cookie_info_wscale(cookie_info(1460, COOKIE_WSCALE_NONE, true, false)), 255);
  // RFC 7323: a shift above 14 is used as 14
  assert.equal(cookie_info_wscale(cookie_info(1460, 15, false, false)), 14);
  assert.equal(cookie_info_wscale(cookie_info(1460, 200, false, false)), 14);
  // every 9-bit value decodes without surprises
  const seen = new Set<string>();
  for (let info = 0; info < 512; info++) {
    seen.add(
      [
        cookie_info_mss(info),
        cookie_info_wscale(info),
        cookie_info_sack(info),
        cookie_info_ts(info),
      ].join(),
    );
  }
  assert.equal(seen.size, 512, "the 9 bits are a bijection onto the decoded fields");
  assert.equal(COOKIE_MAC_MASK, 2 ** 18 - 1);
});
