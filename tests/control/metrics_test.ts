// The Prometheus text: every series typed and described once, counters end in
// _total, label values escaped, and parse_prometheus reads it back.

import assert from "node:assert/strict";
import {
  format_prometheus,
  parse_prometheus,
  serve_metrics,
  type Snapshot,
} from "../../control/mod.ts";

const port_stats = {
  rx_packets: 10,
  tx_packets: 20,
  rx_bytes: 1000,
  tx_bytes: 2000,
  rx_missed: 1,
  rx_errors: 0,
  tx_errors: 0,
  rx_nombuf: 0,
};

const snapshot: Snapshot = {
  uptime_s: 12.5,
  ports: [{ id: 0, name: "net_af_packet0", stats: port_stats }],
  director: {
    name: "dir-a",
    access_log: { written: 7, dropped: 1, torn: 0 },
    dataplane: { rx: 5, syn_cookies_sent: 3, dropped_not_vip: 2, flows: 7, handoffs_pending: 1 },
    control: {
      counters: {
        handoffs_acked: 9,
        handoffs_nacked: 1,
        handoff_timeouts: 0,
        handoffs_sent: 10,
        decode_ok: 10,
        decode_bad_mac: 2,
      },
      servers: [
        {
          name: 'we"b1',
          removed: false,
          healthy: true,
          selections: 6,
          handoff_failures: 0,
          consecutive_failures: 0,
          active_flows: 2,
        },
        {
          name: "web2",
          removed: false,
          healthy: false,
          selections: 3,
          handoff_failures: 1,
          consecutive_failures: 3,
          active_flows: 0,
        },
        {
          name: "web3",
          removed: true,
          healthy: false,
          selections: 5,
          handoff_failures: 0,
          consecutive_failures: 0,
          active_flows: 1,
        },
      ],
      latency_p50_ms: 2,
      latency_p99_ms: 15,
      latency_histogram: {
        bounds_ms: [1, 10, 100, Infinity],
        counts: [4, 8, 9, 9],
        sum_ms: 42.5,
        count: 9,
      },
      pending: 0,
      forwarding: 2,
    },
  },
  agents: [{
    dataplane: {
      adopted: 4,
      dropped_not_ours: 1,
      ended_fin: 3,
      refused_table_full: 0,
      refused_wrong_vip: 2,
      flows: 1,
      handoff_rx_ok: 4,
      handoff_rx_unknown_source: 5,
      acks_sent: 4,
      flow_ends_pending: 1,
    },
    id: 3,
  }],
};

