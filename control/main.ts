// baton's entry point. With no arguments: the built-in lab demo. Otherwise
// dpdk-testpmd's syntax, "<EAL options> -- <app options>", and --role picks
// what this process is (testpmd-style forwarding by default; with --config
// and no --role, the roles the config has sections for).

import { CliError, parse_command_line, type Role } from "./cli.ts";
import { SetupError } from "./setup.ts";
import { ConfigError } from "./config.ts";

const DEMO_FLAGS = ["--short", "--keep"];

const USAGE = `usage: deno task run [--short] [--keep]              the lab demo
       deno task run -- <EAL options> -- <app options>  e.g.
       deno task run -- --no-huge -m 512 --file-prefix b0 --vdev net_null0 --vdev net_null1 \\
                        -- --forward-mode=macswap --stats-period 1
app options (as dpdk-testpmd): --forward-mode=io|mac|macswap|rewrite --port-topology=paired|chained|loop
  --eth-peer=N,MAC --nb-cores=N --rxq=N --txq=N --rxd=N --txd=N --burst=N --mbuf-size=N
  --total-num-mbufs=N --stats-period=S --no-flush-rx --tx-first --txpkts=N
baton's own: --role=forward|director|agent|director,agent --config=FILE --gen-flows=N`;

async function main(args: string[]): Promise<number> {
  // `deno task run -- ARGS` passes its "--" through: drop it
  const argv = args[0] === "--" ? args.slice(1) : args;
  // no arguments (or only the demo's own flags): the built-in lab demo
  if (argv.every((arg) => DEMO_FLAGS.includes(arg))) {
    const { demo_main } = await import("./lab/mod.ts");
    return await demo_main(argv);
  }
  if (argv[0] === "--help" || argv[0] === "-h") {
    console.log(USAGE);
    return 0;
  }
  const { eal_args, app } = parse_command_line(argv);
  // a config without --role: the roles it has sections for (not io forwarding, which would
  // reflect the fabric's frames back onto it)
  const role_given = argv.some((arg) => arg === "--role" || arg.startsWith("--role="));
  if (app.config && !role_given) app.roles = await config_roles(app.config);
  if (!app.roles.includes("forward")) {
    const { roles_main } = await import("./roles.ts");
    return await roles_main(eal_args, app);
  }
  const { forward_main } = await import("./forward.ts");
  return await forward_main(eal_args, app);
}

/** The hand-off roles a config file has sections for; an error if it has none. */
async function config_roles(path: string): Promise<Role[]> {
  let root: unknown;
  try {
    root = JSON.parse(await Deno.readTextFile(path));
  } catch (err) {
    throw new ConfigError("config", `cannot read ${path}: ${(err as Error).message}`);
  }
  const sections = typeof root === "object" && root !== null ? root as Record<string, unknown> : {};
  const roles: Role[] = [];
  if (sections.director !== undefined) roles.push("director");
  if (sections.agents !== undefined) roles.push("agent");
  if (roles.length === 0) {
    throw new CliError(
      `--config=${path} has neither a director nor an agents section: say --role=...`,
    );
  }
  console.log(`baton: no --role given: running ${roles.join(",")}, as ${path} names`);
  return roles;
}

if (import.meta.main) {
  try {
    Deno.exit(await main(Deno.args));
  } catch (err) {
    if (err instanceof CliError) {
      console.error(`baton: ${err.message}\n${USAGE}`);
      Deno.exit(2);
    }
    if (err instanceof SetupError || err instanceof ConfigError) {
      console.error(`baton: ${err.message}`);
      Deno.exit(1);
    }
    throw err;
  }
}
