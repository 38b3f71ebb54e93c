// Flows of an earlier run of this agent. After a restart the server's stack
// still holds the connections handed off before it, but the agent has lost
// their translation state: their clients' segments would reach the stack in
// the director's sequence space. While `orphans_until` lasts (the idle
// timeout after start), burst.ts notes such a segment (a known VIP, no
// flow, and none this run ended or refused lately: state.ended) and drops
// it; if no hand-off claims its 4-tuple within
// ORPHAN_GRACE_MS (a director may forward a client's segment just before
// the agent has its HANDOFF), both ends are reset from that one segment:
//   the stack gets <SEQ=SEG.SEQ><CTL=RST> as the client (client → server
//   seq is never translated, so this is the stack's own next sequence
//   number, RFC 5961), which closes its socket; then a bare ACK
//   <SEQ=SEG.SEQ><ACK=SEG.ACK>, which the stack, with no socket left,
//   answers the way RFC 793 says: <SEQ=SEG.ACK><CTL=RST>, in the
//   director's space because the client's ACK is, and to the client's next
//   hop because the stack routes it (the agent knows no MAC for an orphan).
//   It passes the agent untouched, as any frame of no flow does.
// Runs from the service call; writes two frames per orphan in place
// (segments.ts), allocates nothing and never throws.

import { deadline_passed } from "../seq.ts";
import { flow_lookup } from "../flow_table.ts";
import { TCP_FLAG_ACK, TCP_FLAG_RST } from "../packet.ts";
import { type AgentState, C, ORPHAN_CAPACITY, ORPHAN_WORDS } from "./state.ts";
import { send_orphan_segment } from "./segments.ts";

/** Resets the orphans whose grace is over (and forgets those a hand-off claimed). */
export function reset_orphans(state: AgentState, now: number): void {
  const w = state.orphans;
  const now_ms = now | 0;
  while (state.orphan_count > 0) {
    const at = state.orphan_head * ORPHAN_WORDS;
    if (!deadline_passed(w[at + 7], now_ms)) return;
    state.orphan_head = (state.orphan_head + 1) % ORPHAN_CAPACITY;
    state.orphan_count--;
    const client_ip = w[at] >>> 0;
    const vip = w[at + 1] >>> 0;
    const client_port = w[at + 2] >>> 16;
    const vip_port = w[at + 2] & 0xffff;
    // handed off meanwhile, or refused (the director went to another server)
    if (flow_lookup(state.table, client_ip, vip, client_port, vip_port) >= 0) continue;
    if (flow_lookup(state.ended, client_ip, vip, client_port, vip_port) >= 0) continue;
    const ports = w[at + 2];
    const seq = w[at + 5] >>> 0;
    send_orphan_segment(state, w[at + 3], w[at + 4], client_ip, vip, ports, seq, 0, TCP_FLAG_RST);
    // the probe the stack answers with the client's RST
    send_orphan_segment(
      state,
      w[at + 3],
      w[at + 4],
      client_ip,
      vip,
      ports,
      seq,
      w[at + 6] >>> 0,
      TCP_FLAG_ACK,
    );
    const c = state.counters;
    c[C.orphans_reset]++;
    c[C.resets_to_stack]++;
  }
}
