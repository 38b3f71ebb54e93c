// The records an agent's dataplane puts on its event ring for its control
// Worker, which turns each into a datagram for the director: ADOPTED
// (HANDOFF_ACK), REFUSED (HANDOFF_NACK with a reasons.ts NACK code) and
// FLOW_END (with a reasons.ts FLOW_END code and the flow's packet counts).
// Int32 words.

/** What the dataplane tells the control Worker (it answers the director). */
export const EVENT_ADOPTED = 1;
export const EVENT_REFUSED = 2;
export const EVENT_FLOW_END = 3;
export const EVENT_WORDS = 9; // type, reason, epoch, id, client_ip, vip, ports, to_server, to_client
