// A pktgen-like source of TCP/IPv4 frames for benchmarks and --tx-first:
// one frame per flow, each flow a distinct 4-tuple, all of one length.
// "to_vip" frames go client → VIP (what a director or a forwarder sees);
// "from_vip" frames are a server stack's answers (what an agent translates),
// with a timestamp option as Linux sends them.

import { build_tcp } from "./frame_build.ts";
import type { TcpOption } from "./tcp_options.ts";

export interface GeneratorOptions {
  flows: number;
  /** Ethernet frame length without FCS (testpmd --txpkts); at least 54 (66 with timestamps). */
  frame_length: number;
  direction?: "to_vip" | "from_vip";
}

export const GENERATOR_VIP = "198.18.0.100";
export const GENERATOR_VIP_PORT = 80;
export const GENERATOR_CLIENT_MAC = "02:00:00:00:00:01";
export const GENERATOR_SERVER_MAC = "02:00:00:00:00:02";

/** Flow i's client side and its ISNs. */
export function generated_flow(flow: number) {
  return {
    client_ip: `198.18.${16 + ((flow >> 8) & 0x7f)}.${flow & 0xff}`,
    client_port: 1024 + (flow % 64000),
    client_isn: (0x1000_0000 + flow * 7919) >>> 0,
    server_isn: (0x2000_0000 + flow * 104729) >>> 0,
  };
}

export function generate_tcp_frames(options: GeneratorOptions): Uint8Array[] {
  const from_vip = options.direction === "from_vip";
  const options_list: TcpOption[] = from_vip
    ? [{ kind: "nop" }, { kind: "nop" }, { kind: "timestamp", tsval: 1000, tsecr: 2000 }]
    : [];
  const headers = 14 + 20 + 20 + (from_vip ? 12 : 0);
  const payload_length = Math.max(0, options.frame_length - headers);
  const frames: Uint8Array[] = [];
  for (let i = 0; i < options.flows; i++) {
    const flow = generated_flow(i);
    const client = {
      mac: GENERATOR_CLIENT_MAC,
      ip: flow.client_ip,
      port: flow.client_port,
      seq: flow.client_isn + 1,
    };
    const vip = {
      mac: GENERATOR_SERVER_MAC,
      ip: GENERATOR_VIP,
      port: GENERATOR_VIP_PORT,
      seq: flow.server_isn + 1,
    };
    const [src, dst] = from_vip ? [vip, client] : [client, vip];
    frames.push(build_tcp({
      src_mac: src.mac,
      dst_mac: dst.mac,
      src_ip: src.ip,
      dst_ip: dst.ip,
      src_port: src.port,
      dst_port: dst.port,
      seq: src.seq,
      ack: dst.seq,
      flags: 0x10,
      window: 65535,
      options: options_list,
      payload: new Uint8Array(payload_length).fill(0x61),
    }));
  }
  return frames;
}
