// HalfSipHash (Aumasson and Bernstein's 32-bit SipHash, as Linux's hsiphash)
// on plain numbers, in the two variants baton uses: HalfSipHash-1-3 behind
// the flow table's slot choice (so no client can aim its ports at one probe
// chain) and HalfSipHash-2-4 behind the SYN cookies' MAC (the director's
// syn_cookie.ts absorbs its words through hsip_begin / hsip_absorb_2 /
// hsip_finish_24). Key words are little-endian u32s of 8 random bytes.
//
// Hot path: takes and returns plain numbers, allocates nothing, never
// throws. The state lives in module variables (one isolate runs one loop).

/** Two key words from 8 raw bytes (crypto.getRandomValues). */
export interface HalfSipKey {
  readonly k0: number;
  readonly k1: number;
}

let v0 = 0;
let v1 = 0;
let v2 = 0;
let v3 = 0;

function sip_round(): void {
  v0 = (v0 + v1) | 0;
  v1 = (v1 << 5) | (v1 >>> 27);
  v1 ^= v0;
  v0 = (v0 << 16) | (v0 >>> 16);
  v2 = (v2 + v3) | 0;
  v3 = (v3 << 8) | (v3 >>> 24);
  v3 ^= v2;
  v0 = (v0 + v3) | 0;
  v3 = (v3 << 7) | (v3 >>> 25);
  v3 ^= v0;
  v2 = (v2 + v1) | 0;
  v1 = (v1 << 13) | (v1 >>> 19);
  v1 ^= v2;
  v2 = (v2 << 16) | (v2 >>> 16);
}

/** Starts a hash under key (the state is module-level: one hash at a time per isolate). */
export function hsip_begin(key: HalfSipKey): void {
  v0 = key.k0 | 0;
  v1 = key.k1 | 0;
  v2 = 0x6c796765 ^ key.k0;
  v3 = 0x74656462 ^ key.k1;
}

/** HalfSipHash-2-4: one message word (little-endian u32), two compression rounds. */
export function hsip_absorb_2(word: number): void {
  v3 ^= word;
  sip_round();
  sip_round();
  v0 ^= word;
}

/**
 * HalfSipHash-2-4's end: last_block holds the 0..3 tail bytes (little-endian)
 * with the total length in its top byte; 4 finalisation rounds; the 32-bit tag.
 */
export function hsip_finish_24(last_block: number): number {
  hsip_absorb_2(last_block);
  v2 ^= 0xff;
  sip_round();
  sip_round();
  sip_round();
  sip_round();
  return (v1 ^ v3) >>> 0;
}

/**
 * HalfSipHash-1-3 (Linux's hsiphash on 32-bit) of three u32 words taken as
 * 12 little-endian bytes, 32-bit result (as int32). Three words positionally
 * (style exception): it runs for every packet's flow lookup. Its state is in
 * locals, not the module's variables, so it stays in registers: measured on
 * the agent's translate path, that is most of this hash's cost.
 */
export function hsiphash_3u32(key: HalfSipKey, a: number, b: number, c: number): number {
  let v0 = key.k0 | 0;
  let v1 = key.k1 | 0;
  let v2 = 0x6c796765 ^ key.k0;
  let v3 = 0x74656462 ^ key.k1;
  // 4 message words (a, b, c, the length block) with one round each, then 3 final rounds
  for (let i = 0; i < 7; i++) {
    const m = i === 0 ? a | 0 : i === 1 ? b | 0 : i === 2 ? c | 0 : 12 << 24;
    if (i < 4) v3 ^= m;
    else if (i === 4) v2 ^= 0xff;
    v0 = (v0 + v1) | 0;
    v1 = (v1 << 5) | (v1 >>> 27);
    v1 ^= v0;
    v0 = (v0 << 16) | (v0 >>> 16);
    v2 = (v2 + v3) | 0;
    v3 = (v3 << 8) | (v3 >>> 24);
    v3 ^= v2;
    v0 = (v0 + v3) | 0;
    v3 = (v3 << 7) | (v3 >>> 25);
    v3 ^= v0;
    v2 = (v2 + v1) | 0;
    v1 = (v1 << 13) | (v1 >>> 19);
    v1 ^= v2;
    v2 = (v2 << 16) | (v2 >>> 16);
    if (i < 4) v0 ^= m;
  }
  return v1 ^ v3;
}

/** A key from the first 8 bytes of raw (little-endian words). */
export function halfsip_key(raw: Uint8Array): HalfSipKey {
  if (raw.length < 8) throw new RangeError(`a HalfSipHash key needs 8 bytes, got ${raw.length}`);
  const word = (at: number) =>
    (raw[at] | (raw[at + 1] << 8) | (raw[at + 2] << 16) | (raw[at + 3] << 24)) | 0;
  return { k0: word(0), k1: word(4) };
}

/** A fresh random key (one per flow table, per process). */
export function random_halfsip_key(): HalfSipKey {
  return halfsip_key(crypto.getRandomValues(new Uint8Array(8)));
}
