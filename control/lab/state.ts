// The lab's state file (state.json in the lab's state directory): exactly
// what lab_up has created so far, rewritten (atomically, through a rename)
// after every namespace and every nginx it starts, so lab_down can undo a lab
// even when lab_up died half-way. A file of another version or prefix reads
// as no state.

import { type Lab, state_dir } from "./topology.ts";

export const STATE_VERSION = 1;

/** What the state file records: exactly what lab_up created. */
export interface LabState {
  version: number;
  prefix: string;
  servers: number;
  namespaces: string[];
  nginx_pids: number[];
  nginx_confs: string[];
  /** The ECMP lab (--directors M): how many directors, and the BIRDs started (pid, config). */
  directors?: number;
  bird_pids?: number[];
  bird_confs?: string[];
  complete: boolean;
  lab?: Lab;
}

export async function read_state(prefix: string): Promise<LabState | null> {
  try {
    const state = JSON.parse(
      await Deno.readTextFile(`${state_dir(prefix)}/state.json`),
    ) as LabState;
    return state.version === STATE_VERSION && state.prefix === prefix ? state : null;
  } catch {
    return null;
  }
}

export async function write_state(state: LabState): Promise<void> {
  const path = `${state_dir(state.prefix)}/state.json`;
  await Deno.writeTextFile(`${path}.tmp`, JSON.stringify(state, null, 2) + "\n");
  await Deno.rename(`${path}.tmp`, path);
}

export async function read_pid_file(path: string): Promise<number | null> {
  try {
    const pid = Number((await Deno.readTextFile(path)).trim());
    return Number.isInteger(pid) && pid > 0 ? pid : null;
  } catch {
    return null;
  }
}
