// baton's io, mac and macswap modes against dpdk-testpmd's on the same input
// pcap: both read it through a net_pcap vdev and write a tx_pcap; every
// output frame must be byte-identical (pcap record timestamps are the time
// of sending and differ by nature, so frames are compared, not files).

import assert from "node:assert/strict";
import {
  baton_command,
  type DpdkProcess,
  spawn_dpdk,
  testpmd_command,
} from "../../control/lab/mod.ts";
import { build_arp, build_icmp_echo, build_tcp, build_udp } from "../../dataplane/mod.ts";
import { read_pcap, write_pcap } from "../support/pcap.ts";

const MODES = ["io", "mac", "macswap"] as const;

/** A mix of what a port sees: TCP with options and payloads up to MTU, UDP, ARP, ICMP, VLAN. */
function fixture_frames(): Uint8Array[] {
  const frames: Uint8Array[] = [];
  for (let i = 0; i < 600; i++) {
    const common = {
      src_mac: `02:00:00:00:01:${(i % 256).toString(16).padStart(2, "0")}`,
      dst_mac: "02:00:00:00:02:02",
      src_ip: `198.18.1.${i % 250 + 1}`,
      dst_ip: "198.18.0.100",
    };
    switch (i % 6) {
      case 0:
        frames.push(build_tcp({
          ...common,
          src_port: 1024 + i,
          dst_port: 80,
          seq: 0xffff_ff00 + i,
          flags: 0x02,
          options: [
            { kind: "mss", value: 1460 },
            { kind: "sack_permitted" },
            {
              kind: "timestamp",
              tsval: i,
              tsecr: 0,
            },
            { kind: "nop" },
            { kind: "wscale", shift: 7 },
          ],
        }));
        break;
      case 1:
        frames.push(
          build_tcp({ ...common, src_port: 1024 + i, dst_port: 80, payload: i * 2 % 1461 }),
        );
        break;
      case 2:
        frames.push(build_udp({ ...common, src_port: 5000, dst_port: 53, payload: i % 300 }));
        break;
      case 3:
        frames.push(build_arp({
          operation: "request",
          sender_mac: common.src_mac,
          sender_ip: common.src_ip,
          target_ip: "198.18.0.100",
          pad_to: 60,
        }));
        break;
      case 4:
        frames.push(build_icmp_echo({ ...common, id: 7, sequence: i, payload: 56 }));
        break;
      case 5:
        frames.push(
          build_tcp({ ...common, vlan: 100, src_port: 2000, dst_port: 443, payload: 100 }),
        );
        break;
    }
  }
  return frames;
}

interface Run {
  frames: Uint8Array[];
  output: string;
}

async function forward_pcap(
  program: "testpmd" | "baton",
  input: string,
  app_args: string[],
  frame_count: number,
): Promise<Run> {
  const dir = await Deno.makeTempDir({ prefix: `baton-pcap-${program}-` });
  const output_pcap = `${dir}/out.pcap`;
  const eal = [
    "--no-huge",
    "-m",
    "512",
    "--no-pci",
    "--file-prefix",
    `bt-pcap-${program}-${Deno.pid}`,
    "-l",
    "0,1",
    "--vdev",
    `net_pcap0,rx_pcap=${input},tx_pcap=${output_pcap}`,
  ];
  const args = [...eal, "--", ...app_args, "--total-num-mbufs=8192", "--stats-period", "1"];
  const process: DpdkProcess = spawn_dpdk(
    program === "testpmd" ? testpmd_command(args) : baton_command(args),
  );
  try {
    await process.wait_for(new RegExp(`TX-packets: ${frame_count}\\s`), 30_000);
  } finally {
    const code = await process.stop();
    if (code !== 0) {
      console.error(process.output());
    }
    assert.equal(code, 0, `${program} exit code`);
  }
  const frames = read_pcap(await Deno.readFile(output_pcap)).map((r) => r.frame);
  await Deno.remove(dir, { recursive: true });
  return { frames, output: process.output() };
}

function first_difference(a: Uint8Array[], b: Uint8Array[]): string {
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const x = a[i], y = b[i];
    if (!x || !y) return `frame ${i} missing on one side`;
    if (x.length !== y.length) return `frame ${i}: ${x.length} vs ${y.length} bytes`;
    for (let k = 0; k < x.length; k++) {
      if (x[k] !== y[k]) return `frame ${i} byte ${k}: ${x[k]} vs ${y[k]}`;
    }
  }
  return "none";
}

const cases: { description: string; app: string[]; changes_frames: boolean }[] = [
  ...MODES.map((mode) => ({
    description: `${mode}, chained topology`,
    app: [`--forward-mode=${mode}`, "--port-topology=chained", "--no-flush-rx"],
    changes_frames: mode !== "io",
  })),
  {
    description: "mac with --eth-peer, paired topology on one port (loops back, as testpmd)",
    app: ["--forward-mode=mac", "--eth-peer=0,02:b7:00:00:aa:01", "--no-flush-rx"],
    changes_frames: true,
  },
];

Deno.test({
  name: "forwarding modes: output pcap byte-identical to dpdk-testpmd's",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    const dir = await Deno.makeTempDir({ prefix: "baton-pcap-in-" });
    const input_frames = fixture_frames();
    const input = `${dir}/in.pcap`;
    await Deno.writeFile(input, write_pcap(input_frames));
    try {
      for (const c of cases) {
        await t.step(c.description, async () => {
          const reference = await forward_pcap("testpmd", input, c.app, input_frames.length);
          const ours = await forward_pcap("baton", input, c.app, input_frames.length);
          assert.equal(reference.frames.length, input_frames.length, "testpmd forwarded all");
          assert.equal(ours.frames.length, input_frames.length, "baton forwarded all");
          assert.equal(
            first_difference(ours.frames, reference.frames),
            "none",
            "baton's frames equal testpmd's",
          );
          // The mode really did something (or really did nothing, for io).
          const unchanged = first_difference(ours.frames, input_frames) === "none";
          assert.equal(unchanged, !c.changes_frames);
        });
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "forwarding: a missing vdev input file is a clear error, not a stack trace",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const process = spawn_dpdk(baton_command([
      "--no-huge",
      "-m",
      "256",
      "--no-pci",
      "--file-prefix",
      `bt-pcap-missing-${Deno.pid}`,
      "--vdev",
      "net_pcap0,rx_pcap=/nonexistent/in.pcap,tx_pcap=/tmp/never.pcap",
      "--",
      "--forward-mode=io",
    ]));
    const code = await process.exited;
    assert.equal(code, 1);
    assert.match(process.output(), /baton: .*net_pcap0.*/);
    assert.doesNotMatch(process.output(), /at .*\.ts:\d+/); // no stack trace
  },
});
