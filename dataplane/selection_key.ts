// The selection key's hash, as the director's poll loop computes it: the
// arithmetic of control/director/selection.ts (weighted rendezvous hashing),
// copied here and held equal to it by tests/dataplane/selection_table_test.ts,
// but read straight off the request's bytes and the flow's numbers without
// allocating. url_key_state and l4_key_state build selection.ts's key_state
// of url_key(...) and l4_hash_key(...); name_score scores one server name
// for a key state (selection_table.ts calls it over the published names).

const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;
// between key and name: 0xff never occurs in UTF-8
const SEPARATOR = 0xff;
const TWO_POW_32 = 4294967296;

const COLON = 58;
const SLASH = 47;
const QUESTION = 63;
const HASH = 35;
const DOT = 46;
const GREATER = 62;
const LEFT_BRACKET = 91;
const RIGHT_BRACKET = 93;
const DIGIT_0 = 48;
const DIGIT_9 = 57;

/** murmur3's finaliser, as in selection.ts. */
function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** The key's FNV-1a state after the separator, finalised: selection.ts's key_state. */
function finish_key(state: number): number {
  return fmix32(Math.imul(state ^ SEPARATOR, FNV_PRIME));
}

// the decimal digits of one number, least significant first (never more than 10 for a u32)
const digit_buffer = new Uint8Array(10);

/** FNV-1a over the decimal text of a non-negative integer below 2^32. */
function fnv_decimal(state: number, value: number): number {
  let count = 0;
  do {
    digit_buffer[count++] = value % 10;
    value = Math.floor(value / 10);
  } while (value > 0 && count < 10);
  while (count > 0) state = Math.imul(state ^ (DIGIT_0 + digit_buffer[--count]), FNV_PRIME);
  return state;
}

/** FNV-1a over a VIP's dotted text ("10.0.0.1"), as u32_to_ip writes it. */
function fnv_dotted(state: number, ip: number): number {
  const v = ip >>> 0;
  state = fnv_decimal(state, v >>> 24);
  state = Math.imul(state ^ DOT, FNV_PRIME);
  state = fnv_decimal(state, (v >>> 16) & 0xff);
  state = Math.imul(state ^ DOT, FNV_PRIME);
  state = fnv_decimal(state, (v >>> 8) & 0xff);
  state = Math.imul(state ^ DOT, FNV_PRIME);
  return fnv_decimal(state, v & 0xff);
}

function lower_ascii(byte: number): number {
  return byte >= 65 && byte <= 90 ? byte + 32 : byte;
}

/**
 * FNV-1a over the host as parse_request_head and url_key write it: letters
 * lower-cased, a port without its leading zeros, and no port at all when it
 * is 80. A port that is not 1 to 5 digits (never, after scan_request_head)
 * is hashed as written.
 */
function fnv_host(state: number, bytes: Uint8Array, start: number, end: number): number {
  let port_colon = -1;
  if (bytes[start] === LEFT_BRACKET) {
    let bracket = start;
    while (bracket < end && bytes[bracket] !== RIGHT_BRACKET) bracket++;
    if (bracket + 1 < end && bytes[bracket + 1] === COLON) port_colon = bracket + 1;
  } else {
    let colon = start;
    while (colon < end && bytes[colon] !== COLON) colon++;
    if (colon < end && colon > start) port_colon = colon;
  }
  const name_end = port_colon === -1 ? end : port_colon;
  for (let i = start; i < name_end; i++) {
    state = Math.imul(state ^ lower_ascii(bytes[i]), FNV_PRIME);
  }
  if (port_colon === -1) return state;
  const digits = end - port_colon - 1;
  let port = 0;
  let numeric = digits >= 1 && digits <= 5;
  for (let i = port_colon + 1; numeric && i < end; i++) {
    const byte = bytes[i];
    numeric = byte >= DIGIT_0 && byte <= DIGIT_9;
    port = port * 10 + (byte - DIGIT_0);
  }
  if (!numeric) {
    for (let i = port_colon; i < end; i++) {
      state = Math.imul(state ^ lower_ascii(bytes[i]), FNV_PRIME);
    }
    return state;
  }
  if (port === 80) return state;
  state = Math.imul(state ^ COLON, FNV_PRIME);
  return fnv_decimal(state, port);
}

