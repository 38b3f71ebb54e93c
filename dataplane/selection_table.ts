// The director's selection state, which the control Worker writes and the
// poll loops read: servers (weight, health, name, the words a hand-off
// needs), VIPs (address, policy, server list, the TCP ports they serve) and
// the draining flag, all in one SharedArrayBuffer. This file is the only definition of that memory.
// The control Worker writes it with publish_selection. A poll loop opens it
// with open_selection_table and reads it with find_selection_vip,
// select_server and selection_draining; the director's VIP set (which
// addresses it owns, which ports take new connections) is copied out with
// read_selection_vip_ports when the version changes, so a config reload
// changes the VIPs too.
//
// select_server makes the same choice as control/director/servers.ts's
// server_order, rank by rank: weighted rendezvous hashing (selection.ts) over
// the VIP's healthy servers with weight > 0, or over all of them when none is
// (fail open). The arithmetic is selection.ts's, copied here and held equal
// to it by tests/dataplane/selection_table_test.ts: FNV-1a over the key, the
// 0xff separator, fmix32, then FNV-1a over the server name and fmix32 again,
// u = (h + 1) / (2^32 + 1), score = −weight / ln(u). Ties go to the smaller
// name (in JavaScript's UTF-16 order), then to the earlier place in the VIP's
// list. url_key_state and l4_key_state build selection.ts's key_state of
// url_key(...) and l4_hash_key(...) straight from the bytes and numbers.
//
// Versioning is a seqlock. The one writer makes the version word odd, writes,
// and makes it even again. A reader reads the version, reads what it needs,
// and reads the version again. If the version was odd or has changed, the
// reader starts over, at most SELECTION_READ_ATTEMPTS times, and then reports
// SELECTION_BUSY: the poll loop keeps the request and asks again on its next
// pass, since a publish takes microseconds. A torn read can give garbage
// indices and lengths, so every index read from the table is checked against
// the table's bounds before use. Readers allocate nothing and never throw.
// publish_selection (control side) checks every bound and throws a clear
// Error before it touches the table.
//
// Memory ordering: the data is read with plain typed-array loads between two
// Atomics.load calls of the version. V8 keeps plain loads in program order
// around Atomics operations, and x86 does not reorder loads with loads, so
// this is sound where the director runs (x86-64 DPDK hosts). On a weakly
// ordered CPU the second version read would need to be a read-modify-write
// (Atomics.compareExchange) to fence the loads before it.

import { name_score } from "./selection_key.ts";

// ---------------------------------------------------------------- layout

/** Most bytes of a server name (UTF-8). */
export const SELECTION_NAME_MAX_BYTES = 64;
/** Consistent reads a reader tries (an odd version counts as one) before SELECTION_BUSY. */
export const SELECTION_READ_ATTEMPTS = 16;
/** select_server: no server left at that rank (or no such VIP). */
export const SELECTION_NONE = -1;
/** find_selection_vip, select_server: the writer kept publishing; ask again later. */
export const SELECTION_BUSY = -2;

// header: Int32 words at byte 0
/** The seqlock: odd while the writer writes. */
export const SELECTION_VERSION = 0;
export const SELECTION_MAGIC = 1;
export const SELECTION_MAX_SERVERS = 2;
export const SELECTION_MAX_VIPS = 3;
export const SELECTION_MAX_SERVERS_PER_VIP = 4;
export const SELECTION_SERVER_COUNT = 5;
/** VIP slots that may be in use: every slot at or past it is free. */
export const SELECTION_VIP_SLOTS = 6;
/** 1 while draining: the director answers new requests with 503. */
export const SELECTION_DRAINING = 7;
/** Most ports a VIP slot holds (0: the table carries no ports; the director keeps its configured VIPs). */
export const SELECTION_MAX_PORTS_PER_VIP = 8;
/** 1 when the last publish gave every VIP its ports (the director's VIP set comes from the table). */
export const SELECTION_PORTS_SET = 9;
/** 64 bytes, which keeps the Float64 weights after it aligned. */
export const SELECTION_HEADER_WORDS = 16;
/** "BSL1": a buffer that is not a selection table of this layout is refused. */
const MAGIC = 0x42534c31;

