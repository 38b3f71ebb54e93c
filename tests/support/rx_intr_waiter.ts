// A thread that waits for one rx interrupt, the way a poll loop does when
// idle (native/mod.ts idle_*): watch the queue, drain it, arm, poll once
// more, say "waiting", then block in idle_wait until a frame carrying the
// marker has come. Reports every wait's outcome, in order. Run by
// rx_intr_main.ts, which sends the frame once this says "waiting".

/// <reference lib="deno.worker" />

import { DESC_WORDS, open_native } from "../../native/mod.ts";

export interface WaiterJob {
  port: number;
  slot: number;
  /** Bytes at offset 14 of the frame to wait for. */
  marker: number[];
  timeout_us: number;
  max_waits: number;
}

export type WaiterReport =
  | { state: "waiting"; watched_with_interrupts: boolean; armed: number }
  | { state: "done"; woke: number[]; marker_seen: boolean; polls_before_wait: number[] };

self.onmessage = (event: MessageEvent<WaiterJob>) => {
  const job = event.data;
  const native = open_native();
  native.thread_register(-1);
  native.idle_begin({ timer_slack_ns: 1000 });
  const watched_with_interrupts = native.idle_watch_queue(job.port, 0);
  const desc = native.slot_descriptors(job.slot);
  const bytes = native.region();
  const has_marker = (n: number) => {
    for (let i = 0; i < n; i++) {
      const offset = desc[i * DESC_WORDS];
      const at = bytes.subarray(offset + 14, offset + 14 + job.marker.length);
      if (job.marker.every((b, k) => at[k] === b)) return true;
    }
    return false;
  };
  const drain = () => {
    let seen = false;
    for (let n = native.rx_burst(job.port, 0, job.slot, 32); n > 0;) {
      seen = has_marker(n) || seen;
      native.free_burst(job.slot, n);
      n = native.rx_burst(job.port, 0, job.slot, 32);
    }
    return seen;
  };
  drain();
  const woke: number[] = [];
  const polls_before_wait: number[] = [];
  let marker_seen = false;
  let said_waiting = false;
  for (let k = 0; k < job.max_waits && !marker_seen; k++) {
    const armed = native.idle_arm();
    // the poll after arming: what came before it raised no interrupt
    const n = native.rx_burst(job.port, 0, job.slot, 32);
    polls_before_wait.push(n);
    if (n > 0) {
      marker_seen = has_marker(n);
      native.free_burst(job.slot, n);
      native.idle_disarm();
      continue;
    }
    if (!said_waiting) {
      self.postMessage({ state: "waiting", watched_with_interrupts, armed } satisfies WaiterReport);
      said_waiting = true;
    }
    woke.push(native.idle_wait(job.timeout_us));
    marker_seen = drain();
  }
  native.idle_end();
  native.thread_unregister();
  self.postMessage({ state: "done", woke, marker_seen, polls_before_wait } satisfies WaiterReport);
  self.close();
};
