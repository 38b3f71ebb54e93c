// The lab bench, in two parts. Without a lab: the per-role configs are valid
// and their ports match the processes' port lists, threads are named by what
// runs on them, and the report pairs each row with the right HAProxy row and
// the right "straight" figure. In a lab, as a smoke test: one quick round
// must bring the lab up, run every baton setup (both process forms × both
// idle modes) and HAProxy under the same load without a single failed
// request or curl, tear everything down and leave every row in the JSON. No
// speed thresholds: on a shared 2-vCPU host a timed assertion would only
// measure the neighbours.

import assert from "node:assert/strict";
import { parse_config } from "../../control/mod.ts";
import {
  type Lab,
  lab_agent_interfaces,
  lab_agents_config,
  lab_director_config,
  lab_director_interfaces,
  lab_eal_args,
  lab_interfaces,
  lab_key_file,
  lab_status,
} from "../../control/lab/mod.ts";
import { cpu_by_part } from "../../bench/lab_bench.ts";
import {
  baton_setup,
  empty_row,
  format_table,
  format_targets,
  HAPROXY_SETUP,
  round_ratios,
  type RunRow,
  type Setup,
  summarise,
} from "../../bench/lab_report.ts";
import type { LightLoad } from "../../bench/lab_measure.ts";

const LAB_BENCH = new URL("../../bench/lab_bench.ts", import.meta.url).pathname;
const PREFIX = "btb-";

// ---------------------------------------------------------------------------
// Without a lab

function fake_lab(): Lab {
  const servers = [1, 2, 3].map((id) => ({
    id,
    mac: `02:b7:00:00:01:0${id}`,
    control_ip: `198.19.0.1${id}`,
    ip: `198.18.0.1${id}`,
    agent_fabric_if: `ag${id}f`,
    agent_server_if: `ag${id}s`,
  }));
  return {
    vip: "198.18.0.100",
    vip_l4: "198.18.0.101",
    director_if: "dir0",
    director_ip: "198.18.0.2",
    control: { dp_ip: "198.19.0.1" },
    servers,
  } as unknown as Lab;
}

async function parse_as(config: Record<string, unknown>, roles: ("director" | "agent")[]) {
  const lab = fake_lab();
  const keys: Record<string, string> = Object.fromEntries(
    lab.servers.map((s) => [`/lab/${lab_key_file(s.id)}`, String(s.id).repeat(64)]),
  );
  return await parse_config(JSON.stringify(config), {
    roles,
    base_dir: "/lab/",
    read_file: (path) => Promise.resolve(keys[path]),
  });
}

Deno.test("lab bench per-role: each process's config is valid for its role and its own ports", async () => {
  const lab = fake_lab();
  const options = { key_files: lab_key_file };
  const director_json = lab_director_config(lab, options);
  const agents_json = lab_agents_config(lab, options);
  assert.equal(director_json.agents, undefined, "the director's config has no agents");
  assert.equal(agents_json.director, undefined, "the agents' config has no director");
  assert.notEqual(director_json.metrics, agents_json.metrics, "two processes, two metrics ports");

  const director = (await parse_as(director_json, ["director"])).director!;
  assert.equal(lab_director_interfaces(lab)[director.port], "dir0");

  const agents = (await parse_as(agents_json, ["agent"])).agents;
  const ports = lab_agent_interfaces(lab);
  assert.equal(ports.length, 6);
  for (const [i, agent] of agents.entries()) {
    const server = lab.servers[i];
    assert.equal(ports[agent.fabric_port], server.agent_fabric_if, `agent ${agent.id} fabric`);
    assert.equal(ports[agent.server_port], server.agent_server_if, `agent ${agent.id} server`);
    const entry = director.servers.find((s) => s.agent_id === agent.id)!;
    assert.deepEqual(agent.key, entry.key, `agent ${agent.id} and its server share their key`);
    assert.equal(agent.address, entry.agent.host);
  }
  // the one-process form keeps its port order: dir0, then each agent's two ports
  assert.deepEqual(lab_interfaces(lab), [...lab_director_interfaces(lab), ...ports]);
});

Deno.test("lab bench per-role: the two processes get their own file prefix and poll on different lcores", () => {
  const base = { app: [], lcores: "0,1" };
  const director = lab_eal_args({ ...base, interfaces: ["dir0"], name: "labbench-director" });
  const agents = lab_eal_args({
    ...base,
    interfaces: lab_agent_interfaces(fake_lab()),
    name: "labbench-agents",
    main_lcore: 1,
  });
  const value = (args: string[], name: string) => args[args.indexOf(name) + 1];
  assert.notEqual(value(director, "--file-prefix"), value(agents, "--file-prefix"));
  assert.ok(!director.includes("--main-lcore"));
  assert.equal(value(agents, "--main-lcore"), "1");
  assert.equal(agents.filter((a) => a === "--vdev").length, 6);
  assert.equal(director.filter((a) => a === "--vdev").length, 1);
});

