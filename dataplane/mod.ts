// The dataplane folder's face: the packet library a poll loop is built
// from, the forwarding engines, the pipeline specs a dataplane Worker
// takes, and the benchmark generator. The director, the agent and the wire
// formats have faces of their own (director/mod.ts, agent/mod.ts,
// wire/mod.ts).
export * from "./checksum.ts";
export * from "./packet.ts";
export * from "./frame_build.ts";
export * from "./frame_write.ts";
export * from "./frame_describe.ts";
export * from "./tcp_options.ts";
export * from "./seq.ts";
export * from "./flow_table.ts";
export * from "./engines/mod.ts";
export * from "./generator.ts";
export * from "./worker_protocol.ts";
export * from "./selection_table.ts";
export * from "./timer_wheel.ts";
export * from "./selection_key.ts";
export * from "./selection_publish.ts";
export * from "./burst_tally.ts";
export * from "./ts_route.ts";
