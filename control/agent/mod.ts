// The agent's control Worker as the process sees it: the module a Worker
// runs for it, the messages it takes and answers, and the address rule the
// config shares with its admission checks. Importing this does not load
// the Worker's code.

export * from "./protocol.ts";
export { unusable_address } from "./admission.ts";

/** The module the agent's control Worker runs. */
export const AGENT_CONTROL_WORKER = new URL("./worker.ts", import.meta.url);