// per server: Int32 words, SELECTION_SERVER_WORDS per server
/** 1 when the server passes its health checks. */
export const SELECTION_SERVER_HEALTHY = 0;
/** Bytes of its name in the name area (at most SELECTION_NAME_MAX_BYTES). */
export const SELECTION_SERVER_NAME_LENGTH = 1;
/** The server's MAC: first four bytes, big-endian, and last two (as the verdict words). */
export const SELECTION_SERVER_MAC_HI = 2;
export const SELECTION_SERVER_MAC_LO = 3;
/** Its agent's fabric IPv4 address, a host-order u32 stored as Int32 bits (read with >>> 0). */
export const SELECTION_SERVER_AGENT_IP = 4;
export const SELECTION_SERVER_AGENT_PORT = 5;
export const SELECTION_SERVER_AGENT_ID = 6;
/** Which slot of the director's HMAC key table signs this agent's datagrams. */
export const SELECTION_SERVER_KEY_SLOT = 7;
export const SELECTION_SERVER_WORDS = 8;

// per VIP slot: Int32 words, SELECTION_VIP_SERVERS + max_servers_per_vip per slot
/** The VIP's IPv4 address, host-order u32 as Int32 bits. */
export const SELECTION_VIP_ADDRESS = 0;
/** 1 when the slot holds a VIP. */
export const SELECTION_VIP_IN_USE = 1;
/** 1 for the l4_hash policy (key: the 4-tuple), 0 for url_hash (key: host + path). */
export const SELECTION_VIP_L4 = 2;
export const SELECTION_VIP_SERVER_COUNT = 3;
/** The first of max_servers_per_vip server indices, in the VIP's configured order. */
export const SELECTION_VIP_SERVERS = 4;

// scratch.result words, written by select_server
/** The table version the result was read under (even). */
export const SELECT_RESULT_VERSION = 0;
/** 1 when no server of the VIP was healthy with weight > 0, so all were candidates. */
export const SELECT_RESULT_FAIL_OPEN = 1;
/** How many servers were candidates: ranks 0 .. CANDIDATES − 1 exist. */
export const SELECT_RESULT_CANDIDATES = 2;
/** The chosen server's place in the VIP's list. */
export const SELECT_RESULT_POSITION = 3;
export const SELECT_RESULT_WORDS = 4;

export interface SelectionTableOptions {
  max_servers: number;
  max_vips: number;
  max_servers_per_vip: number;
  /** Most TCP ports per VIP (default 0: no ports; the director keeps the VIPs it started with). */
  max_ports_per_vip?: number;
}

/**
 * The views over one SharedArrayBuffer. Byte layout, in order (each area's
 * offset is a multiple of 8):
 *   header   SELECTION_HEADER_WORDS Int32
 *   weights  max_servers Float64
 *   servers  max_servers × SELECTION_SERVER_WORDS Int32
 *   names    max_servers × SELECTION_NAME_MAX_BYTES bytes (server i at i × 64)
 *   vips     max_vips × vip_stride Int32
 *   ports    max_vips × port_stride Int32 (a count, then max_ports_per_vip ports)
 */
export interface SelectionTable {
  readonly buffer: SharedArrayBuffer;
  readonly max_servers: number;
  readonly max_vips: number;
  readonly max_servers_per_vip: number;
  /** Int32 words per VIP slot: SELECTION_VIP_SERVERS + max_servers_per_vip. */
  readonly vip_stride: number;
  readonly max_ports_per_vip: number;
  /** Int32 words per VIP slot's ports: 1 (the count) + max_ports_per_vip. */
  readonly port_stride: number;
  readonly header: Int32Array;
  readonly weights: Float64Array;
  readonly servers: Int32Array;
  readonly names: Uint8Array;
  readonly vips: Int32Array;
  readonly ports: Int32Array;
}

