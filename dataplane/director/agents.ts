// The director's servers' agents as the selection table holds them: one
// word of a server's row (its MAC, its agent's fabric address and port, id,
// key slot), and which server an agent's datagram comes from. These read a
// row outside the table's seqlock: a server's words change only when the
// control Worker re-publishes that server (a config reload), and a torn read
// then costs one datagram to the old address, which the timers resend.

import {
  SELECTION_SERVER_AGENT_ID,
  SELECTION_SERVER_AGENT_IP,
  SELECTION_SERVER_AGENT_PORT,
  SELECTION_SERVER_COUNT,
  SELECTION_SERVER_WORDS,
  type SelectionTable,
} from "../selection_table.ts";

/** Word `word` (a SELECTION_SERVER_* offset) of server's row. */
export function server_word(table: SelectionTable, server: number, word: number): number {
  return table.servers[server * SELECTION_SERVER_WORDS + word];
}

/** The server whose agent sends from (ip, port), or −1: checked before any HMAC is computed. */
export function find_agent_server(table: SelectionTable, ip: number, port: number): number {
  let count = table.header[SELECTION_SERVER_COUNT];
  if (!(count >= 0 && count <= table.max_servers)) count = 0;
  const words = table.servers;
  for (let s = 0; s < count; s++) {
    const at = s * SELECTION_SERVER_WORDS;
    if (
      words[at + SELECTION_SERVER_AGENT_IP] === (ip | 0) &&
      words[at + SELECTION_SERVER_AGENT_PORT] === port
    ) {
      return s;
    }
  }
  return -1;
}

/** The server whose agent id is route_id (a TSval routing code's, ts_route.ts), or −1. */
export function find_routed_server(table: SelectionTable, route_id: number): number {
  let count = table.header[SELECTION_SERVER_COUNT];
  if (!(count >= 0 && count <= table.max_servers)) count = 0;
  const words = table.servers;
  for (let s = 0; s < count; s++) {
    if (words[s * SELECTION_SERVER_WORDS + SELECTION_SERVER_AGENT_ID] === route_id) return s;
  }
  return -1;
}
