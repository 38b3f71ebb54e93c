// The agent's dataplane, the folder's face: a bump in the wire in front of
// one server's kernel TCP stack. Frames of flows that are not handed off
// pass untouched; frames of handed-off flows are translated between the
// director's connection state (what the client sees) and the stack's
// (translate.ts). A hand-off makes the agent adopt the connection into the
// stack: a SYN as the client, the stack's SYN/ACK consumed, ACK + request
// bytes until the stack acknowledges them (adoption.ts).
//
// Rooms: state.ts (flow words, counters, configuration), events.ts (the
// event FIFO for the control Worker), adoption.ts, translate.ts, close.ts
// (FIN and RST, and which client segments may close a flow: RFC 5961),
// burst.ts (per-frame, allocation-free, never throws), service.ts (timers
// and the frames the agent makes), runner.ts (one round of a pipeline).
// Other folders import only what is below.
export {
  AGENT_COUNTER_NAMES,
  AGENT_COUNTER_WORDS,
  AGENT_DROP_REASONS,
  type AgentState,
  create_agent_state,
  DEFAULT_AGENT_TIMERS,
} from "./state.ts";
export { agent_install_flow } from "./adoption.ts";
export { agent_fabric_burst, agent_server_burst } from "./burst.ts";
export {
  agent_round,
  agent_runner_counters,
  type AgentRunner,
  create_agent_runner,
} from "./runner.ts";
