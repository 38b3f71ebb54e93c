// The director's control Worker: for every request head its dataplane
// read, it parses the request strictly, picks the server by content
// (weighted rendezvous hashing on Host + path, or the 4-tuple for L4 VIPs),
// sends the single HANDOFF datagram to that server's agent and retransmits
// it with back-off until HANDOFF_ACK. A NACK or a time-out moves on to the
// next server in rendezvous order; when none accepts, the client gets a 503.
// It also runs the health checks, answers the agents' FLOW_END, and keeps
// the numbers the metrics endpoint shows. It never touches packets. It
// reads a datagram only from a configured agent's control address
// (sources.ts, before any HMAC), under that agent's own key, and only if it
// names that agent and is fresh (the codec).
//
// This file is the Worker's entry and wires the parts: the main thread's
// messages (protocol.ts), the state (context.ts), the 1 ms poll of the rings
// (ring_link.ts → request.ts, pending.ts), the agents' datagrams
// (agent_link.ts → sources.ts, matching.ts, pending.ts), health checks
// (health.ts) and stats (stats.ts). One poll runs at a time: a tick while
// one awaits is skipped.

/// <reference lib="deno.worker" />

import { open_native } from "../../native/mod.ts";
import {
  DIRECTOR_EVENT_WORDS,
  EVENT_COMMITTED,
  EVENT_FLOW_GONE,
  new_decode_counters,
  VERDICT_WORDS,
} from "../../dataplane/wire/mod.ts";
import type { DirectorControl } from "./context.ts";
import type {
  DirectorControlMessage,
  DirectorControlReply,
  DirectorControlSpec,
} from "./protocol.ts";
import { create_servers, create_vips } from "./servers.ts";
import {
  director_control_stats,
  LATENCY_SAMPLES,
  new_control_counters,
  new_latency_buckets,
} from "./stats.ts";
import { on_agent_datagram, open_agent_socket } from "./agent_link.ts";
import { agent_addresses } from "./sources.ts";
import { take_event, take_request } from "./ring_link.ts";
import { on_request } from "./request.ts";
import { flow_committed, flow_gone, retransmit_due } from "./pending.ts";
import { start_health_checks } from "./health.ts";
import { create_guard, guarded } from "../guard.ts";

const POLL_MS = 1;

interface Running {
  ctl: DirectorControl;
  poll_timer: ReturnType<typeof setInterval>;
  health_timer: ReturnType<typeof setInterval>;
}

let running: Running | undefined;

self.onmessage = (event: MessageEvent<DirectorControlMessage>) => {
  // the main isolate's messages are ours, but a bug here must not end the process either
  on_message(event.data).catch((err) => console.error(`director control: ${err}`));
};

async function on_message(message: DirectorControlMessage): Promise<void> {
  if (message.type === "start") {
    try {
      running = await start(message.spec);
      self.postMessage(
        {
          type: "listening",
          address: `${message.spec.director.control.host}:${message.spec.director.control.port}`,
        } satisfies DirectorControlReply,
      );
    } catch (err) {
      self.postMessage(
        { type: "failed", error: (err as Error).message } satisfies DirectorControlReply,
      );
    }
  } else if (message.type === "stats") {
    self.postMessage(
      { type: "stats", stats: director_control_stats(running!.ctl) } satisfies DirectorControlReply,
    );
  } else if (message.type === "drain") {
    if (running) running.ctl.draining = true;
  } else {
    if (running) stop(running);
    self.postMessage(
      {
        type: "stopped",
        stats: director_control_stats(running!.ctl),
      } satisfies DirectorControlReply,
    );
  }
}

async function start(spec: DirectorControlSpec): Promise<Running> {
  const native = open_native();
  const director = spec.director;
  const epoch = crypto.getRandomValues(new Uint32Array(1))[0];
  const servers = await create_servers(director);
  const vips = create_vips(director, servers);
  const counters = new_control_counters();
  const socket = await open_agent_socket(director);
  socket.on("error", () => counters.send_errors++);
  const verdict = new Int32Array(VERDICT_WORDS);
  const event = new Int32Array(DIRECTOR_EVENT_WORDS);
  const ctl: DirectorControl = {
    spec,
    director,
    native,
    epoch,
    next_id: 1,
    draining: false,
    servers,
    agents_by_address: agent_addresses(servers),
    vips,
    pending: new Map(),
    pending_by_id: new Map(),
    forwarding: new Map(),
    latencies: new Float64Array(LATENCY_SAMPLES),
    latency_count: 0,
    latency_buckets: new_latency_buckets(),
    latency_sum_ms: 0,
    counters,
    decode_counters: new_decode_counters(),
    socket,
    verdict,
    verdict_bytes: new Uint8Array(verdict.buffer),
    record_buffer: new Uint8Array(65536),
    event,
    event_bytes: new Uint8Array(event.buffer),
    polling: false,
    guard: create_guard(counters, { name: "director control" }),
    wall_clock: () => Date.now(),
  };
  socket.on(
    "message",
    (datagram: Uint8Array, sender: { address: string; port: number }) =>
      guarded(
        ctl.guard,
        "reading an agent's datagram",
        () => on_agent_datagram(ctl, datagram, sender),
      ),
  );
  const poll_timer = setInterval(() => poll(ctl), POLL_MS);
  const health_timer = start_health_checks(ctl);
  return { ctl, poll_timer, health_timer };
}

function stop(run: Running): void {
  clearInterval(run.poll_timer);
  clearInterval(run.health_timer);
  run.ctl.socket.close();
}

/** Every POLL_MS: request records, FLOW_GONE events, then the HANDOFFs due for retransmission. */
async function poll(ctl: DirectorControl): Promise<void> {
  if (ctl.polling) return;
  ctl.polling = true;
  try {
    // flows the dataplane ended first: a port reused after a close sends the
    // old flow's FLOW_GONE before the new flow's request, and that order holds here
    for (let event = take_event(ctl); event !== null; event = take_event(ctl)) {
      if (event.type === EVENT_FLOW_GONE) flow_gone(ctl, event.key);
      else if (event.type === EVENT_COMMITTED) flow_committed(ctl, event.key);
      else ctl.counters.unexpected_events++;
    }
    for (let k = 0; k < 256; k++) {
      const bytes = take_request(ctl);
      if (bytes === null) break;
      await guarded(ctl.guard, "handing off a request", () => on_request(ctl, bytes));
    }
    await guarded(
      ctl.guard,
      "retransmitting hand-offs",
      () => retransmit_due(ctl, performance.now()),
    );
  } finally {
    ctl.polling = false;
  }
}
