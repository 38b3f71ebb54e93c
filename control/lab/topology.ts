// The single-machine lab: network namespaces, veths and a bridge that stand
// in for a client, a switch, the hosts the DPDK roles run on, and N servers
// with their own kernel TCP stacks (nginx). Everything lives in namespaces
// the lab creates, named `${prefix}...`, and uses only 198.18.0.0/24
// (the benchmarking range), so two labs with different prefixes coexist and
// nothing touches the host's own network.
//
//   ns client: eth0 198.18.0.1 ──── pclient ┐
//                                            │  ns sw: br0 (no IP, stp off)
//   ns dp:     dir0 (director 198.18.0.2, hand-offs) ── pdir ─┤
//              ag{i}f (agent i) ─── pag{i}  ─┘
//              ag{i}s (agent i) ─── eth0 198.18.0.{10+i} in ns srv{i}
//                                   (+ VIP 198.18.0.100/32 on lo, nginx)
//
// The dp namespace holds only veth ends that DPDK reads through
// net_af_packet; they carry no IP and the namespace does not forward, so the
// kernel ignores their frames and baton alone moves packets between them.
//
// Fixed MACs (locally administered, 02:b7:...), i = server id in hex:
//   client eth0 02:b7:00:00:00:01   dir0   02:b7:00:00:00:02
//   srv{i} eth0 02:b7:00:00:01:ii   ag{i}s 02:b7:00:00:02:ii
//   ag{i}f      02:b7:00:00:03:ii   pag{i} 02:b7:00:00:11:ii
//   br0         02:b7:00:00:10:00   pclient 02:b7:00:00:10:01   pdir 02:b7:00:00:10:02
//
// This module is the description only: names, addresses, MACs and the
// af_packet vdev a DPDK port reads, computed from the prefix and the number
// of servers, the same on every call. network.ts creates what it describes.

import { BIG_FILE_SIZE, small_text } from "./content.ts";

/** The virtual IP the director owns and every server holds on lo (DSR). */
export const LAB_VIP = "198.18.0.100";
/** A second VIP, balanced by 4-tuple (no request read): every server holds it too. */
export const LAB_VIP_L4 = "198.18.0.101";
/** The lab's data subnet (client, VIP, servers' fabric addresses). */
export const LAB_SUBNET = "198.18.0.0/24";
/** The lab's control network: the dp namespace and the servers, on a bridge of its own. */
export const LAB_CONTROL_SUBNET = "198.19.0.0/24";
/** Servers whose addresses (198.18.0.11 ..) stay below the VIP. */
export const MAX_LAB_SERVERS = 89;
/** Directors behind the ECMP lab's router (198.18.0.2 .. 198.18.0.5). */
export const MAX_LAB_DIRECTORS = 4;
/** The ECMP lab's client subnet (the client 198.18.1.1, the router 198.18.1.254). */
export const LAB_CLIENT_SUBNET = "198.18.1.0/24";

export const DEFAULT_PREFIX = "bt-";

export interface LabServer {
  /** 1-based server number. */
  id: number;
  ns: string;
  /** The server's own interface (in ns), peer of agent_server_if. */
  if: string;
  ip: string;
  mac: string;
  /** Agent i's fabric-side port, in the dp namespace (DPDK reads it). */
  agent_fabric_if: string;
  agent_fabric_mac: string;
  /** The bridge port that is the peer of agent_fabric_if (in the switch ns). */
  agent_fabric_peer_if: string;
  agent_fabric_peer_mac: string;
  /** Agent i's server-side port, in the dp namespace (DPDK reads it). */
  agent_server_if: string;
  agent_server_mac: string;
  /** The server's address on the control network (health checks reach nginx here). */
  control_ip: string;
  nginx_conf: string;
  nginx_pid: number;
  docroot: string;
}

export interface Lab {
  prefix: string;
  state_dir: string;
  subnet: string;
  vip: string;
  vip_l4: string;
  namespaces: { client: string; switch: string; dp: string; servers: string[] };
  client: { ns: string; if: string; ip: string; mac: string; switch_port: string };
  bridge: { ns: string; name: string; mac: string };
  /** The director's fabric port, in the dp namespace (DPDK reads it). */
  director_if: string;
  director_mac: string;
  /** The director's own fabric address: hand-off datagrams come from it. */
  director_ip: string;
  /** The bridge port that is the peer of director_if. */
  director_peer_if: string;
  director_peer_mac: string;
  servers: LabServer[];
  /** The control network (a second bridge): hand-offs, health checks, metrics. */
  control: { subnet: string; bridge: string; dp_if: string; dp_ip: string };
  /** Same bytes on every server. */
  big_file: { path: string; size: number; sha256: string };
  small_file: { path: string; size: number };
  /** With --directors M: the router, the directors and their BIRDs (describe_ecmp_lab). */
  ecmp?: LabEcmp;
}

