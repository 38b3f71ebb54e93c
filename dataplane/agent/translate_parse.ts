// The translate fast path's view of a frame from the stack: the region as
// one DataView, a parse that reads only what translation needs (Ethernet
// type, IPv4 version and header length, total length, fragment bits,
// protocol, TCP data offset) instead of parse_frame's whole record, and the
// frame's flow, found through a small cache in front of the flow table.
//
// A DataView reads and writes big-endian fields at any offset in one
// access each (TurboFan makes it a load or store and a byte swap); IPv4
// headers start 14 bytes into a frame, so no field goes through a 32-bit
// typed array. On this path it measured a quarter cheaper than a Uint16Array
// of host-order words with the byte swaps written out (37 against 49 ns a
// segment in a micro-benchmark).
//
// parse_tcp_segment accepts exactly the frames parse_frame accepts as
// untagged IPv4/TCP without IP options and not fragmented; for every other
// frame (VLAN tags, IP options, fragments, lengths that lie, not TCP) it
// answers -1 and the caller takes the general path, which decides. Nothing
// here allocates per frame or throws.

import { flow_lookup, type FlowTable } from "../flow_table.ts";

let region: Uint8Array | null = null;
let region_as_view: DataView = new DataView(new ArrayBuffer(0));

/**
 * The region as a DataView (same memory). Made when a burst brings a region
 * it has not seen (once per process in a poll loop), then reused.
 */
export function region_view(bytes: Uint8Array): DataView {
  if (bytes !== region) {
    region = bytes;
    region_as_view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
  return region_as_view;
}

/**
 * Byte offsets from a frame's start of what the parse and the flow key
 * read, for an untagged IPv4 frame with a 20-byte IP header (TCP at byte
 * 34), and what the parse expects there. A const enum, so each is a literal
 * in the emitted code: an imported constant costs a cell load and a hole
 * check at every use (in a micro-benchmark of this path, literals took it
 * from 69 to 55 ns a segment).
 */
const enum Frame {
  ethertype = 12,
  version_ihl = 14,
  ip_total_length = 16,
  /** Flags and fragment offset. */
  ip_fragment = 20,
  ip_protocol = 23,
  ip_src = 26,
  ip_dst = 30,
  tcp = 34,
  /** The TCP data offset, in the high nibble. */
  tcp_data_offset = tcp + 12,
  /** Ethernet + IPv4 + TCP, no options. */
  min_length = tcp + 20,
  ethertype_ipv4 = 0x0800,
  version_4_ihl_5 = 0x45,
  /** MF and the fragment offset (DF is allowed). */
  fragment_mask = 0x3fff,
  protocol_tcp = 6,
}

/**
 * The byte offset of the TCP header of the frame at [o, o + len) when it is
 * untagged IPv4 (IHL 5, not a fragment) carrying TCP whose header fits the
 * IP payload, as parse_frame would accept it; -1 otherwise. Positional
 * (style exception): it runs for every frame.
 */
export function parse_tcp_segment(view: DataView, o: number, len: number): number {
  if (o < 0 || len < Frame.min_length || o + len > view.byteLength) return -1;
  if (
    view.getUint16(o + Frame.ethertype) !== Frame.ethertype_ipv4 ||
    view.getUint8(o + Frame.version_ihl) !== Frame.version_4_ihl_5 ||
    (view.getUint16(o + Frame.ip_fragment) & Frame.fragment_mask) !== 0 ||
    view.getUint8(o + Frame.ip_protocol) !== Frame.protocol_tcp
  ) return -1;
  // the frame may be longer than the IP packet (Ethernet padding), never shorter
  const total = view.getUint16(o + Frame.ip_total_length);
  const tcp_length = (view.getUint8(o + Frame.tcp_data_offset) >> 4) << 2;
  if (total > len - 14 || tcp_length < 20 || tcp_length > total - 20) return -1;
  return o + Frame.tcp;
}

/**
 * The TCP payload length of a frame parse_tcp_segment accepted (at byte o),
 * whose TCP header is tcp_length bytes: IP total length − both headers.
 */
export function tcp_payload_length(view: DataView, o: number, tcp_length: number): number {
  return view.getUint16(o + Frame.ip_total_length) - 20 - tcp_length;
}

// ------------------------------------------------------------ flow cache
//
// The flow table's keyed hash (HalfSipHash-1-3) is most of a lookup's cost.
// In front of it sits a direct-mapped cache per table: slot = a cheap
// multiplicative mix of the 4-tuple, holding the index where that 4-tuple
// was last found. A hit is checked against the table itself (slot in use,
// all three key words equal), and keys are unique in a table, so a hit is
// always the flow: a removal, a backward shift or a reused slot makes the
// check fail and the lookup go to the table. The mix is not keyed, so a
// client can make its flows share cache slots; that only makes them miss,
// and a miss costs what a lookup costs without the cache. The table's keyed
// hash still decides every probe chain.

const enum FlowCache {
  /** log2 of the slots per cache: 16 KiB, beside the burst's frames in L1. */
  bits = 12,
}

/** Each table's cache, made the first time a burst brings the table. */
const flow_caches = new WeakMap<FlowTable, Int32Array>();
// the last two tables asked for (a Worker may run two agent pipelines, one per port)
let recent_table: FlowTable | null = null;
let recent_slots: Int32Array = new Int32Array(0);
let older_table: FlowTable | null = null;
let older_slots: Int32Array = new Int32Array(0);

/** The flow cache of a table (made the first time, -1 in every slot). */
export function flow_cache(table: FlowTable): Int32Array {
  if (table === recent_table) return recent_slots;
  let slots: Int32Array;
  if (table === older_table) {
    slots = older_slots;
  } else {
    const known = flow_caches.get(table);
    slots = known ?? new Int32Array(1 << FlowCache.bits).fill(-1);
    if (known === undefined) flow_caches.set(table, slots);
  }
  older_table = recent_table;
  older_slots = recent_slots;
  recent_table = table;
  recent_slots = slots;
  return slots;
}

/** The segment's client address (its IPv4 destination), as int32 bits. */
export function segment_client_ip(view: DataView, o: number): number {
  return view.getInt32(o + Frame.ip_dst);
}

/** The segment's VIP (its IPv4 source), as int32 bits. */
export function segment_vip(view: DataView, o: number): number {
  return view.getInt32(o + Frame.ip_src);
}

/** The flow table's ports word for the segment: client (destination) port << 16 | VIP port. */
export function segment_ports(view: DataView, o: number): number {
  const ports = view.getInt32(o + Frame.tcp);
  return (ports << 16) | (ports >>> 16);
}

/**
 * The cache slot of a 4-tuple (the flow table's key words). The caller
 * checks the index the slot holds against the table (used, and all three
 * key words equal) and on a miss asks flow_cache_fill: that check is written
 * out in the burst's loop, where the table's arrays are hoisted.
 */
export function flow_cache_slot(client_ip: number, vip: number, ports: number): number {
  return Math.imul(client_ip ^ Math.imul(vip ^ ports, 0x85ebca6b), 0x9e3779b1) >>>
    (32 - FlowCache.bits);
}

/** A cache miss: flow_lookup's answer, remembered in the slot when there is a flow. */
export function flow_cache_fill(
  cache: Int32Array,
  slot: number,
  table: FlowTable,
  client_ip: number,
  vip: number,
  ports: number,
): number {
  const found = flow_lookup(table, client_ip, vip, ports >>> 16, ports & 0xffff);
  if (found >= 0) cache[slot] = found;
  return found;
}
