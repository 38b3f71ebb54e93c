// The director's side of the access log (wire/access_log_ring.ts): at each
// hand-off outcome (an ACK, a commitment, a NACK, a time-out, or the
// director's own answer) one record of numbers and raw bytes goes into the
// ring; the control side formats it. Called from the outcome points in
// handoff.ts, answers.ts and request.ts's respond. With the log off it is
// one null check; with it on it re-reads the request head still in the
// flow's buffer for Host and path (the hand-off keeps the buffer until the
// outcome). Allocates nothing, never throws.

import {
  type AccessLogRing,
  AL_CLIENT_IP,
  AL_HOST_LENGTH,
  AL_HOST_START,
  AL_LATENCY_US,
  AL_OUTCOME,
  AL_PATH_LENGTH,
  AL_PATH_START,
  AL_PORTS,
  AL_SERVER,
  AL_TIME_HI,
  AL_TIME_LO,
  AL_VIP_IP,
  create_access_scratch,
  create_head_scan_out,
  find_header_end,
  HEAD_SCAN_HOST_END,
  HEAD_SCAN_HOST_START,
  HEAD_SCAN_PATH_END,
  HEAD_SCAN_PATH_START,
  scan_request_head,
  write_access_record,
} from "../wire/mod.ts";
import {
  D_FLAGS,
  D_HANDOFF_START,
  D_REQUEST_LENGTH,
  D_REQUEST_SLOT,
  D_SERVER,
  D_STATE,
  type DirectorState,
  F_L4,
  STATE_HANDING,
  VALUES_PER_FLOW,
} from "./state.ts";

export { ACCESS_ACKED, ACCESS_COMMITTED, ACCESS_NACK, ACCESS_TIMEOUT } from "../wire/mod.ts";

/** The ring and the scratch words the director writes its records with. */
export interface AccessLogWriter {
  ring: AccessLogRing;
  record: Int32Array;
  scan: Int32Array;
}

export function create_access_log_writer(ring: AccessLogRing): AccessLogWriter {
  return { ring, record: create_access_scratch(), scan: create_head_scan_out() };
}

/**
 * One record of the flow at index: outcome is an ACCESS_* code, or the HTTP
 * status the director answers with itself. The server and latency are those
 * of the hand-off being tried (none for an answer given before one started).
 */
export function log_outcome(
  state: DirectorState,
  index: number,
  outcome: number,
  now: number,
): void {
  const log = state.access_log;
  if (log === null) return;
  const table = state.table;
  const values = table.values;
  const v = index * VALUES_PER_FLOW;
  const r = log.record;
  const wall = state.io.wall_clock();
  r[AL_TIME_HI] = Math.floor(wall / 4294967296);
  r[AL_TIME_LO] = wall >>> 0;
  r[AL_CLIENT_IP] = table.src_ip[index];
  r[AL_VIP_IP] = table.dst_ip[index];
  r[AL_PORTS] = table.ports[index];
  const handing = values[v + D_STATE] === STATE_HANDING;
  const answered = outcome >= 100;
  r[AL_SERVER] = answered ? -1 : values[v + D_SERVER];
  // the same difference the latency histogram counts (handoff.ts)
  const latency_us = Math.round((now - values[v + D_HANDOFF_START]) * 1000);
  r[AL_LATENCY_US] = handing ? (latency_us > 0 ? latency_us : 0) : -1;
  r[AL_OUTCOME] = outcome;
  r[AL_HOST_LENGTH] = 0;
  r[AL_PATH_LENGTH] = 0;
  const slot = values[v + D_REQUEST_SLOT];
  const text = state.pool.buffers;
  if (slot >= 0 && (values[v + D_FLAGS] & F_L4) === 0) {
    const base = slot * state.pool.stride;
    const length = values[v + D_REQUEST_LENGTH];
    const end = find_header_end(text, base, base + length);
    const s = log.scan;
    if (scan_request_head(text, base, end < 0 ? base + length : end, s) === 0) {
      r[AL_HOST_START] = s[HEAD_SCAN_HOST_START];
      r[AL_HOST_LENGTH] = s[HEAD_SCAN_HOST_END] - s[HEAD_SCAN_HOST_START];
      r[AL_PATH_START] = s[HEAD_SCAN_PATH_START];
      r[AL_PATH_LENGTH] = s[HEAD_SCAN_PATH_END] - s[HEAD_SCAN_PATH_START];
    }
  }
  write_access_record(log.ring, r, text);
}
