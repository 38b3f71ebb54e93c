// The director's control Worker: for every request head its dataplane
// read, it parses the request strictly, picks the server by content
// (weighted rendezvous hashing on Host + path, or the 4-tuple for L4 VIPs),
// sends the single HANDOFF datagram to that server's agent and retransmits
// it with back-off until HANDOFF_ACK. A NACK or a time-out moves on to the
// next server in rendezvous order; when none accepts, the client gets a 503.
// It also runs the health checks, answers the agents' FLOW_END, and keeps
// the numbers the metrics endpoint shows. It never touches packets.

/// <reference lib="deno.worker" />

import dgram from "node:dgram";
import { open_native } from "../../native/mod.ts";
import type { DirectorSection } from "../config.ts";
import {
  count_decode,
  decode_handoff_record,
  decode_message,
  DIRECTOR_EVENT_WORDS,
  encode_message,
  EVENT_FLOW_GONE,
  flow_key_string,
  type FlowKey,
  type HandoffMessage,
  type HandoffRecord,
  import_handoff_key,
  NACK_REASON_NAMES,
  type NackReason,
  new_decode_counters,
  parse_request_head,
  VERDICT_FORGET,
  VERDICT_FORWARD,
  VERDICT_RESPOND,
  VERDICT_TRY,
  VERDICT_WORDS,
} from "../../dataplane/wire/mod.ts";
import { l4_hash_key, rendezvous_order, url_key } from "./selection.ts";
import { ip_to_u32, u32_to_ip } from "../../dataplane/mod.ts";

export interface DirectorControlSpec {
  director: DirectorSection;
  key: Uint8Array;
  max_datagram: number;
  /** The MSS the dataplane announces (fabric MTU − 40). */
  mss: number;
  request_ring: number;
  verdict_ring: number;
  event_ring: number;
}

export type DirectorControlMessage =
  | { type: "start"; spec: DirectorControlSpec }
  | { type: "drain" }
  | { type: "stats" }
  | { type: "stop" };

export interface ServerStats {
  name: string;
  healthy: boolean;
  selections: number;
  handoff_failures: number;
  consecutive_failures: number;
  active_flows: number;
}

export interface DirectorControlStats {
  counters: Record<string, number>;
  servers: ServerStats[];
  /** Hand-off latency (HANDOFF sent → ACK), milliseconds, over the last 4096 hand-offs. */
  latency_p50_ms: number;
  latency_p99_ms: number;
  pending: number;
  forwarding: number;
}

export type DirectorControlReply =
  | { type: "listening"; address: string }
  | { type: "failed"; error: string }
  | { type: "stats"; stats: DirectorControlStats }
  | { type: "stopped"; stats: DirectorControlStats };

const POLL_MS = 1;
const LATENCY_SAMPLES = 4096;

interface Server {
  name: string;
  weight: number;
  mac_hi: number;
  mac_lo: number;
  agent: { host: string; port: number };
  health?: { host: string; port: number };
  healthy: boolean;
  consecutive_failures: number;
  selections: number;
  handoff_failures: number;
  active_flows: number;
}

interface Pending {
  record: HandoffRecord;
  key: FlowKey;
  /** Server indices left to try, best first. */
  order: number[];
  server: number;
  id: number;
  datagram: Uint8Array;
  sends: number;
  first_sent_at: number;
  next_at: number;
}

const counters: Record<string, number> = {
  requests: 0,
  handoffs_sent: 0,
  handoff_retransmits: 0,
  handoffs_acked: 0,
  handoffs_nacked: 0,
  handoff_timeouts: 0,
  fallbacks: 0,
  responses_400: 0,
  responses_503: 0,
  bad_records: 0,
  flow_ends: 0,
  flows_gone: 0,
  refused_draining: 0,
  unexpected_messages: 0,
  send_errors: 0,
  verdict_ring_full: 0,
  health_checks: 0,
  health_failures: 0,
  fail_open: 0,
  cancels_sent: 0,
  late_acks: 0,
};
const decode_counters = new_decode_counters();
let control: {
  stats(): DirectorControlStats;
  drain(): void;
  stop(): void;
} | undefined;

self.onmessage = async (event: MessageEvent<DirectorControlMessage>) => {
  const message = event.data;
  if (message.type === "start") {
    try {
      control = await start(message.spec);
      self.postMessage(
        {
          type: "listening",
          address: `${message.spec.director.control.host}:${message.spec.director.control.port}`,
        } satisfies DirectorControlReply,
      );
    } catch (err) {
      self.postMessage(
        { type: "failed", error: (err as Error).message } satisfies DirectorControlReply,
      );
    }
  } else if (message.type === "stats") {
    self.postMessage({ type: "stats", stats: control!.stats() } satisfies DirectorControlReply);
  } else if (message.type === "drain") {
    control?.drain();
  } else {
    control?.stop();
    self.postMessage({ type: "stopped", stats: control!.stats() } satisfies DirectorControlReply);
  }
};

