// The single-machine lab's life: lab_up builds it as topology.ts describes
// it (network.ts, nginx.ts), lab_down stops and removes what the state file
// (state.ts) records plus namespaces with exactly this prefix's names, and
// lab_status reports what exists right now. lab_up on a lab that is up and
// intact returns it unchanged; a failed lab_up tears down what it created.

import { exists, require_root, run, tool } from "./shell.ts";
import {
  check_prefix,
  DEFAULT_PREFIX,
  describe_ecmp_lab,
  describe_lab,
  type Lab,
  type LabEcmp,
  MAX_LAB_DIRECTORS,
  MAX_LAB_SERVERS,
  namespace_names,
  state_dir,
} from "./topology.ts";
import { type LabState, read_pid_file, read_state, STATE_VERSION, write_state } from "./state.ts";
import {
  configure_addresses,
  create_links,
  create_namespaces,
  list_namespaces,
  our_namespaces,
} from "./network.ts";
import { nginx_alive, start_nginx, stop_nginx, write_content } from "./nginx.ts";
import { bird_alive, start_bird, stop_bird, write_bird_configs } from "./bird.ts";

export interface LabOptions {
  /** Prefix of every namespace name (default "bt-"). */
  prefix?: string;
  /**
   * The ECMP lab: this many directors (1..MAX_LAB_DIRECTORS) behind a router
   * running BIRD (topology.ts describe_ecmp_lab); none: the single-director lab.
   */
  directors?: number;
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
  const directors = options.directors;
  if (
    directors !== undefined &&
    (!Number.isInteger(directors) || directors < 1 || directors > MAX_LAB_DIRECTORS)
  ) {
    throw new Error(
      `lab: directors must be an integer in 1..${MAX_LAB_DIRECTORS}, got ${directors}`,
    );
  }
  require_root();
  for (const name of ["ip", "ethtool", "sysctl", "nginx"]) tool(name);
  if (directors !== undefined) tool("bird");

  const existing = await read_state(prefix);
  if (
    existing?.complete && existing.lab && existing.servers === servers &&
    existing.directors === directors
  ) {
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
    directors,
    complete: false,
  };
  try {
    await Deno.mkdir(state_dir(prefix), { recursive: true, mode: 0o755 });
    await write_state(state);
    const lab = directors === undefined
      ? describe_lab(prefix, servers)
      : describe_ecmp_lab(prefix, servers, directors);
    await create_namespaces(lab, state);
    await create_links(lab);
    await configure_addresses(lab);
    const big_sha256 = await write_content(lab);
    lab.big_file.sha256 = big_sha256;
    for (const server of lab.servers) {
      server.nginx_pid = await start_nginx(server, state);
    }
    if (lab.ecmp) await start_lab_birds(lab, lab.ecmp, state);
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
  await stop_lab_birds(dir, state);
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
    ? namespace_names(prefix, servers, state?.directors)
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

interface IpAddrJson {
  ifname: string;
  address?: string;
  operstate?: string;
  addr_info?: { local: string; prefixlen: number }[];
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

async function lab_intact(state: LabState): Promise<boolean> {
  const present = new Set(await list_namespaces());
  const names = namespace_names(state.prefix, state.servers, state.directors);
  if (!names.every((ns) => present.has(ns))) return false;
  const birds = state.bird_pids ?? [];
  if (!birds.every((pid, i) => bird_alive(pid, state.bird_confs![i]))) return false;
  return state.nginx_pids.every((pid, i) => nginx_alive(pid, state.nginx_confs[i]));
}

/** The ECMP lab's BIRDs: the router's, then each director host's (configs written first). */
async function start_lab_birds(lab: Lab, ecmp: LabEcmp, state: LabState): Promise<void> {
  await write_bird_configs(lab, ecmp);
  await start_bird(ecmp.router.bird, state);
  for (const d of ecmp.directors) await start_bird(d.bird, state);
}

/** Stops the BIRDs the state records, and any whose pid file is in the state dir without one. */
async function stop_lab_birds(dir: string, state: LabState | null): Promise<void> {
  const birds = (state?.bird_pids ?? []).map((pid, i) => ({ pid, conf: state!.bird_confs![i] }));
  const names = ["rtr", ...Array.from({ length: MAX_LAB_DIRECTORS }, (_, i) => `dh${i + 1}`)];
  for (const name of names) {
    const pid = await read_pid_file(`${dir}/bird-${name}.pid`);
    if (pid && !birds.some((b) => b.pid === pid)) {
      birds.push({ pid, conf: `${dir}/bird-${name}.conf` });
    }
  }
  for (const { pid, conf } of birds) await stop_bird(pid, conf);
}