/** A director of the ECMP lab: its DPDK port and address, and the host beside it running BIRD. */
export interface LabEcmpDirector {
  /** 1-based. */
  id: number;
  /** Its fabric port in the dp namespace (DPDK reads it). */
  if: string;
  mac: string;
  ip: string;
  peer_if: string;
  peer_mac: string;
  /** The director's host namespace: a kernel veth on the fabric, where its BIRD runs. */
  host_ns: string;
  host_if: string;
  host_ip: string;
  host_mac: string;
  host_peer_if: string;
  host_peer_mac: string;
  bird: LabBird;
  /** Its metrics endpoint on the control network. */
  metrics: string;
}

/** One BIRD of the lab: its config, control socket and pid file. */
export interface LabBird {
  ns: string;
  conf: string;
  socket: string;
  pid_file: string;
  log: string;
  /** BGP AS number. */
  as: number;
}

export interface LabEcmp {
  /** The client's own subnet, behind the router. */
  client_subnet: string;
  router: {
    ns: string;
    /** On the fabric bridge. */
    fabric_if: string;
    fabric_ip: string;
    fabric_mac: string;
    fabric_peer_if: string;
    fabric_peer_mac: string;
    /** Towards the client. */
    client_if: string;
    client_ip: string;
    client_mac: string;
    bird: LabBird;
  };
  directors: LabEcmpDirector[];
  /** The BIRD protocol on each director host that announces the VIPs. */
  protocol: string;
}

export interface AfPacketOptions {
  qpairs?: number;
  blocksz?: number;
  framesz?: number;
  framecnt?: number;
  qdisc_bypass?: boolean;
}

/**
 * The EAL vdev string for a DPDK net_af_packet port on `iface` (DPDK 22.11
 * parameters: iface, qpairs, blocksz, framesz, framecnt, qdisc_bypass). The
 * default 2048-byte frame holds a 1500-byte MTU frame with af_packet's
 * header, which is why GRO must stay off on the interface.
 */
export function af_packet_vdev(
  index: number,
  iface: string,
  options: AfPacketOptions = {},
): string {
  const { qpairs = 1, blocksz = 4096, framesz = 2048, framecnt = 512 } = options;
  let vdev = `net_af_packet${index},iface=${iface},blocksz=${blocksz},framesz=${framesz}` +
    `,framecnt=${framecnt},qpairs=${qpairs}`;
  if (options.qdisc_bypass !== undefined) {
    vdev += `,qdisc_bypass=${options.qdisc_bypass ? 1 : 0}`;
  }
  return vdev;
}

export function mac(group: number, low: number): string {
  const hex = (n: number) => n.toString(16).padStart(2, "0");
  return `02:b7:00:00:${hex(group)}:${hex(low)}`;
}

export function state_dir(prefix: string): string {
  return `/tmp/baton-lab-${prefix}`;
}

export function namespace_names(prefix: string, servers: number, directors = 0): string[] {
  const names = [`${prefix}sw`, `${prefix}client`, `${prefix}dp`];
  for (let id = 1; id <= servers; id++) names.push(`${prefix}srv${id}`);
  // the ECMP lab's router and director hosts
  if (directors > 0) names.push(`${prefix}rtr`);
  for (let id = 1; id <= directors; id++) names.push(`${prefix}dh${id}`);
  return names;
}

export function describe_lab(prefix: string, servers: number): Lab {
  const dir = state_dir(prefix);
  const lab: Lab = {
    prefix,
    state_dir: dir,
    subnet: LAB_SUBNET,
    vip: LAB_VIP,
    vip_l4: LAB_VIP_L4,
    namespaces: {
      client: `${prefix}client`,
      switch: `${prefix}sw`,
      dp: `${prefix}dp`,
      servers: [],
    },
    client: {
      ns: `${prefix}client`,
      if: "eth0",
      ip: "198.18.0.1",
      mac: mac(0x00, 0x01),
      switch_port: "pclient",
    },
    bridge: { ns: `${prefix}sw`, name: "br0", mac: mac(0x10, 0x00) },
    director_if: "dir0",
    director_mac: mac(0x00, 0x02),
    director_ip: "198.18.0.2",
    director_peer_if: "pdir",
    director_peer_mac: mac(0x10, 0x02),
    servers: [],
    control: { subnet: LAB_CONTROL_SUBNET, bridge: "brc", dp_if: "ctl0", dp_ip: "198.19.0.1" },
    big_file: { path: "/big.bin", size: BIG_FILE_SIZE, sha256: "" },
    small_file: { path: "/small.txt", size: small_text(1).length },
  };
  for (let id = 1; id <= servers; id++) {
    const ns = `${prefix}srv${id}`;
    lab.namespaces.servers.push(ns);
    lab.servers.push({
      id,
      ns,
      if: "eth0",
      ip: `198.18.0.${10 + id}`,
      mac: mac(0x01, id),
      agent_fabric_if: `ag${id}f`,
      agent_fabric_mac: mac(0x03, id),
      agent_fabric_peer_if: `pag${id}`,
      agent_fabric_peer_mac: mac(0x11, id),
      agent_server_if: `ag${id}s`,
      agent_server_mac: mac(0x02, id),
      control_ip: `198.19.0.${10 + id}`,
      nginx_conf: `${dir}/srv${id}/nginx.conf`,
      nginx_pid: 0,
      docroot: `${dir}/srv${id}/www`,
    });
  }
  return lab;
}

