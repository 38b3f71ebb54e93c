// Stateless SYN cookies: the director answers a SYN with an ISN (and, when the
// client offers timestamps, a TSval) that encode everything it must remember,
// so a SYN flood costs no flow-table entries.
//
// What is carried where:
//
//   ISN, 32 bits (most significant bit first)
//     31..28  time slot t = T mod 16, where T = floor(now_s / 64) mod 2^32 (the slot counter)
//     27..25  MSS index into COOKIE_MSS_TABLE
//     24..0   MAC = HalfSipHash-2-4(key, [client_ip, vip, client_port << 16 | vip_port,
//                                         client_isn, T, info]) & 0x1FFFFFF  (25 bits)
//
//   TSval of the SYN/ACK, only when the client offered timestamps (it comes
//   back as TSecr on the client's ACK, RFC 7323 section 3.2)
//     31..6   the director's millisecond clock (plus its offset) with the low 6 bits cleared
//     5       reserved, 0 (Linux's ECN bit; the director does not negotiate ECN)
//     4       the client offered SACK-permitted
//     3..0    the client's window-scale shift, 15 = none (a shift above 14 is used as 14)
//
//   info, the MAC's last word (10 bits; cookie_info builds it, cookie_check rebuilds it)
//     9..7    MSS index, from the ISN
//     6       timestamps: set iff the ACK carries a timestamp option
//     5..0    with timestamps, TSecr's low 6 bits as they came; without, 0x0F
//
// A client that offers no timestamps has nowhere stateless to keep its
// window scale and SACK-permitted next to a 25-bit MAC, so the director
// announces only MSS to it (no window scale, no SACK: the policy in mod.ts;
// Linux's SYN cookies lose them the same way) and info's low bits are the
// fixed "none". An ACK is read as a timestamp cookie iff it carries a
// timestamp option, and that bit is under the MAC too, so a cookie never
// validates as the other kind.
//
// Forgery bound. cookie_check accepts a cookie made in the current slot or
// the previous one (64 to 128 seconds of life), but it never tries several:
// the slot is named by the ISN's top bits, the MSS index by the next ones,
// the option bits by TSecr, and the full counter T (not only t) goes under
// the MAC. So each ACK costs exactly one MAC comparison, and a blind ACK,
// whatever ISN, TSecr, sequence number and slot it picks, is accepted with
// probability at most 2^-25 (HalfSipHash as a PRF under a key the attacker
// does not know; the cookies of its own connections tell it nothing about
// another's MAC). Counting the two live slots as if both were tried would still give
// 2 × 2^-25 = 2^-24; an ACK with all 32 ISN bits random must also hit one of
// the 2 live slots of 16: 2^-28. k blind ACKs are accepted with probability
// at most k × 2^-25. (Before: an 18-bit MAC, 2^-18 per ACK.) Forged option
// bits in TSecr change info, hence the MAC: they fail like any other guess.
//
// Hashing T rather than t means a captured cookie does not come back to life
// every 16 slots (17 minutes) when t wraps round to the same value. The slot
// goes in the top bits so the cookie ISN still moves forward in time like an
// ordinary ISN.
//
// Hot path: every function here but create_cookie_key and halfsiphash32 takes
// and returns plain numbers, allocates nothing and never throws. HalfSipHash
// keeps its state in module-level numbers because a JS function cannot return
// four words without an object.
//
// HalfSipHash is the 32-bit-word SipHash variant from the SipHash reference
// implementation (github.com/veorq/SipHash, halfsiphash.c); it is verified
// against that implementation's vectors_hsip32 in the tests.

import { hsip_absorb_2, hsip_begin, hsip_finish_24 } from "../halfsiphash.ts";

