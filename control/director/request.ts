// A request record from the dataplane: decoded and parsed strictly, then
// the servers to try are chosen by content (weighted rendezvous hashing on
// Host + path + query, or on the 4-tuple for an L4 VIP) and the hand-off
// starts. Whatever cannot be handed off is answered by the dataplane
// (RESPOND): 400 or 431 for a bad head, 503 for an unknown VIP, while
// draining, or when the VIP has no server. A record that does not decode is
// counted and dropped.

import {
  decode_handoff_record,
  find_header_end,
  type FlowKey,
  parse_request_head,
} from "../../dataplane/wire/mod.ts";
import { u32_to_ip } from "../../dataplane/mod.ts";
import { l4_hash_key, url_key } from "./selection.ts";
import type { DirectorControl } from "./context.ts";
import { respond } from "./ring_link.ts";
import { server_order } from "./servers.ts";
import { abandon_handoff, start_handoff } from "./pending.ts";

/** A new request head from the dataplane: parse, choose, hand off. */
export function on_request(ctl: DirectorControl, bytes: Uint8Array): void {
  ctl.counters.requests++;
  const record = decode_handoff_record(bytes);
  if (!record) {
    ctl.counters.bad_records++;
    return;
  }
  const key: FlowKey = {
    client_ip: record.client_ip,
    vip: record.vip,
    client_port: record.client_port,
    vip_port: record.vip_port,
  };
  const vip = ctl.vips.get(record.vip);
  if (!vip) {
    respond(ctl, key, 503);
    return;
  }
  if (ctl.draining) {
    ctl.counters.refused_draining++;
    respond(ctl, key, 503);
    return;
  }
  let selection_key: string;
  if (vip.l4) {
    selection_key = l4_hash_key(key.client_ip, key.client_port, key.vip, key.vip_port);
  } else {
    // the record may carry body or pipelined bytes after the head: parse the head alone
    const end = find_header_end(record.request, 0, record.request.length);
    const head = parse_request_head(end < 0 ? record.request : record.request.subarray(0, end));
    if (!head.ok) {
      respond(ctl, key, head.status === 431 ? 431 : 400);
      return;
    }
    // the query selects content too (?page=2): it is part of the key
    const path = head.query === "" ? head.path : `${head.path}?${head.query}`;
    selection_key = url_key(head.host || u32_to_ip(record.vip), path);
  }
  const order = server_order(ctl, vip, selection_key);
  if (order.length === 0) {
    respond(ctl, key, 503);
    return;
  }
  try {
    start_handoff(ctl, record, key, order);
  } catch (err) {
    abandon_handoff(ctl, key);
    throw err; // counted and logged by the poll's guard
  }
}
