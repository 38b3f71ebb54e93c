// The control Worker's UDP side towards the agents: the socket (bound to
// the director's control address), sending a datagram (best effort: a send
// error is counted, never thrown), and the FLOW_END an agent sends when a
// forwarded connection ends, which is always acknowledged. Hand-off answers
// (ACK, NACK) are pending.ts's; worker.ts routes each datagram.

import dgram from "node:dgram";
import { encode_message, flow_key_string, type FlowEnd } from "../../dataplane/wire/mod.ts";
import type { DirectorSection } from "../config.ts";
import type { DirectorControl } from "./context.ts";
import { tell_forget } from "./ring_link.ts";

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

export function send(
  ctl: DirectorControl,
  datagram: Uint8Array,
  to: { host: string; port: number },
): void {
  ctl.socket.send(datagram, to.port, to.host, (err) => {
    if (err) ctl.counters.send_errors++;
  });
}

/** The agent saw the connection end: forget the forwarding entry, acknowledge. */
export async function on_flow_end(
  ctl: DirectorControl,
  message: FlowEnd,
  sender: { address: string; port: number },
): Promise<void> {
  ctl.counters.flow_ends++;
  const flow = flow_key_string(message.key);
  const server = ctl.forwarding.get(flow);
  if (server !== undefined) {
    ctl.servers[server].active_flows--;
    ctl.forwarding.delete(flow);
    tell_forget(ctl, message.key);
  }
  // acknowledged even when unknown (a retransmission after we forgot it)
  const ack = await encode_message(
    { type: "flow_end_ack", epoch: message.epoch, id: message.id, key: message.key },
    ctl.hmac_key,
    { max_datagram: ctl.spec.max_datagram },
  );
  send(ctl, ack, { host: sender.address, port: sender.port });
}
