// The agent's side of the hand-off protocol, without its socket or its
// rings (the Worker, worker.ts, passes them in), so a test drives it with
// plain functions. A datagram is read only from a configured director
// (admission.ts; before any HMAC), authenticated under this agent's own
// key, and must name this agent and be fresh (the codec). A HANDOFF this
// agent has finished with is a replay (replay_cache.ts): dropped, its NACK
// repeated if it was refused. One it must not take (a VIP its server does
// not hold, a client that cannot exist: admission.ts) or that is too large
// is refused with a NACK here. The rest go to the dataplane; its events
// come back as HANDOFF_ACK / HANDOFF_NACK / FLOW_END for the director that
// sent the hand-off. Nothing here throws on what a datagram contains:
// every outcome is a counter.

import {
  type AgentEvent,
  count_decode,
  decode_message,
  type DecodeCounters,
  encode_datagram,
  encode_handoff_record,
  EVENT_ADOPTED,
  EVENT_FLOW_END,
  EVENT_REFUSED,
  flow_key_string,
  type FlowEnd,
  type FlowEndReason,
  type FlowKey,
  type HandoffMessage,
  import_handoff_key,
  NACK_BAD_REQUEST,
  NACK_REASON_NAMES,
  type NackReason,
  new_decode_counters,
} from "../../dataplane/wire/mod.ts";
import {
  type Director,
  flow_end_acked,
  flow_end_sent,
  type PendingFlowEnds,
  retransmit_flow_ends,
} from "./flow_ends.ts";
import { admission_policy, admit_handoff, source_allowed, source_filter } from "./admission.ts";
import {
  create_replay_cache,
  handoff_finished,
  handoff_seen,
  type ReplayCache,
  sweep_replay_cache,
} from "./replay_cache.ts";
import type { AgentControlSpec } from "./protocol.ts";

/** What the link needs from its Worker. */
export interface AgentLinkIo {
  /** Puts a record on the adoption ring; false when the ring is full. */
  enqueue(record: Uint8Array): boolean;
  send(datagram: Uint8Array, to: Director): void;
  /** A monotonic clock (ms): retransmissions, the replay cache. */
  now(): number;
  /** The wall clock (ms since 1970) datagrams are stamped and checked with. */
  wall_clock(): number;
}

export function new_agent_link_counters() {
  return {
    datagrams_received: 0,
    handoffs_queued: 0,
    handoffs_too_large: 0,
    /** A HANDOFF whose hand-off already ended, was refused or cancelled: dropped, not adopted. */
    handoffs_replayed: 0,
    /** Refused (NACK) before the dataplane: a VIP this server does not hold. */
    refused_wrong_vip: 0,
    /** Refused (NACK) before the dataplane: a client address or port that cannot exist. */
    refused_bad_client: 0,
    cancels_received: 0,
    adoption_ring_full: 0,
    acks_sent: 0,
    nacks_sent: 0,
    flow_ends_sent: 0,
    flow_end_retransmits: 0,
    flow_ends_acked: 0,
    flow_ends_unanswered: 0,
    /** A FLOW_END_ACK for no FLOW_END of that hand-off waiting here. */
    flow_end_acks_unmatched: 0,
    unexpected_messages: 0,
    events_without_director: 0,
    /** A datagram that could not be built (counted and dropped, never thrown). */
    encode_failures: 0,
  };
}

export interface AgentLink {
  counters: ReturnType<typeof new_agent_link_counters>;
  /** By decode result, and unknown_source for senders that are not configured directors. */
  decode_counters: DecodeCounters;
  replays: ReplayCache;
  on_datagram(datagram: Uint8Array, from: Director): Promise<void>;
  on_event(event: AgentEvent): void;
  /** FLOW_END retransmissions that are due, and the replay cache's sweep. */
  tick(): void;
}

/** A hand-off's place in the directors Map. */
function handoff_key(epoch: number, id: number): string {
  return `${epoch >>> 0}:${id >>> 0}`;
}

