// A pktgen-like source of TCP/IPv4 frames for benchmarks and --tx-first:
// one frame per flow, each flow a distinct 4-tuple, all of one length.

import { build_tcp } from "./packet.ts";

export interface GeneratorOptions {
  flows: number;
  /** Ethernet frame length without FCS (testpmd --txpkts); at least 54. */
  frame_length: number;
}

const HEADERS = 14 + 20 + 20;

export function generate_tcp_frames(options: GeneratorOptions): Uint8Array[] {
  const payload_length = Math.max(0, options.frame_length - HEADERS);
  const frames: Uint8Array[] = [];
  for (let flow = 0; flow < options.flows; flow++) {
    frames.push(build_tcp({
      src_mac: "02:00:00:00:00:01",
      dst_mac: "02:00:00:00:00:02",
      src_ip: `198.18.${16 + ((flow >> 8) & 0x7f)}.${flow & 0xff}`,
      dst_ip: "198.18.0.100",
      src_port: 1024 + (flow % 64000),
      dst_port: 80,
      seq: (0x1000_0000 + flow * 7919) >>> 0,
      ack: (0x2000_0000 + flow * 104729) >>> 0,
      flags: 0x10,
      window: 65535,
      payload: new Uint8Array(payload_length).fill(0x61),
    }));
  }
  return frames;
}
