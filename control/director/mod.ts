// The director's control Worker as the process sees it: the module a Worker
// runs for it, and the messages it takes and answers. Importing this does
// not load the Worker's code.

export * from "./protocol.ts";
export { director_stats } from "./stats.ts";
// the local BIRD the main isolate drives (announce while serving, withdraw first on SIGTERM)
export * from "./bird.ts";
// the reference the dataplane's selection (dataplane/selection_*.ts) is held equal to
export * from "./selection.ts";

/** The module the director's control Worker runs. */
export const DIRECTOR_CONTROL_WORKER = new URL("./worker.ts", import.meta.url);
export * from "./reload.ts";