Deno.test("lab bench: threads are named by what runs on them, per process", () => {
  const parts = cpu_by_part([
    {
      name: "director",
      roles: ["director"],
      threads: {
        "worker-1": 1,
        "worker-2": 50,
        main: 2,
        "V8 DefaultWorke": 4,
        "tokio-runtime-w": 1,
      },
    },
    { name: "agents", roles: ["agent"], threads: { "worker-1": 40, "eal-intr-thread": 0.5 } },
    { name: "haproxy", roles: [], threads: { main: 30 } },
  ]);
  assert.deepEqual(parts, {
    "director: director control Worker": 1,
    "director: dataplane Worker": 50,
    "director: main": 2,
    "director: V8 platform (GC, JIT)": 4,
    "director: runtime + EAL threads": 1,
    "agents: dataplane Worker": 40,
    "agents: runtime + EAL threads": 0.5,
    "haproxy: main": 30,
  });
  // one process for both roles: worker-1 is still the director's control Worker
  assert.deepEqual(
    cpu_by_part([{
      name: "all",
      roles: ["director", "agent"],
      threads: { "worker-1": 1, "worker-2": 9 },
    }]),
    { "all: director control Worker": 1, "all: dataplane Worker": 9 },
  );
});

function light(p50_ms: number, failures = 0): LightLoad {
  return { samples: 100, failures, p50_ms, p90_ms: p50_ms * 2, min_ms: 0.1, max_ms: 9 };
}

function row(setup: Setup, round: number, fields: Partial<RunRow>): RunRow {
  return {
    ...empty_row(setup, round),
    socket_errors: 0,
    non_2xx: 0,
    download_ok: true,
    download_mb_s: 100,
    ...fields,
  };
}

Deno.test("lab bench report: ratios pair each baton setup with HAProxy's run of the same round", () => {
  const one_busy = baton_setup("one", "busy");
  const per_role = baton_setup("per-role", "adaptive");
  const rows = [
    // round 1: HAProxy 1000 conn/s at 0.1 CPU-s/1k; round 2: 2000 at 0.2
    row(one_busy, 0, {
      conn_per_s: 1500,
      cpu_s_per_1000: 0.1,
      light: light(1.2),
      straight: light(1.0),
    }),
    row(per_role, 0, {
      conn_per_s: 3000,
      cpu_s_per_1000: 0.3,
      light: light(2.0),
      straight: light(1.4),
    }),
    row(HAPROXY_SETUP, 0, { conn_per_s: 1000, cpu_s_per_1000: 0.1, light: light(0.5) }),
    row(one_busy, 1, {
      conn_per_s: 4000,
      cpu_s_per_1000: 0.1,
      light: light(1.5),
      straight: light(1.0),
    }),
    row(per_role, 1, {
      conn_per_s: 2000,
      cpu_s_per_1000: 0.2,
      light: light(3.0),
      straight: light(2.0),
    }),
    row(HAPROXY_SETUP, 1, { conn_per_s: 2000, cpu_s_per_1000: 0.2, light: light(0.7) }),
  ];
  const ratios = round_ratios(rows);
  const of = (setup: Setup) => ratios.find((r) => r.setup === setup.id)!;
  assert.equal(of(one_busy).conn_per_s, (1.5 + 2) / 2, "median of 1500/1000 and 4000/2000");
  assert.equal(of(one_busy).cpu_s_per_1000, (1 + 0.5) / 2);
  assert.equal(of(per_role).conn_per_s, (3 + 1) / 2);
  assert.equal(ratios.length, 2, "no ratio row for HAProxy itself");

  const summaries = [one_busy, per_role, HAPROXY_SETUP].map((setup) =>
    summarise(setup, rows.filter((r) => r.setup === setup.id), rows)
  );
  const [a, b, h] = summaries;
  // Δ per round against that run's own straight, then the median over rounds
  assert.ok(Math.abs(a.delta_p50_ms! - (0.2 + 0.5) / 2) < 1e-9);
  assert.ok(Math.abs(b.delta_p50_ms! - (0.6 + 1.0) / 2) < 1e-9);
  // HAProxy cannot reach the servers straight: the round's baton runs' straight stands in
  assert.ok(Math.abs(h.straight_p50_ms! - (1.2 + 1.5) / 2) < 1e-9);
  assert.ok(Math.abs(h.delta_p50_ms! - ((0.5 - 1.2) + (0.7 - 1.5)) / 2) < 1e-9);
  assert.ok(summaries.every((s) => s.ok), summaries.flatMap((s) => s.problems).join("; "));

  const table = format_table(summaries, ratios);
  for (const setup of ["baton one/busy", "baton per-role/adaptive", "haproxy"]) {
    assert.match(table, new RegExp(`^${setup} `, "m"), `a row for ${setup}`);
  }
  for (
    const column of ["conn/s", "CPU % (all procs)", "CPU s/1k conn", "light p50 ms", "Δ p50 ms"]
  ) {
    assert.ok(table.includes(column), `column ${column}`);
  }
  assert.match(
    format_targets(summaries, ratios),
    /baton one\/busy: conn\/s ≥ 1\.5× HAProxy \(1\.75×\) met/,
  );
});

