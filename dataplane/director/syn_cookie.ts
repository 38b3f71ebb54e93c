// Stateless SYN cookies: the director answers a SYN with an ISN that encodes
// everything it must remember, so a SYN flood costs no flow-table entries.
//
// Cookie layout in the 32-bit ISN (most significant bit first):
//
//   31..27  time slot t = floor(now_s / 64) mod 32
//   26..18  option info (9 bits, see cookie_info)
//   17..0   MAC = HalfSipHash-2-4(key, [client_ip, vip, client_port << 16 | vip_port,
//                                      client_isn, T, info]) & 0x3FFFF
//
// where T = floor(now_s / 64) mod 2^32 is the whole slot counter, of which t is the
// low 5 bits. The check rebuilds T from its own clock and the cookie's t. Hashing
// T rather than t means a captured cookie does not come back to life every
// 32 slots (34 minutes) when t wraps round to the same value.
//
// The slot goes in the top bits so the cookie ISN still moves forward in time
// like an ordinary ISN. A cookie is accepted in its own slot and the next one,
// i.e. for 64 to 128 seconds.
//
// Hot path: every function here takes and returns plain numbers, allocates
// nothing and never throws. HalfSipHash keeps its state in module-level
// numbers because a JS function cannot return four words without an object.
//
// HalfSipHash is the 32-bit-word SipHash variant from the SipHash reference
// implementation (github.com/veorq/SipHash, halfsiphash.c); it is verified
// against that implementation's vectors_hsip32 in the tests.

export const COOKIE_SLOT_SECONDS = 64;
export const COOKIE_SLOTS = 32;
export const COOKIE_MAC_BITS = 18;
export const COOKIE_MAC_MASK = 0x3ffff;
export const COOKIE_INFO_BITS = 9;
export const COOKIE_INFO_MASK = 0x1ff;

/** MSS values a cookie can carry; the common Ethernet/IPv6/PPPoE/VPN sizes plus the minimum. */
export const COOKIE_MSS_TABLE: readonly number[] = [536, 1220, 1300, 1360, 1400, 1440, 1452, 1460];

/** Window-scale field value meaning "the client sent no window-scale option". */
export const COOKIE_WSCALE_NONE = 255;

// Info bit layout: mss index (3) | wscale (4) | sack (1) | timestamps (1).
const INFO_MSS_SHIFT = 6;
const INFO_WSCALE_SHIFT = 2;
const INFO_SACK_BIT = 2;
const INFO_TS_BIT = 1;
const INFO_WSCALE_NONE = 15;
// RFC 7323 section 2.3: a shift above 14 is treated as 14.
const WSCALE_MAX = 14;

/** A HalfSipHash key: two little-endian words of the 8 raw key bytes. Made once, reused. */
export interface CookieKey {
  readonly k0: number;
  readonly k1: number;
}

/** Builds a key from the first 8 bytes of raw (fill raw from crypto.getRandomValues). */
export function create_cookie_key(raw: Uint8Array): CookieKey {
  if (raw.length < 8) {
    throw new RangeError(`a cookie key needs at least 8 bytes, got ${raw.length}`);
  }
  return { k0: read_u32_le(raw, 0), k1: read_u32_le(raw, 4) };
}

function read_u32_le(bytes: Uint8Array, at: number): number {
  return (bytes[at] | (bytes[at + 1] << 8) | (bytes[at + 2] << 16) | (bytes[at + 3] << 24)) | 0;
}

// ---- HalfSipHash-2-4, 32-bit output ----

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

function sip_begin(key: CookieKey): void {
  v0 = key.k0 | 0;
  v1 = key.k1 | 0;
  v2 = 0x6c796765 ^ key.k0;
  v3 = 0x74656462 ^ key.k1;
}

function sip_absorb(word: number): void {
  v3 ^= word;
  sip_round();
  sip_round();
  v0 ^= word;
}

/** last_block holds the 0..3 tail bytes (little-endian) with the total length in its top byte. */
function sip_finish(last_block: number): number {
  sip_absorb(last_block);
  v2 ^= 0xff;
  sip_round();
  sip_round();
  sip_round();
  sip_round();
  return (v1 ^ v3) >>> 0;
}

/**
 * HalfSipHash-2-4 with 32-bit output over bytes[start, start + length), as the
 * reference halfsiphash() with outlen 4 (its 4 output bytes read little-endian).
 * Not the cookie hot path (that hashes words directly); here for the test
 * vectors and any caller that needs a keyed hash of bytes.
 */
export function halfsiphash32(
  key: CookieKey,
  bytes: Uint8Array,
  options: { start?: number; length?: number } = {},
): number {
  const start = options.start ?? 0;
  const length = options.length ?? bytes.length - start;
  const whole_end = start + (length & ~3);
  sip_begin(key);
  for (let i = start; i < whole_end; i += 4) sip_absorb(read_u32_le(bytes, i));
  let last_block = (length & 0xff) << 24;
  const tail = length & 3;
  if (tail >= 3) last_block |= bytes[whole_end + 2] << 16;
  if (tail >= 2) last_block |= bytes[whole_end + 1] << 8;
  if (tail >= 1) last_block |= bytes[whole_end];
  return sip_finish(last_block);
}

