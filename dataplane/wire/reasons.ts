// Why a hand-off was refused (HANDOFF_NACK) and why a handed-off flow ended
// (FLOW_END): defined once, here. The agent's dataplane writes these codes
// into its events, the hand-off datagram carries them, and the director's
// control Worker counts them by name.

export const NACK_TABLE_FULL = 1;
export const NACK_STACK_RESET = 2;
export const NACK_STACK_TIMEOUT = 3;
export const NACK_BAD_REQUEST = 4;
export const NACK_DRAINING = 5;
export const NACK_INTERNAL = 6;
/** The stack declined an option the client negotiated that cannot be translated (timestamps). */
export const NACK_STACK_OPTIONS = 7;
export type NackReason = 1 | 2 | 3 | 4 | 5 | 6 | 7;
export const NACK_REASON_NAMES: Readonly<Record<NackReason, string>> = {
  1: "table_full",
  2: "stack_reset",
  3: "stack_timeout",
  4: "bad_request",
  5: "draining",
  6: "internal",
  7: "stack_options",
};

export const FLOW_END_FIN = 1;
export const FLOW_END_CLIENT_RESET = 2;
export const FLOW_END_SERVER_RESET = 3;
export const FLOW_END_IDLE_TIMEOUT = 4;
export type FlowEndReason = 1 | 2 | 3 | 4;
export const FLOW_END_REASON_NAMES: Readonly<Record<FlowEndReason, string>> = {
  1: "fin",
  2: "client_reset",
  3: "server_reset",
  4: "idle_timeout",
};
