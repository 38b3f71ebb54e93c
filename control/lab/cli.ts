// `deno task lab -- up N | down | status`: build, tear down or inspect the
// single-machine lab (control/lab/lab.ts). Needs root for up and down.

import { parseArgs } from "node:util";
import { lab_down, lab_status, lab_up, type LabStatus } from "./lab.ts";
import type { Lab } from "./topology.ts";
import { type LabProcess, write_ecmp_lab_configs } from "./config.ts";
import { lab_eal_args } from "./baton.ts";

const USAGE = `usage: deno task lab -- <command> [--prefix P] [--json]
  up N      create the lab with N servers (no-op if it is already up with N)
            --directors M: M directors (1..4) behind a router running BIRD (ECMP)
  down      remove everything the lab created
  status    show namespaces, nginx processes and interfaces
options:
  --prefix P  namespace name prefix (default "bt-")
  --json      print the lab description or status as JSON`;

async function main(args: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      allowPositionals: true,
      options: {
        prefix: { type: "string" },
        directors: { type: "string" },
        json: { type: "boolean", default: false },
        help: { type: "boolean", short: "h", default: false },
      },
    });
  } catch (error) {
    return fail((error as Error).message);
  }
  const { values, positionals } = parsed;
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const [command, ...rest] = positionals;
  if (values.directors !== undefined && !/^[1-9][0-9]*$/.test(values.directors)) {
    return fail(`--directors takes a number of directors (got: ${values.directors})`);
  }
  const directors = values.directors === undefined ? undefined : Number(values.directors);
  const options = { prefix: values.prefix };
  switch (command) {
    case "up": {
      if (rest.length !== 1 || !/^[1-9][0-9]*$/.test(rest[0])) {
        return fail(`'up' takes one argument, the number of servers (got: ${rest.join(" ")})`);
      }
      const lab = await lab_up(Number(rest[0]), { ...options, directors });
      console.log(values.json ? JSON.stringify(lab, null, 2) : describe(lab));
      if (lab.ecmp && !values.json) console.log(await ecmp_commands(lab));
      return 0;
    }
    case "down":
      if (rest.length !== 0) return fail(`'down' takes no arguments (got: ${rest.join(" ")})`);
      await lab_down(options);
      if (!values.json) console.log(`lab ${values.prefix ?? "bt-"}: down`);
      return 0;
    case "status": {
      if (rest.length !== 0) return fail(`'status' takes no arguments (got: ${rest.join(" ")})`);
      const status = await lab_status(options);
      console.log(values.json ? JSON.stringify(status, null, 2) : describe_status(status));
      return 0;
    }
    case undefined:
      return fail("missing command");
    default:
      return fail(`unknown command '${command}'`);
  }
}

function fail(message: string): number {
  console.error(`lab: ${message}\n${USAGE}`);
  return 2;
}

function describe(lab: Lab): string {
  const lines = [
    `lab ${lab.prefix}: up, ${lab.servers.length} server(s), state in ${lab.state_dir}`,
    `  client  ${lab.client.ns}  ${lab.client.if} ${lab.client.ip} ${lab.client.mac}`,
    `  switch  ${lab.bridge.ns}  ${lab.bridge.name} (ports ${switch_ports(lab).join(", ")})`,
    `  dp      ${lab.namespaces.dp}  director ${lab.director_if} ${lab.director_mac}`,
  ];
  for (const s of lab.servers) {
    lines.push(
      `          agent ${s.id}: fabric ${s.agent_fabric_if} ${s.agent_fabric_mac}, ` +
        `server side ${s.agent_server_if} ${s.agent_server_mac}`,
    );
  }
  for (const s of lab.servers) {
    lines.push(`  server  ${s.ns}  ${s.if} ${s.ip} ${s.mac}  nginx pid ${s.nginx_pid}`);
  }
  lines.push(`  vip     ${lab.vip} (on every server's lo, arp_ignore=1)`);
  if (lab.ecmp) {
    const { router } = lab.ecmp;
    lines.push(
      `  router  ${router.ns}  ${router.client_if} ${router.client_ip}, ${router.fabric_if} ` +
        `${router.fabric_ip}  BIRD ${router.bird.socket}`,
    );
    for (const d of lab.ecmp.directors) {
      lines.push(
        `  director ${d.id}: ${d.if} ${d.ip} ${d.mac} (dp); host ${d.host_ns} ${d.host_ip}  ` +
          `BIRD ${d.bird.socket}`,
      );
    }
  }
  lines.push(`  ${lab.big_file.path}  ${lab.big_file.size} bytes  sha256 ${lab.big_file.sha256}`);
  return lines.join("\n");
}

/**
 * The ECMP lab's configs (written into its state folder) and the commands
 * that run its processes, one per terminal: the agents first, then each
 * director (each as its own host would run it).
 */
async function ecmp_commands(lab: Lab): Promise<string> {
  const dir = `${lab.state_dir}/configs`;
  await Deno.mkdir(dir, { recursive: true });
  const processes = await write_ecmp_lab_configs(lab, dir);
  const command = (process: LabProcess) => {
    const eal = lab_eal_args({ interfaces: process.interfaces, app: [], name: process.name });
    return `  ip netns exec ${lab.namespaces.dp} ./native/build/deno run -A control/main.ts ` +
      `${eal.join(" ")} -- --role=${process.roles.join(",")} --config=${process.config} ` +
      `--stats-period=1`;
  };
  return [
    `configs in ${dir}; run (as root, from the repository), each in its own terminal:`,
    command(processes.agents),
    ...processes.directors.map(command),
    `then: ip netns exec ${lab.client.ns} curl http://${lab.vip}/ ; ` +
    `ip netns exec ${lab.ecmp!.router.ns} ip route show ${lab.vip}`,
  ].join("\n");
}

/** The fabric bridge's ports: the client's (or the router's and director hosts'), directors', agents'. */
function switch_ports(lab: Lab): string[] {
  if (!lab.ecmp) {
    return [
      lab.client.switch_port,
      lab.director_peer_if,
      ...lab.servers.map((s) => s.agent_fabric_peer_if),
    ];
  }
  return [
    lab.ecmp.router.fabric_peer_if,
    ...lab.ecmp.directors.flatMap((d) => [d.peer_if, d.host_peer_if]),
    ...lab.servers.map((s) => s.agent_fabric_peer_if),
  ];
}

function describe_status(status: LabStatus): string {
  const lines = [
    `lab ${status.prefix}: ${status.up ? `up, ${status.servers} server(s)` : "not up"}`,
  ];
  for (const ns of status.namespaces) {
    lines.push(`  ns ${ns.name}: ${ns.exists ? "exists" : "missing"}`);
    for (const link of status.interfaces.filter((i) => i.ns === ns.name)) {
      const addresses = link.addresses.length ? ` ${link.addresses.join(" ")}` : "";
      lines.push(`    ${link.name.padEnd(8)} ${link.state.padEnd(8)} ${link.mac}${addresses}`);
    }
  }
  for (const n of status.nginx) {
    lines.push(`  nginx srv${n.server}: pid ${n.pid} ${n.alive ? "alive" : "dead"}`);
  }
  return lines.join("\n");
}

if (import.meta.main) {
  try {
    // `deno task lab -- up 3 --directors 2` passes the "--" along: options after it are options
    Deno.exit(await main(Deno.args[0] === "--" ? Deno.args.slice(1) : Deno.args));
  } catch (error) {
    console.error((error as Error).message);
    Deno.exit(1);
  }
}