Deno.test("lab bench report: a failed curl or a missing figure makes the setup not ok", () => {
  const setup = baton_setup("one", "adaptive");
  const rows = [row(setup, 0, { conn_per_s: 10, light: light(1, 2), straight: light(1) })];
  const summary = summarise(setup, rows, rows);
  assert.ok(!summary.ok);
  assert.match(summary.problems.join("; "), /2 light-load curls failed/);
  const none = summarise(setup, [row(setup, 0, { conn_per_s: 10 })], []);
  assert.match(none.problems.join("; "), /no light-load figure/);
});

Deno.test("lab bench: an unknown form or idle mode is refused before anything is built", async () => {
  for (const args of [["--forms", "two"], ["--idle", "busy,lazy"]]) {
    const { code, stderr } = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", LAB_BENCH, ...args],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(code, 2, args.join(" "));
    assert.match(new TextDecoder().decode(stderr), /takes one or more of/);
  }
});

// ---------------------------------------------------------------------------
// In a lab

interface Row {
  setup: string;
  system: string;
  form: string | null;
  idle: string | null;
  processes: { name: string; roles: string[]; cpu_percent: number | null; cmdline: string }[];
  conn_per_s: number | null;
  socket_errors: number | null;
  non_2xx: number | null;
  cpu_percent: number | null;
  cpu_s_per_1000: number | null;
  light: LightLoad | null;
  straight: LightLoad | null;
  download_ok: boolean;
  error: string | null;
}

interface LabBenchJson {
  setups: { setup: string; ok: boolean; problems: string[]; conn_per_s: number | null }[];
  runs: Row[];
}

const SETUPS = [
  "baton one/busy",
  "baton one/adaptive",
  "baton per-role/busy",
  "baton per-role/adaptive",
  "haproxy",
];

Deno.test({
  name:
    "lab bench --quick: every baton form × idle mode and HAProxy serve every request; the lab is gone after",
  // The bench's children (baton, HAProxy, wrk) are its own; their pipes outlive nothing here.
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const json_path = await Deno.makeTempFile({ prefix: "baton-lab-bench-", suffix: ".json" });
    try {
      const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
        // fewer light-load curls than the default 100: this checks they work, not what they say
        args: ["run", "-A", LAB_BENCH, "--quick", "--light", "20", "--json", json_path],
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      }).output();
      const output = new TextDecoder().decode(stdout) + new TextDecoder().decode(stderr);
      assert.equal(code, 0, `lab bench exited with ${code}:\n${output}`);

      const report: LabBenchJson = JSON.parse(await Deno.readTextFile(json_path));
      assert.deepEqual(report.setups.map((s) => s.setup), SETUPS);
      for (const setup of SETUPS) {
        const rows = report.runs.filter((r) => r.setup === setup);
        assert.equal(rows.length, 1, `${setup}: one quick round`);
        const [row] = rows;
        assert.equal(row.error, null, `${setup}: ${row.error}`);
        assert.ok(row.conn_per_s !== null && row.conn_per_s > 0, `${setup}: no conn/s`);
        assert.equal(row.socket_errors, 0, `${setup}: wrk socket errors`);
        assert.equal(row.non_2xx, 0, `${setup}: non-2xx responses`);
        assert.ok(row.cpu_percent !== null && row.cpu_percent > 0, `${setup}: no CPU figure`);
        assert.ok(row.cpu_s_per_1000 !== null && row.cpu_s_per_1000 > 0, `${setup}: no CPU/1k`);
        assert.ok(row.download_ok, `${setup}: 10 MB download`);
        assert.equal(row.light?.samples, 20, `${setup}: every light-load curl answered`);
        assert.equal(row.light?.failures, 0);
        const summary = report.setups.find((s) => s.setup === setup);
        assert.ok(summary?.ok, `${setup}: ${summary?.problems.join("; ")}`);

        // the CPU figure is every process's together
        const sum = row.processes.reduce((n, p) => n + (p.cpu_percent ?? 0), 0);
        assert.ok(Math.abs(sum - row.cpu_percent!) < 0.01, `${setup}: CPU is the processes' sum`);
        if (row.system === "haproxy") {
          assert.equal(row.straight, null, "HAProxy's run has no path straight to a server");
          continue;
        }
        assert.equal(row.straight?.samples, 20, `${setup}: every straight curl answered`);
        assert.ok(row.processes.every((p) => p.cmdline.includes(`--idle=${row.idle}`)));
        const roles = row.processes.map((p) => p.roles.join(",")).sort();
        assert.deepEqual(
          roles,
          row.form === "one" ? ["director,agent"] : ["agent", "director"],
          `${setup}: its processes`,
        );
      }
      const status = await lab_status({ prefix: PREFIX });
      assert.ok(!status.up, "the bench's lab is torn down");
      assert.ok(status.namespaces.every((ns) => !ns.exists), "no namespace left behind");
    } finally {
      await Deno.remove(json_path).catch(() => {});
    }
  },
});
