// The hand-off latency histogram, defined once: the director's dataplane
// counts each hand-off (its first HANDOFF sent → its ACK) into one of these
// buckets among its counters, and the control side turns them into the
// Prometheus histogram and the percentiles the demo prints.

/** Bucket upper bounds (ms): from an in-band hand-off in the same poll loop to a retransmitted one. */
export const LATENCY_BOUNDS_MS = [
  0.05,
  0.1,
  0.25,
  0.5,
  1,
  2.5,
  5,
  10,
  25,
  50,
  100,
  250,
  500,
  1000,
  2500,
] as const;

/** Counter names of the buckets (per bucket, not cumulative), the last one +Inf. */
export const LATENCY_BUCKET_NAMES = [
  "latency_bucket_0",
  "latency_bucket_1",
  "latency_bucket_2",
  "latency_bucket_3",
  "latency_bucket_4",
  "latency_bucket_5",
  "latency_bucket_6",
  "latency_bucket_7",
  "latency_bucket_8",
  "latency_bucket_9",
  "latency_bucket_10",
  "latency_bucket_11",
  "latency_bucket_12",
  "latency_bucket_13",
  "latency_bucket_14",
  "latency_bucket_inf",
] as const;

/** The bucket a latency falls in (the first bound it does not exceed; the last is +Inf). */
export function latency_bucket(ms: number): number {
  let bucket = 0;
  while (bucket < LATENCY_BOUNDS_MS.length && ms > LATENCY_BOUNDS_MS[bucket]) bucket++;
  return bucket;
}

/**
 * The q-quantile (0..1) of a histogram given per-bucket counts (as above),
 * interpolated linearly inside its bucket; 0 when it is empty.
 */
export function latency_quantile(counts: ArrayLike<number>, q: number): number {
  let total = 0;
  for (let k = 0; k < counts.length; k++) total += counts[k];
  if (total === 0) return 0;
  const rank = q * total;
  let seen = 0;
  for (let k = 0; k < counts.length; k++) {
    if (seen + counts[k] >= rank && counts[k] > 0) {
      const low = k === 0 ? 0 : LATENCY_BOUNDS_MS[k - 1];
      const high = k < LATENCY_BOUNDS_MS.length ? LATENCY_BOUNDS_MS[k] : low * 2;
      return low + (high - low) * ((rank - seen) / counts[k]);
    }
    seen += counts[k];
  }
  return LATENCY_BOUNDS_MS[LATENCY_BOUNDS_MS.length - 1];
}
