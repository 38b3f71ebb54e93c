// What the connection benches' generators share (handoff_generator.ts plays
// clients and agents to a director, adopt_generator.ts a director and a
// server's stack to an agent): frame templates built once with the packet
// builders and then copied into mbufs with only the per-connection fields
// patched (pktgen's way), the few reads a generator needs from a frame the
// role sent, and the per-connection numbers it derives. Nothing here
// allocates after the templates are made, and nothing throws on a frame.

import {
  build_tcp,
  ip_to_u32,
  ipv4_checksum_set,
  mac_hi,
  mac_lo,
  OPT_TIMESTAMP_OFFSET,
  OPTIONS_OK,
  parse_tcp_options,
  read_u32,
  tcp_checksum_set,
  TCP_OPTION_FIELDS,
  type TcpSpec,
} from "../dataplane/mod.ts";

/** Ethernet header; every generated frame is untagged IPv4 without IP options. */
export const ETH = 14;
export const IP = 14;
export const TCP = 34;

/** The bench's addresses (198.18.0.0/15, the benchmarking range; nothing leaves the process). */
export const BENCH_VIP = "198.18.0.100";
export const BENCH_VIP_PORT = 80;
export const BENCH_DIRECTOR_IP = "198.18.0.2";
export const BENCH_DIRECTOR_MAC = "02:b7:00:00:00:02";
export const BENCH_CLIENT_MAC = "02:b7:00:00:00:01";
/** Agent (server) i: 198.18.1.(10 + i), MAC 02:b7:00:00:01:(10 + i). */
export const BENCH_AGENT_IP_BASE = ip_to_u32("198.18.1.10");
export const BENCH_HANDOFF_PORT = 7201;

export function bench_agent_ip(i: number): number {
  return (BENCH_AGENT_IP_BASE + i) >>> 0;
}
export function bench_agent_mac(i: number): string {
  return `02:b7:00:00:01:${(10 + i).toString(16).padStart(2, "0")}`;
}

/**
 * Connection serial k's client: 198.18.(16 + (k >> 8 & 0x7f)).(k & 0xff),
 * port 1024 + (k >> 15) % 60000, so 2^15 clients of 128 /24s, and a 4-tuple
 * comes back only after about 2 × 10^9 connections.
 */
export function bench_client_ip(k: number): number {
  return ((198 << 24) | (18 << 16) | ((16 + ((k >>> 8) & 0x7f)) << 8) | (k & 0xff)) >>> 0;
}
export function bench_client_port(k: number): number {
  return 1024 + ((k >>> 15) % 60000);
}

/** A request as curl sends it; the path's 7 digits are patched per connection. */
export const BENCH_REQUEST = "GET /item/0000000 HTTP/1.1\r\nHost: bench.example\r\n" +
  "User-Agent: baton-bench\r\nAccept: */*\r\n\r\n";
/** Where the path digits start in BENCH_REQUEST. */
export const REQUEST_DIGITS_AT = BENCH_REQUEST.indexOf("0000000");
export const REQUEST_DIGITS = 7;
/** What the bench's server answers, and then it closes. */
export const BENCH_RESPONSE = "HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n";

/** A TCP frame built once, and where its timestamp values sit (−1: none), from its first byte. */
export interface TcpTemplate {
  bytes: Uint8Array;
  tsval_at: number;
  tsecr_at: number;
}

export function tcp_template(spec: TcpSpec): TcpTemplate {
  const bytes = build_tcp(spec);
  const opts = new Int32Array(TCP_OPTION_FIELDS);
  const header = (bytes[TCP + 12] >>> 4) * 4;
  parse_tcp_options(bytes, TCP + 20, header - 20, opts);
  const ts = opts[OPT_TIMESTAMP_OFFSET];
  return { bytes, tsval_at: ts < 0 ? -1 : ts + 2, tsecr_at: ts < 0 ? -1 : ts + 6 };
}

/** The TSval of the TCP segment at o (untagged, no IP options), or −1 without a timestamp. */
export function segment_tsval(bytes: Uint8Array, o: number, opts: Int32Array): number {
  const tcp = o + TCP;
  const header = (bytes[tcp + 12] >>> 4) * 4;
  if (header <= 20) return -1;
  if (parse_tcp_options(bytes, tcp + 20, header - 20, opts) !== OPTIONS_OK) return -1;
  const ts = opts[OPT_TIMESTAMP_OFFSET];
  return ts < 0 ? -1 : read_u32(bytes, ts + 2);
}

/** Payload bytes of the TCP segment at o (IPv4 total length − headers). */
export function segment_payload_length(bytes: Uint8Array, o: number): number {
  const total = (bytes[o + IP + 2] << 8) | bytes[o + IP + 3];
  return total - 20 - (bytes[o + TCP + 12] >>> 4) * 4;
}

/** IPv4 and TCP checksums of a frame written from a template, in full. */
export function seal_tcp(bytes: Uint8Array, o: number): void {
  ipv4_checksum_set(bytes, o + IP);
  tcp_checksum_set(bytes, o + IP);
}

/** `count` decimal digits of value at `at`, most significant first. */
export function write_digits(bytes: Uint8Array, at: number, count: number, value: number): void {
  let v = value >>> 0;
  for (let k = count - 1; k >= 0; k--) {
    bytes[at + k] = 0x30 + (v % 10);
    v = Math.floor(v / 10);
  }
}

/** True when the 6 bytes at `at` are the MAC whose (hi, lo) words are given. */
export function mac_is(bytes: Uint8Array, at: number, hi: number, lo: number): boolean {
  return mac_hi(bytes, at) === (hi | 0) && mac_lo(bytes, at) === lo;
}

/** Copies 6 MAC bytes within the region. */
export function copy_mac(bytes: Uint8Array, to: number, from: number): void {
  for (let k = 0; k < 6; k++) bytes[to + k] = bytes[from + k];
}