// Six u32 words are 24 bytes; the length byte of the final block says so.
const MAC_MESSAGE_LAST_BLOCK = 24 << 24;

// Takes the flow's numbers positionally (style exception): it runs for every SYN
// and every cookie ACK under a flood, where an options object per call is garbage.
function cookie_mac(
  key: CookieKey,
  client_ip: number,
  vip: number,
  ports: number,
  client_isn: number,
  counter: number,
  info: number,
): number {
  sip_begin(key);
  sip_absorb(client_ip | 0);
  sip_absorb(vip | 0);
  sip_absorb(ports | 0);
  sip_absorb(client_isn | 0);
  sip_absorb(counter | 0);
  sip_absorb(info);
  return sip_finish(MAC_MESSAGE_LAST_BLOCK) & COOKIE_MAC_MASK;
}

/** The 5-bit time slot of now_s (seconds; any epoch, as long as make and check share it). */
export function cookie_slot(now_s: number): number {
  return slot_counter(now_s) & (COOKIE_SLOTS - 1);
}

// >>> 0 wraps modulo 2^32, a multiple of 32, so the low 5 bits stay right for any clock value.
function slot_counter(now_s: number): number {
  return Math.floor(now_s / COOKIE_SLOT_SECONDS) >>> 0;
}

/**
 * The ISN to put in the SYN/ACK for this SYN. All addresses and numbers are
 * host-order integers as read from the packet; info comes from cookie_info.
 * Positional numbers (style exception): hot path under SYN floods, see cookie_mac.
 */
export function cookie_make(
  key: CookieKey,
  client_ip: number,
  vip: number,
  client_port: number,
  vip_port: number,
  client_isn: number,
  now_s: number,
  info: number,
): number {
  const counter = slot_counter(now_s);
  const info9 = info & COOKIE_INFO_MASK;
  const ports = ((client_port & 0xffff) << 16) | (vip_port & 0xffff);
  const mac = cookie_mac(key, client_ip, vip, ports, client_isn, counter, info9);
  return ((counter << 27) | (info9 << COOKIE_MAC_BITS) | mac) >>> 0;
}

/**
 * Validates the ACK that completes a cookie handshake. The caller derives both
 * numbers from that ACK: client_isn = ACK.seq − 1 and cookie = ACK.ack − 1
 * (modulo 2^32). Returns the 9-bit info when the MAC matches and the cookie was
 * made in the current or the previous slot, else −1.
 * Positional numbers (style exception): hot path under ACK floods, see cookie_mac.
 */
export function cookie_check(
  key: CookieKey,
  client_ip: number,
  vip: number,
  client_port: number,
  vip_port: number,
  client_isn: number,
  cookie: number,
  now_s: number,
): number {
  const now_counter = slot_counter(now_s);
  const age = (now_counter - (cookie >>> 27)) & (COOKIE_SLOTS - 1);
  if (age > 1) return -1;
  const counter = (now_counter - age) >>> 0;
  const info = (cookie >>> COOKIE_MAC_BITS) & COOKIE_INFO_MASK;
  const ports = ((client_port & 0xffff) << 16) | (vip_port & 0xffff);
  const mac = cookie_mac(key, client_ip, vip, ports, client_isn, counter, info);
  return mac === (cookie & COOKIE_MAC_MASK) ? info : -1;
}

/**
 * Packs the client's SYN options into 9 bits. mss is the client's MSS (pass 536,
 * the RFC 9293 default, when it sent none); it is rounded down to a table entry,
 * never below 536. wscale is the client's shift, COOKIE_WSCALE_NONE when absent.
 */
export function cookie_info(mss: number, wscale: number, sack: boolean, ts: boolean): number {
  let mss_index = 0;
  for (let i = COOKIE_MSS_TABLE.length - 1; i > 0; i--) {
    if (COOKIE_MSS_TABLE[i] <= mss) {
      mss_index = i;
      break;
    }
  }
  const wscale4 = wscale === COOKIE_WSCALE_NONE || !(wscale >= 0)
    ? INFO_WSCALE_NONE
    : Math.min(wscale | 0, WSCALE_MAX);
  return (mss_index << INFO_MSS_SHIFT) | (wscale4 << INFO_WSCALE_SHIFT) |
    (sack ? INFO_SACK_BIT : 0) | (ts ? INFO_TS_BIT : 0);
}

export function cookie_info_mss(info: number): number {
  return COOKIE_MSS_TABLE[(info >>> INFO_MSS_SHIFT) & 7];
}

/** The client's window-scale shift, or COOKIE_WSCALE_NONE (255) when it sent none. */
export function cookie_info_wscale(info: number): number {
  const wscale4 = (info >>> INFO_WSCALE_SHIFT) & 15;
  return wscale4 === INFO_WSCALE_NONE ? COOKIE_WSCALE_NONE : wscale4;
}

export function cookie_info_sack(info: number): boolean {
  return (info & INFO_SACK_BIT) !== 0;
}

export function cookie_info_ts(info: number): boolean {
  return (info & INFO_TS_BIT) !== 0;
}