Deno.test("metrics: promtool check metrics accepts the exposition", async () => {
  // Prometheus's own linter (Debian prometheus; native/setup.sh installs it)
  const child = new Deno.Command("promtool", {
    args: ["check", "metrics"],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(format_prometheus(snapshot)));
  await writer.close();
  const { code, stdout, stderr } = await child.output();
  const said = new TextDecoder().decode(stdout) + new TextDecoder().decode(stderr);
  assert.equal(code, 0, `promtool check metrics failed:\n${said}`);
  assert.equal(said.trim(), "", `promtool has remarks:\n${said}`);
});

Deno.test("metrics: Prometheus text follows the conventions and reads back", () => {
  const text = format_prometheus(snapshot);
  const values = parse_prometheus(text);
  const types = new Map<string, string>();
  for (const line of text.split("\n")) {
    const m = /^# TYPE (\S+) (counter|gauge|histogram)$/.exec(line);
    if (m) {
      assert.ok(!types.has(m[1]), `${m[1]} typed once`);
      types.set(m[1], m[2]);
    }
  }
  for (const series of values.keys()) {
    const name = series.split("{")[0].replace(
      /_(bucket|sum|count)$/,
      (suffix) =>
        types.get(series.split("{")[0].slice(0, -suffix.length)) === "histogram" ? "" : suffix,
    );
    assert.ok(types.has(name), `${name} has a TYPE`);
    assert.match(name, /^baton_[a-z0-9_]+$/);
    if (types.get(name) === "counter") assert.match(name, /_total$/, `${name} is a counter`);
  }
  assert.equal(
    values.get('baton_port_transmitted_bytes_total{port="0",device="net_af_packet0"}'),
    2000,
  );
  // every director series names its director; every agent series its agent's id
  const d = 'director="dir-a"';
  assert.equal(values.get(`baton_director_handoffs_total{${d},outcome="acked"}`), 9);
  assert.equal(values.get(`baton_director_dropped_packets_total{${d},reason="not_vip"}`), 2);
  assert.equal(values.get(`baton_director_flows{${d}}`), 7);
  assert.equal(values.get(`baton_director_server_selections_total{${d},server="we\\"b1"}`), 6);
  assert.equal(values.get(`baton_director_server_healthy{${d},server="web2"}`), 0);
  // a server a reload removed keeps its counts, marked
  assert.equal(
    values.get(`baton_director_server_selections_total{${d},server="web3",removed="true"}`),
    5,
  );
  assert.equal(values.get(`baton_director_access_log_records_total{${d},result="dropped"}`), 1);
  assert.equal(types.get("baton_director_handoff_latency_seconds"), "histogram");
  // the director label comes before le, so sum by (le) across directors works
  assert.equal(values.get(`baton_director_handoff_latency_seconds_bucket{${d},le="0.01"}`), 8);
  assert.equal(values.get(`baton_director_handoff_latency_seconds_bucket{${d},le="+Inf"}`), 9);
  assert.equal(values.get(`baton_director_handoff_latency_seconds_sum{${d}}`), 0.0425);
  assert.equal(values.get(`baton_director_handoff_latency_seconds_count{${d}}`), 9);
  for (const [series] of values) {
    if (series.startsWith("baton_director_")) assert.match(series, /\{director="dir-a"/, series);
  }
  assert.equal(
    values.get(`baton_handoff_datagrams_received_total{${d},role="director",result="bad_mac"}`),
    2,
  );
  assert.equal(values.get('baton_agent_flows_ended_total{agent="3",reason="fin"}'), 3);
  assert.equal(values.get('baton_agent_dropped_packets_total{agent="3",reason="not_ours"}'), 1);
  assert.equal(values.get('baton_agent_flows{agent="3"}'), 1);
  // the agent's hand-off datagrams are dataplane counters now, in the same family as before
  assert.equal(
    values.get('baton_handoff_datagrams_received_total{role="agent3",result="ok"}'),
    4,
  );
  assert.equal(
    values.get(
      'baton_handoff_datagrams_received_total{role="agent3",result="unknown_source"}',
    ),
    5,
  );
  assert.equal(
    values.get('baton_agent_handoffs_refused_total{agent="3",reason="wrong_vip"}'),
    2,
  );
  assert.equal(values.get('baton_agent_acks_sent_total{agent="3"}'), 4);
  assert.equal(types.get("baton_agent_flow_ends_pending"), "gauge");
  assert.equal(
    values.get(`baton_control_events_total{${d},role="director",event="handoffs_sent"}`),
    10,
  );
});

Deno.test({
  name: "metrics: served over HTTP, and `deno task stats` reads them (--once)",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const port = 20000 + (Deno.pid % 20000);
    const server = serve_metrics({ host: "127.0.0.1", port }, () => Promise.resolve(snapshot));
    try {
      const response = await fetch(`http://127.0.0.1:${port}/metrics`);
      assert.equal(response.status, 200);
      assert.match(response.headers.get("content-type") ?? "", /^text\/plain; version=0\.0\.4/);
      assert.match(
        await response.text(),
        /^baton_director_handoffs_total\{director="dir-a",outcome="acked"\} 9$/m,
      );
      assert.equal(
        await fetch(`http://127.0.0.1:${port}/other`).then((r) =>
          r.body?.cancel().then(() => r.status)
        ),
        404,
      );
      const stats = await new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "-A",
          new URL("../../control/stats_watch.ts", import.meta.url).pathname,
          `127.0.0.1:${port}`,
          "--once",
        ],
        stdout: "piped",
        stderr: "piped",
      }).output();
      const text = new TextDecoder().decode(stats.stdout);
      assert.equal(stats.code, 0, new TextDecoder().decode(stats.stderr));
      assert.match(
        text,
        /baton_director_server_selections_total\{director="dir-a",server="web2"\}\s+3/,
      );
    } finally {
      await server.close();
    }
  },
});

Deno.test("stats: a bad address is a usage error", async () => {
  const stats = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", new URL("../../control/stats_watch.ts", import.meta.url).pathname, "nope"],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(stats.code, 2);
  assert.match(new TextDecoder().decode(stats.stderr), /usage: deno task stats -- HOST:PORT/);
});
