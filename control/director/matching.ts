// Which hand-off an agent's answer is about, before the director acts on
// it. An ACK or NACK must name a hand-off this director sent (its epoch, an
// id it issued) to that very agent for that very flow; a FLOW_END must name
// the hand-off that made the forwarded flow, from the agent that has it, so
// a replayed FLOW_END of an older hand-off (or one an agent makes up about
// another's flow) cannot tear down a newer flow on the same 4-tuple. Plain
// functions over the director's Maps (context.ts), tested without DPDK.

import {
  flow_key_string,
  type FlowEnd,
  type HandoffAck,
  type HandoffNack,
} from "../../dataplane/wire/mod.ts";
import type { Forwarded, Pending } from "./context.ts";

/** The part of the director's state an answer is matched against. */
export interface HandoffBook {
  epoch: number;
  /** The next id to issue: ids 1 .. next_id − 1 (mod 2^32) have been sent. */
  next_id: number;
  pending: Map<string, Pending>;
  pending_by_id: Map<number, string>;
  forwarding: Map<string, Forwarded>;
}

export type AnswerMatch =
  /** The answer to the hand-off in flight: act on it. */
  | { kind: "pending"; flow: string; pending: Pending }
  /** Again the answer that made this forwarded flow (a duplicate): nothing to do. */
  | { kind: "forwarded" }
  /** For a hand-off of ours no longer in flight (given up on): an ACK is answered with a CANCEL. */
  | { kind: "late" }
  /** Names no hand-off this director sent to that agent for that flow: counted, ignored. */
  | { kind: "unmatched" };

/** What an authentic ACK/NACK from `server`'s agent is about. */
export function match_answer(
  book: HandoffBook,
  message: HandoffAck | HandoffNack,
  server: number,
): AnswerMatch {
  if (message.epoch !== book.epoch || !issued(book, message.id)) return { kind: "unmatched" };
  const flow = flow_key_string(message.key);
  const pending_flow = book.pending_by_id.get(message.id);
  const pending = pending_flow === undefined ? undefined : book.pending.get(pending_flow);
  if (pending) {
    if (pending_flow !== flow || pending.server !== server) return { kind: "unmatched" };
    return { kind: "pending", flow, pending };
  }
  const forwarded = book.forwarding.get(flow);
  if (forwarded && forwarded.server === server && forwarded.id === message.id) {
    return { kind: "forwarded" };
  }
  return { kind: "late" };
}

export type FlowEndMatch =
  /** The end of the forwarded flow, from its agent, naming its hand-off: forget it, ACK. */
  | "end"
  /** A hand-off of ours whose flow is not forwarded (any more): ACK only, nothing torn down. */
  | "repeat"
  /** Another epoch, an id never issued, or a flow forwarded under another hand-off or agent. */
  | "unmatched";

/** What an authentic FLOW_END from `server`'s agent is about. */
export function match_flow_end(book: HandoffBook, message: FlowEnd, server: number): FlowEndMatch {
  if (message.epoch !== book.epoch || !issued(book, message.id)) return "unmatched";
  const forwarded = book.forwarding.get(flow_key_string(message.key));
  if (forwarded === undefined) return "repeat";
  return forwarded.id === message.id && forwarded.server === server ? "end" : "unmatched";
}

function issued(book: HandoffBook, id: number): boolean {
  // after 2^32 hand-offs every id has been used
  if (book.next_id > 2 ** 32) return true;
  return id >= 1 && id < book.next_id;
}
