// The ECMP lab's baton processes as a site runs them: one agents process
// and one process per director (each as its own host would run it), started
// from the configs write_ecmp_lab_configs wrote; a director can be killed
// (SIGKILL, as a crash) or stopped and started again, and every process
// the site started is stopped by its own handle at the end. Tests and the
// ECMP bench use it; it asserts nothing.

import type { Lab } from "./topology.ts";
import type { DpdkProcess } from "./dpdk_process.ts";
import { type EcmpLabProcesses, write_ecmp_lab_configs } from "./config.ts";
import { start_lab_process } from "./baton.ts";
import { wait_for_next_hops } from "./bird.ts";

export interface EcmpSite {
  lab: Lab;
  processes: EcmpLabProcesses;
  agents: DpdkProcess;
  /** Director k (1-based) at k − 1 while it runs. */
  directors: (DpdkProcess | undefined)[];
  /** Starts director k (1-based); resolves once it forwards. */
  start(k: number): Promise<DpdkProcess>;
  /**
   * SIGKILL to director k, as a crash; resolves once it exited and, with
   * `next_hops`, once the router has that many next hops left (ms it took).
   */
  kill(k: number, options?: { next_hops?: number }): Promise<number>;
  /** Waits until the router's route to the VIP has `count` next hops: how long it took (ms). */
  next_hops(count: number, timeout_ms?: number): Promise<number>;
  /** SIGKILL to every process still running; waits for each. */
  stop_all(): Promise<void>;
}

/** Writes the configs into dir and starts the agents (not the directors). */
export async function start_ecmp_site(
  lab: Lab,
  options: { dir: string; name: string; app: string[]; health_interval_ms?: number },
): Promise<EcmpSite> {
  const processes = await write_ecmp_lab_configs(lab, options.dir, {
    health_interval_ms: options.health_interval_ms ?? 500,
  });
  const running = new Set<DpdkProcess>();
  const launch = async (process: EcmpLabProcesses["agents"]) => {
    const baton = await start_lab_process(lab, process, { name: options.name, app: options.app });
    running.add(baton);
    void baton.exited.then(() => running.delete(baton));
    return baton;
  };
  const site: EcmpSite = {
    lab,
    processes,
    agents: await launch(processes.agents),
    directors: [],
    async start(k) {
      const baton = await launch(processes.directors[k - 1]);
      site.directors[k - 1] = baton;
      return baton;
    },
    async kill(k, kill_options = {}) {
      const victim = site.directors[k - 1];
      if (!victim) throw new Error(`director ${k} is not running`);
      const t0 = performance.now();
      victim.child.kill("SIGKILL");
      await victim.exited;
      site.directors[k - 1] = undefined;
      if (kill_options.next_hops === undefined) return performance.now() - t0;
      await site.next_hops(kill_options.next_hops, 5000);
      return performance.now() - t0;
    },
    next_hops(count, timeout_ms = 30_000) {
      return wait_for_next_hops(lab.ecmp!, lab.vip, { count, timeout_ms });
    },
    async stop_all() {
      for (const baton of [...running]) {
        try {
          baton.child.kill("SIGKILL");
        } catch { /* already gone */ }
        await baton.exited;
      }
    },
  };
  return site;
}
