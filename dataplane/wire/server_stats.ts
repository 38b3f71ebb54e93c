// What the director's dataplane counts per server, in shared memory the
// control side reads (health, metrics, the demo): one row of
// SERVER_STAT_WORDS float64 per server (selection table index). The
// dataplane is the only writer; readers see each word whole (float64 in a
// SharedArrayBuffer) and need nothing more consistent than that.

/** Hand-offs ACKed by this server's agent: flows it was given. */
export const SS_SELECTIONS = 0;
/** Flows being forwarded to it now. */
export const SS_ACTIVE_FLOWS = 1;
/** Hand-offs it refused (NACK) or let time out. */
export const SS_HANDOFF_FAILURES = 2;
/** Failures since its last ACK: the control side takes it out of the selection at fail_after. */
export const SS_FAILURE_STREAK = 3;
export const SERVER_STAT_WORDS = 4;

export function create_server_stats(servers: number): SharedArrayBuffer {
  return new SharedArrayBuffer(Math.max(1, servers) * SERVER_STAT_WORDS * 8);
}

/** Server i's row, as a plain record (control side; allocates). */
export function read_server_stats(stats: Float64Array, server: number) {
  const at = server * SERVER_STAT_WORDS;
  return {
    selections: stats[at + SS_SELECTIONS],
    active_flows: stats[at + SS_ACTIVE_FLOWS],
    handoff_failures: stats[at + SS_HANDOFF_FAILURES],
    failure_streak: stats[at + SS_FAILURE_STREAK],
  };
}