/** One server as the control Worker publishes it. */
export interface SelectionSnapshotServer {
  /** Hashed with the key (UTF-8, at most SELECTION_NAME_MAX_BYTES); well-formed Unicode. */
  name: string;
  /** Relative share; anything not > 0 takes the server out of selection. */
  weight: number;
  healthy: boolean;
  mac_hi: number;
  mac_lo: number;
  agent_ip: number;
  agent_port: number;
  agent_id: number;
  key_slot: number;
}

export interface SelectionSnapshotVip {
  /** Host-order u32. */
  address: number;
  l4: boolean;
  /** Indices into the snapshot's servers, in the configured order. */
  servers: readonly number[];
  /**
   * The TCP ports that take new connections (at most max_ports_per_vip).
   * Give them for every VIP or for none; an empty list keeps the address the
   * director's (ARP, flows already forwarded) without new connections.
   */
  ports?: readonly number[];
}

export interface SelectionSnapshot {
  servers: readonly SelectionSnapshotServer[];
  vips: readonly SelectionSnapshotVip[];
  draining: boolean;
}

/** What select_server works in and reports through; one per poll loop. */
export interface SelectionScratch {
  /** Candidates' scores, in candidate order. */
  readonly scores: Float64Array;
  /** Candidates' places in the VIP's server list. */
  readonly positions: Int32Array;
  /** SELECT_RESULT_* words of the last select_server. */
  readonly result: Int32Array;
  /** The chosen server's SELECTION_SERVER_* words, read in the same consistent read. */
  readonly server: Int32Array;
}

interface Layout {
  weights: number;
  servers: number;
  names: number;
  vips: number;
  vip_stride: number;
  ports: number;
  port_stride: number;
  bytes: number;
}

function layout(
  max_servers: number,
  max_vips: number,
  per_vip: { servers: number; ports: number },
): Layout {
  const weights = SELECTION_HEADER_WORDS * 4;
  const servers = weights + max_servers * 8;
  const names = servers + max_servers * SELECTION_SERVER_WORDS * 4;
  const vips = names + max_servers * SELECTION_NAME_MAX_BYTES;
  const vip_stride = SELECTION_VIP_SERVERS + per_vip.servers;
  const ports = vips + max_vips * vip_stride * 4;
  const port_stride = per_vip.ports > 0 ? 1 + per_vip.ports : 0;
  const bytes = ports + max_vips * port_stride * 4;
  return { weights, servers, names, vips, vip_stride, ports, port_stride, bytes };
}

function views(buffer: SharedArrayBuffer, header: Int32Array): SelectionTable {
  const max_servers = header[SELECTION_MAX_SERVERS];
  const max_vips = header[SELECTION_MAX_VIPS];
  const max_servers_per_vip = header[SELECTION_MAX_SERVERS_PER_VIP];
  const max_ports_per_vip = header[SELECTION_MAX_PORTS_PER_VIP];
  const at = layout(max_servers, max_vips, {
    servers: max_servers_per_vip,
    ports: max_ports_per_vip,
  });
  return {
    buffer,
    max_servers,
    max_vips,
    max_servers_per_vip,
    vip_stride: at.vip_stride,
    max_ports_per_vip,
    port_stride: at.port_stride,
    header,
    weights: new Float64Array(buffer, at.weights, max_servers),
    servers: new Int32Array(buffer, at.servers, max_servers * SELECTION_SERVER_WORDS),
    names: new Uint8Array(buffer, at.names, max_servers * SELECTION_NAME_MAX_BYTES),
    vips: new Int32Array(buffer, at.vips, max_vips * at.vip_stride),
    ports: new Int32Array(buffer, at.ports, max_vips * at.port_stride),
  };
}

/** Bounds high enough for any config, low enough that a slip does not ask for gigabytes. */
const MAX_SERVERS_BOUND = 4096;
const MAX_VIPS_BOUND = 4096;

