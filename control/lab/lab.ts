// The single-machine lab: network namespaces, veths and a bridge that stand
// in for a client, a switch, the hosts the DPDK roles run on, and N servers
// with their own kernel TCP stacks (nginx). Everything lives in namespaces
// this module creates, named `${prefix}...`, and uses only 198.18.0.0/24
// (the benchmarking range), so two labs with different prefixes coexist and
// nothing touches the host's own network.
//
//   ns client: eth0 198.18.0.1 ──── pclient ┐
//                                            │  ns sw: br0 (no IP, stp off)
//   ns dp:     dir0 (director) ──── pdir    ─┤
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

/** The virtual IP the director owns and every server holds on lo (DSR). */
export const LAB_VIP = "198.18.0.100";
/** A second VIP, balanced by 4-tuple (no request read): every server holds it too. */
export const LAB_VIP_L4 = "198.18.0.101";
/** The lab's data subnet (client, VIP, servers' fabric addresses). */
export const LAB_SUBNET = "198.18.0.0/24";
/** The lab's control network: the dp namespace and the servers, on a bridge of its own. */
export const LAB_CONTROL_SUBNET = "198.19.0.0/24";
/** Size of the deterministic download every server offers at /big.bin. */
export const BIG_FILE_SIZE = 10 * 1024 * 1024;
/** Servers whose addresses (198.18.0.11 ..) stay below the VIP. */
export const MAX_LAB_SERVERS = 89;

const DEFAULT_PREFIX = "bt-";
const BIG_FILE_SEED = 0x6261746f; // "bato"
const STATE_VERSION = 1;

/** Tools the lab runs, and the Debian package that provides each. */
const TOOL_PACKAGES: Record<string, string> = {
  ip: "iproute2",
  ethtool: "ethtool",
  sysctl: "procps",
  nginx: "nginx-light",
  curl: "curl",
  wrk: "wrk",
};

export interface LabOptions {
  /** Prefix of every namespace name (default "bt-"). */
  prefix?: string;
}

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
  /** The bridge port that is the peer of director_if. */
  director_peer_if: string;
  director_peer_mac: string;
  servers: LabServer[];
  /** The control network (a second bridge): hand-offs, health checks, metrics. */
  control: { subnet: string; bridge: string; dp_if: string; dp_ip: string };
  /** Same bytes on every server. */
  big_file: { path: string; size: number; sha256: string };
  small_file: { path: string; size: number };
}

export interface LabInterfaceStatus {
  ns: string;
  name: string;
  mac: string;
  /** Kernel operstate: UP, DOWN, LOWERLAYERDOWN, UNKNOWN (lo). */
  state: string;
  addresses: string[];
}

export interface LabStatus {
  prefix: string;
  state_dir: string;
  /** A state file exists (lab_up ran and lab_down has not). */
  up: boolean;
  servers: number;
  namespaces: { name: string; exists: boolean }[];
  nginx: { server: number; pid: number; alive: boolean }[];
  interfaces: LabInterfaceStatus[];
}

export interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface InNamespaceOptions {
  stdin?: string | Uint8Array;
  env?: Record<string, string>;
  /** Throw with the command's stderr when it exits non-zero. */
  check?: boolean;
}

export interface SpawnInNamespaceOptions {
  stdin?: "piped" | "inherit" | "null";
  stdout?: "piped" | "inherit" | "null";
  stderr?: "piped" | "inherit" | "null";
  env?: Record<string, string>;
}

export interface AfPacketOptions {
  qpairs?: number;
  blocksz?: number;
  framesz?: number;
  framecnt?: number;
  qdisc_bypass?: boolean;
}

