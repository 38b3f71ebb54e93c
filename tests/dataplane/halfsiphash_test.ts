// HalfSipHash-1-3 against an independent byte-wise implementation of the
// reference algorithm (hsiphash, Linux lib/siphash.c; cROUNDS 1, dROUNDS 3,
// 32-bit output), for 12-byte messages of three little-endian words.

import assert from "node:assert/strict";
import { halfsip_key, hsiphash_3u32 } from "../../dataplane/halfsiphash.ts";
import { mulberry32 } from "../support/random.ts";

function rotl(x: number, b: number): number {
  return ((x << b) | (x >>> (32 - b))) >>> 0;
}

/** The reference, written from the paper's description: bytes in, u32 out. */
function reference_hsiphash13(key: Uint8Array, message: Uint8Array): number {
  const u32 = (b: Uint8Array, at: number) =>
    (b[at] | (b[at + 1] << 8) | (b[at + 2] << 16) | (b[at + 3] << 24)) >>> 0;
  const k0 = u32(key, 0);
  const k1 = u32(key, 4);
  const v = [k0, k1, (0x6c796765 ^ k0) >>> 0, (0x74656462 ^ k1) >>> 0];
  const round = () => {
    v[0] = (v[0] + v[1]) >>> 0;
    v[1] = rotl(v[1], 5) ^ v[0];
    v[0] = rotl(v[0], 16);
    v[2] = (v[2] + v[3]) >>> 0;
    v[3] = rotl(v[3], 8) ^ v[2];
    v[0] = (v[0] + v[3]) >>> 0;
    v[3] = (rotl(v[3], 7) ^ v[0]) >>> 0;
    v[2] = (v[2] + v[1]) >>> 0;
    v[1] = (rotl(v[1], 13) ^ v[2]) >>> 0;
    v[2] = rotl(v[2], 16);
  };
  const whole = message.length & ~3;
  for (let i = 0; i < whole; i += 4) {
    const m = u32(message, i);
    v[3] = (v[3] ^ m) >>> 0;
    round();
    v[0] = (v[0] ^ m) >>> 0;
  }
  let last = (message.length & 0xff) << 24;
  for (let i = whole; i < message.length; i++) last |= message[i] << (8 * (i - whole));
  last >>>= 0;
  v[3] = (v[3] ^ last) >>> 0;
  round();
  v[0] = (v[0] ^ last) >>> 0;
  v[2] = (v[2] ^ 0xff) >>> 0;
  round();
  round();
  round();
  return (v[1] ^ v[3]) >>> 0;
}

Deno.test("hsiphash_3u32 equals the reference HalfSipHash-1-3 of the 12 bytes", () => {
  const random = mulberry32(0x5a1f);
  for (let n = 0; n < 2000; n++) {
    const raw = Uint8Array.from({ length: 8 }, () => random() * 256);
    const words = [0, 1, 2].map(() => (random() * 2 ** 32) >>> 0);
    const message = new Uint8Array(12);
    const view = new DataView(message.buffer);
    words.forEach((w, i) => view.setUint32(i * 4, w, true));
    const expected = reference_hsiphash13(raw, message);
    assert.equal(hsiphash_3u32(halfsip_key(raw), words[0], words[1], words[2]) >>> 0, expected);
  }
});

Deno.test("halfsip_key refuses a short key", () => {
  assert.throws(() => halfsip_key(new Uint8Array(7)), RangeError);
});
