// The agent's dataplane: what the poll loop runs for an agent pipeline,
// and what the control side needs to talk to it.
export * from "./path.ts";
export * from "./runner.ts";
