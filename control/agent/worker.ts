// The agent's control Worker: hand-off datagrams over a kernel UDP socket
// on the control network. It authenticates every datagram (HMAC), passes
// each HANDOFF to the dataplane over a ring, and turns the dataplane's
// events into HANDOFF_ACK / HANDOFF_NACK / FLOW_END datagrams for the
// director that sent the hand-off. It never touches packets.

/// <reference lib="deno.worker" />

import dgram from "node:dgram";
import { open_native } from "../../native/mod.ts";
import {
  AGENT_EVENT_WORDS,
  type AgentEvent,
  count_decode,
  create_agent_event,
  decode_message,
  encode_handoff_record,
  encode_message,
  EVENT_ADOPTED,
  EVENT_FLOW_END,
  EVENT_REFUSED,
  flow_key_string,
  type FlowEndReason,
  type FlowKey,
  type HandoffMessage,
  import_handoff_key,
  NACK_BAD_REQUEST,
  type NackReason,
  new_decode_counters,
  read_agent_event,
} from "../../dataplane/wire/mod.ts";
import {
  type Director,
  flow_end_acked,
  flow_end_sent,
  type PendingFlowEnds,
  retransmit_flow_ends,
} from "./flow_ends.ts";
import type { AgentControlMessage, AgentControlReply, AgentControlSpec } from "./protocol.ts";

import { create_guard, guarded } from "../guard.ts";

const EVENT_POLL_MS = 1;

let stop_worker: (() => void) | undefined;
const counters = {
  datagrams_received: 0,
  handoffs_queued: 0,
  handoffs_too_large: 0,
  cancels_received: 0,
  adoption_ring_full: 0,
  acks_sent: 0,
  nacks_sent: 0,
  flow_ends_sent: 0,
  flow_end_retransmits: 0,
  flow_ends_acked: 0,
  flow_ends_unanswered: 0,
  unexpected_messages: 0,
  events_without_director: 0,
  send_errors: 0,
  internal_errors: 0,
};
const decode_counters = new_decode_counters();
const guard = create_guard(counters, { name: "agent control" });

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
  const decoded = Object.fromEntries(
    Object.entries(decode_counters).map(([reason, n]) => [`decode_${reason}`, n]),
  );
  return { ...counters, ...decoded };
}

async function start(spec: AgentControlSpec): Promise<() => void> {
  const native = open_native();
  const hmac_key = await import_handoff_key(spec.key);
  const socket = dgram.createSocket("udp4");
  /** Who handed each flow off: where its ACK/NACK/FLOW_END go. */
  const directors = new Map<string, Director>();
  const pending_flow_ends: PendingFlowEnds = new Map();
  const send = (datagram: Uint8Array, to: Director) => {
    socket.send(datagram, to.port, to.address, (err) => {
      if (err) counters.send_errors++;
    });
  };

  socket.on(
    "message",
    (datagram: Uint8Array, from: { address: string; port: number }) =>
      guarded(guard, "reading a director's datagram", () => on_datagram(datagram, from)),
  );

  async function on_datagram(datagram: Uint8Array, from: { address: string; port: number }) {
    counters.datagrams_received++;
    const result = await decode_message(datagram, hmac_key, { max_datagram: spec.max_datagram });
    count_decode(decode_counters, result);
    if (!result.ok) return; // counted by reason; nothing is answered to a bad datagram
    const message = result.message;
    const flow = flow_key_string(message.key);
    const director = { address: from.address, port: from.port };
    if (message.type === "handoff") {
      directors.set(flow, director);
      if (message.state.request.length > spec.max_request) {
        counters.handoffs_too_large++;
        send(await reply(message, "handoff_nack", NACK_BAD_REQUEST), director);
        counters.nacks_sent++;
        return;
      }
      const request = encode_handoff_record({
        epoch: message.epoch,
        id: message.id,
        ...message.key,
        ...message.state,
      });
      if (native.ring_enqueue(spec.adoption_ring, request)) counters.handoffs_queued++;
      else counters.adoption_ring_full++; // the director retransmits
    } else if (message.type === "handoff_cancel") {
      // the director went elsewhere: the dataplane resets the stack's side and forgets the flow
      counters.cancels_received++;
      const cancel = encode_handoff_record({
        epoch: message.epoch,
        id: message.id,
        ...message.key,
        client_mac: new Uint8Array(6),
        client_isn: 0,
        director_next_seq: 0,
        client_window: 0,
        client_mss: 0,
        client_wscale: 255,
        director_wscale: 255,
        sack_permitted: false,
        timestamps: false,
        cancel: true,
        client_tsval: 0,
        director_tsval: 0,
        request: new Uint8Array(0),
      });
      if (!native.ring_enqueue(spec.adoption_ring, cancel)) counters.adoption_ring_full++;
      directors.delete(flow);
    } else if (message.type === "flow_end_ack") {
      if (flow_end_acked(pending_flow_ends, flow)) counters.flow_ends_acked++;
    } else {
      counters.unexpected_messages++;
    }
  }

  async function reply(
    to: { epoch: number; id: number; key: FlowKey },
    type: "handoff_ack" | "handoff_nack",
    reason: number,
  ): Promise<Uint8Array> {
    const message = type === "handoff_ack"
      ? { type, epoch: to.epoch, id: to.id, key: to.key } as HandoffMessage
      : {
        type,
        epoch: to.epoch,
        id: to.id,
        key: to.key,
        reason: reason as NackReason,
      } as HandoffMessage;
    return await encode_message(message, hmac_key, { max_datagram: spec.max_datagram });
  }

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
        await guarded(guard, "answering the director for an event", () => handle_event(e));
      }
      await guarded(
        guard,
        "retransmitting FLOW_END",
        () => retransmit_flow_ends(pending_flow_ends, performance.now(), send, counters),
      );
    } finally {
      polling = false;
    }
  };

  async function handle_event(e: AgentEvent) {
    const { type, reason } = e;
    const key: FlowKey = {
      client_ip: e.client_ip,
      vip: e.vip,
      client_port: e.client_port,
      vip_port: e.vip_port,
    };
    const flow = flow_key_string(key);
    const director = directors.get(flow);
    if (!director) {
      counters.events_without_director++;
      return;
    }
    const ids = { epoch: e.epoch, id: e.id, key };
    if (type === EVENT_ADOPTED) {
      send(await reply(ids, "handoff_ack", 0), director);
      counters.acks_sent++;
    } else if (type === EVENT_REFUSED) {
      send(await reply(ids, "handoff_nack", reason), director);
      counters.nacks_sent++;
      directors.delete(flow);
    } else if (type === EVENT_FLOW_END) {
      const datagram = await encode_message(
        {
          type: "flow_end",
          ...ids,
          reason: reason as FlowEndReason,
          counts: {
            packets_to_server: e.packets_to_server,
            packets_to_client: e.packets_to_client,
          },
        },
        hmac_key,
        { max_datagram: spec.max_datagram },
      );
      send(datagram, director);
      counters.flow_ends_sent++;
      flow_end_sent(pending_flow_ends, flow, datagram, director, performance.now());
      directors.delete(flow);
    }
  }

  await new Promise<void>((resolve, reject) => {
    socket.once("error", reject);
    socket.bind(spec.port, spec.host, () => {
      socket.off("error", reject);
      resolve();
    });
  });
  socket.on("error", () => counters.send_errors++);
  const timer = setInterval(poll_events, EVENT_POLL_MS);
  self.postMessage(
    { type: "listening", address: `${spec.host}:${spec.port}` } satisfies AgentControlReply,
  );
  return () => {
    clearInterval(timer);
    socket.close();
  };
}
