// The agent's dataplane, the folder's face: a bump in the wire in front of
// one server's kernel TCP stack. Frames of flows that are not handed off
// pass untouched; frames of handed-off flows are translated between the
// director's connection state (what the client sees) and the stack's
// (translate.ts). A hand-off datagram arrives on the fabric, to the
// server's own address at the hand-off port, and is read in the fabric
// burst (handoff_in.ts): the agent adopts the connection into the stack in
// the same pass (a SYN as the client, the stack's SYN/ACK consumed, ACK +
// request bytes until the stack acknowledges them: adoption.ts) and
// answers the director itself (answers.ts).
//
// Rooms: state.ts (flow words, counters, configuration), handoff_in.ts
// (the datagrams from the director), admission.ts (who and what is let in),
// replay_cache.ts, answers.ts (HANDOFF_ACK / NACK / FLOW_END, written in
// place), flow_ends.ts (FLOW_ENDs awaiting their ACK, on a timer wheel),
// adoption.ts, translate.ts, close.ts (FIN and RST, and which client
// segments may close a flow: RFC 5961), burst.ts (per-frame,
// allocation-free, never throws), service.ts (timers), segments.ts (the
// TCP segments the agent makes, written in place), runner.ts (one round of
// a pipeline). Other folders import only what is below.
export {
  AGENT_COUNTER_NAMES,
  AGENT_COUNTER_WORDS,
  AGENT_DROP_REASONS,
  AGENT_KEY_SLOT_BASE,
  type AgentState,
  create_agent_state,
  DEFAULT_AGENT_TIMERS,
  type HandoffIo,
} from "./state.ts";
export { address_usable, unusable_address } from "./admission.ts";
export { agent_install_flow } from "./adoption.ts";
export { agent_fabric_burst, agent_server_burst } from "./burst.ts";
export {
  agent_round,
  agent_runner_counters,
  type AgentRunner,
  create_agent_runner,
} from "./runner.ts";