/** Ports per VIP: a config lists a handful; the bound keeps a slip small. */
const MAX_PORTS_BOUND = 1024;

function bounds_problem(
  max_servers: number,
  max_vips: number,
  per_vip: { servers: number; ports: number },
) {
  const max_servers_per_vip = per_vip.servers;
  const within = (value: number, top: number) =>
    Number.isInteger(value) && value >= 1 && value <= top;
  if (
    !(Number.isInteger(per_vip.ports) && per_vip.ports >= 0 && per_vip.ports <= MAX_PORTS_BOUND)
  ) {
    return `max_ports_per_vip must be an integer in 0..${MAX_PORTS_BOUND}, got ${per_vip.ports}`;
  }
  if (!within(max_servers, MAX_SERVERS_BOUND)) {
    return `max_servers must be an integer in 1..${MAX_SERVERS_BOUND}, got ${max_servers}`;
  }
  if (!within(max_vips, MAX_VIPS_BOUND)) {
    return `max_vips must be an integer in 1..${MAX_VIPS_BOUND}, got ${max_vips}`;
  }
  // a VIP may list a server twice (the config does not forbid it), so no tie to max_servers
  if (!within(max_servers_per_vip, MAX_SERVERS_BOUND)) {
    return `max_servers_per_vip must be an integer in 1..${MAX_SERVERS_BOUND}, ` +
      `got ${max_servers_per_vip}`;
  }
  return null;
}

/** A new, empty selection table (version 0, no servers, no VIPs) in a fresh SharedArrayBuffer. */
export function create_selection_table(options: SelectionTableOptions): SelectionTable {
  const { max_servers, max_vips, max_servers_per_vip } = options;
  const per_vip = { servers: max_servers_per_vip, ports: options.max_ports_per_vip ?? 0 };
  const problem = bounds_problem(max_servers, max_vips, per_vip);
  if (problem !== null) throw new RangeError(`selection table: ${problem}`);
  const buffer = new SharedArrayBuffer(layout(max_servers, max_vips, per_vip).bytes);
  const header = new Int32Array(buffer, 0, SELECTION_HEADER_WORDS);
  header[SELECTION_MAGIC] = MAGIC;
  header[SELECTION_MAX_SERVERS] = max_servers;
  header[SELECTION_MAX_VIPS] = max_vips;
  header[SELECTION_MAX_SERVERS_PER_VIP] = max_servers_per_vip;
  header[SELECTION_MAX_PORTS_PER_VIP] = per_vip.ports;
  return views(buffer, header);
}

/** The views over a table another Worker created (its buffer came in a message). */
export function open_selection_table(buffer: SharedArrayBuffer): SelectionTable {
  if (!(buffer instanceof SharedArrayBuffer) || buffer.byteLength < SELECTION_HEADER_WORDS * 4) {
    throw new TypeError("selection table: not a SharedArrayBuffer holding one");
  }
  const header = new Int32Array(buffer, 0, SELECTION_HEADER_WORDS);
  if (header[SELECTION_MAGIC] !== MAGIC) {
    throw new TypeError(
      "selection table: the buffer's magic word is wrong (not a selection table)",
    );
  }
  const max_servers = header[SELECTION_MAX_SERVERS];
  const max_vips = header[SELECTION_MAX_VIPS];
  const per_vip = {
    servers: header[SELECTION_MAX_SERVERS_PER_VIP],
    ports: header[SELECTION_MAX_PORTS_PER_VIP],
  };
  const problem = bounds_problem(max_servers, max_vips, per_vip);
  if (problem !== null) throw new TypeError(`selection table: bad header: ${problem}`);
  const expected = layout(max_servers, max_vips, per_vip).bytes;
  if (buffer.byteLength !== expected) {
    throw new TypeError(
      `selection table: ${buffer.byteLength} bytes, but its bounds need ${expected}`,
    );
  }
  return views(buffer, header);
}

