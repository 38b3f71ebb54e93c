// The lab's face: network namespaces, nginx servers, a baton in the lab,
// impairment and capture, traffic and the demo; the ECMP lab's BIRDs and
// failover traffic. bench/ and tests/ import the lab through this module
// only. The lab's inner rooms (shell, topology,
// network, nginx, state, content) show here only what they showed before.
export * from "./lab.ts";
export {
  af_packet_vdev,
  type AfPacketOptions,
  type Lab,
  LAB_CLIENT_SUBNET,
  LAB_CONTROL_SUBNET,
  LAB_SUBNET,
  LAB_VIP,
  LAB_VIP_L4,
  type LabBird,
  type LabEcmp,
  type LabEcmpDirector,
  type LabServer,
  MAX_LAB_DIRECTORS,
  MAX_LAB_SERVERS,
} from "./topology.ts";
export { BIG_FILE_SIZE } from "./content.ts";
export {
  type CommandResult,
  in_namespace,
  type InNamespaceOptions,
  spawn_in_namespace,
  type SpawnInNamespaceOptions,
} from "./shell.ts";
export * from "./baton.ts";
export * from "./config.ts";
export * from "./impairment.ts";
export * from "./capture.ts";
export * from "./traffic.ts";
export * from "./dpdk_process.ts";
export * from "./demo.ts";
export { birdc, LAB_BFD, router_next_hops, wait_for_next_hops } from "./bird.ts";
export * from "./failover.ts";
export * from "./ecmp_site.ts";
