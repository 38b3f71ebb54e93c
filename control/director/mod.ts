// The director's control Worker as the process sees it: the module a Worker
// runs for it, and the messages it takes and answers. Importing this does
// not load the Worker's code.

export * from "./protocol.ts";

/** The module the director's control Worker runs. */
export const DIRECTOR_CONTROL_WORKER = new URL("./worker.ts", import.meta.url);
