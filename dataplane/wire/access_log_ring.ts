// The access log ring, defined once: fixed-size records of hand-off
// outcomes in a SharedArrayBuffer, written by the director's poll loop (one
// producer) and drained by the control side's writer (one consumer,
// control/access_log.ts), which formats the JSON lines. The poll loop must
// not allocate or format per connection, so a record is numbers and raw
// bytes: the addresses, the server's index, the latency, the outcome, and
// the Host and path as received, cut to a fixed byte budget (their full
// lengths are kept, so the reader can tell it was cut).
//
// Single producer, single consumer. The producer writes a record only into
// a slot the consumer has already read (head − tail < capacity), stamps it
// with its number, then publishes it by moving head; a full ring drops the
// record and counts it (the poll loop never waits). The consumer reads
// records below head, checks each record's stamp before and after copying
// it (a record that does not carry the number expected was torn or
// overwritten: counted and skipped), then moves tail. The writer allocates
// nothing and never throws; the reader allocates.

// header: Int32 words at byte 0
const MAGIC_WORD = 0;
const CAPACITY_WORD = 1;
/** Records written (int32, wraps). */
const HEAD_WORD = 2;
/** Records read (int32, wraps). */
const TAIL_WORD = 3;
/** Records dropped because the ring was full. */
const DROPPED_WORD = 4;
const HOST_BYTES_WORD = 5;
const PATH_BYTES_WORD = 6;
const HEADER_WORDS = 16;
/** "BAL1". */
const MAGIC = 0x42414c31;

// a record's Int32 words (also the layout of the writer's scratch)
/** The record's number + 1 once complete (the reader's check). */
export const AL_STAMP = 0;
/** Wall-clock ms since 1970: high and low 32 bits. */
export const AL_TIME_HI = 1;
export const AL_TIME_LO = 2;
/** Host-order u32 as Int32 bits. */
export const AL_CLIENT_IP = 3;
export const AL_VIP_IP = 4;
/** Client port << 16 | VIP port (the flow table's ports word). */
export const AL_PORTS = 5;
/** The server's selection index, −1: none. */
export const AL_SERVER = 6;
/** Hand-off latency in µs (first HANDOFF → this outcome), −1: none. */
export const AL_LATENCY_US = 7;
/** ACCESS_* below, or the HTTP status of the director's own answer (400, 408, 431, 503). */
export const AL_OUTCOME = 8;
/** The Host's and path's lengths as received (more than the budget: cut). */
export const AL_HOST_LENGTH = 9;
export const AL_PATH_LENGTH = 10;
export const AL_RECORD_WORDS = 11;

// writer's scratch only (not stored): where the Host and path are in the source bytes
export const AL_HOST_START = 11;
export const AL_PATH_START = 12;
export const AL_SCRATCH_WORDS = 13;

/** The agent ACKed: the flow is the server's. */
export const ACCESS_ACKED = 1;
/** The client took the tried server's bytes first: the flow stays there, unanswered or refused. */
export const ACCESS_COMMITTED = 2;
/** The agent refused (NACK): the next server is tried (or a 503 follows). */
export const ACCESS_NACK = 3;
/** The agent never answered: the next server is tried (or a 503 follows). */
export const ACCESS_TIMEOUT = 4;

/** Outcome names as the log writes them; a director's own answer is its status ("503"). */
export function access_outcome_name(outcome: number): string {
  switch (outcome) {
    case ACCESS_ACKED:
      return "acked";
    case ACCESS_COMMITTED:
      return "committed";
    case ACCESS_NACK:
      return "nack";
    case ACCESS_TIMEOUT:
      return "timeout";
    default:
      return outcome >= 100 && outcome <= 599 ? String(outcome) : "unknown";
  }
}

export const ACCESS_LOG_DEFAULT_CAPACITY = 4096;
export const ACCESS_LOG_HOST_BYTES = 64;
export const ACCESS_LOG_PATH_BYTES = 192;

export interface AccessLogRing {
  readonly buffer: SharedArrayBuffer;
  readonly header: Int32Array;
  /** Records, power of two. */
  readonly capacity: number;
  readonly host_bytes: number;
  readonly path_bytes: number;
  /** Bytes per record (a multiple of 4). */
  readonly record_bytes: number;
  readonly words: Int32Array;
  readonly bytes: Uint8Array;
}

export interface AccessLogOptions {
  /** Records (a power of two, 2..2^20; default ACCESS_LOG_DEFAULT_CAPACITY). */
  capacity?: number;
  host_bytes?: number;
  path_bytes?: number;
}

