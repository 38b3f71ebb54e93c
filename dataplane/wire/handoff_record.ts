// The adoption record: the hand-off state as the agent's adoption takes it
// (adoption.ts agent_adopt), copied out of an authenticated HANDOFF by
// handoff_frame.ts handoff_to_record. Big-endian fields at fixed offsets, so
// the poll loop reads and writes them without allocating; the adoption never
// sees the wire format or the key. decode_handoff_record is the
// allocating reader for tests and tools.

import { read_u16, read_u32 } from "../packet.ts";

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
  /** The TSval routing code, when the director sent one (ts_route.ts). */
  ts_route?: number;
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
/** With RECORD_FLAG_TS_ROUTE: the TSval routing code (the HANDOFF's ts_route). */
export const R_TS_ROUTE = 27;
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
export const RECORD_FLAG_TS_ROUTE = 4;

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
    ...((bytes[R_FLAGS] & RECORD_FLAG_TS_ROUTE) !== 0 ? { ts_route: bytes[R_TS_ROUTE] } : {}),
    request: bytes.slice(R_REQUEST, R_REQUEST + length),
  };
}