/**
 * FNV-1a over the path as url_key writes it: up to a "#", and "/" when that
 * leaves nothing. A path that starts with "?" (an absolute-form target
 * without a path, see http_head_scan.ts) gets "/" in front, as
 * parse_request_head gives it.
 */
function fnv_path(state: number, bytes: Uint8Array, start: number, end: number): number {
  let cut = start;
  while (cut < end && bytes[cut] !== HASH) cut++;
  if (cut === start || bytes[start] === QUESTION) state = Math.imul(state ^ SLASH, FNV_PRIME);
  for (let i = start; i < cut; i++) state = Math.imul(state ^ bytes[i], FNV_PRIME);
  return state;
}

/**
 * selection.ts's key_state(url_key(host || dotted vip_ip, path)), read off the
 * bytes: host is bytes[host_start, host_end) and path bytes[path_start,
 * path_end), as scan_request_head gives them (HEAD_SCAN_*). An empty host
 * range means no Host, and the VIP's dotted address is used instead. For an
 * already canonical host (lower-case, port without leading zeros) this is
 * url_key's key exactly. Allocates nothing.
 */
export function url_key_state(
  bytes: Uint8Array,
  host_start: number,
  host_end: number,
  path_start: number,
  path_end: number,
  vip_ip: number,
): number {
  // Six positional numbers (style exception): the HEAD_SCAN_* words, hashed per request.
  const length = bytes.length;
  const host_to = host_end < length ? host_end : length;
  const host_from = host_start > 0 ? host_start : 0;
  const path_to = path_end < length ? path_end : length;
  const path_from = path_start > 0 ? path_start : 0;
  let state = FNV_OFFSET;
  state = host_from < host_to
    ? fnv_host(state, bytes, host_from, host_to)
    : fnv_dotted(state, vip_ip);
  state = fnv_path(state, bytes, path_from, path_to);
  return finish_key(state);
}

/** selection.ts's key_state(l4_hash_key(client_ip, client_port, vip, vip_port)). Allocates nothing. */
export function l4_key_state(
  client_ip: number,
  client_port: number,
  vip: number,
  vip_port: number,
): number {
  // Four numbers (style exception): one 4-tuple read straight off a packet.
  let state = fnv_decimal(FNV_OFFSET, client_ip >>> 0);
  state = Math.imul(state ^ COLON, FNV_PRIME);
  state = fnv_decimal(state, client_port & 0xffff);
  state = Math.imul(state ^ GREATER, FNV_PRIME);
  state = fnv_decimal(state, vip >>> 0);
  state = Math.imul(state ^ COLON, FNV_PRIME);
  state = fnv_decimal(state, vip_port & 0xffff);
  return finish_key(state);
}

/** selection.ts's score_of: the name's bytes[at, at + length) for a key state (weight > 0). */
export function name_score(
  key_state: number,
  bytes: Uint8Array,
  at: number,
  length: number,
  weight: number,
): number {
  // Five positional numbers (style exception): once per server per request.
  let h = key_state;
  for (let i = 0; i < length; i++) h = Math.imul(h ^ bytes[at + i], FNV_PRIME);
  h = fmix32(h);
  // (h + 1) / (2^32 + 1) lies strictly inside (0, 1), so ln(u) < 0
  const u = (h + 1) / (TWO_POW_32 + 1);
  return -weight / Math.log(u);
}

const encoder = new TextEncoder();

/** key_state of any key text (control side and tests; allocates): what url_key_state and l4_key_state give. */
export function selection_key_state(key: string): number {
  let state = FNV_OFFSET;
  for (const byte of encoder.encode(key)) state = Math.imul(state ^ byte, FNV_PRIME);
  return finish_key(state);
}

/** score_of for a key state and a server (control side and tests; allocates); −∞ unless weight > 0. */
export function selection_score(key_state: number, name: string, weight: number): number {
  if (!(weight > 0)) return -Infinity;
  let h = key_state;
  for (const byte of encoder.encode(name)) h = Math.imul(h ^ byte, FNV_PRIME);
  const u = (fmix32(h) + 1) / (TWO_POW_32 + 1);
  return -weight / Math.log(u);
}
