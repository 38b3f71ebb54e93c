// The hand-off latency buckets: every latency lands in the first bucket
// whose bound it does not exceed (the last is +Inf), and the quantile read
// back from the per-bucket counts lies inside the bucket that holds it.

import assert from "node:assert/strict";
import {
  LATENCY_BOUNDS_MS,
  latency_bucket,
  LATENCY_BUCKET_NAMES,
  latency_quantile,
} from "../../../dataplane/wire/mod.ts";

Deno.test("latency: one bucket name per bound, and one for +Inf", () => {
  assert.equal(LATENCY_BUCKET_NAMES.length, LATENCY_BOUNDS_MS.length + 1);
  assert.equal(new Set(LATENCY_BUCKET_NAMES).size, LATENCY_BUCKET_NAMES.length);
});

Deno.test("latency: a bound belongs to its own bucket; past the last bound is +Inf", () => {
  assert.equal(latency_bucket(0), 0);
  assert.equal(latency_bucket(LATENCY_BOUNDS_MS[0]), 0);
  assert.equal(latency_bucket(LATENCY_BOUNDS_MS[0] + 0.001), 1);
  assert.equal(latency_bucket(1), LATENCY_BOUNDS_MS.indexOf(1));
  assert.equal(latency_bucket(1e9), LATENCY_BOUNDS_MS.length);
});

Deno.test("latency: quantiles fall inside the bucket that holds them", () => {
  const counts = new Array(LATENCY_BUCKET_NAMES.length).fill(0);
  assert.equal(latency_quantile(counts, 0.5), 0, "empty");
  const one_ms = LATENCY_BOUNDS_MS.indexOf(1);
  counts[one_ms] = 90; // (0.5, 1] ms
  counts[one_ms + 2] = 10; // (2.5, 5] ms
  const p50 = latency_quantile(counts, 0.5);
  assert.ok(p50 > 0.5 && p50 <= 1, `p50 ${p50}`);
  const p99 = latency_quantile(counts, 0.99);
  assert.ok(p99 > 2.5 && p99 <= 5, `p99 ${p99}`);
});