export function check_prefix(prefix: string): string {
  // The longest namespace name is `${prefix}srv89`; keep it readable and safe in paths.
  if (!/^[a-z0-9][a-z0-9_-]{0,15}$/i.test(prefix)) {
    throw new Error(
      `lab: prefix '${prefix}' must be 1-16 letters, digits, '-' or '_' (starting alphanumeric)`,
    );
  }
  return prefix;
}

/**
 * The ECMP lab (--directors M): the lab of describe_lab with the client
 * moved behind a router (its own subnet, 198.18.1.0/24), the router on the
 * fabric bridge (198.18.0.254) running BIRD with eBGP to one BIRD per
 * director host, and M directors, each its own DPDK process on its own
 * port in the dp namespace (dir0, dir1, ..; 198.18.0.2, .3, ..), with a
 * host namespace beside it (198.18.0.201, ..) whose BIRD announces the VIPs
 * via that director's address (BFD to it). Director 1 keeps the single
 * director's names, MAC and address.
 *
 *   ns client: eth0 198.18.1.1 ── eth1 198.18.1.254 ns rtr eth0 198.18.0.254 ── prtr ┐
 *   ns dp: dir{k-1} (director k, 198.18.0.{1+k}) ── pdir / pdir{k} ─────────────────────┤ br0
 *   ns dh{k}: eth0 198.18.0.{200+k} (BIRD k) ── pdh{k} ──────────────────────────────────┘
 *
 * MACs: director k 02:b7:00:00:00:(1+k), its bridge port 02:b7:00:00:10:(1+k);
 * director host k eth0 02:b7:00:00:40:0k, its bridge port 02:b7:00:00:41:0k;
 * router eth0 02:b7:00:00:40:fe (bridge port 41:fe), eth1 02:b7:00:00:42:fe.
 */
export function describe_ecmp_lab(prefix: string, servers: number, directors: number): Lab {
  const lab = describe_lab(prefix, servers);
  const dir = lab.state_dir;
  const bird = (ns: string, name: string, as: number): LabBird => ({
    ns,
    conf: `${dir}/bird-${name}.conf`,
    socket: `${dir}/bird-${name}.ctl`,
    pid_file: `${dir}/bird-${name}.pid`,
    log: `${dir}/bird-${name}.log`,
    as,
  });
  lab.client.ip = "198.18.1.1";
  lab.client.switch_port = "";
  const ecmp: LabEcmp = {
    client_subnet: LAB_CLIENT_SUBNET,
    router: {
      ns: `${prefix}rtr`,
      fabric_if: "eth0",
      fabric_ip: "198.18.0.254",
      fabric_mac: mac(0x40, 0xfe),
      fabric_peer_if: "prtr",
      fabric_peer_mac: mac(0x41, 0xfe),
      client_if: "eth1",
      client_ip: "198.18.1.254",
      client_mac: mac(0x42, 0xfe),
      bird: bird(`${prefix}rtr`, "rtr", 65000),
    },
    directors: [],
    protocol: "baton_vips",
  };
  for (let id = 1; id <= directors; id++) {
    ecmp.directors.push({
      id,
      if: `dir${id - 1}`,
      mac: mac(0x00, 1 + id),
      ip: `198.18.0.${1 + id}`,
      peer_if: id === 1 ? lab.director_peer_if : `pdir${id}`,
      peer_mac: mac(0x10, 1 + id),
      host_ns: `${prefix}dh${id}`,
      host_if: "eth0",
      host_ip: `198.18.0.${200 + id}`,
      host_mac: mac(0x40, id),
      host_peer_if: `pdh${id}`,
      host_peer_mac: mac(0x41, id),
      bird: bird(`${prefix}dh${id}`, `dh${id}`, 65001),
      metrics: `${lab.control.dp_ip}:${9110 + id}`,
    });
  }
  lab.ecmp = ecmp;
  return lab;
}