export const COOKIE_SLOT_SECONDS = 64;
/** Values of the ISN's slot field (t = T mod COOKIE_SLOTS); the current and previous one pass. */
export const COOKIE_SLOTS = 16;
export const COOKIE_MAC_BITS = 25;
export const COOKIE_MAC_MASK = 0x1ffffff;
/** The low TSval bits that carry the options (Linux's TSBITS). */
export const COOKIE_TSVAL_BITS = 6;
export const COOKIE_TSVAL_MASK = 0x3f;
/** cookie_check's tsecr for an ACK without a timestamp option (a present TSecr is unsigned). */
export const COOKIE_NO_TSECR = -1;

/** MSS values a cookie can carry; the common Ethernet/IPv6/PPPoE/VPN sizes plus the minimum. */
export const COOKIE_MSS_TABLE: readonly number[] = [536, 1220, 1300, 1360, 1400, 1440, 1452, 1460];

/** Window-scale field value meaning "the client sent no window-scale option". */
export const COOKIE_WSCALE_NONE = 255;

const SLOT_SHIFT = 28;
const MSS_SHIFT = 25;
// info: mss index (3) | timestamps (1) | TSval option bits (6)
const INFO_MSS_SHIFT = 7;
const INFO_TS_BIT = 0x40;
const INFO_SACK_BIT = 0x10;
const INFO_WSCALE_MASK = 0x0f;
const INFO_WSCALE_NONE = 15;
/** A client without timestamps: no window scale, no SACK (see the header). */
const INFO_NO_TS_OPTIONS = INFO_WSCALE_NONE;
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
  hsip_begin(key);
  for (let i = start; i < whole_end; i += 4) hsip_absorb_2(read_u32_le(bytes, i));
  let last_block = (length & 0xff) << 24;
  const tail = length & 3;
  if (tail >= 3) last_block |= bytes[whole_end + 2] << 16;
  if (tail >= 2) last_block |= bytes[whole_end + 1] << 8;
  if (tail >= 1) last_block |= bytes[whole_end];
  return hsip_finish_24(last_block);
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
  hsip_begin(key);
  hsip_absorb_2(client_ip | 0);
  hsip_absorb_2(vip | 0);
  hsip_absorb_2(ports | 0);
  hsip_absorb_2(client_isn | 0);
  hsip_absorb_2(counter | 0);
  hsip_absorb_2(info);
  return hsip_finish_24(MAC_MESSAGE_LAST_BLOCK) & COOKIE_MAC_MASK;
}

/** The 4-bit time slot of now_s (seconds; any epoch, as long as make and check share it). */
export function cookie_slot(now_s: number): number {
  return slot_counter(now_s) & (COOKIE_SLOTS - 1);
}

// >>> 0 wraps modulo 2^32, a multiple of 16, so the low 4 bits stay right for any clock value.
function slot_counter(now_s: number): number {
  return Math.floor(now_s / COOKIE_SLOT_SECONDS) >>> 0;
}

/**
 * The ISN to put in the SYN/ACK for this SYN. All addresses and numbers are
 * host-order integers as read from the packet; info comes from cookie_info
 * (only its values round-trip: cookie_check rebuilds info in that form).
 * With timestamps, the SYN/ACK's TSval must be cookie_tsval(clock, info).
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
  const ports = ((client_port & 0xffff) << 16) | (vip_port & 0xffff);
  const mac = cookie_mac(key, client_ip, vip, ports, client_isn, counter, info & 0x3ff);
  return ((counter << SLOT_SHIFT) | (((info >>> INFO_MSS_SHIFT) & 7) << MSS_SHIFT) | mac) >>> 0;
}

/**
 * The director's TSval towards a timestamp client: clock (its millisecond
 * clock plus offset, modulo 2^32) with the low 6 bits replaced by info's
 * option bits, which the client echoes in TSecr. As Linux's
 * cookie_init_timestamp does: clearing the low bits of a millisecond clock
 * moves the TSval back by less than 64 ms, and when the option bits are above
 * the clock's own low bits the result steps back one more 64, so it is never
 * ahead of the clock. The value is a non-decreasing function of the clock,
 * so every later TSval the director sends (the clock then, through this
 * function or not) is at or after the SYN/ACK's, as RFC 7323 section 5.3
 * (PAWS) needs of the client's view of our timestamps.
 */
