// The adoption record: the hand-off state as the agent's adoption takes it
// (adoption.ts agent_adopt), copied out of an authenticated HANDOFF by
// handoff_frame.ts handoff_to_record. Big-endian fields at fixed offsets, so
// the poll loop reads and writes them without allocating; the adoption never
// sees the wire format or the key. encode/decode_handoff_record are the
// allocating forms for tests and tools.

import { read_u16, read_u32, write_u16, write_u32 } from "../packet.ts";

/** The connection state a hand-off carries, as plain numbers. */
export interface HandoffRecord {
  /** The director's hand-off: its epoch and id. */
  epoch: number;
  id: number;
  client_ip: number;
  vip: number;
  client_port: number;
  vip_port: number;
  client_mac: Uint8Array;
  client_isn: number;
  director_next_seq: number;
  client_window: number;
  client_mss: number;
  /** 255: the client sent no wscale option. */
  client_wscale: number;
  /** 255: the director announced none. */
  director_wscale: number;
  sack_permitted: boolean;
  timestamps: boolean;
  client_tsval: number;
  director_tsval: number;
  request: Uint8Array;
}

export const R_EPOCH = 0;
export const R_ID = 4;
export const R_CLIENT_IP = 8;
export const R_VIP = 12;
export const R_CLIENT_PORT = 16;
export const R_VIP_PORT = 18;
export const R_CLIENT_MAC = 20;
export const R_FLAGS = 26;
export const R_CLIENT_ISN = 28;
export const R_DIRECTOR_NEXT = 32;
export const R_CLIENT_TSVAL = 36;
export const R_DIRECTOR_TSVAL = 40;
export const R_CLIENT_WINDOW = 44;
export const R_CLIENT_MSS = 46;
export const R_CLIENT_WSCALE = 48;
export const R_DIRECTOR_WSCALE = 49;
export const R_REQUEST_LENGTH = 50;
/** Where the request bytes start; also the size of a record without them. */
export const R_REQUEST = 52;

export const RECORD_FLAG_SACK = 1;
export const RECORD_FLAG_TIMESTAMPS = 2;

/** Serializes a record (control side; allocates). */
export function encode_handoff_record(record: HandoffRecord): Uint8Array {
  const out = new Uint8Array(R_REQUEST + record.request.length);
  write_u32(out, R_EPOCH, record.epoch);
  write_u32(out, R_ID, record.id);
  write_u32(out, R_CLIENT_IP, record.client_ip);
  write_u32(out, R_VIP, record.vip);
  write_u16(out, R_CLIENT_PORT, record.client_port);
  write_u16(out, R_VIP_PORT, record.vip_port);
  out.set(record.client_mac.subarray(0, 6), R_CLIENT_MAC);
  out[R_FLAGS] = (record.sack_permitted ? RECORD_FLAG_SACK : 0) |
    (record.timestamps ? RECORD_FLAG_TIMESTAMPS : 0);
  write_u32(out, R_CLIENT_ISN, record.client_isn);
  write_u32(out, R_DIRECTOR_NEXT, record.director_next_seq);
  write_u32(out, R_CLIENT_TSVAL, record.client_tsval);
  write_u32(out, R_DIRECTOR_TSVAL, record.director_tsval);
  write_u16(out, R_CLIENT_WINDOW, record.client_window);
  write_u16(out, R_CLIENT_MSS, record.client_mss);
  out[R_CLIENT_WSCALE] = record.client_wscale;
  out[R_DIRECTOR_WSCALE] = record.director_wscale;
  write_u16(out, R_REQUEST_LENGTH, record.request.length);
  out.set(record.request, R_REQUEST);
  return out;
}

/** Reads a record (control side; allocates). Null when it is shorter than it says. */
export function decode_handoff_record(bytes: Uint8Array): HandoffRecord | null {
  if (bytes.length < R_REQUEST) return null;
  const length = read_u16(bytes, R_REQUEST_LENGTH);
  if (bytes.length < R_REQUEST + length) return null;
  return {
    epoch: read_u32(bytes, R_EPOCH),
    id: read_u32(bytes, R_ID),
    client_ip: read_u32(bytes, R_CLIENT_IP),
    vip: read_u32(bytes, R_VIP),
    client_port: read_u16(bytes, R_CLIENT_PORT),
    vip_port: read_u16(bytes, R_VIP_PORT),
    client_mac: bytes.slice(R_CLIENT_MAC, R_CLIENT_MAC + 6),
    client_isn: read_u32(bytes, R_CLIENT_ISN),
    director_next_seq: read_u32(bytes, R_DIRECTOR_NEXT),
    client_window: read_u16(bytes, R_CLIENT_WINDOW),
    client_mss: read_u16(bytes, R_CLIENT_MSS),
    client_wscale: bytes[R_CLIENT_WSCALE],
    director_wscale: bytes[R_DIRECTOR_WSCALE],
    sack_permitted: (bytes[R_FLAGS] & RECORD_FLAG_SACK) !== 0,
    timestamps: (bytes[R_FLAGS] & RECORD_FLAG_TIMESTAMPS) !== 0,
    client_tsval: read_u32(bytes, R_CLIENT_TSVAL),
    director_tsval: read_u32(bytes, R_DIRECTOR_TSVAL),
    request: bytes.slice(R_REQUEST, R_REQUEST + length),
  };
}
