// The dataplane folder's face: what other folders may import.
export * from "./checksum.ts";
export * from "./packet.ts";
export * from "./tcp_options.ts";
export * from "./seq.ts";
export * from "./flow_table.ts";