/** A scratch for select_server, sized for this table's VIPs. */
export function create_selection_scratch(table: SelectionTable): SelectionScratch {
  return {
    scores: new Float64Array(table.max_servers_per_vip),
    positions: new Int32Array(table.max_servers_per_vip),
    result: new Int32Array(SELECT_RESULT_WORDS),
    server: new Int32Array(SELECTION_SERVER_WORDS),
  };
}

// ---------------------------------------------------------------- readers (poll loops)

/** True while the control Worker drains (answer new requests with 503). One word: no seqlock. */
export function selection_draining(table: SelectionTable): boolean {
  return Atomics.load(table.header, SELECTION_DRAINING) === 1;
}

/** The VIP slot of this address (host-order u32), SELECTION_NONE when unknown, or SELECTION_BUSY. */
export function find_selection_vip(table: SelectionTable, vip_ip: number): number {
  const header = table.header;
  const vips = table.vips;
  const stride = table.vip_stride;
  const address = vip_ip | 0;
  for (let attempt = 0; attempt < SELECTION_READ_ATTEMPTS; attempt++) {
    const version = Atomics.load(header, SELECTION_VERSION);
    if ((version & 1) !== 0) continue;
    let slots = header[SELECTION_VIP_SLOTS];
    if (!(slots >= 0 && slots <= table.max_vips)) slots = 0; // torn
    let found = SELECTION_NONE;
    for (let slot = 0; slot < slots; slot++) {
      const base = slot * stride;
      if (
        vips[base + SELECTION_VIP_ADDRESS] === address && vips[base + SELECTION_VIP_IN_USE] === 1
      ) {
        found = slot;
        break;
      }
    }
    if (Atomics.load(header, SELECTION_VERSION) === version) return found;
  }
  return SELECTION_BUSY;
}

/** Where read_selection_vip_ports copies the VIP set: (address, port, l4) pairs. */
export interface SelectionVipPorts {
  readonly ips: Int32Array;
  readonly ports: Int32Array;
  readonly l4: Uint8Array;
  /** [0]: the table version the pairs were read under (even). */
  readonly version: Int32Array;
}

/**
 * Copies every VIP's (address, port, policy) into out, one pair per port; a
 * VIP with no ports gives one pair with port 0 (the address stays the
 * director's, no new connection matches it). Returns the pair count,
 * SELECTION_NONE when the table carries no ports (or more pairs than out
 * holds), or SELECTION_BUSY. Allocates nothing; a torn read is retried.
 */
export function read_selection_vip_ports(table: SelectionTable, out: SelectionVipPorts): number {
  const header = table.header;
  const capacity = out.ips.length;
  for (let attempt = 0; attempt < SELECTION_READ_ATTEMPTS; attempt++) {
    const version = Atomics.load(header, SELECTION_VERSION);
    if ((version & 1) !== 0) continue;
    let count = SELECTION_NONE;
    if (header[SELECTION_PORTS_SET] === 1 && table.port_stride > 0) {
      count = copy_vip_ports(table, out, capacity);
    }
    if (Atomics.load(header, SELECTION_VERSION) === version) {
      out.version[0] = version;
      return count;
    }
  }
  return SELECTION_BUSY;
}

/** One read of read_selection_vip_ports, possibly torn (the caller checks the version). */
function copy_vip_ports(table: SelectionTable, out: SelectionVipPorts, capacity: number): number {
  let slots = table.header[SELECTION_VIP_SLOTS];
  if (!(slots >= 0 && slots <= table.max_vips)) slots = 0; // torn
  let pairs = 0;
  for (let slot = 0; slot < slots; slot++) {
    const base = slot * table.vip_stride;
    if (table.vips[base + SELECTION_VIP_IN_USE] !== 1) continue;
    const address = table.vips[base + SELECTION_VIP_ADDRESS];
    const l4 = table.vips[base + SELECTION_VIP_L4] === 1 ? 1 : 0;
    const at = slot * table.port_stride;
    let count = table.ports[at];
    if (!(count >= 0 && count <= table.max_ports_per_vip)) count = 0; // torn
    const first = count === 0 ? 0 : 1;
    for (let k = 0; k < (count === 0 ? 1 : count); k++) {
      if (pairs >= capacity) return SELECTION_NONE;
      out.ips[pairs] = address;
      out.ports[pairs] = count === 0 ? 0 : table.ports[at + first + k];
      out.l4[pairs] = l4;
      pairs++;
    }
  }
  return pairs;
}

