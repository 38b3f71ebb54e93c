// control/'s face for tests and tools: the command line, the config, the
// set-up steps a role's main takes, the metrics and the console statistics.
// The process itself starts at main.ts; the control Workers have faces of
// their own (director/mod.ts, agent/mod.ts), and so has the lab (lab/mod.ts).
export * from "./cli.ts";
export * from "./config.ts";
export * from "./console_stats.ts";
export * from "./metrics.ts";
export * from "./setup.ts";