export function cookie_tsval(clock: number, info: number): number {
  const options = info & COOKIE_TSVAL_MASK;
  const tsval = ((clock & ~COOKIE_TSVAL_MASK) | options) >>> 0;
  return options > (clock & COOKIE_TSVAL_MASK) ? (tsval - (COOKIE_TSVAL_MASK + 1)) >>> 0 : tsval;
}

/**
 * Validates the ACK that completes a cookie handshake. The caller derives the
 * numbers from that ACK: client_isn = ACK.seq − 1, cookie = ACK.ack − 1
 * (modulo 2^32), and tsecr = its timestamp option's TSecr as an unsigned
 * number (read_u32), or COOKIE_NO_TSECR (−1) when it has no timestamp
 * option. Returns the info (as cookie_info built it) when the cookie was
 * made in the current or the previous slot and its MAC matches, else −1.
 * One MAC comparison per call: the header's forgery bound.
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
  tsecr: number,
  now_s: number,
): number {
  const now_counter = slot_counter(now_s);
  const age = (now_counter - (cookie >>> SLOT_SHIFT)) & (COOKIE_SLOTS - 1);
  if (age > 1) return -1;
  const counter = (now_counter - age) >>> 0;
  const options = tsecr < 0 ? INFO_NO_TS_OPTIONS : INFO_TS_BIT | (tsecr & COOKIE_TSVAL_MASK);
  const info = (((cookie >>> MSS_SHIFT) & 7) << INFO_MSS_SHIFT) | options;
  const ports = ((client_port & 0xffff) << 16) | (vip_port & 0xffff);
  const mac = cookie_mac(key, client_ip, vip, ports, client_isn, counter, info);
  return mac === (cookie & COOKIE_MAC_MASK) ? info : -1;
}

/**
 * Packs what the director keeps of the client's SYN options into 10 bits.
 * mss is the client's MSS (pass 536, the RFC 9293 default, when it sent
 * none); it is rounded down to a table entry, never below 536. wscale is the
 * client's shift, COOKIE_WSCALE_NONE when absent. Without timestamps the
 * window scale and SACK-permitted are dropped (read back as none and false):
 * the cookie has nowhere to carry them, so the director does not announce
 * them either.
 */
export function cookie_info(mss: number, wscale: number, sack: boolean, ts: boolean): number {
  let mss_index = 0;
  for (let i = COOKIE_MSS_TABLE.length - 1; i > 0; i--) {
    if (COOKIE_MSS_TABLE[i] <= mss) {
      mss_index = i;
      break;
    }
  }
  if (!ts) return (mss_index << INFO_MSS_SHIFT) | INFO_NO_TS_OPTIONS;
  const wscale4 = wscale === COOKIE_WSCALE_NONE || !(wscale >= 0)
    ? INFO_WSCALE_NONE
    : Math.min(wscale | 0, WSCALE_MAX);
  return (mss_index << INFO_MSS_SHIFT) | INFO_TS_BIT | (sack ? INFO_SACK_BIT : 0) | wscale4;
}

export function cookie_info_mss(info: number): number {
  return COOKIE_MSS_TABLE[(info >>> INFO_MSS_SHIFT) & 7];
}

/** The client's window-scale shift; COOKIE_WSCALE_NONE (255) when it sent none or no timestamps. */
export function cookie_info_wscale(info: number): number {
  const wscale4 = info & INFO_WSCALE_MASK;
  return wscale4 === INFO_WSCALE_NONE ? COOKIE_WSCALE_NONE : wscale4;
}

/** SACK-permitted as negotiated: offered by the client, and carried (timestamps). */
export function cookie_info_sack(info: number): boolean {
  return (info & INFO_SACK_BIT) !== 0;
}

export function cookie_info_ts(info: number): boolean {
  return (info & INFO_TS_BIT) !== 0;
}
