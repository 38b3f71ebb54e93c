// A hand-off key: the HMAC-SHA256 key that signs and verifies the hand-off
// datagrams (handoff.ts) to and from one agent (the director holds one per
// agent, an agent only its own; several may share one configured key),
// read from a key file's hex text. A key is never shorter than
// MIN_KEY_BYTES, whether it comes from a file or from bytes;
// import_handoff_key copies the bytes, so the caller's buffer can be reused.

import { createHmac } from "node:crypto";

/** Shorter HMAC keys are guessable; RFC 2104 advises at least the hash output, 16 is the floor. */
export const MIN_KEY_BYTES = 16;

/** An HMAC-SHA256 key for signing and verifying hand-off datagrams. */
export interface HandoffKey {
  readonly raw: Uint8Array;
}

/**
 * The key for encode/decode. HMAC is computed with node:crypto, which is
 * synchronous: Web Crypto's promise per datagram put every hand-off through
 * the event loop twice more, and hand-off latency is what bounds new
 * connections per second.
 */
export async function import_handoff_key(raw: Uint8Array): Promise<HandoffKey> {
  if (raw.length < MIN_KEY_BYTES) {
    throw new RangeError(
      `hand-off key is ${raw.length} bytes; it must be at least ${MIN_KEY_BYTES} bytes`,
    );
  }
  return await Promise.resolve({ raw: raw.slice() });
}

/** HMAC-SHA256 of bytes under the key (32 bytes). */
export function handoff_mac(key: HandoffKey, bytes: Uint8Array): Uint8Array {
  return new Uint8Array(createHmac("sha256", key.raw).update(bytes).digest());
}

/**
 * The key bytes from a key file's text: hex, at least 32 hex digits (16 bytes),
 * surrounding whitespace ignored, so `openssl rand -hex 32 > key` works.
 */
export function parse_key_text(text: string): Uint8Array {
  const hex = text.trim();
  if (!/^[0-9a-fA-F]*$/.test(hex)) {
    throw new Error("hand-off key text must be hex digits only (e.g. from `openssl rand -hex 32`)");
  }
  if (hex.length % 2 !== 0) {
    throw new Error(`hand-off key text has an odd number of hex digits (${hex.length})`);
  }
  if (hex.length < MIN_KEY_BYTES * 2) {
    throw new Error(
      `hand-off key text has ${hex.length} hex digits; it needs at least ${MIN_KEY_BYTES * 2}`,
    );
  }
  const raw = new Uint8Array(hex.length / 2);
  for (let i = 0; i < raw.length; i++) raw[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return raw;
}
