import assert from "node:assert/strict";
import {
  seq_add,
  seq_between,
  seq_ge,
  seq_gt,
  seq_le,
  seq_lt,
  seq_sub,
} from "../../dataplane/mod.ts";
import { mulberry32 } from "../support/random.ts";

const MAX = 0xffffffff;
const HALF = 0x80000000;

Deno.test("seq_add wraps modulo 2^32 and takes negative deltas", () => {
  const cases = [
    { a: 0, b: 0, expected: 0 },
    { a: MAX, b: 1, expected: 0 },
    { a: MAX, b: MAX, expected: MAX - 1 },
    { a: 0, b: -1, expected: MAX },
    { a: 5, b: -10, expected: MAX - 4 },
    { a: HALF, b: HALF, expected: 0 },
    { a: 1000, b: 2 ** 32 + 7, expected: 1007 },
  ];
  for (const { a, b, expected } of cases) {
    assert.strictEqual(seq_add(a, b), expected, `${a} + ${b}`);
  }
});

Deno.test("seq_sub is the signed distance in (-2^31, 2^31]", () => {
  const cases = [
    { a: 10, b: 3, expected: 7 },
    { a: 3, b: 10, expected: -7 },
    { a: 2, b: MAX - 1, expected: 4, description: "a just past the wrap" },
    { a: MAX - 1, b: 2, expected: -4 },
    { a: HALF, b: 0, expected: HALF, description: "half the space reads as +2^31" },
    { a: 0, b: HALF, expected: HALF },
    { a: HALF - 1, b: 0, expected: HALF - 1 },
    { a: HALF + 1, b: 0, expected: -(HALF - 1) },
    { a: 7, b: 7, expected: 0 },
  ];
  for (const { a, b, expected, description } of cases) {
    assert.strictEqual(seq_sub(a, b), expected, description ?? `${a} - ${b}`);
  }
});

Deno.test("seq comparisons across the wrap (RFC 1982)", () => {
  const cases = [
    { a: 1, b: 2, lt: true, gt: false },
    { a: 2, b: 1, lt: false, gt: true },
    { a: MAX, b: 0, lt: true, gt: false, description: "0 follows 2^32-1" },
    { a: 0, b: MAX, lt: false, gt: true },
    { a: MAX - 100, b: 100, lt: true, gt: false },
    { a: 5, b: 5, lt: false, gt: false },
    { a: 0, b: HALF - 1, lt: true, gt: false },
    { a: 0, b: HALF + 1, lt: false, gt: true },
    { a: 0, b: HALF, lt: false, gt: false, description: "2^31 apart: undefined, neither" },
    { a: 123, b: 123 + HALF, lt: false, gt: false },
  ];
  for (const { a, b, lt, gt, description } of cases) {
    const label = description ?? `${a} vs ${b}`;
    assert.strictEqual(seq_lt(a, b), lt, `lt ${label}`);
    assert.strictEqual(seq_gt(a, b), gt, `gt ${label}`);
    const equal = (a >>> 0) === (b >>> 0);
    assert.strictEqual(seq_le(a, b), lt || equal, `le ${label}`);
    assert.strictEqual(seq_ge(a, b), gt || equal, `ge ${label}`);
  }
});

Deno.test("seq_between: inclusive window walking forward from low", () => {
  const cases = [
    { seq: 5, low: 1, high: 10, expected: true },
    { seq: 1, low: 1, high: 10, expected: true },
    { seq: 10, low: 1, high: 10, expected: true },
    { seq: 11, low: 1, high: 10, expected: false },
    { seq: 0, low: 1, high: 10, expected: false },
    { seq: 2, low: MAX - 5, high: 10, expected: true, description: "window across the wrap" },
    { seq: MAX, low: MAX - 5, high: 10, expected: true },
    { seq: 11, low: MAX - 5, high: 10, expected: false },
    { seq: MAX - 6, low: MAX - 5, high: 10, expected: false },
    { seq: 7, low: 7, high: 7, expected: true },
  ];
  for (const { seq, low, high, expected, description } of cases) {
    assert.strictEqual(
      seq_between(seq, low, high),
      expected,
      description ?? `${seq} in [${low}, ${high}]`,
    );
  }
});

Deno.test("seq properties over random values", () => {
  const random = mulberry32(1982);
  for (let n = 0; n < 20000; n++) {
    const a = Math.floor(random() * 2 ** 32);
    // distances in (-2^31, 2^31]
    const d = Math.floor(random() * 2 ** 32) - HALF + 1;
    const b = seq_add(a, d);
    assert.ok(b >= 0 && b <= MAX);
    assert.strictEqual(seq_sub(b, a), d);
    assert.strictEqual(seq_add(b, -d), a);
    if (d > 0 && d < HALF) {
      assert.ok(seq_lt(a, b) && seq_gt(b, a) && !seq_lt(b, a) && !seq_gt(a, b));
      assert.ok(seq_between(seq_add(a, Math.floor(d / 2)), a, b));
    } else if (d < 0) {
      assert.ok(seq_gt(a, b) && seq_lt(b, a));
    }
    // exactly one of lt, gt, equal, or "half apart"
    const states = [seq_lt(a, b), seq_gt(a, b), a === b].filter(Boolean).length;
    assert.strictEqual(states, d === HALF ? 0 : 1);
  }
});
