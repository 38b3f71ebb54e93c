// The records on the director's rings between its dataplane and its control
// Worker: verdicts (control → dataplane: forward the flow to a server, answer
// it, forget it) and events (dataplane → control: a flow is gone). Int32
// words; the hand-off request itself travels as a handoff_record.

/** control → dataplane verdicts: Int32 words. */
export const VERDICT_FORWARD = 1;
export const VERDICT_RESPOND = 2;
export const VERDICT_FORGET = 3;
/** A HANDOFF went to this server: forward the client's frames there while it adopts. */
export const VERDICT_TRY = 4;
/** type, client_ip, vip, ports, a, b (FORWARD: server MAC hi/lo; RESPOND: status) */
export const VERDICT_WORDS = 6;

/** dataplane → control events: a flow the control Worker knows about is gone. */
export const EVENT_FLOW_GONE = 1;
/** type, client_ip, vip, ports, reason */
export const DIRECTOR_EVENT_WORDS = 5;
export const GONE_CLIENT_RESET = 1;
export const GONE_IDLE = 2;
export const GONE_TIMEOUT = 3;
