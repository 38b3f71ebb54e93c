// The control Worker's UDP side towards the agents: the socket (bound to
// the director's control address), sending a message to a server's agent
// (encoded under that agent's key, naming it, stamped now; a message that
// will not encode and a send error are counted, never thrown), reading a
// datagram (only from a configured agent's address, sources.ts, before any
// HMAC; under that agent's key; it must name that agent and be fresh), and
// the FLOW_END an agent sends when a forwarded connection ends. A FLOW_END
// tears the flow down only when it names the hand-off that made it
// (matching.ts); a repeat of one whose flow is gone is acknowledged so the
// agent stops retransmitting. Hand-off answers (ACK, NACK) go to
// pending.ts.

import dgram from "node:dgram";
import {
  count_decode,
  decode_message,
  encode_datagram,
  flow_key_string,
  type FlowEnd,
  type HandoffMessage,
} from "../../dataplane/wire/mod.ts";
import type { DirectorSection } from "../config.ts";
import type { DirectorControl } from "./context.ts";
import { tell_forget } from "./ring_link.ts";
import { match_flow_end } from "./matching.ts";
import { agent_for_sender } from "./sources.ts";
import { on_handoff_answer } from "./pending.ts";

/** The socket, bound to the director's control address (rejects if it cannot be). */
export async function open_agent_socket(director: DirectorSection): Promise<dgram.Socket> {
  const socket = dgram.createSocket("udp4");
  await new Promise<void>((resolve, reject) => {
    socket.once("error", reject);
    socket.bind(director.control.port, director.control.host, () => {
      socket.off("error", reject);
      resolve();
    });
  });
  return socket;
}

/** The datagram for server's agent: its key, its id, this moment; undefined (counted) if none. */
export function encode_for_agent(
  ctl: DirectorControl,
  server: number,
  message: HandoffMessage,
): Uint8Array | undefined {
  const agent = ctl.servers[server];
  const encoded = encode_datagram(message, agent.hmac_key, {
    max_datagram: ctl.spec.max_datagram,
    agent: agent.agent_id,
    now: ctl.wall_clock(),
  });
  if (encoded.ok) return encoded.bytes;
  ctl.counters.encode_failures++;
  return undefined;
}

/** Encodes and sends a message to server's agent: false when it would not encode. */
export function send_to_agent(
  ctl: DirectorControl,
  server: number,
  message: HandoffMessage,
): boolean {
  const datagram = encode_for_agent(ctl, server, message);
  if (!datagram) return false;
  send(ctl, datagram, ctl.servers[server].agent);
  return true;
}

export function send(
  ctl: DirectorControl,
  datagram: Uint8Array,
  to: { host: string; port: number },
): void {
  ctl.socket.send(datagram, to.port, to.host, (err) => {
    if (err) ctl.counters.send_errors++;
  });
}

/** A datagram from an agent: hand-off answers to pending.ts, FLOW_END to on_flow_end. */
export async function on_agent_datagram(
  ctl: DirectorControl,
  datagram: Uint8Array,
  sender: { address: string; port: number },
): Promise<void> {
  const server = agent_for_sender(ctl.agents_by_address, sender);
  if (server === undefined) {
    ctl.decode_counters.unknown_source++; // not a configured agent: not worth an HMAC
    return;
  }
  const agent = ctl.servers[server];
  const result = await decode_message(datagram, agent.hmac_key, {
    max_datagram: ctl.spec.max_datagram,
    agent: agent.agent_id,
    now: ctl.wall_clock(),
    freshness_ms: ctl.spec.freshness_ms,
  });
  count_decode(ctl.decode_counters, result);
  if (!result.ok) return;
  const message = result.message;
  if (message.type === "handoff_ack" || message.type === "handoff_nack") {
    on_handoff_answer(ctl, message, server);
  } else if (message.type === "flow_end") {
    on_flow_end(ctl, message, server);
  } else {
    ctl.counters.unexpected_messages++;
  }
}

/** Server's agent saw a connection end: forget the forwarding entry if it is that hand-off's. */
export function on_flow_end(ctl: DirectorControl, message: FlowEnd, server: number): void {
  const match = match_flow_end(ctl, message, server);
  if (match === "unmatched") {
    // a replayed FLOW_END of an older hand-off, or about a flow this agent does not have
    ctl.counters.flow_ends_unmatched++;
    return;
  }
  if (match === "end") {
    ctl.counters.flow_ends++;
    const flow = flow_key_string(message.key);
    ctl.servers[server].active_flows--;
    ctl.forwarding.delete(flow);
    tell_forget(ctl, message.key);
  } else {
    ctl.counters.flow_end_repeats++; // its flow is gone here already (a retransmission)
  }
  send_to_agent(ctl, server, {
    type: "flow_end_ack",
    epoch: message.epoch,
    id: message.id,
    key: message.key,
  });
}
