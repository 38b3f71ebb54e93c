// Builds the lab's network that topology.ts describes: namespaces with their
// sysctls, veth pairs created directly in their two namespaces (never in the
// host's), the fabric and control bridges, offloads off and addresses on. It
// also finds the namespaces a lab with a given prefix owns, by exact name, so
// tear-down never touches anybody else's.

import { in_namespace, run, tool } from "./shell.ts";
import {
  type Lab,
  type LabEcmp,
  mac,
  MAX_LAB_DIRECTORS,
  MAX_LAB_SERVERS,
  namespace_names,
} from "./topology.ts";
import { type LabState, write_state } from "./state.ts";

export async function create_namespaces(lab: Lab, state: LabState): Promise<void> {
  const ip = tool("ip");
  for (const ns of namespace_names(lab.prefix, lab.servers.length, lab.ecmp?.directors.length)) {
    await run([ip, "netns", "add", ns], { check: true });
    state.namespaces.push(ns);
    await write_state(state);
    // Before any veth exists, so every interface is born with IPv6 off (no DAD noise).
    await in_namespace(ns, [
      "sysctl",
      "-q",
      "-w",
      "net.ipv6.conf.all.disable_ipv6=1",
      "net.ipv6.conf.default.disable_ipv6=1",
      "net.ipv4.ip_forward=0",
    ], { check: true });
    await run([ip, "-n", ns, "link", "set", "lo", "up"], { check: true });
  }
  // Bridged frames must not detour through iptables (the sysctls exist only
  // when br_netfilter is present; -e ignores them otherwise).
  await in_namespace(lab.namespaces.switch, [
    "sysctl",
    "-q",
    "-e",
    "-w",
    "net.bridge.bridge-nf-call-iptables=0",
    "net.bridge.bridge-nf-call-ip6tables=0",
    "net.bridge.bridge-nf-call-arptables=0",
  ], { check: true });
  for (const server of lab.servers) {
    // Direct server return: the server holds the VIP but must never answer ARP for it.
    await in_namespace(server.ns, [
      "sysctl",
      "-q",
      "-w",
      "net.ipv4.conf.all.arp_ignore=1",
      "net.ipv4.conf.all.arp_announce=2",
      "net.ipv4.conf.default.arp_ignore=1",
      "net.ipv4.conf.default.arp_announce=2",
    ], { check: true });
  }
}

/** One veth pair, created directly in its two namespaces (never in the host's). */
interface VethEnd {
  ns: string;
  name: string;
  mac: string;
  /** For an end in the switch namespace: its bridge (default br0, the fabric). */
  bridge?: string;
}

export async function create_links(lab: Lab): Promise<void> {
  const ip = tool("ip");
  const sw = lab.namespaces.switch;
  const dp = lab.namespaces.dp;
  await run([ip, "-n", sw, "link", "add", "br0", "address", lab.bridge.mac, "type", "bridge"], {
    check: true,
  });
  await run([ip, "-n", sw, "link", "add", lab.control.bridge, "type", "bridge"], { check: true });
  await run([
    ip,
    "-n",
    sw,
    "link",
    "set",
    "br0",
    "type",
    "bridge",
    "stp_state",
    "0",
    "forward_delay",
    "0",
  ], {
    check: true,
  });
  const pairs: [VethEnd, VethEnd][] = [
    [
      { ns: sw, name: lab.client.switch_port, mac: mac(0x10, 0x01) },
      { ns: lab.client.ns, name: lab.client.if, mac: lab.client.mac },
    ],
    [
      { ns: sw, name: lab.director_peer_if, mac: lab.director_peer_mac },
      { ns: dp, name: lab.director_if, mac: lab.director_mac },
    ],
  ];
  // the control network: kernel interfaces only (no DPDK reads them)
  pairs.push([
    { ns: sw, name: "pcdp", mac: mac(0x20, 0x00), bridge: lab.control.bridge },
    { ns: dp, name: lab.control.dp_if, mac: mac(0x21, 0x00) },
  ]);
  for (const server of lab.servers) {
    pairs.push([
      { ns: sw, name: `pcs${server.id}`, mac: mac(0x20, server.id), bridge: lab.control.bridge },
      { ns: server.ns, name: "ctl0", mac: mac(0x21, server.id) },
    ]);
  }
  if (lab.ecmp) pairs.splice(0, 1, ...ecmp_pairs(lab, lab.ecmp));
  for (const server of lab.servers) {
    pairs.push([
      { ns: sw, name: server.agent_fabric_peer_if, mac: server.agent_fabric_peer_mac },
      { ns: dp, name: server.agent_fabric_if, mac: server.agent_fabric_mac },
    ]);
    pairs.push([
      { ns: dp, name: server.agent_server_if, mac: server.agent_server_mac },
      { ns: server.ns, name: server.if, mac: server.mac },
    ]);
  }
  for (const [a, b] of pairs) {
    await run([
      ip,
      "-n",
      a.ns,
      "link",
      "add",
      a.name,
      "address",
      a.mac,
      "type",
      "veth",
      "peer",
      "name",
      b.name,
      "address",
      b.mac,
      "netns",
      b.ns,
    ], { check: true });
    for (const end of [a, b]) {
      await disable_offloads(end);
      if (end.ns === sw) {
        await run([ip, "-n", sw, "link", "set", end.name, "master", end.bridge ?? "br0"], {
          check: true,
        });
      }
      await run([ip, "-n", end.ns, "link", "set", end.name, "up"], { check: true });
    }
  }
  await run([ip, "-n", sw, "link", "set", "br0", "up"], { check: true });
  await run([ip, "-n", sw, "link", "set", lab.control.bridge, "up"], { check: true });
}

