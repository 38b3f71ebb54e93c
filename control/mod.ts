// control/'s face for tests and tools: the command line, the config, the
// set-up steps a role's main takes, the metrics and the console statistics,
// config reloads (SIGHUP) and the access log writer.
// The process itself starts at main.ts; the director's control Worker has a
// face of its own (director/mod.ts), and so has the lab (lab/mod.ts).
export * from "./access_log.ts";
export * from "./cli.ts";
export * from "./config.ts";
export * from "./config_routing.ts";
export * from "./console_stats.ts";
export * from "./metrics.ts";
export * from "./reload.ts";
export * from "./setup.ts";
