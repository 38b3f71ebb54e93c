// The lab's face: network namespaces, nginx servers, a baton in the lab,
// impairment, traffic and the demo. bench/ and tests/ import the lab
// through this module only.
export * from "./lab.ts";
export * from "./baton.ts";
export * from "./config.ts";
export * from "./impairment.ts";
export * from "./traffic.ts";
export * from "./dpdk_process.ts";
export * from "./demo.ts";