/** What the state file records: exactly what lab_up created. */
interface LabState {
  version: number;
  prefix: string;
  servers: number;
  namespaces: string[];
  nginx_pids: number[];
  nginx_confs: string[];
  complete: boolean;
  lab?: Lab;
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

/** Run `command` inside network namespace `ns` (ip netns exec) and collect its output. */
export async function in_namespace(
  ns: string,
  command: string[],
  options: InNamespaceOptions = {},
): Promise<CommandResult> {
  return await run([tool("ip"), "netns", "exec", ns, ...command], options);
}

/**
 * Start `command` inside network namespace `ns`. `ip netns exec` execs the
 * command in place, so the child's pid is the command's own pid.
 */
export function spawn_in_namespace(
  ns: string,
  command: string[],
  options: SpawnInNamespaceOptions = {},
): Deno.ChildProcess {
  const [program, ...args] = [tool("ip"), "netns", "exec", ns, ...command];
  return spawn_checked(program, args, {
    stdin: options.stdin ?? "null",
    stdout: options.stdout ?? "piped",
    stderr: options.stderr ?? "piped",
    env: options.env,
  });
}

/**
 * Build the lab with `servers` servers, or return the running one if it is
 * already up with the same number of servers and intact. On failure, tears
 * down whatever it created and rethrows.
 */
export async function lab_up(servers: number, options: LabOptions = {}): Promise<Lab> {
  const prefix = check_prefix(options.prefix ?? DEFAULT_PREFIX);
  if (!Number.isInteger(servers) || servers < 1 || servers > MAX_LAB_SERVERS) {
    throw new Error(`lab: servers must be an integer in 1..${MAX_LAB_SERVERS}, got ${servers}`);
  }
  require_root();
  for (const name of ["ip", "ethtool", "sysctl", "nginx"]) tool(name);

  const existing = await read_state(prefix);
  if (existing?.complete && existing.lab && existing.servers === servers) {
    if (await lab_intact(existing)) return existing.lab;
  }
  if (existing || (await our_namespaces(prefix)).length > 0) await lab_down({ prefix });

  const state: LabState = {
    version: STATE_VERSION,
    prefix,
    servers,
    namespaces: [],
    nginx_pids: [],
    nginx_confs: [],
    complete: false,
  };
  try {
    await Deno.mkdir(state_dir(prefix), { recursive: true, mode: 0o755 });
    await write_state(state);
    const lab = describe_lab(prefix, servers);
    await create_namespaces(lab, state);
    await create_links(lab);
    await configure_addresses(lab);
    const big_sha256 = await write_content(lab);
    lab.big_file.sha256 = big_sha256;
    for (const server of lab.servers) {
      server.nginx_pid = await start_nginx(server, state);
    }
    state.lab = lab;
    state.complete = true;
    await write_state(state);
    return lab;
  } catch (error) {
    await lab_down({ prefix }).catch(() => {});
    throw error;
  }
}

/**
 * Remove what the state file lists (and, should it be lost, namespaces with
 * exactly the names this prefix's lab uses), stop the nginx processes this
 * lab started, delete the state directory. Quiet when nothing is up.
 */
export async function lab_down(options: LabOptions = {}): Promise<void> {
  const prefix = check_prefix(options.prefix ?? DEFAULT_PREFIX);
  const state = await read_state(prefix);
  const dir = state_dir(prefix);
  if (!state && !(await exists(dir)) && (await our_namespaces(prefix)).length === 0) return;
  require_root();

  const nginx: { pid: number; conf: string }[] = [];
  if (state) {
    state.nginx_pids.forEach((pid, i) => nginx.push({ pid, conf: state.nginx_confs[i] }));
  }
  // A pid file without a state entry: nginx started but lab_up died before recording it.
  for (let id = 1; id <= MAX_LAB_SERVERS; id++) {
    const conf = `${dir}/srv${id}/nginx.conf`;
    const pid = await read_pid_file(`${dir}/srv${id}/nginx.pid`);
    if (pid && !nginx.some((entry) => entry.pid === pid)) nginx.push({ pid, conf });
  }
  for (const { pid, conf } of nginx) await stop_nginx(pid, conf);
  await stop_kept_baton(dir);

  const names = new Set([...(state?.namespaces ?? []), ...(await our_namespaces(prefix))]);
  const present = new Set(await list_namespaces());
  for (const name of names) {
    if (present.has(name)) await run([tool("ip"), "netns", "del", name], { check: true });
  }
  await Deno.remove(dir, { recursive: true }).catch((error) => {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  });
}

/** What exists right now for this prefix: namespaces, nginx processes, interfaces. */
export async function lab_status(options: LabOptions = {}): Promise<LabStatus> {
  const prefix = check_prefix(options.prefix ?? DEFAULT_PREFIX);
  const state = await read_state(prefix);
  const present = new Set(await list_namespaces());
  const servers = state?.servers ?? 0;
  const expected = servers > 0
    ? namespace_names(prefix, servers)
    : await our_namespaces(prefix, present);
  const names = [...new Set([...expected, ...(state?.namespaces ?? [])])];
  const status: LabStatus = {
    prefix,
    state_dir: state_dir(prefix),
    up: state?.complete ?? false,
    servers,
    namespaces: names.map((name) => ({ name, exists: present.has(name) })),
    nginx: [],
    interfaces: [],
  };
  if (state) {
    state.nginx_pids.forEach((pid, i) => {
      status.nginx.push({ server: i + 1, pid, alive: nginx_alive(pid, state.nginx_confs[i]) });
    });
  }
  for (const name of names) {
    if (!present.has(name)) continue;
    const result = await run([tool("ip"), "-j", "-n", name, "addr", "show"], {});
    if (result.code !== 0) continue;
    for (const link of JSON.parse(result.stdout) as IpAddrJson[]) {
      status.interfaces.push({
        ns: name,
        name: link.ifname,
        mac: link.address ?? "",
        state: link.operstate ?? "",
        addresses: (link.addr_info ?? []).map((a) => `${a.local}/${a.prefixlen}`),
      });
    }
  }
  return status;
}

// ---------------------------------------------------------------------------
// Building

interface IpAddrJson {
  ifname: string;
  address?: string;
  operstate?: string;
  addr_info?: { local: string; prefixlen: number }[];
}

function mac(group: number, low: number): string {
  const hex = (n: number) => n.toString(16).padStart(2, "0");
  return `02:b7:00:00:${hex(group)}:${hex(low)}`;
}

function state_dir(prefix: string): string {
  return `/tmp/baton-lab-${prefix}`;
}

function namespace_names(prefix: string, servers: number): string[] {
  const names = [`${prefix}sw`, `${prefix}client`, `${prefix}dp`];
  for (let id = 1; id <= servers; id++) names.push(`${prefix}srv${id}`);
  return names;
}

function describe_lab(prefix: string, servers: number): Lab {
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

async function create_namespaces(lab: Lab, state: LabState): Promise<void> {
  const ip = tool("ip");
  for (const ns of namespace_names(lab.prefix, lab.servers.length)) {
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

async function create_links(lab: Lab): Promise<void> {
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

async function configure_addresses(lab: Lab): Promise<void> {
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
}

function small_text(id: number): string {
  const line = `baton lab small object from server ${id}. `;
  return (line + "x".repeat(100)).slice(0, 99) + "\n";
}

/** 10 MiB from a seeded xorshift32: the same bytes on every server and every run. */
function big_file_bytes(): Uint8Array<ArrayBuffer> {
  const bytes = new Uint8Array(BIG_FILE_SIZE);
  const view = new DataView(bytes.buffer);
  let x = BIG_FILE_SEED;
  for (let offset = 0; offset < BIG_FILE_SIZE; offset += 4) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    view.setUint32(offset, x >>> 0, true);
  }
  return bytes;
}

/** Writes every server's document root; returns big.bin's sha256 (hex). */
async function write_content(lab: Lab): Promise<string> {
  const big = big_file_bytes();
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", big));
  const shared = `${lab.state_dir}/big.bin`;
  await Deno.writeFile(shared, big, { mode: 0o644 });
  for (const server of lab.servers) {
    const dir = `${lab.state_dir}/srv${server.id}`;
    await Deno.mkdir(`${server.docroot}`, { recursive: true, mode: 0o755 });
    await Deno.mkdir(`${dir}/tmp`, { recursive: true, mode: 0o755 });
    await Deno.chmod(dir, 0o755);
    await Deno.chmod(server.docroot, 0o755);
    await Deno.writeTextFile(`${server.docroot}/index.html`, `server ${server.id}\n`);
    await Deno.writeTextFile(`${server.docroot}/small.txt`, small_text(server.id));
    await Deno.link(shared, `${server.docroot}/big.bin`);
    await Deno.writeTextFile(server.nginx_conf, nginx_conf(server, dir));
  }
  return [...digest].map((b) => b.toString(16).padStart(2, "0")).join("");
}

function nginx_conf(server: LabServer, dir: string): string {
  return `# baton lab server ${server.id}; written by control/lab/lab.ts
daemon on;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 4096; }
http {
  types { text/html html; text/plain txt; application/octet-stream bin; }
  default_type text/html;
  access_log ${dir}/access.log;
  client_body_temp_path ${dir}/tmp/body;
  proxy_temp_path ${dir}/tmp/proxy;
  fastcgi_temp_path ${dir}/tmp/fastcgi;
  uwsgi_temp_path ${dir}/tmp/uwsgi;
  scgi_temp_path ${dir}/tmp/scgi;
  sendfile on;
  keepalive_timeout 65;
  keepalive_requests 1000000;
  server {
    listen 0.0.0.0:80 default_server backlog=4096;
    server_name _;
    root ${server.docroot};
    add_header X-Served-By srv${server.id} always;
    # any path that is not a file answers with this server's index
    location / { try_files $uri /index.html; }
  }
}
`;
}

async function start_nginx(server: LabServer, state: LabState): Promise<number> {
  const dir = server.nginx_conf.slice(0, server.nginx_conf.lastIndexOf("/"));
  state.nginx_confs.push(server.nginx_conf);
  state.nginx_pids.push(0);
  await write_state(state);
  // -e: the error log before the config is read (nginx would otherwise open /var/log/nginx).
  await in_namespace(server.ns, [
    tool("nginx"),
    "-c",
    server.nginx_conf,
    "-e",
    `${dir}/error.log`,
  ], { check: true });
  // The daemonised master writes its pid file after binding :80, so once it is
  // there, connections are accepted.
  const deadline = Date.now() + 5000;
  for (;;) {
    const pid = await read_pid_file(`${dir}/nginx.pid`);
    if (pid) {
      state.nginx_pids[state.nginx_pids.length - 1] = pid;
      await write_state(state);
      return pid;
    }
    if (Date.now() > deadline) {
      throw new Error(`lab: nginx for ${server.ns} wrote no pid file; see ${dir}/error.log`);
    }
    await sleep(20);
  }
}

// ---------------------------------------------------------------------------
// Tearing down and checking

/** True only for the nginx master started with this lab's config (pids get reused). */
function nginx_alive(pid: number, conf: string): boolean {
  if (!pid) return false;
  try {
    const cmdline = Deno.readTextFileSync(`/proc/${pid}/cmdline`).replaceAll("\0", " ");
    return cmdline.includes("nginx") && cmdline.includes(conf);
  } catch {
    return false;
  }
}

/** Where a baton left running in the lab (demo --keep) records its pid. */
export function kept_baton_pid_file(lab: Lab): string {
  return `${lab.state_dir}/baton.pid`;
}

/** Stops a baton the demo left running (--keep), by its recorded pid, if it is still baton. */
async function stop_kept_baton(dir: string): Promise<void> {
  const pid = await read_pid_file(`${dir}/baton.pid`);
  const alive = () => {
    try {
      return Deno.readTextFileSync(`/proc/${pid}/cmdline`).includes("control/main.ts");
    } catch {
      return false;
    }
  };
  if (!pid || !alive()) return;
  Deno.kill(pid, "SIGINT"); // a clean stop: ports closed, counters printed to its log
  const deadline = Date.now() + 10_000;
  while (alive() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  if (alive()) Deno.kill(pid, "SIGKILL");
}

async function stop_nginx(pid: number, conf: string): Promise<void> {
  if (!nginx_alive(pid, conf)) return;
  try {
    Deno.kill(pid, "SIGTERM");
  } catch {
    return;
  }
  const deadline = Date.now() + 5000;
  while (nginx_alive(pid, conf)) {
    if (Date.now() > deadline) {
      try {
        Deno.kill(pid, "SIGKILL");
      } catch { /* already gone */ }
      break;
    }
    await sleep(20);
  }
}

async function lab_intact(state: LabState): Promise<boolean> {
  const present = new Set(await list_namespaces());
  if (!namespace_names(state.prefix, state.servers).every((ns) => present.has(ns))) return false;
  return state.nginx_pids.every((pid, i) => nginx_alive(pid, state.nginx_confs[i]));
}

async function list_namespaces(): Promise<string[]> {
  const result = await run([tool("ip"), "-j", "netns", "list"], {});
  if (result.code !== 0 || result.stdout.trim() === "") return [];
  return (JSON.parse(result.stdout) as { name: string }[]).map((entry) => entry.name);
}

/** Namespaces that carry exactly the names a lab with this prefix creates. */
async function our_namespaces(prefix: string, present?: Set<string>): Promise<string[]> {
  const names = present ? [...present] : await list_namespaces();
  const fixed = new Set([`${prefix}sw`, `${prefix}client`, `${prefix}dp`]);
  return names.filter((name) => {
    if (fixed.has(name)) return true;
    if (!name.startsWith(`${prefix}srv`)) return false;
    const id = name.slice(prefix.length + 3);
    return /^[1-9][0-9]*$/.test(id) && Number(id) <= MAX_LAB_SERVERS;
  });
}

// ---------------------------------------------------------------------------
// State file

async function read_state(prefix: string): Promise<LabState | null> {
  try {
    const state = JSON.parse(
      await Deno.readTextFile(`${state_dir(prefix)}/state.json`),
    ) as LabState;
    return state.version === STATE_VERSION && state.prefix === prefix ? state : null;
  } catch {
    return null;
  }
}

async function write_state(state: LabState): Promise<void> {
  const path = `${state_dir(state.prefix)}/state.json`;
  await Deno.writeTextFile(`${path}.tmp`, JSON.stringify(state, null, 2) + "\n");
  await Deno.rename(`${path}.tmp`, path);
}

async function read_pid_file(path: string): Promise<number | null> {
  try {
    const pid = Number((await Deno.readTextFile(path)).trim());
    return Number.isInteger(pid) && pid > 0 ? pid : null;
  } catch {
    return null;
  }
}

// ---------------------------------------------------------------------------
// Processes

function check_prefix(prefix: string): string {
  // The longest namespace name is `${prefix}srv89`; keep it readable and safe in paths.
  if (!/^[a-z0-9][a-z0-9_-]{0,15}$/i.test(prefix)) {
    throw new Error(
      `lab: prefix '${prefix}' must be 1-16 letters, digits, '-' or '_' (starting alphanumeric)`,
    );
  }
  return prefix;
}

function require_root(): void {
  if (Deno.uid() !== 0) {
    throw new Error(
      "lab: must run as root (namespaces, veths and sysctls need CAP_NET_ADMIN/CAP_SYS_ADMIN)",
    );
  }
}

const tool_paths = new Map<string, string>();

/** Absolute path of a tool, or an error naming it and its Debian package. */
function tool(name: string): string {
  const cached = tool_paths.get(name);
  if (cached) return cached;
  const dirs = [...(Deno.env.get("PATH") ?? "").split(":"), "/usr/sbin", "/sbin", "/usr/bin"];
  for (const dir of dirs) {
    if (!dir) continue;
    try {
      const info = Deno.statSync(`${dir}/${name}`);
      if (info.isFile && ((info.mode ?? 0o111) & 0o111) !== 0) {
        tool_paths.set(name, `${dir}/${name}`);
        return `${dir}/${name}`;
      }
    } catch { /* not here */ }
  }
  throw new Error(missing_tool(name));
}

function missing_tool(name: string): string {
  const pkg = TOOL_PACKAGES[name];
  return pkg
    ? `lab: '${name}' not found; install the Debian package '${pkg}' (apt-get install -y ${pkg})`
    : `lab: '${name}' not found in PATH`;
}

function spawn_checked(
  program: string,
  args: string[],
  options: Deno.CommandOptions,
): Deno.ChildProcess {
  try {
    return new Deno.Command(program, { ...options, args }).spawn();
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) throw new Error(missing_tool(program));
    throw error;
  }
}

async function run(command: string[], options: InNamespaceOptions): Promise<CommandResult> {
  const [program, ...args] = command;
  const child = spawn_checked(program, args, {
    stdin: options.stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
    env: options.env,
  });
  if (options.stdin !== undefined) {
    const writer = child.stdin.getWriter();
    await writer.write(
      typeof options.stdin === "string" ? new TextEncoder().encode(options.stdin) : options.stdin,
    );
    await writer.close();
  }
  const output = await child.output();
  const result = {
    code: output.code,
    stdout: new TextDecoder().decode(output.stdout),
    stderr: new TextDecoder().decode(output.stderr),
  };
  if (options.check && result.code !== 0) {
    // `ip netns exec` reports a command it cannot find as `exec of "X" failed`.
    const missing = command[1] === "netns" && command[2] === "exec" &&
      /exec of ".*" failed: No such file or directory/.test(result.stderr);
    if (missing) throw new Error(missing_tool(command[4]));
    throw new Error(
      `lab: '${command.join(" ")}' failed (exit ${result.code}): ${result.stderr.trim()}`,
    );
  }
  return result;
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