async function start(spec: DirectorControlSpec): Promise<typeof control & object> {
  const native = open_native();
  const director = spec.director;
  const hmac_key = await import_handoff_key(spec.key);
  const epoch = crypto.getRandomValues(new Uint32Array(1))[0];
  let next_id = 1;
  let draining = false;
  const servers: Server[] = director.servers.map((s) => ({
    name: s.name,
    weight: s.weight,
    mac_hi: (s.mac[0] << 24) | (s.mac[1] << 16) | (s.mac[2] << 8) | s.mac[3],
    mac_lo: (s.mac[4] << 8) | s.mac[5],
    agent: s.agent,
    health: s.health,
    healthy: true,
    consecutive_failures: 0,
    selections: 0,
    handoff_failures: 0,
    active_flows: 0,
  }));
  const server_index = new Map(servers.map((s, i) => [s.name, i]));
  /** Per VIP address: its policy and its servers (indices). */
  const vips = new Map(director.vips.map((v) => [ip_to_u32(v.address), {
    l4: v.policy === "l4_hash",
    servers: v.servers.map((name) => server_index.get(name)!),
  }]));
  const pending = new Map<string, Pending>();
  const pending_by_id = new Map<number, string>();
  /** Forwarded flows: which server has each (for FLOW_END and per-server counts). */
  const forwarding = new Map<string, number>();
  const latencies = new Float64Array(LATENCY_SAMPLES);
  let latency_count = 0;

  const socket = dgram.createSocket("udp4");
  await new Promise<void>((resolve, reject) => {
    socket.once("error", reject);
    socket.bind(director.control.port, director.control.host, () => {
      socket.off("error", reject);
      resolve();
    });
  });
  socket.on("error", () => counters.send_errors++);
  const send = (datagram: Uint8Array, to: { host: string; port: number }) => {
    socket.send(datagram, to.port, to.host, (err) => {
      if (err) counters.send_errors++;
    });
  };

  const verdict = new Int32Array(VERDICT_WORDS);
  const verdict_bytes = new Uint8Array(verdict.buffer);
  function tell_dataplane(type: number, key: FlowKey, a = 0, b = 0): void {
    verdict[0] = type;
    verdict[1] = key.client_ip | 0;
    verdict[2] = key.vip | 0;
    verdict[3] = (key.client_port << 16) | key.vip_port;
    verdict[4] = a;
    verdict[5] = b;
    if (!native.ring_enqueue(spec.verdict_ring, verdict_bytes)) counters.verdict_ring_full++;
  }

  function respond(key: FlowKey, status: number): void {
    if (status === 400) counters.responses_400++;
    else counters.responses_503++;
    tell_dataplane(VERDICT_RESPOND, key, status);
  }

  /** Tells an agent to forget a hand-off the director no longer wants (best effort). */
  async function cancel(id: number, key: FlowKey, agent: { host: string; port: number }) {
    counters.cancels_sent++;
    const datagram = await encode_message(
      { type: "handoff_cancel", epoch, id, key },
      hmac_key,
      { max_datagram: spec.max_datagram },
    );
    send(datagram, agent);
  }

  function server_failed(index: number): void {
    const server = servers[index];
    server.handoff_failures++;
    server.consecutive_failures++;
    // a server that keeps failing hand-offs leaves the selection until a health check passes
    if (server.consecutive_failures >= director.fail_after) server.healthy = false;
  }

  /** A new request head from the dataplane: parse, choose, hand off. */
  async function on_request(bytes: Uint8Array): Promise<void> {
    counters.requests++;
    const record = decode_handoff_record(bytes);
    if (!record) {
      counters.bad_records++;
      return;
    }
    const key: FlowKey = {
      client_ip: record.client_ip,
      vip: record.vip,
      client_port: record.client_port,
      vip_port: record.vip_port,
    };
    const vip = vips.get(record.vip);
    if (!vip) {
      respond(key, 503);
      return;
    }
    if (draining) {
      counters.refused_draining++;
      respond(key, 503);
      return;
    }
    let selection_key: string;
    if (vip.l4) {
      selection_key = l4_hash_key(key.client_ip, key.client_port, key.vip, key.vip_port);
    } else {
      const head = parse_request_head(record.request);
      if (!head.ok) {
        respond(key, head.status === 431 ? 431 : 400);
        return;
      }
      // the query selects content too (?page=2): it is part of the key
      const path = head.query === "" ? head.path : `${head.path}?${head.query}`;
      selection_key = url_key(head.host || u32_to_ip(record.vip), path);
    }
    // Healthy servers only; when none is, all of them (fail open): under
    // overload health checks time out everywhere at once, and 503 for
    // everything would be worse than trying.
    const healthy = vip.servers.some((i) => servers[i].healthy && servers[i].weight > 0);
    if (!healthy) counters.fail_open++;
    const candidates = vip.servers.map((i) => ({
      name: servers[i].name,
      weight: servers[i].healthy || !healthy ? servers[i].weight : 0,
    }));
    const order = rendezvous_order(selection_key, candidates).map((k) => vip.servers[k]);
    if (order.length === 0) {
      respond(key, 503);
      return;
    }
    const flow = flow_key_string(key);
    const p: Pending = {
      record,
      key,
      order,
      server: -1,
      id: 0,
      datagram: new Uint8Array(0),
      sends: 0,
      first_sent_at: 0,
      next_at: 0,
    };
    pending.set(flow, p);
    await try_next_server(flow, p);
  }

  async function try_next_server(flow: string, p: Pending): Promise<void> {
    if (p.server >= 0) pending_by_id.delete(p.id);
    const server = p.order.shift();
    if (server === undefined) {
      pending.delete(flow);
      respond(p.key, 503);
      return;
    }
    if (p.server >= 0) counters.fallbacks++;
    p.server = server;
    p.id = next_id++ >>> 0;
    const message: HandoffMessage = {
      type: "handoff",
      epoch,
      id: p.id,
      key: p.key,
      state: {
        client_mac: p.record.client_mac,
        client_isn: p.record.client_isn,
        director_isn: (p.record.director_next_seq - 1) >>> 0,
        client_next_seq: (p.record.client_isn + 1 + p.record.request.length) >>> 0,
        director_next_seq: p.record.director_next_seq,
        client_window: p.record.client_window,
        client_mss: p.record.client_mss,
        director_mss: spec.mss,
        client_wscale: p.record.client_wscale,
        director_wscale: p.record.director_wscale,
        sack_permitted: p.record.sack_permitted,
        timestamps: p.record.timestamps,
        client_tsval: p.record.client_tsval,
        director_tsval: p.record.director_tsval,
        request: p.record.request,
      },
    };
    p.datagram = await encode_message(message, hmac_key, { max_datagram: spec.max_datagram });
    pending_by_id.set(p.id, flow);
    p.sends = 1;
    p.first_sent_at = performance.now();
    p.next_at = p.first_sent_at + director.handoff_rto_ms;
    counters.handoffs_sent++;
    send(p.datagram, servers[server].agent);
    tell_dataplane(VERDICT_TRY, p.key, servers[server].mac_hi, servers[server].mac_lo);
  }

  socket.on("message", async (datagram: Uint8Array, sender: { address: string; port: number }) => {
    const result = await decode_message(datagram, hmac_key, { max_datagram: spec.max_datagram });
    count_decode(decode_counters, result);
    if (!result.ok) return;
    const message = result.message;
    if (message.type === "handoff_ack" || message.type === "handoff_nack") {
      if (message.epoch !== epoch) return;
      const flow = pending_by_id.get(message.id);
      const p = flow === undefined ? undefined : pending.get(flow);
      if (!p || flow === undefined) {
        // an ACK for a hand-off we gave up on (or a duplicate of one we took):
        // unless this flow is forwarded to that very agent, it must forget it
        const forwarded_to = forwarding.get(flow_key_string(message.key));
        const from_agent = servers.findIndex((s) =>
          s.agent.host === sender.address && s.agent.port === sender.port
        );
        if (message.type === "handoff_ack" && forwarded_to !== from_agent) {
          counters.late_acks++;
          await cancel(message.id, message.key, { host: sender.address, port: sender.port });
        }
        return;
      }
      if (message.type === "handoff_ack") {
        counters.handoffs_acked++;
        pending_by_id.delete(p.id);
        pending.delete(flow);
        latencies[latency_count++ % LATENCY_SAMPLES] = performance.now() - p.first_sent_at;
        const server = servers[p.server];
        server.selections++;
        server.consecutive_failures = 0;
        server.active_flows++;
        forwarding.set(flow, p.server);
        tell_dataplane(VERDICT_FORWARD, p.key, server.mac_hi, server.mac_lo);
      } else {
        counters.handoffs_nacked++;
        counters[`nack_${NACK_REASON_NAMES[message.reason as NackReason]}`] =
          (counters[`nack_${NACK_REASON_NAMES[message.reason as NackReason]}`] ?? 0) + 1;
        server_failed(p.server);
        await try_next_server(flow, p);
      }
    } else if (message.type === "flow_end") {
      // the agent saw the connection end: forget the forwarding entry, acknowledge
      counters.flow_ends++;
      const flow = flow_key_string(message.key);
      const server = forwarding.get(flow);
      if (server !== undefined) {
        servers[server].active_flows--;
        forwarding.delete(flow);
        tell_dataplane(VERDICT_FORGET, message.key);
      }
      // acknowledged even when unknown (a retransmission after we forgot it)
      const ack = await encode_message(
        { type: "flow_end_ack", epoch: message.epoch, id: message.id, key: message.key },
        hmac_key,
        { max_datagram: spec.max_datagram },
      );
      send(ack, { host: sender.address, port: sender.port });
    } else {
      counters.unexpected_messages++;
    }
  });

  const record_buffer = new Uint8Array(65536);
  const event = new Int32Array(DIRECTOR_EVENT_WORDS);
  const event_bytes = new Uint8Array(event.buffer);
  let polling = false;
  const poll = async () => {
    if (polling) return;
    polling = true;
    try {
      for (let k = 0; k < 256; k++) {
        const length = native.ring_dequeue(spec.request_ring, record_buffer);
        if (length < 0) break;
        await on_request(record_buffer.slice(0, length));
      }
      while (native.ring_dequeue(spec.event_ring, event_bytes) > 0) {
        if (event[0] !== EVENT_FLOW_GONE) continue;
        counters.flows_gone++;
        const key: FlowKey = {
          client_ip: event[1] >>> 0,
          vip: event[2] >>> 0,
          client_port: event[3] >>> 16,
          vip_port: event[3] & 0xffff,
        };
        const flow = flow_key_string(key);
        const p = pending.get(flow);
        if (p) {
          pending_by_id.delete(p.id);
          pending.delete(flow);
        }
        const server = forwarding.get(flow);
        if (server !== undefined) {
          servers[server].active_flows--;
          forwarding.delete(flow);
        }
      }
      const now = performance.now();
      for (const [flow, p] of pending) {
        if (p.next_at > now) continue;
        if (p.sends < director.handoff_tries) {
          p.sends++;
          counters.handoff_retransmits++;
          p.next_at = now + director.handoff_rto_ms * (1 << (p.sends - 1));
          send(p.datagram, servers[p.server].agent);
        } else {
          counters.handoff_timeouts++;
          server_failed(p.server);
          // the agent may have adopted it after all: it must not keep the flow
          await cancel(p.id, p.key, servers[p.server].agent);
          await try_next_server(flow, p);
        }
      }
    } finally {
      polling = false;
    }
  };
  const poll_timer = setInterval(poll, POLL_MS);

  // Health: an HTTP GET to each server on the control network.
  const check = async (server: Server) => {
    if (!server.health) return;
    counters.health_checks++;
    let ok = false;
    try {
      const response = await fetch(
        `http://${server.health.host}:${server.health.port}${director.health_path}`,
        { signal: AbortSignal.timeout(director.health_timeout_ms) },
      );
      await response.body?.cancel();
      ok = response.status >= 200 && response.status < 400;
    } catch {
      ok = false;
    }
    if (ok) {
      server.consecutive_failures = 0;
      server.healthy = true;
    } else {
      counters.health_failures++;
      server.consecutive_failures++;
      if (server.consecutive_failures >= director.fail_after) server.healthy = false;
    }
  };
  const health_timer = setInterval(
    () => servers.forEach((s) => check(s)),
    director.health_interval_ms,
  );
  servers.forEach((s) => check(s));

  return {
    stats(): DirectorControlStats {
      const n = Math.min(latency_count, LATENCY_SAMPLES);
      const sorted = Array.from(latencies.subarray(0, n)).sort((a, b) => a - b);
      const at = (q: number) => (n === 0 ? 0 : sorted[Math.min(n - 1, Math.floor(q * n))]);
      const decoded = Object.fromEntries(
        Object.entries(decode_counters).map(([reason, v]) => [`decode_${reason}`, v]),
      );
      return {
        counters: { ...counters, ...decoded },
        servers: servers.map((s) => ({
          name: s.name,
          healthy: s.healthy,
          selections: s.selections,
          handoff_failures: s.handoff_failures,
          consecutive_failures: s.consecutive_failures,
          active_flows: s.active_flows,
        })),
        latency_p50_ms: at(0.5),
        latency_p99_ms: at(0.99),
        pending: pending.size,
        forwarding: forwarding.size,
      };
    },
    drain() {
      draining = true;
    },
    stop() {
      clearInterval(poll_timer);
      clearInterval(health_timer);
      socket.close();
    },
  };
}
