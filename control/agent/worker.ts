// The agent's control Worker: hand-off datagrams over a kernel UDP socket
// on the control network, and the rings to its dataplane. The protocol
// itself is link.ts's (which senders are read, authentication, freshness,
// the agent id, replays, admission, the answers to the dataplane's
// events); this file owns the socket, the rings and the 1 ms poll of the
// event ring, and runs every entry point under the guard. It never touches
// packets.

/// <reference lib="deno.worker" />

import dgram from "node:dgram";
import { open_native } from "../../native/mod.ts";
import {
  AGENT_EVENT_WORDS,
  create_agent_event,
  read_agent_event,
} from "../../dataplane/wire/mod.ts";
import { type AgentLink, create_agent_link, new_agent_link_counters } from "./link.ts";
import type { AgentControlMessage, AgentControlReply, AgentControlSpec } from "./protocol.ts";

import { create_guard, guarded } from "../guard.ts";

const EVENT_POLL_MS = 1;

let stop_worker: (() => void) | undefined;
let link: AgentLink | undefined;
const worker_counters = { send_errors: 0, internal_errors: 0 };
const guard = create_guard(worker_counters, { name: "agent control" });

self.onmessage = (event: MessageEvent<AgentControlMessage>) => {
  guarded(guard, `handling ${event.data.type}`, () => on_message(event.data));
};

async function on_message(message: AgentControlMessage): Promise<void> {
  if (message.type === "start") {
    try {
      stop_worker = await start(message.spec);
    } catch (err) {
      self.postMessage(
        { type: "failed", error: (err as Error).message } satisfies AgentControlReply,
      );
    }
  } else if (message.type === "stats") {
    self.postMessage({ type: "stats", counters: all_counters() } satisfies AgentControlReply);
  } else {
    stop_worker?.();
    self.postMessage({ type: "stopped", counters: all_counters() } satisfies AgentControlReply);
  }
}

function all_counters(): Record<string, number> {
  const counters = link?.counters ?? new_agent_link_counters();
  const decoded = Object.fromEntries(
    Object.entries(link?.decode_counters ?? {}).map(([reason, n]) => [`decode_${reason}`, n]),
  );
  return { ...counters, ...worker_counters, ...link?.replays.counters, ...decoded };
}

async function start(spec: AgentControlSpec): Promise<() => void> {
  const native = open_native();
  const socket = dgram.createSocket("udp4");
  const agent = await create_agent_link(spec, {
    enqueue: (record) => native.ring_enqueue(spec.adoption_ring, record),
    send: (datagram, to) =>
      socket.send(datagram, to.port, to.address, (err) => {
        if (err) worker_counters.send_errors++;
      }),
    now: () => performance.now(),
    wall_clock: () => Date.now(),
  });
  link = agent;

  socket.on(
    "message",
    (datagram: Uint8Array, from: { address: string; port: number }) =>
      guarded(guard, "reading a director's datagram", () => agent.on_datagram(datagram, from)),
  );

  const event_buffer = new Int32Array(AGENT_EVENT_WORDS);
  const event_bytes = new Uint8Array(event_buffer.buffer);
  // one event at a time (the polling guard), so one AgentEvent serves them all
  const event = create_agent_event();
  let polling = false;
  const poll_events = async () => {
    if (polling) return;
    polling = true;
    try {
      while (native.ring_dequeue(spec.event_ring, event_bytes) > 0) {
        const e = read_agent_event(event_buffer, 0, event);
        await guarded(guard, "answering the director for an event", () => agent.on_event(e));
      }
      await guarded(guard, "retransmitting FLOW_END", () => agent.tick());
    } finally {
      polling = false;
    }
  };

  await new Promise<void>((resolve, reject) => {
    socket.once("error", reject);
    socket.bind(spec.port, spec.host, () => {
      socket.off("error", reject);
      resolve();
    });
  });
  socket.on("error", () => worker_counters.send_errors++);
  const timer = setInterval(poll_events, EVENT_POLL_MS);
  self.postMessage(
    { type: "listening", address: `${spec.host}:${spec.port}` } satisfies AgentControlReply,
  );
  return () => {
    clearInterval(timer);
    socket.close();
  };
}
