// What a running baton reports, in one snapshot: ports, the director (its
// dataplane counters and its control Worker's hand-off numbers, servers and
// health), and each agent. Served as Prometheus text on the metrics address
// (names follow Prometheus conventions: baton_ prefix, _total for counters,
// base units), printed as a JSON line each stats period, and read back by
// `deno task stats` and the demo.

import type { PortStats } from "../native/mod.ts";
import type { DirectorControlStats } from "./director/mod.ts";

export interface Snapshot {
  /** Seconds since the process started. */
  uptime_s: number;
  ports: { id: number; name: string; stats: PortStats }[];
  director?: {
    /** director.name: the `director` label of every director metric. */
    name?: string;
    /** The access log's records written, dropped (ring full) and torn; none: the log is off. */
    access_log?: { written: number; dropped: number; torn: number };
    dataplane: Record<string, number>;
    control: DirectorControlStats;
  };
  /** Each agent's counters (all dataplane counters: an agent has no control Worker) and its id. */
  agents: { dataplane: Record<string, number>; id?: number }[];
}

/** Dataplane counters that are gauges (a current value), not totals. */
const GAUGES = new Set([
  "flows",
  "handoffs_pending",
  "flows_forwarding",
  "reading_buffers",
  "reading_buffers_high",
  "flow_ends_pending",
  "bfd_sessions_up",
]);

interface Sample {
  name: string;
  help: string;
  type: "counter" | "gauge" | "histogram";
  /** The metric family the HELP/TYPE lines name (a histogram's _bucket/_sum/_count share one). */
  family: string;
  labels: Record<string, string>;
  value: number;
}

