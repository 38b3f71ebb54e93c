// The ECMP lab's BIRD 2 daemons: their configs, and starting and stopping
// each by the pid it wrote (every BIRD this starts is recorded in the lab's
// state first, and only signalled after /proc shows it is still the bird
// started with this lab's config: pids get reused).
//
// Director host k: a static protocol (baton_vips, disabled until the
// director enables it through birdc) with the VIPs via director k's
// dataplane address, each with `bfd`, so a director whose poll loop stops
// answering BFD loses its routes within BFD's detection time; and eBGP to
// the router, exporting them. BIRD keeps a third-party next hop on eBGP when
// it is on the interface the neighbour is on, so the router learns the
// director's address, not the host's. The router: eBGP to every director
// host, its kernel table exported with `merge paths` so the VIP becomes one
// multipath route over the directors.

import { in_namespace, sleep, stop_daemon, tool } from "./shell.ts";
import type { Lab, LabBird, LabEcmp } from "./topology.ts";
import { type LabState, read_pid_file, write_state } from "./state.ts";

/** BFD timers of the director hosts' sessions (the directors announce the same by default). */
export const LAB_BFD = { min_rx_ms: 100, min_tx_ms: 100, multiplier: 3 };

/** The director host's BIRD config for director k (1-based). */
export function director_host_bird_conf(lab: Lab, ecmp: LabEcmp, k: number): string {
  const d = ecmp.directors[k - 1];
  const vips = [lab.vip, lab.vip_l4];
  return `# baton ECMP lab: director host ${k}; written by control/lab/bird.ts
router id ${d.host_ip};
log "${d.bird.log}" { info, remote, warning, error, auth, fatal, bug };
protocol device { scan time 10; }
protocol bfd {
  interface "${d.host_if}" {
    min rx interval ${LAB_BFD.min_rx_ms} ms;
    min tx interval ${LAB_BFD.min_tx_ms} ms;
    idle tx interval 1000 ms;
    multiplier ${LAB_BFD.multiplier};
  };
}
# enabled by director ${k} (birdc enable ${ecmp.protocol}) while it can serve
protocol static ${ecmp.protocol} {
  disabled;
  ipv4;
${vips.map((vip) => `  route ${vip}/32 via ${d.ip} bfd;`).join("\n")}
}
protocol bgp uplink {
  local ${d.host_ip} as ${d.bird.as};
  neighbor ${ecmp.router.fabric_ip} as ${ecmp.router.bird.as};
  connect retry time 1;
  error wait time 1, 5;
  ipv4 { import none; export where proto = "${ecmp.protocol}"; };
}
`;
}

/** The router's BIRD config: eBGP to each director host, multipath into the kernel. */
export function router_bird_conf(_lab: Lab, ecmp: LabEcmp): string {
  const { router } = ecmp;
  const peers = ecmp.directors.map((d) =>
    `protocol bgp dh${d.id} {
  local ${router.fabric_ip} as ${router.bird.as};
  neighbor ${d.host_ip} as ${d.bird.as};
  connect retry time 1;
  error wait time 1, 5;
  ipv4 { import all; export none; };
}`
  );
  return `# baton ECMP lab: the router; written by control/lab/bird.ts
router id ${router.fabric_ip};
log "${router.bird.log}" { info, remote, warning, error, auth, fatal, bug };
protocol device { scan time 10; }
protocol kernel {
  ipv4 { import none; export all; };
  merge paths yes;
}
${peers.join("\n")}
`;
}

/** Writes every BIRD config of the ECMP lab. */
export async function write_bird_configs(lab: Lab, ecmp: LabEcmp): Promise<void> {
  await Deno.writeTextFile(ecmp.router.bird.conf, router_bird_conf(lab, ecmp));
  for (const d of ecmp.directors) {
    await Deno.writeTextFile(d.bird.conf, director_host_bird_conf(lab, ecmp, d.id));
  }
}

/** Starts one BIRD in its namespace (it daemonises); records and returns its pid. */
export async function start_bird(bird: LabBird, state: LabState): Promise<number> {
  state.bird_confs = [...(state.bird_confs ?? []), bird.conf];
  state.bird_pids = [...(state.bird_pids ?? []), 0];
  await write_state(state);
  await in_namespace(bird.ns, [
    tool("bird"),
    "-c",
    bird.conf,
    "-s",
    bird.socket,
    "-P",
    bird.pid_file,
  ], { check: true });
  const deadline = Date.now() + 5000;
  for (;;) {
    const pid = await read_pid_file(bird.pid_file);
    if (pid && bird_alive(pid, bird.conf)) {
      state.bird_pids[state.bird_pids.length - 1] = pid;
      await write_state(state);
      return pid;
    }
    if (Date.now() > deadline) throw new Error(`lab: bird in ${bird.ns} wrote no pid file`);
    await sleep(20);
  }
}

/** True only for the bird started with this config (pids get reused). */
export function bird_alive(pid: number, conf: string): boolean {
  if (!pid) return false;
  try {
    const cmdline = Deno.readTextFileSync(`/proc/${pid}/cmdline`).replaceAll("\0", " ");
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    const zombie = stat.slice(stat.lastIndexOf(")") + 2).startsWith("Z");
    return !zombie && cmdline.includes("bird") && cmdline.includes(conf);
  } catch {
    return false;
  }
}

/** SIGTERM (BIRD's clean shutdown), SIGKILL after 5 s; only if it is still this lab's bird. */
export async function stop_bird(pid: number, conf: string): Promise<void> {
  await stop_daemon(pid, () => bird_alive(pid, conf));
}

/** `birdc -s SOCKET args...` of one of the lab's BIRDs; its output. */
export async function birdc(bird: LabBird, args: string[]): Promise<string> {
  const result = await in_namespace(bird.ns, [tool("birdc"), "-s", bird.socket, ...args]);
  return result.stdout + result.stderr;
}

/**
 * Polls the router's route to `address` every 20 ms until it has `count`
 * next hops; resolves with how long that took (ms), rejects after timeout_ms.
 */
export async function wait_for_next_hops(
  ecmp: LabEcmp,
  address: string,
  options: { count: number; timeout_ms: number },
): Promise<number> {
  const started = performance.now();
  for (;;) {
    const hops = await router_next_hops(ecmp, address);
    if (hops.length === options.count) return performance.now() - started;
    if (performance.now() - started > options.timeout_ms) {
      throw new Error(`router: ${hops.length} next hops (${hops}) after ${options.timeout_ms} ms`);
    }
    await sleep(20);
  }
}

/** The next hops of the router's kernel route to `address` (none: no route). */
export async function router_next_hops(ecmp: LabEcmp, address: string): Promise<string[]> {
  const result = await in_namespace(ecmp.router.ns, [
    tool("ip"),
    "-j",
    "route",
    "show",
    `${address}/32`,
  ]);
  if (result.code !== 0 || result.stdout.trim() === "") return [];
  const routes = JSON.parse(result.stdout) as {
    gateway?: string;
    nexthops?: { gateway?: string }[];
  }[];
  return routes.flatMap((route) =>
    route.nexthops
      ? route.nexthops.map((hop) => hop.gateway ?? "")
      : route.gateway
      ? [route.gateway]
      : []
  ).sort();
}
