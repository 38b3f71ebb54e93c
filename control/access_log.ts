// The director's access log, control side: drains the ring the poll loop
// writes (dataplane/wire/access_log_ring.ts) on a timer and writes one JSON
// line per hand-off outcome to stdout or appends it to a file. Off unless
// director.access_log is set. The poll loop never waits for it: when this
// side falls behind the ring fills and records are dropped and counted
// (access_log_dropped). A write error is reported once and the log goes on
// being drained (and dropped), so a full disk never stops the director.

import { u32_to_ip } from "../dataplane/mod.ts";
import {
  access_log_dropped,
  access_outcome_name,
  type AccessLogRing,
  type AccessRecord,
  read_access_records,
} from "../dataplane/wire/mod.ts";

/** How often the ring is drained. */
export const ACCESS_LOG_DRAIN_MS = 100;

/** One record as its JSON line (without the newline). */
export function format_access_record(
  record: AccessRecord,
  server_name: (index: number) => string | undefined,
): string {
  const status = record.outcome >= 100 ? record.outcome : null;
  return JSON.stringify({
    time: new Date(record.time_ms).toISOString(),
    client: `${u32_to_ip(record.client_ip)}:${record.client_port}`,
    vip: `${u32_to_ip(record.vip_ip)}:${record.vip_port}`,
    host: record.host,
    path: record.path,
    server: record.server >= 0 ? server_name(record.server) ?? null : null,
    handoff_ms: record.latency_ms,
    outcome: access_outcome_name(record.outcome),
    status,
    ...(record.truncated ? { truncated: true } : {}),
  });
}

export interface AccessLogDrain {
  /** Records written so far, records the ring dropped, torn records skipped. */
  stats(): { written: number; dropped: number; torn: number };
  /** Drains what is left and closes the file. */
  close(): Promise<void>;
}

/**
 * Starts draining `ring` every ACCESS_LOG_DRAIN_MS into `target` ("stdout"
 * or a file path, opened for append). server_name maps a selection index to
 * the name of the server in that entry now (entries keep their index for the
 * run, control/director/reload.ts).
 */
export async function start_access_log(
  ring: AccessLogRing,
  options: { target: string; server_name: (index: number) => string | undefined },
): Promise<AccessLogDrain> {
  const file = options.target === "stdout"
    ? undefined
    : await Deno.open(options.target, { write: true, create: true, append: true });
  const encoder = new TextEncoder();
  let written = 0;
  let torn = 0;
  let failed = false;
  const drain = () => {
    const read = read_access_records(ring);
    torn += read.torn;
    if (read.records.length === 0) return;
    const text = read.records.map((r) => format_access_record(r, options.server_name) + "\n")
      .join("");
    const bytes = encoder.encode(text);
    try {
      write_all(file ?? Deno.stdout, bytes);
      written += read.records.length;
    } catch (err) {
      if (!failed) console.error(`access log: cannot write ${options.target}: ${err}`);
      failed = true;
    }
  };
  const timer = setInterval(drain, ACCESS_LOG_DRAIN_MS);
  return {
    stats: () => ({ written, dropped: access_log_dropped(ring), torn }),
    close() {
      clearInterval(timer);
      drain();
      file?.close();
      return Promise.resolve();
    },
  };
}

function write_all(target: { writeSync(p: Uint8Array): number }, bytes: Uint8Array): void {
  let at = 0;
  while (at < bytes.length) at += target.writeSync(bytes.subarray(at));
}
