// HAProxy as the comparison in the same lab, without changing the lab: while
// baton is stopped nobody reads dir0, so the dp namespace's kernel may own
// the VIP on it for a while. The client then reaches HAProxy at the same
// address through the same bridge and veth; HAProxy reaches the servers'
// nginx over the control network (ctl0), the only kernel path to them.
// Every response byte crosses HAProxy, where baton's bypass the director.

import { in_namespace, type Lab, spawn_dpdk } from "../control/lab/mod.ts";

/** HAProxy gets one thread: the same one core baton's dataplane lcore has. */
export const HAPROXY_THREADS = 1;

export function haproxy_config(lab: Lab): string {
  const servers = lab.servers.map((s) =>
    `  server srv${s.id} ${s.control_ip}:80 weight 1 check inter 1s fall 2 rise 1`
  );
  // No log lines: baton logs nothing per request either. The default http-keep-alive
  // mode is kept: HAProxy may reuse server-side connections, which is its own strength.
  return `# baton lab bench: HAProxy doing baton's URL-hash routing; written by bench/lab_haproxy.ts
global
  nbthread ${HAPROXY_THREADS}
  # far above wrk's connections, yet two fds each fit the 20000-fd hard limit seen here
  maxconn 8000

defaults
  mode http
  maxconn 8000
  timeout connect 5s
  timeout client 30s
  timeout server 30s

frontend vip
  bind ${lab.vip}:80
  default_backend servers

backend servers
  # the whole URI (path and query), consistent hashing: like baton's url_hash
  balance uri whole
  hash-type consistent
${servers.join("\n")}
`;
}

const ARP_IGNORE = "net.ipv4.conf.all.arp_ignore";
let saved_arp_ignore: string | null = null;

/**
 * The VIP on dir0 for HAProxy; /24 so the kernel also answers the client's ARP
 * there. The agents' fabric veths share the bridge and the namespace, and
 * Linux answers ARP for any local address on every interface: arp_ignore=1
 * keeps the answer to dir0, or the client may send to an agent port's MAC.
 */
export async function add_vip(lab: Lab): Promise<void> {
  const current = await in_namespace(lab.namespaces.dp, ["sysctl", "-n", ARP_IGNORE], {
    check: true,
  });
  saved_arp_ignore ??= current.stdout.trim();
  await in_namespace(lab.namespaces.dp, ["sysctl", "-q", "-w", `${ARP_IGNORE}=1`], {
    check: true,
  });
  await in_namespace(lab.namespaces.dp, [
    "ip",
    "addr",
    "add",
    `${lab.vip}/24`,
    "dev",
    lab.director_if,
  ], { check: true });
}

/**
 * Takes the VIP off dir0 again (quiet when it is not there). While it is on,
 * the dp kernel would answer the VIP's SYNs with resets beside baton.
 */
export async function remove_vip(lab: Lab): Promise<void> {
  await in_namespace(lab.namespaces.dp, [
    "ip",
    "addr",
    "del",
    `${lab.vip}/24`,
    "dev",
    lab.director_if,
  ]);
  if (saved_arp_ignore !== null) {
    await in_namespace(lab.namespaces.dp, [
      "sysctl",
      "-q",
      "-w",
      `${ARP_IGNORE}=${saved_arp_ignore}`,
    ], { check: true });
    saved_arp_ignore = null;
  }
}

/** Forget the client's ARP entry for the VIP, so each system is found afresh (same MAC or not). */
export async function forget_vip_neighbour(lab: Lab): Promise<void> {
  await in_namespace(lab.client.ns, ["ip", "neigh", "flush", "to", lab.vip, "dev", lab.client.if]);
}

export interface HaproxyProcess {
  pid: number;
  output(): string;
  /** SIGTERM, then SIGKILL after grace_ms; resolves to the exit code (128+signal when killed). */
  stop(grace_ms?: number): Promise<number>;
  exited: Promise<number>;
}

/** Checks the config, then runs HAProxy in the foreground (-db) in the dp namespace. */
export async function start_haproxy(lab: Lab, config_path: string): Promise<HaproxyProcess> {
  const check = await in_namespace(lab.namespaces.dp, ["haproxy", "-c", "-f", config_path]);
  if (check.code !== 0) {
    throw new Error(`haproxy -c rejected ${config_path}: ${check.stdout}${check.stderr}`);
  }
  // `ip netns exec` execs haproxy in place and -db keeps it a single process, so this
  // child's pid is the very process whose CPU time we read.
  const haproxy = spawn_dpdk(["haproxy", "-db", "-f", config_path], {
    netns: lab.namespaces.dp,
    stop_signal: "SIGTERM",
  });
  return {
    pid: haproxy.child.pid,
    output: haproxy.output,
    stop: (grace_ms = 5000) => haproxy.stop(grace_ms),
    exited: haproxy.exited,
  };
}