function record_bytes_of(host_bytes: number, path_bytes: number): number {
  return AL_RECORD_WORDS * 4 + ((host_bytes + path_bytes + 3) & ~3);
}

function views(buffer: SharedArrayBuffer, header: Int32Array): AccessLogRing {
  const capacity = header[CAPACITY_WORD];
  const host_bytes = header[HOST_BYTES_WORD];
  const path_bytes = header[PATH_BYTES_WORD];
  return {
    buffer,
    header,
    capacity,
    host_bytes,
    path_bytes,
    record_bytes: record_bytes_of(host_bytes, path_bytes),
    words: new Int32Array(buffer),
    bytes: new Uint8Array(buffer),
  };
}

/** A new, empty ring in a fresh SharedArrayBuffer. */
export function create_access_log_ring(options: AccessLogOptions = {}): AccessLogRing {
  const capacity = options.capacity ?? ACCESS_LOG_DEFAULT_CAPACITY;
  const host_bytes = options.host_bytes ?? ACCESS_LOG_HOST_BYTES;
  const path_bytes = options.path_bytes ?? ACCESS_LOG_PATH_BYTES;
  if (
    !Number.isInteger(capacity) || capacity < 2 || capacity > 1 << 20 || (capacity & (capacity - 1))
  ) {
    throw new RangeError(`access log: capacity must be a power of two in 2..2^20, got ${capacity}`);
  }
  for (const [name, value] of [["host_bytes", host_bytes], ["path_bytes", path_bytes]] as const) {
    if (!Number.isInteger(value) || value < 0 || value > 4096) {
      throw new RangeError(`access log: ${name} must be an integer in 0..4096, got ${value}`);
    }
  }
  const buffer = new SharedArrayBuffer(
    HEADER_WORDS * 4 + capacity * record_bytes_of(host_bytes, path_bytes),
  );
  const header = new Int32Array(buffer, 0, HEADER_WORDS);
  header[MAGIC_WORD] = MAGIC;
  header[CAPACITY_WORD] = capacity;
  header[HOST_BYTES_WORD] = host_bytes;
  header[PATH_BYTES_WORD] = path_bytes;
  return views(buffer, header);
}

/** The views over a ring another Worker created (its buffer came in a message). */
export function open_access_log_ring(buffer: SharedArrayBuffer): AccessLogRing {
  if (!(buffer instanceof SharedArrayBuffer) || buffer.byteLength < HEADER_WORDS * 4) {
    throw new TypeError("access log: not a SharedArrayBuffer holding a ring");
  }
  const header = new Int32Array(buffer, 0, HEADER_WORDS);
  if (header[MAGIC_WORD] !== MAGIC) throw new TypeError("access log: wrong magic word");
  const ring = views(buffer, header);
  if (buffer.byteLength !== HEADER_WORDS * 4 + ring.capacity * ring.record_bytes) {
    throw new TypeError("access log: the buffer's size does not match its header");
  }
  return ring;
}

/** A scratch for write_access_record: AL_SCRATCH_WORDS words. */
export function create_access_scratch(): Int32Array {
  return new Int32Array(AL_SCRATCH_WORDS);
}

/** Records dropped because the ring was full. */
export function access_log_dropped(ring: AccessLogRing): number {
  return Atomics.load(ring.header, DROPPED_WORD);
}

/** Records written and not yet read. */
export function access_log_pending(ring: AccessLogRing): number {
  return (Atomics.load(ring.header, HEAD_WORD) - Atomics.load(ring.header, TAIL_WORD)) | 0;
}

/**
 * Writes one record (producer): the AL_* words of `record` (AL_STAMP aside),
 * the Host from text[AL_HOST_START ..] and the path from text[AL_PATH_START
 * ..] for their lengths, each cut to its budget. False, counted, when the
 * ring is full. Allocates nothing, never throws.
 */