export async function create_agent_link(
  spec: AgentControlSpec,
  io: AgentLinkIo,
): Promise<AgentLink> {
  const hmac_key = await import_handoff_key(spec.key);
  const counters = new_agent_link_counters();
  const decode_counters = new_decode_counters();
  const senders = source_filter(spec.directors);
  const policy = admission_policy(spec.vips);
  const replays = create_replay_cache({ freshness_ms: spec.freshness_ms });
  /** Who sent each hand-off (by handoff_key): where its ACK/NACK/FLOW_END go. */
  const directors = new Map<string, Director>();
  const pending_flow_ends: PendingFlowEnds = new Map();

  /** Encodes (this agent's id and key, stamped now) and sends; false (counted) if it cannot. */
  const send_message = (message: HandoffMessage, to: Director): boolean => {
    const encoded = encode_datagram(message, hmac_key, {
      max_datagram: spec.max_datagram,
      agent: spec.agent_id,
      now: io.wall_clock(),
    });
    if (!encoded.ok) {
      counters.encode_failures++;
      return false;
    }
    io.send(encoded.bytes, to);
    return true;
  };
  const answer = (
    to: { epoch: number; id: number; key: FlowKey },
    director: Director,
    nack?: NackReason,
  ) => {
    const ids = { epoch: to.epoch, id: to.id, key: to.key };
    if (nack === undefined) {
      if (send_message({ type: "handoff_ack", ...ids }, director)) counters.acks_sent++;
    } else if (send_message({ type: "handoff_nack", ...ids, reason: nack }, director)) {
      counters.nacks_sent++;
    }
  };
  /** A HANDOFF refused here, before the dataplane: NACK (bad_request), and it is finished. */
  const refuse = (message: { epoch: number; id: number; key: FlowKey }, director: Director) => {
    handoff_finished(replays, message.epoch, message.id, io.now(), NACK_BAD_REQUEST);
    answer(message, director, NACK_BAD_REQUEST);
  };

  async function on_datagram(datagram: Uint8Array, from: Director): Promise<void> {
    counters.datagrams_received++;
    if (!source_allowed(senders, from)) {
      decode_counters.unknown_source++; // not a configured director: not worth an HMAC
      return;
    }
    const result = await decode_message(datagram, hmac_key, {
      max_datagram: spec.max_datagram,
      agent: spec.agent_id,
      now: io.wall_clock(),
      freshness_ms: spec.freshness_ms,
    });
    count_decode(decode_counters, result);
    if (!result.ok) return; // counted by reason; nothing is answered to a bad datagram
    const message = result.message;
    const director = { address: from.address, port: from.port };
    if (message.type === "handoff") {
      const seen = handoff_seen(replays, message.epoch, message.id);
      if (seen.replay) {
        // finished here already: never adopted twice; a refusal is repeated (its NACK may be lost)
        counters.handoffs_replayed++;
        if (seen.nack !== undefined) answer(message, director, seen.nack);
        return;
      }
      const admission = admit_handoff(policy, message.key);
      if (!admission.ok) {
        counters[`refused_${admission.reason}`]++;
        refuse(message, director);
        return;
      }
      if (message.state.request.length > spec.max_request) {
        counters.handoffs_too_large++;
        refuse(message, director);
        return;
      }
      directors.set(handoff_key(message.epoch, message.id), director);
      const record = encode_handoff_record({
        epoch: message.epoch,
        id: message.id,
        ...message.key,
        ...message.state,
      });
      // a copy of a live hand-off goes on too: the dataplane answers it without adopting twice
      if (io.enqueue(record)) counters.handoffs_queued++;
      else counters.adoption_ring_full++; // the director retransmits
    } else if (message.type === "handoff_cancel") {
      // the director went elsewhere: the dataplane resets the stack's side and forgets the
      // flow if it is this very hand-off (it checks epoch and id); a late copy is a replay
      counters.cancels_received++;
      handoff_finished(replays, message.epoch, message.id, io.now());
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
      if (!io.enqueue(cancel)) counters.adoption_ring_full++;
      directors.delete(handoff_key(message.epoch, message.id));
    } else if (message.type === "flow_end_ack") {
      const flow = flow_key_string(message.key);
      if (flow_end_acked(pending_flow_ends, flow, message.epoch, message.id)) {
        counters.flow_ends_acked++;
      } else {
        counters.flow_end_acks_unmatched++;
      }
    } else {
      counters.unexpected_messages++;
    }
  }

  function on_event(e: AgentEvent): void {
    const { type, reason } = e;
    const key: FlowKey = {
      client_ip: e.client_ip,
      vip: e.vip,
      client_port: e.client_port,
      vip_port: e.vip_port,
    };
    const handoff = handoff_key(e.epoch, e.id);
    const director = directors.get(handoff);
    if (type === EVENT_REFUSED || type === EVENT_FLOW_END) {
      // finished: a copy of this HANDOFF from now on is a replay
      const nack = type === EVENT_REFUSED && Object.hasOwn(NACK_REASON_NAMES, reason)
        ? reason as NackReason
        : undefined;
      handoff_finished(replays, e.epoch, e.id, io.now(), nack);
      directors.delete(handoff);
    }
    if (!director) {
      counters.events_without_director++;
      return;
    }
    const ids = { epoch: e.epoch, id: e.id, key };
    if (type === EVENT_ADOPTED) {
      answer(ids, director);
    } else if (type === EVENT_REFUSED) {
      answer(ids, director, reason as NackReason);
    } else if (type === EVENT_FLOW_END) {
      const message: FlowEnd = {
        type: "flow_end",
        ...ids,
        reason: reason as FlowEndReason,
        counts: {
          packets_to_server: e.packets_to_server,
          packets_to_client: e.packets_to_client,
        },
      };
      if (!send_message(message, director)) return;
      counters.flow_ends_sent++;
      flow_end_sent(pending_flow_ends, flow_key_string(key), message, director, io.now());
    }
  }

  // each copy is encoded again: a fresh timestamp (flow_ends.ts)
  const resend_flow_end = (message: FlowEnd, to: Director) => void send_message(message, to);

  function tick(): void {
    const now = io.now();
    retransmit_flow_ends(pending_flow_ends, now, resend_flow_end, counters);
    sweep_replay_cache(replays, now);
  }

  return { counters, decode_counters, replays, on_datagram, on_event, tick };
}
