// Server selection by weighted rendezvous hashing (highest random weight, as in
// CARP and Thaler & Ravishankar 1998).
//
// For a key, every server gets a pseudo-random score from hash(key, server name)
// scaled by its weight; the highest score wins. Because a key's score at one
// server does not depend on the other servers, removing a server moves only
// the keys it held, adding one takes keys only for itself, and raising a
// weight moves keys only towards that server. A URL-keyed policy therefore
// keeps each server's cache warm through membership changes, and the L4 policy
// uses the same machinery so a server leaving disturbs only its own flows.
//
// Weighting: with u uniform in (0,1), −ln(u) is Exp(1), so −ln(u)/weight is
// Exp(weight) and the smallest of those wins with probability
// weight / Σ weights. Scoring by −weight / ln(u) picks the same winner (it is
// the reciprocal) with "larger is better".

export interface SelectionServer {
  /** Stable identity hashed with the key; renaming a server reshuffles its keys. */
  name: string;
  /** Relative share; 0 (or anything not > 0) takes the server out of selection. */
  weight: number;
}

export interface SelectionOptions {
  /** Indices to skip, e.g. a server that just refused the connection. */
  exclude?: ReadonlySet<number>;
}

const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;
// Placed between key and name: 0xff never occurs in UTF-8, so no key/name pair
// can run together into another pair's bytes.
const SEPARATOR = 0xff;
const TWO_POW_32 = 4294967296;

const encoder = new TextEncoder();

/** murmur3's finaliser: every input bit flips each output bit with probability ~1/2. */
function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

function fnv1a(state: number, bytes: Uint8Array): number {
  for (let i = 0; i < bytes.length; i++) state = Math.imul(state ^ bytes[i], FNV_PRIME);
  return state;
}

/**
 * The key's hash state after its bytes and the separator, finalised with fmix32
 * so that the name bytes, which differ between servers only in a few positions,
 * are mixed into a state that is already well spread.
 */
function key_state(key: string): number {
  return fmix32(Math.imul(fnv1a(FNV_OFFSET, encoder.encode(key)) ^ SEPARATOR, FNV_PRIME));
}

/** 32-bit hash of (key, server name): FNV-1a over the key, then the name, fmix32 between and after. */
function pair_hash(state: number, name_bytes: Uint8Array): number {
  return fmix32(fnv1a(state, name_bytes));
}

/** The server's score for this key; larger wins. Exported for tests and diagnostics. */
export function rendezvous_score(key: string, server: SelectionServer): number {
  return score_of(key_state(key), server);
}

function score_of(state: number, server: SelectionServer): number {
  if (!(server.weight > 0)) return -Infinity;
  const h = pair_hash(state, encoder.encode(server.name));
  // (h + 1) / (2^32 + 1) lies strictly inside (0, 1): u = 1 would give ln(u) = 0
  // and a score of −∞ for the best possible hash.
  const u = (h + 1) / (TWO_POW_32 + 1);
  return -server.weight / Math.log(u);
}

function better(
  a_score: number,
  a_index: number,
  b_score: number,
  b_index: number,
  servers: readonly SelectionServer[],
): boolean {
  // Five positional numbers (style exception): called inside the sort comparator.
  if (a_score !== b_score) return a_score > b_score;
  const a_name = servers[a_index].name;
  const b_name = servers[b_index].name;
  if (a_name !== b_name) return a_name < b_name;
  return a_index < b_index;
}

/**
 * Indices of the eligible servers (weight > 0, not excluded), best first.
 * The first is the pick; the rest are the fallbacks in the order this key
 * would fall back to them as servers fail.
 */
export function rendezvous_order(
  key: string,
  servers: readonly SelectionServer[],
  options: SelectionOptions = {},
): number[] {
  const state = key_state(key);
  const scores = new Map<number, number>();
  for (let i = 0; i < servers.length; i++) {
    if (options.exclude?.has(i) || !(servers[i].weight > 0)) continue;
    scores.set(i, score_of(state, servers[i]));
  }
  const order = [...scores.keys()];
  order.sort((a, b) => better(scores.get(a)!, a, scores.get(b)!, b, servers) ? -1 : 1);
  return order;
}

/** Index of the best eligible server for the key, or −1 when there is none. */
export function rendezvous_pick(
  key: string,
  servers: readonly SelectionServer[],
  options: SelectionOptions = {},
): number {
  const state = key_state(key);
  let best = -1;
  let best_score = -Infinity;
  for (let i = 0; i < servers.length; i++) {
    if (options.exclude?.has(i) || !(servers[i].weight > 0)) continue;
    const score = score_of(state, servers[i]);
    if (best === -1 || better(score, i, best_score, best, servers)) {
      best = i;
      best_score = score;
    }
  }
  return best;
}

/**
 * The selection key of an HTTP request: lower-cased host without a default
 * ":80", followed by the path. The query is kept — on most sites it selects
 * different content (?page=2, ?id=7), so it should be allowed to land on a
 * different cache. The fragment (after "#") is dropped: clients never send one
 * and it never changes what the server returns. An empty path counts as "/".
 */
export function url_key(host: string, path: string): string {
  let canonical_host = host.toLowerCase();
  if (canonical_host.endsWith(":80")) canonical_host = canonical_host.slice(0, -3);
  const hash_at = path.indexOf("#");
  let canonical_path = hash_at === -1 ? path : path.slice(0, hash_at);
  if (canonical_path === "") canonical_path = "/";
  return canonical_host + canonical_path;
}

/**
 * The selection key of a connection for the L4 (no content) policy: its
 * 4-tuple as text. Addresses are host-order u32, ports 0..65535. The text has
 * no "/", so it never equals a url_key.
 */
export function l4_hash_key(
  client_ip: number,
  client_port: number,
  vip: number,
  vip_port: number,
): string {
  // Four numbers (style exception): they are one 4-tuple read straight off a packet.
  return `${client_ip >>> 0}:${client_port & 0xffff}>${vip >>> 0}:${vip_port & 0xffff}`;
}