/** 1 when the VIP in this slot uses the l4_hash policy, 0 for url_hash, SELECTION_BUSY. */
export function selection_vip_l4(table: SelectionTable, vip_index: number): number {
  if (!(vip_index >= 0 && vip_index < table.max_vips)) return 0;
  const header = table.header;
  for (let attempt = 0; attempt < SELECTION_READ_ATTEMPTS; attempt++) {
    const version = Atomics.load(header, SELECTION_VERSION);
    if ((version & 1) !== 0) continue;
    const l4 = table.vips[vip_index * table.vip_stride + SELECTION_VIP_L4] === 1 ? 1 : 0;
    if (Atomics.load(header, SELECTION_VERSION) === version) return l4;
  }
  return SELECTION_BUSY;
}

/**
 * The server index of the rank-th best server of the VIP in slot vip_index for
 * the key (rank 0: the pick, 1: the first fallback, ...), as server_order
 * would list it; SELECTION_NONE when fewer servers are left, or
 * SELECTION_BUSY. Writes scratch.result: the version read, whether it failed
 * open and how many candidates there were, and on a server index the chosen
 * place, with the chosen server's words copied into scratch.server in the
 * same consistent read. Count fail-open on rank 0 only, as server_order
 * counted once per request (it counted an empty VIP too).
 * Each rank is read afresh: compare SELECT_RESULT_VERSION across ranks to
 * tell whether a publish came in between.
 */
export function select_server(
  table: SelectionTable,
  vip_index: number,
  key_state: number,
  rank: number,
  scratch: SelectionScratch,
): number {
  if (!(vip_index >= 0 && vip_index < table.max_vips) || !(rank >= 0)) return SELECTION_NONE;
  const header = table.header;
  for (let attempt = 0; attempt < SELECTION_READ_ATTEMPTS; attempt++) {
    const version = Atomics.load(header, SELECTION_VERSION);
    if ((version & 1) !== 0) continue;
    const server = select_in(table, vip_index, key_state, rank, scratch);
    if (Atomics.load(header, SELECTION_VERSION) === version) {
      scratch.result[SELECT_RESULT_VERSION] = version;
      return server;
    }
  }
  return SELECTION_BUSY;
}

