// The hand-off datagram's header (handoff.ts has the whole layout): where
// each field sits, and the two fields that bind a datagram to a time and a
// place. `agent` names the agent the datagram is for (director → agent) or
// from (agent → director); `sent_at` is the sender's wall clock in
// milliseconds, mod 2^32, so it wraps every 49.7 days and is only ever
// compared wrap-safely (as a signed 32-bit difference). Both are covered by
// the MAC. Nothing here allocates or throws.

export const MAGIC = 0xb7a0;
/**
 * 3: a HANDOFF may carry the TSval routing code (FLAG_TS_ROUTE), and a
 * director may ask the agents who holds a flow (FLOW_QUERY, FLOW_OWNER).
 * 2 put the agent id and the timestamp in the header (version 1 had neither).
 */
export const VERSION = 3;
export const HEADER_BYTES = 24;

export const H_MAGIC = 0;
export const H_VERSION = 2;
export const H_TYPE = 3;
export const H_EPOCH = 4;
export const H_ID = 8;
export const H_BODY_LENGTH = 12;
export const H_REASON = 14;
export const H_RESERVED = 15;
export const H_AGENT = 16;
export const H_SENT_AT = 20;

/** How far a datagram's timestamp may be from the receiver's clock, either way, by default. */
export const DEFAULT_FRESHNESS_MS = 10_000;
/** A bound past 2^31 ms could not be told from a wrapped clock. */
export const MAX_FRESHNESS_MS = 2 ** 31 - 1;

/**
 * The agent id a datagram names when the sender gives none: what a
 * config's first agent gets by default (ids default to 1, 2, ... in order),
 * so a one-agent config and a tool that names no agent agree.
 */
export const DEFAULT_AGENT_ID = 1;

/** A wall-clock time (ms since 1970, e.g. Date.now()) as it travels: mod 2^32. */
export function wire_clock(now_ms: number): number {
  return Math.floor(now_ms) >>> 0;
}

/**
 * How long ago (ms) a datagram stamped `sent_at` was sent, by the
 * receiver's clock: negative when it claims to come from the future. A
 * signed 32-bit difference, so it is right across the 2^32 wrap.
 */
export function datagram_age_ms(sent_at: number, now_ms: number): number {
  return (wire_clock(now_ms) - sent_at) | 0;
}

/** True when sent_at is within freshness_ms of now, in either direction. */
export function is_fresh(sent_at: number, now_ms: number, freshness_ms: number): boolean {
  const age = datagram_age_ms(sent_at, now_ms);
  return age <= freshness_ms && age >= -freshness_ms;
}

/** An agent id is a non-zero u32 (0 would name no agent). */
export function is_agent_id(value: unknown): value is number {
  return typeof value === "number" && Number.isInteger(value) && value > 0 && value < 2 ** 32;
}

// decode must not throw, so a nonsense bound from a caller bug is clamped, not rejected
export function freshness_bound(freshness_ms: number | undefined): number {
  if (typeof freshness_ms !== "number" || Number.isNaN(freshness_ms)) return DEFAULT_FRESHNESS_MS;
  return Math.min(Math.max(Math.floor(freshness_ms), 0), MAX_FRESHNESS_MS);
}
