// baton's entry point. With no arguments: the built-in lab demo. Otherwise
// dpdk-testpmd's syntax, "<EAL options> -- <app options>", and --role picks
// what this process is (testpmd-style forwarding by default).

import { CliError, parse_command_line } from "./cli.ts";
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
  if (!app.roles.includes("forward")) {
    const { roles_main } = await import("./roles.ts");
    return await roles_main(eal_args, app);
  }
  const { forward_main } = await import("./forward.ts");
  return await forward_main(eal_args, app);
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