export function write_access_record(
  ring: AccessLogRing,
  record: Int32Array,
  text: Uint8Array,
): boolean {
  const header = ring.header;
  const head = Atomics.load(header, HEAD_WORD);
  const tail = Atomics.load(header, TAIL_WORD);
  if (((head - tail) | 0) >= ring.capacity || ((head - tail) | 0) < 0) {
    Atomics.add(header, DROPPED_WORD, 1);
    return false;
  }
  const base = HEADER_WORDS * 4 + (head & (ring.capacity - 1)) * ring.record_bytes;
  const w = base >> 2;
  const words = ring.words;
  const stamp = (head + 1) | 0;
  Atomics.store(words, w + AL_STAMP, ~stamp); // not the stamp the reader expects while writing
  for (let k = 1; k < AL_RECORD_WORDS; k++) words[w + k] = record[k];
  const bytes = ring.bytes;
  const host_at = base + AL_RECORD_WORDS * 4;
  const host_n = cut_length(text, record[AL_HOST_START], record[AL_HOST_LENGTH], ring.host_bytes);
  for (let i = 0; i < host_n; i++) bytes[host_at + i] = text[record[AL_HOST_START] + i];
  const path_at = host_at + ring.host_bytes;
  const path_n = cut_length(text, record[AL_PATH_START], record[AL_PATH_LENGTH], ring.path_bytes);
  for (let i = 0; i < path_n; i++) bytes[path_at + i] = text[record[AL_PATH_START] + i];
  // a range outside the text was not copied: the record says there was none
  if (host_n === 0) words[w + AL_HOST_LENGTH] = 0;
  if (path_n === 0) words[w + AL_PATH_LENGTH] = 0;
  Atomics.store(words, w + AL_STAMP, stamp);
  Atomics.store(header, HEAD_WORD, stamp);
  return true;
}

/** How many bytes of text[start, start + length) fit the budget; 0 for a range outside text. */
function cut_length(text: Uint8Array, start: number, length: number, budget: number): number {
  // Four positional numbers (style exception): called per record in the poll loop.
  const n = length < budget ? length : budget;
  return n > 0 && start >= 0 && start + n <= text.length ? n : 0;
}

/** One record as the reader returns it. */
export interface AccessRecord {
  /** Wall-clock ms since 1970. */
  time_ms: number;
  client_ip: number;
  client_port: number;
  vip_ip: number;
  vip_port: number;
  /** Selection index, −1: none. */
  server: number;
  /** ms, or null when there was no hand-off. */
  latency_ms: number | null;
  outcome: number;
  host: string;
  path: string;
  /** The Host or path was longer than its budget. */
  truncated: boolean;
}

const decoder = new TextDecoder(); // non-fatal: cut UTF-8 becomes U+FFFD

/**
 * Reads up to max records (consumer; allocates). A record whose stamp is not
 * the one expected (torn, or overwritten) is counted in `torn` and skipped.
 */
export function read_access_records(
  ring: AccessLogRing,
  max = ring.capacity,
): { records: AccessRecord[]; torn: number } {
  const header = ring.header;
  const head = Atomics.load(header, HEAD_WORD);
  let tail = Atomics.load(header, TAIL_WORD);
  const records: AccessRecord[] = [];
  let torn = 0;
  while (tail !== head && records.length + torn < max) {
    const expected = (tail + 1) | 0;
    const base = HEADER_WORDS * 4 + (tail & (ring.capacity - 1)) * ring.record_bytes;
    const w = base >> 2;
    const words = ring.words;
    if (Atomics.load(words, w + AL_STAMP) !== expected) {
      torn++;
    } else {
      const record = decode_record(ring, base);
      if (Atomics.load(words, w + AL_STAMP) === expected) records.push(record);
      else torn++;
    }
    tail = expected;
    Atomics.store(header, TAIL_WORD, tail);
  }
  return { records, torn };
}

function decode_record(ring: AccessLogRing, base: number): AccessRecord {
  const words = ring.words;
  const w = base >> 2;
  const host_length = words[w + AL_HOST_LENGTH];
  const path_length = words[w + AL_PATH_LENGTH];
  const text = (at: number, length: number, budget: number) => {
    const n = Math.max(0, Math.min(length, budget));
    return decoder.decode(ring.bytes.slice(at, at + n));
  };
  const latency = words[w + AL_LATENCY_US];
  const ports = words[w + AL_PORTS];
  return {
    time_ms: (words[w + AL_TIME_HI] >>> 0) * 2 ** 32 + (words[w + AL_TIME_LO] >>> 0),
    client_ip: words[w + AL_CLIENT_IP] >>> 0,
    client_port: ports >>> 16,
    vip_ip: words[w + AL_VIP_IP] >>> 0,
    vip_port: ports & 0xffff,
    server: words[w + AL_SERVER],
    latency_ms: latency < 0 ? null : latency / 1000,
    outcome: words[w + AL_OUTCOME],
    host: text(base + AL_RECORD_WORDS * 4, host_length, ring.host_bytes),
    path: text(base + AL_RECORD_WORDS * 4 + ring.host_bytes, path_length, ring.path_bytes),
    truncated: host_length > ring.host_bytes || path_length > ring.path_bytes,
  };
}
