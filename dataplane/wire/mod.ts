// What crosses a ring or the wire, defined once: the hand-off datagram and
// its reasons, the records on the rings between dataplane and control
// Workers, the HTTP request head the director reads, and the BFD control
// packet of its routing daemon's sessions. Both sides of each boundary read
// and write through these modules.
export * from "./access_log_ring.ts";
export * from "./bfd.ts";
export * from "./handoff.ts";
export * from "./handoff_checks.ts";
export * from "./handoff_frame.ts";
export * from "./handoff_header.ts";
export * from "./handoff_key.ts";
export * from "./handoff_latency.ts";
export * from "./handoff_record.ts";
export * from "./http_head_scan.ts";
export * from "./http_request.ts";
export * from "./reasons.ts";
export * from "./server_stats.ts";
