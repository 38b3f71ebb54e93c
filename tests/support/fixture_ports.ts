// The DPDK side of a packet-fixture harness: EAL on one lcore without
// hugepages or PCI, the given net_pcap vdevs as ports, a small pool; and the
// clean close that flushes the tx pcaps and leaves no runtime directory.

import { type Native, open_native } from "../../native/mod.ts";
import {
  close_ports,
  configure_ports,
  create_pool,
  discover_ports,
  init_eal,
  parse_app_options,
  type PortInfo,
  remove_runtime_dir,
} from "../../control/mod.ts";

export interface FixturePorts {
  native: Native;
  ports: PortInfo[];
  eal_args: string[];
}

export function open_fixture_ports(name: string, vdevs: string[]): FixturePorts {
  const eal_args = [
    "--no-huge",
    "-m",
    "256",
    "--no-pci",
    "-l",
    "0",
    "--log-level",
    "lib.eal:error",
    "--file-prefix",
    `bt-${name}-${Deno.pid}`,
    ...vdevs.flatMap((vdev) => ["--vdev", vdev]),
  ];
  const native = open_native();
  init_eal(native, eal_args);
  const app = parse_app_options(["--total-num-mbufs=4096"]);
  const ports = discover_ports(native, eal_args);
  create_pool(native, app, ports.length, 1);
  configure_ports(native, ports, app);
  return { native, ports, eal_args };
}

export function close_fixture_ports({ native, ports, eal_args }: FixturePorts): void {
  close_ports(native, ports);
  native.eal_cleanup();
  remove_runtime_dir(eal_args);
}