export function format_prometheus(snapshot: Snapshot): string {
  const samples: Sample[] = [];
  const add = (
    name: string,
    type: Sample["type"],
    help: string,
    labels: Record<string, string>,
    value: number,
  ) => samples.push({ name, type, help, labels, value, family: name });
  const add_histogram = (
    family: string,
    help: string,
    labels: Record<string, string>,
    histogram: { bounds: number[]; counts: number[]; sum: number; count: number },
  ) => {
    histogram.bounds.forEach((bound, i) =>
      samples.push({
        name: `${family}_bucket`,
        type: "histogram",
        help,
        family,
        labels: { ...labels, le: bound === Infinity ? "+Inf" : String(bound) },
        value: histogram.counts[i],
      })
    );
    samples.push({
      name: `${family}_sum`,
      type: "histogram",
      help,
      family,
      labels,
      value: histogram.sum,
    });
    samples.push({
      name: `${family}_count`,
      type: "histogram",
      help,
      family,
      labels,
      value: histogram.count,
    });
  };

  // every other control Worker counter (replays refused, unmatched answers,
  // internal errors, ...), one family labelled by role and event
  const add_control_event = (
    role: string,
    event: string,
    value: number,
    labels: Record<string, string> = {},
  ) =>
    add(
      "baton_control_events_total",
      "counter",
      "Control Worker events, by role and event.",
      { ...labels, role, event },
      value,
    );
  add("baton_uptime_seconds", "gauge", "Seconds since baton started.", {}, snapshot.uptime_s);
  for (const { id, name, stats } of snapshot.ports) {
    const labels = { port: String(id), device: name };
    add(
      "baton_port_received_packets_total",
      "counter",
      "Frames received by a DPDK port.",
      labels,
      stats.rx_packets,
    );
    add(
      "baton_port_transmitted_packets_total",
      "counter",
      "Frames sent by a DPDK port.",
      labels,
      stats.tx_packets,
    );
    add(
      "baton_port_received_bytes_total",
      "counter",
      "Bytes received by a DPDK port.",
      labels,
      stats.rx_bytes,
    );
    add(
      "baton_port_transmitted_bytes_total",
      "counter",
      "Bytes sent by a DPDK port.",
      labels,
      stats.tx_bytes,
    );
    add(
      "baton_port_missed_packets_total",
      "counter",
      "Frames the port dropped for lack of room.",
      labels,
      stats.rx_missed,
    );
    add("baton_port_errors_total", "counter", "Port receive and transmit errors.", {
      ...labels,
      direction: "rx",
    }, stats.rx_errors);
    add("baton_port_errors_total", "counter", "Port receive and transmit errors.", {
      ...labels,
      direction: "tx",
    }, stats.tx_errors);
  }
  if (snapshot.director) {
    const { dataplane, control } = snapshot.director;
    // every director metric names its director, so a site's directors sum up (sum by (le), ...)
    const director_name = snapshot.director.name ?? "";
    const add_director = (
      name: string,
      type: Sample["type"],
      help: string,
      labels: Record<string, string>,
      value: number,
    ) => add(name, type, help, { director: director_name, ...labels }, value);
    for (const [counter, value] of Object.entries(dataplane)) {
      // shown below, by name: the datagrams by decode result, NACKs, the latency histogram
      if (/^(handoff_rx_|nack_|latency_)/.test(counter)) continue;
      if (counter.startsWith("dropped_")) {
        add_director(
          "baton_director_dropped_packets_total",
          "counter",
          "Frames the director dropped, by reason.",
          { reason: counter.slice(8) },
          value,
        );
      } else if (GAUGES.has(counter)) {
        add_director(
          `baton_director_${counter}`,
          "gauge",
          `Director dataplane: ${counter.replaceAll("_", " ")}.`,
          {},
          value,
        );
      } else {
        add_director(
          `baton_director_${counter}_total`,
          "counter",
          `Director dataplane: ${counter.replaceAll("_", " ")}.`,
          {},
          value,
        );
      }
    }
    const c = control.counters;
    const outcomes: [string, number][] = [
      ["acked", c.handoffs_acked ?? 0],
      ["nacked", c.handoffs_nacked ?? 0],
      ["timeout", c.handoff_timeouts ?? 0],
    ];
    for (const [outcome, value] of outcomes) {
      add_director(
        "baton_director_handoffs_total",
        "counter",
        "Hand-offs by outcome.",
        { outcome },
        value,
      );
    }
    add_director(
      "baton_director_handoff_datagrams_total",
      "counter",
      "HANDOFF datagrams sent (first and retransmitted).",
      { kind: "first" },
      c.handoffs_sent ?? 0,
    );
    add_director(
      "baton_director_handoff_datagrams_total",
      "counter",
      "HANDOFF datagrams sent (first and retransmitted).",
      { kind: "retransmit" },
      c.handoff_retransmits ?? 0,
    );
    add_director(
      "baton_director_handoff_fallbacks_total",
      "counter",
      "Hand-offs moved to the next server after a NACK or time-out.",
      {},
      c.fallbacks ?? 0,
    );
    add_director(
      "baton_director_responses_total",
      "counter",
      "HTTP answers from the director itself, by status.",
      { status: "400" },
      dataplane.responses_400 ?? 0,
    );
    add_director(
      "baton_director_responses_total",
      "counter",
      "HTTP answers from the director itself, by status.",
      { status: "408" },
      dataplane.responses_408 ?? 0,
    );
    add_director(
      "baton_director_responses_total",
      "counter",
      "HTTP answers from the director itself, by status.",
      { status: "431" },
      dataplane.responses_431 ?? 0,
    );
    add_director(
      "baton_director_responses_total",
      "counter",
      "HTTP answers from the director itself, by status.",
      { status: "503" },
      dataplane.responses_503 ?? 0,
    );
    const latency = control.latency_histogram;
    add_histogram(
      "baton_director_handoff_latency_seconds",
      "Hand-off latency, HANDOFF first sent to its ACK.",
      { director: director_name },
      {
        bounds: latency.bounds_ms.map((ms) => ms / 1000),
        counts: latency.counts,
        sum: latency.sum_ms / 1000,
        count: latency.count,
      },
    );
    add_director(
      "baton_director_forwarded_flows",
      "gauge",
      "Flows the director forwards to a server.",
      {},
      control.forwarding,
    );
    for (const s of control.servers) {
      // a server a reload removed keeps its entry (and its counts) while its flows may live
      const server: Record<string, string> = s.removed
        ? { server: s.name, removed: "true" }
        : { server: s.name };
      add_director(
        "baton_director_server_selections_total",
        "counter",
        "Connections handed off to each server.",
        server,
        s.selections,
      );
      add_director(
        "baton_director_server_handoff_failures_total",
        "counter",
        "Hand-offs a server refused or never answered.",
        server,
        s.handoff_failures,
      );
      add_director(
        "baton_director_server_healthy",
        "gauge",
        "1 while a server is in the selection.",
        server,
        s.healthy ? 1 : 0,
      );
      add_director(
        "baton_director_server_flows",
        "gauge",
        "Flows currently forwarded to each server.",
        server,
        s.active_flows,
      );
    }
    const log = snapshot.director.access_log;
    if (log) {
      for (const [result, value] of Object.entries(log)) {
        add_director(
          "baton_director_access_log_records_total",
          "counter",
          "Access log records: written, dropped (the ring was full), torn (skipped).",
          { result },
          value,
        );
      }
    }
    for (const [counter, value] of Object.entries(c)) {
      if (counter.startsWith("decode_")) {
        add_director(
          "baton_handoff_datagrams_received_total",
          "counter",
          "Hand-off datagrams received, by decode result.",
          { role: "director", result: counter.slice(7) },
          value,
        );
      } else {
        add_control_event("director", counter, value, { director: director_name });
      }
    }
  }
  snapshot.agents.forEach(({ dataplane, id }, i) => {
    // its id, which the director's server entry names too (agent_id); its place without one
    const agent = String(id ?? i);
    for (const [counter, value] of Object.entries(dataplane)) {
      if (counter.startsWith("handoff_rx_")) {
        // the datagrams its poll loop read, in the family the director's share (by role)
        add(
          "baton_handoff_datagrams_received_total",
          "counter",
          "Hand-off datagrams received, by decode result.",
          { role: `agent${agent}`, result: counter.slice(11) },
          value,
        );
      } else if (counter.startsWith("dropped_")) {
        add("baton_agent_dropped_packets_total", "counter", "Frames an agent dropped, by reason.", {
          agent,
          reason: counter.slice(8),
        }, value);
      } else if (counter.startsWith("ended_")) {
        add("baton_agent_flows_ended_total", "counter", "Adopted flows that ended, by how.", {
          agent,
          reason: counter.slice(6),
        }, value);
      } else if (counter.startsWith("refused_")) {
        add(
          "baton_agent_handoffs_refused_total",
          "counter",
          "Hand-offs an agent refused, by reason.",
          { agent, reason: counter.slice(8) },
          value,
        );
      } else if (GAUGES.has(counter)) {
        add(
          `baton_agent_${counter}`,
          "gauge",
          `Agent dataplane: ${counter.replaceAll("_", " ")}.`,
          { agent },
          value,
        );
      } else {
        add(
          `baton_agent_${counter}_total`,
          "counter",
          `Agent dataplane: ${counter.replaceAll("_", " ")}.`,
          { agent },
          value,
        );
      }
    }
  });
  return render(samples);
}

