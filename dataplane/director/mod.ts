// The director's dataplane: what the poll loop runs for a director
// pipeline, and what the control side needs to talk to it.
export * from "./path.ts";
export * from "./runner.ts";
export * from "./syn_cookie.ts";