/** One read of select_server, possibly torn (the caller checks the version). */
function select_in(
  table: SelectionTable,
  vip_index: number,
  key_state: number,
  rank: number,
  scratch: SelectionScratch,
): number {
  // Five positional numbers (style exception): called once per request on the hot path.
  const vips = table.vips;
  const base = vip_index * table.vip_stride;
  if (vips[base + SELECTION_VIP_IN_USE] !== 1) return SELECTION_NONE;
  let count = vips[base + SELECTION_VIP_SERVER_COUNT];
  if (!(count >= 0 && count <= table.max_servers_per_vip)) count = 0; // torn
  const list = base + SELECTION_VIP_SERVERS;
  const words = table.servers;
  const weights = table.weights;
  const max_servers = table.max_servers;

  // healthy servers only; all of them when none is (fail open: under overload
  // every health check times out at once, and 503 for everything is worse)
  let any_healthy = false;
  for (let k = 0; k < count; k++) {
    const s = vips[list + k];
    if (
      s >= 0 && s < max_servers &&
      words[s * SELECTION_SERVER_WORDS + SELECTION_SERVER_HEALTHY] === 1 && weights[s] > 0
    ) {
      any_healthy = true;
      break;
    }
  }
  const scores = scratch.scores;
  const positions = scratch.positions;
  let candidates = 0;
  for (let k = 0; k < count; k++) {
    const s = vips[list + k];
    if (!(s >= 0 && s < max_servers)) continue; // torn
    const weight = weights[s];
    if (!(weight > 0)) continue;
    if (any_healthy && words[s * SELECTION_SERVER_WORDS + SELECTION_SERVER_HEALTHY] !== 1) continue;
    positions[candidates] = k;
    scores[candidates] = server_score(table, s, key_state, weight);
    candidates++;
  }
  scratch.result[SELECT_RESULT_FAIL_OPEN] = any_healthy ? 0 : 1;
  scratch.result[SELECT_RESULT_CANDIDATES] = candidates;
  if (rank >= candidates) return SELECTION_NONE;

  // the rank-th in `better` order: each step takes the best of those below the last
  let chosen = -1;
  for (let step = 0; step <= rank; step++) {
    let best = -1;
    for (let c = 0; c < candidates; c++) {
      if (chosen !== -1 && !better(table, scratch, list, chosen, c)) continue;
      if (best === -1 || better(table, scratch, list, c, best)) best = c;
    }
    if (best === -1) return SELECTION_NONE; // torn
    chosen = best;
  }
  const position = positions[chosen];
  const server = vips[list + position];
  if (!(server >= 0 && server < max_servers)) return SELECTION_NONE; // torn
  scratch.result[SELECT_RESULT_POSITION] = position;
  const at = server * SELECTION_SERVER_WORDS;
  for (let w = 0; w < SELECTION_SERVER_WORDS; w++) scratch.server[w] = words[at + w];
  return server;
}

/** selection.ts's `better` for candidates a and b: higher score, then smaller name, then earlier place. */
function better(
  table: SelectionTable,
  scratch: SelectionScratch,
  list: number,
  a: number,
  b: number,
): boolean {
  const a_score = scratch.scores[a];
  const b_score = scratch.scores[b];
  if (a_score !== b_score) return a_score > b_score;
  const a_position = scratch.positions[a];
  const b_position = scratch.positions[b];
  const order = compare_names(table, table.vips[list + a_position], table.vips[list + b_position]);
  if (order !== 0) return order < 0;
  return a_position < b_position;
}

/**
 * The two servers' names compared as JavaScript compares strings (UTF-16 code
 * units), from their UTF-8 bytes: < 0, 0 or > 0. The orders agree except
 * between U+E000..U+FFFF (UTF-8 lead byte EE or EF) and the supplementary
 * planes (lead F0..F4), which UTF-16 writes as surrogates D800..DBFF, below
 * U+E000. Because the names agree up to the first byte that differs, that
 * byte is a lead byte in both names or a continuation byte in both.
 */
function compare_names(table: SelectionTable, a: number, b: number): number {
  const names = table.names;
  const a_at = a * SELECTION_NAME_MAX_BYTES;
  const b_at = b * SELECTION_NAME_MAX_BYTES;
  const a_length = name_length(table, a);
  const b_length = name_length(table, b);
  const common = a_length < b_length ? a_length : b_length;
  for (let i = 0; i < common; i++) {
    const x = names[a_at + i];
    const y = names[b_at + i];
    if (x === y) continue;
    if (x >= 0xf0 && (y === 0xee || y === 0xef)) return -1;
    if (y >= 0xf0 && (x === 0xee || x === 0xef)) return 1;
    return x - y;
  }
  return a_length - b_length;
}

function name_length(table: SelectionTable, server: number): number {
  const length = table.servers[server * SELECTION_SERVER_WORDS + SELECTION_SERVER_NAME_LENGTH];
  return length >= 0 && length <= SELECTION_NAME_MAX_BYTES ? length : 0; // torn
}

/** selection.ts's score_of for server s of the table (weight > 0). */
function server_score(table: SelectionTable, s: number, key_state: number, weight: number): number {
  const names = table.names;
  const at = s * SELECTION_NAME_MAX_BYTES;
  const length = name_length(table, s);
  return name_score(key_state, names, at, length, weight);
}