/**
 * The ECMP lab's pairs: the client behind the router instead of on the
 * switch, the router and each director host on the fabric, and each
 * director after the first its own port in dp (the first is the lab's dir0).
 */
function ecmp_pairs(lab: Lab, ecmp: LabEcmp): [VethEnd, VethEnd][] {
  const sw = lab.namespaces.switch;
  const { router } = ecmp;
  const pairs: [VethEnd, VethEnd][] = [
    [
      { ns: router.ns, name: router.client_if, mac: router.client_mac },
      { ns: lab.client.ns, name: lab.client.if, mac: lab.client.mac },
    ],
    [
      { ns: sw, name: router.fabric_peer_if, mac: router.fabric_peer_mac },
      { ns: router.ns, name: router.fabric_if, mac: router.fabric_mac },
    ],
  ];
  for (const d of ecmp.directors) {
    pairs.push([
      { ns: sw, name: d.host_peer_if, mac: d.host_peer_mac },
      { ns: d.host_ns, name: d.host_if, mac: d.host_mac },
    ]);
    if (d.id === 1) continue;
    pairs.push([
      { ns: sw, name: d.peer_if, mac: d.peer_mac },
      { ns: lab.namespaces.dp, name: d.if, mac: d.mac },
    ]);
  }
  return pairs;
}

/**
 * The ECMP lab's addresses and routes: the router forwards (multipath
 * hashed on the 4-tuple), the client's default route is the router, the
 * servers answer the client through it, the director hosts hold their
 * fabric address (BIRD's BGP and BFD run from it).
 */
async function configure_ecmp(lab: Lab, ecmp: LabEcmp): Promise<void> {
  const ip = tool("ip");
  const { router } = ecmp;
  await in_namespace(router.ns, [
    "sysctl",
    "-q",
    "-w",
    "net.ipv4.ip_forward=1",
    "net.ipv4.fib_multipath_hash_policy=1",
    "net.ipv4.conf.all.rp_filter=0",
    "net.ipv4.conf.default.rp_filter=0",
  ], { check: true });
  for (
    const [ns, address, dev] of [
      [router.ns, `${router.fabric_ip}/24`, router.fabric_if],
      [router.ns, `${router.client_ip}/24`, router.client_if],
      ...ecmp.directors.map((d) => [d.host_ns, `${d.host_ip}/24`, d.host_if]),
    ]
  ) {
    await run([ip, "-n", ns, "addr", "add", address, "dev", dev], { check: true });
  }
  await run([ip, "-n", lab.client.ns, "route", "add", "default", "via", router.client_ip], {
    check: true,
  });
  for (const server of lab.servers) {
    await run([ip, "-n", server.ns, "route", "add", "default", "via", router.fabric_ip], {
      check: true,
    });
  }
}

async function disable_offloads(end: VethEnd): Promise<void> {
  // A kernel sender's CHECKSUM_PARTIAL frames reach af_packet without a valid
  // checksum, and GRO builds frames larger than af_packet's ring frames.
  await in_namespace(end.ns, [
    "ethtool",
    "-K",
    end.name,
    "tx",
    "off",
    "rx",
    "off",
    "tso",
    "off",
    "gso",
    "off",
    "gro",
    "off",
  ], { check: true });
  // Not every kernel lets sg change on veth; harmless when it does not.
  await in_namespace(end.ns, ["ethtool", "-K", end.name, "sg", "off"]);
}

export async function configure_addresses(lab: Lab): Promise<void> {
  const ip = tool("ip");
  await run([ip, "-n", lab.client.ns, "addr", "add", `${lab.client.ip}/24`, "dev", "eth0"], {
    check: true,
  });
  await run([
    ip,
    "-n",
    lab.namespaces.dp,
    "addr",
    "add",
    `${lab.control.dp_ip}/24`,
    "dev",
    lab.control.dp_if,
  ], { check: true });
  for (const server of lab.servers) {
    await run([ip, "-n", server.ns, "addr", "add", `${server.ip}/24`, "dev", server.if], {
      check: true,
    });
    await run([ip, "-n", server.ns, "addr", "add", `${server.control_ip}/24`, "dev", "ctl0"], {
      check: true,
    });
    await run([ip, "-n", server.ns, "addr", "add", `${lab.vip}/32`, "dev", "lo"], {
      check: true,
    });
    await run([ip, "-n", server.ns, "addr", "add", `${lab.vip_l4}/32`, "dev", "lo"], {
      check: true,
    });
  }
  if (lab.ecmp) await configure_ecmp(lab, lab.ecmp);
}

export async function list_namespaces(): Promise<string[]> {
  const result = await run([tool("ip"), "-j", "netns", "list"], {});
  if (result.code !== 0 || result.stdout.trim() === "") return [];
  return (JSON.parse(result.stdout) as { name: string }[]).map((entry) => entry.name);
}

/** Namespaces that carry exactly the names a lab with this prefix creates. */
export async function our_namespaces(prefix: string, present?: Set<string>): Promise<string[]> {
  const names = present ? [...present] : await list_namespaces();
  const fixed = new Set([`${prefix}sw`, `${prefix}client`, `${prefix}dp`, `${prefix}rtr`]);
  for (let id = 1; id <= MAX_LAB_DIRECTORS; id++) fixed.add(`${prefix}dh${id}`);
  return names.filter((name) => {
    if (fixed.has(name)) return true;
    if (!name.startsWith(`${prefix}srv`)) return false;
    const id = name.slice(prefix.length + 3);
    return /^[1-9][0-9]*$/.test(id) && Number(id) <= MAX_LAB_SERVERS;
  });
}
