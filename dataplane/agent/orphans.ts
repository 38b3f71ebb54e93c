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
// Slow path: runs from the service call, builds two frames per orphan.

import { deadline_passed } from "../seq.ts";
import { flow_lookup } from "../flow_table.ts";
import { bytes_to_mac, TCP_FLAG_ACK, TCP_FLAG_RST, u32_to_ip, write_mac_words } from "../packet.ts";
import { build_tcp } from "../frame_build.ts";
import { type AgentState, C, type EmitFrame, ORPHAN_CAPACITY, ORPHAN_WORDS } from "./state.ts";

/** Resets the orphans whose grace is over (and forgets those a hand-off claimed). */
export function reset_orphans(state: AgentState, now: number, emit: EmitFrame): void {
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
    const client_mac = new Uint8Array(6);
    write_mac_words(client_mac, 0, w[at + 3], w[at + 4]);
    emit(
      build_tcp({
        src_mac: bytes_to_mac(client_mac),
        dst_mac: bytes_to_mac(state.config.server_mac),
        src_ip: u32_to_ip(client_ip),
        dst_ip: u32_to_ip(vip),
        src_port: client_port,
        dst_port: vip_port,
        seq: w[at + 5] >>> 0,
        ack: 0,
        flags: TCP_FLAG_RST,
        window: 0,
      }),
      state.config.server_port,
    );
    // the probe the stack answers with the client's RST
    emit(
      build_tcp({
        src_mac: bytes_to_mac(client_mac),
        dst_mac: bytes_to_mac(state.config.server_mac),
        src_ip: u32_to_ip(client_ip),
        dst_ip: u32_to_ip(vip),
        src_port: client_port,
        dst_port: vip_port,
        seq: w[at + 5] >>> 0,
        ack: w[at + 6] >>> 0,
        flags: TCP_FLAG_ACK,
        window: 0,
      }),
      state.config.server_port,
    );
    const c = state.counters;
    c[C.orphans_reset]++;
    c[C.resets_to_stack]++;
  }
}