function render(samples: Sample[]): string {
  const lines: string[] = [];
  const described = new Set<string>();
  // one block per family, its samples together (the exposition format wants that)
  const by_family = new Map<string, Sample[]>();
  for (const s of samples) by_family.set(s.family, [...(by_family.get(s.family) ?? []), s]);
  for (const [family, group] of by_family) {
    if (!described.has(family)) {
      lines.push(`# HELP ${family} ${group[0].help}`, `# TYPE ${family} ${group[0].type}`);
      described.add(family);
    }
    for (const s of group) {
      const labels = Object.entries(s.labels).map(([k, v]) => `${k}="${escape_label(v)}"`);
      lines.push(`${s.name}${labels.length ? `{${labels.join(",")}}` : ""} ${s.value}`);
    }
  }
  return lines.join("\n") + "\n";
}

function escape_label(value: string): string {
  return value.replaceAll("\\", "\\\\").replaceAll('"', '\\"').replaceAll("\n", "\\n");
}

/** Parses Prometheus text into "name{labels}" → value (for `deno task stats` and tests). */
export function parse_prometheus(text: string): Map<string, number> {
  const values = new Map<string, number>();
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const space = line.lastIndexOf(" ");
    values.set(line.slice(0, space), Number(line.slice(space + 1)));
  }
  return values;
}

/** Serves GET /metrics on address until the returned function is called. */
export function serve_metrics(
  address: { host: string; port: number },
  snapshot: () => Promise<Snapshot>,
): { close: () => Promise<void> } {
  const server = Deno.serve(
    { hostname: address.host, port: address.port, onListen: () => {} },
    async (request) => {
      const path = new URL(request.url).pathname;
      if (path !== "/metrics") return new Response("baton: GET /metrics\n", { status: 404 });
      return new Response(format_prometheus(await snapshot()), {
        headers: { "content-type": "text/plain; version=0.0.4; charset=utf-8" },
      });
    },
  );
  return { close: () => server.shutdown() };
}
