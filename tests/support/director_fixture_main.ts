// A DPDK process for the director's packet fixtures: one net_pcap port (the
// fabric) whose tx_pcap records everything the director sends, client
// frames and hand-off datagrams alike. The case is a list of steps run in
// one process, because the director's flows must live from the SYN to the
// hand-off and beyond; net_pcap rx hands out a whole file at once, so the
// harness injects each step's frames itself: it copies them into real mbufs
// of the runner's slot and calls director_burst and tx_burst, exactly what
// director_round does after rx_burst, then director_round (with an empty rx
// pcap) for the slow path: timers and the frames the director builds.
// The clock is the step's `now`; the wall clock (the step's `wall`, or the
// case's), epoch, cookie key, agent key and TSval offset are fixed, so
// cookies, timestamps and every HANDOFF are reproducible. The harness
// publishes the selection (the case's servers, healthy unless the case says
// not; an L3 fabric's gateway MAC if it names one) as the control Worker
// would, and plays the agents: a step's `answer` is an agent's datagram
// (ACK, NACK, FLOW_END) about the latest HANDOFF the director signed, built
// with the object codec under the agent's key.
//
// usage: deno run -A director_fixture_main.ts CASE.json   (see director_fixture.ts)
// stdout (last line): {"counters", "sent", "server_stats"} as JSON.

import { close_fixture_ports, open_fixture_ports } from "./fixture_ports.ts";
import {
  create_server_stats,
  datagram_client_ip,
  datagram_epoch,
  datagram_id,
  datagram_ports,
  datagram_type,
  datagram_vip,
  encode_datagram,
  type HandoffMessage,
  http_response,
  import_handoff_key,
  parse_key_text,
  read_server_stats,
  TYPE_HANDOFF,
} from "../../dataplane/wire/mod.ts";
import {
  create_director_runner,
  director_burst,
  director_counters,
  director_round,
} from "../../dataplane/director/mod.ts";
import {
  build_udp,
  create_selection_table,
  ip_to_u32,
  mac_to_bytes,
  publish_selection,
} from "../../dataplane/mod.ts";

interface FixtureServer {
  name: string;
  mac: string;
  /** Its agent's (the server's) fabric address; the hand-off port is 7201. */
  ip: string;
  weight?: number;
  healthy?: boolean;
}

interface FixtureAnswer {
  type: "handoff_ack" | "handoff_nack" | "flow_end";
  /** NACK or FLOW_END reason. */
  reason?: number;
  /** Index of the server whose agent answers; default: the one the HANDOFF went to. */
  server?: number;
  /** About the latest HANDOFF of this client port; default: the latest HANDOFF of all. */
  client_port?: number;
  /** Answer this HANDOFF id instead of the one recorded (a forged or stale answer). */
  id?: number;
  epoch?: number;
}

interface FixtureStep {
  /** The clock (ms) for this step's burst and service. */
  now: number;
  /** The wall clock (ms since 1970) datagrams are stamped with in this step; the case's unless set. */
  wall?: number;
  /** Frames (hex), given to director_burst as one burst; after the answer, if any. */
  frames?: string[];
  answer?: FixtureAnswer;
}

interface FixtureCase {
  dir: string;
  director_mac: string;
  director_ip: string;
  vip: string;
  ports: number[];
  cookie_key: number[];
  agent_key_hex: string;
  wall_clock: number;
  epoch: number;
  handoff_rto_ms: number;
  handoff_tries: number;
  ts_offset: number;
  mss: number;
  max_header: number;
  l4?: boolean;
  request_timeout_ms: number;
  servers: FixtureServer[];
  draining?: boolean;
  /** L3 fabric: the router's MAC, which every hand-off datagram is sent to. */
  gateway_mac?: string;
  /** More VIPs, served on the same ports. */
  other_vips?: string[];
  /** Limits the director has defaults for (DirectorConfig). */
  max_reading?: number;
  max_request?: number;
  reading_share?: number;
  challenge_ack_limit?: number;
  steps: FixtureStep[];
}

const HANDOFF_PORT = 7201;
const KEY_SLOT = 0;

const spec: FixtureCase = JSON.parse(await Deno.readTextFile(Deno.args[0]));
const fixture = open_fixture_ports("dirfix", [
  `net_pcap0,rx_pcap=${spec.dir}/in.pcap,tx_pcap=${spec.dir}/out.pcap`,
]);
const { native } = fixture;

const agent_key = parse_key_text(spec.agent_key_hex);
native.hmac_key_set(KEY_SLOT, agent_key);
const hmac_key = await import_handoff_key(agent_key);
const vips = [spec.vip, ...(spec.other_vips ?? [])];
const selection = create_selection_table({
  max_servers: spec.servers.length,
  max_vips: vips.length,
  max_servers_per_vip: spec.servers.length,
});
publish_selection(selection, {
  servers: spec.servers.map((server, i) => {
    const mac = mac_to_bytes(server.mac);
    return {
      name: server.name,
      weight: server.weight ?? 1,
      healthy: server.healthy ?? true,
      mac_hi: (mac[0] << 24) | (mac[1] << 16) | (mac[2] << 8) | mac[3],
      mac_lo: (mac[4] << 8) | mac[5],
      agent_ip: ip_to_u32(server.ip),
      agent_port: HANDOFF_PORT,
      agent_id: i + 1,
      key_slot: KEY_SLOT,
    };
  }),
  vips: vips.map((vip) => ({
    address: ip_to_u32(vip),
    l4: spec.l4 ?? false,
    servers: spec.servers.map((_, i) => i),
  })),
  draining: spec.draining ?? false,
});
const server_stats = create_server_stats(spec.servers.length);
const responses: Record<string, number[]> = {};
for (const status of [400, 408, 431, 503]) responses[status] = Array.from(http_response(status));
const runner = create_director_runner(native, {
  spec: {
    port: 0,
    emit_slot: 1,
    director_mac: Array.from(mac_to_bytes(spec.director_mac)),
    address: ip_to_u32(spec.director_ip),
    handoff_port: HANDOFF_PORT,
    gateway_mac: spec.gateway_mac ? Array.from(mac_to_bytes(spec.gateway_mac)) : undefined,
    epoch: spec.epoch,
    handoff_rto_ms: spec.handoff_rto_ms,
    handoff_tries: spec.handoff_tries,
    freshness_ms: 10_000,
    max_datagram: 1472,
    selection: selection.buffer,
    server_stats,
    vips: vips.map((vip) => ({ ip: ip_to_u32(vip), ports: spec.ports, l4: spec.l4 ?? false })),
    cookie_key: spec.cookie_key,
    route_key: spec.cookie_key,
    ts_offset: spec.ts_offset,
    mss: spec.mss,
    max_header: spec.max_header,
    max_request: spec.max_request,
    request_timeout_ms: spec.request_timeout_ms,
    // long enough never to fire inside a case: no case waits for it
    idle_timeout_ms: 600_000,
    // small, so one director_service sweep (64 slots) sees every flow
    flow_capacity: 64,
    max_reading: spec.max_reading ?? 8,
    reading_share: spec.reading_share,
    challenge_ack_limit: spec.challenge_ack_limit,
    responses,
  },
  slot: 0,
  queue: 0,
  burst: 32,
});
// the real ones are random (TSvals must not start at 0) or the time: fixed, the expected frames say them
runner.state.ts_offset = spec.ts_offset;
runner.state.clock_offset_ms = 0;
let wall = spec.wall_clock;
runner.state.io.wall_clock = () => wall;

/** The HANDOFFs the director signed, as the agents would receive them: (epoch, id, key, server). */
interface Sent {
  epoch: number;
  id: number;
  client_ip: number;
  vip: number;
  ports: number;
  server_ip: number;
}
const handoffs: Sent[] = [];
const sign = runner.state.io.sign;
runner.state.io.sign = (slot, offset, length, tag_offset) => {
  const bytes = runner.bytes;
  if (datagram_type(bytes, offset) === TYPE_HANDOFF) {
    handoffs.push({
      epoch: datagram_epoch(bytes, offset),
      id: datagram_id(bytes, offset),
      client_ip: datagram_client_ip(bytes, offset),
      vip: datagram_vip(bytes, offset),
      ports: datagram_ports(bytes, offset),
      // the frame's IPv4 destination: 42 − 16 bytes before the datagram
      server_ip: ((bytes[offset - 12] << 24) | (bytes[offset - 11] << 16) |
        (bytes[offset - 10] << 8) | bytes[offset - 9]) >>> 0,
    });
  }
  return sign(slot, offset, length, tag_offset);
};

/** An agent's answer to the latest HANDOFF (of a client port), as a frame to the director. */
function answer_frame(answer: FixtureAnswer): Uint8Array {
  const of = answer.client_port === undefined
    ? handoffs.at(-1)
    : handoffs.findLast((h) => h.ports >>> 16 === answer.client_port);
  if (!of) throw new Error("an answer, but the director sent no HANDOFF to answer");
  const server = answer.server ??
    spec.servers.findIndex((s) => ip_to_u32(s.ip) === of.server_ip);
  const header = {
    epoch: answer.epoch ?? of.epoch,
    id: answer.id ?? of.id,
    key: {
      client_ip: of.client_ip,
      vip: of.vip,
      client_port: of.ports >>> 16,
      vip_port: of.ports & 0xffff,
    },
  };
  const message: HandoffMessage = answer.type === "handoff_ack"
    ? { type: "handoff_ack", ...header }
    : answer.type === "handoff_nack"
    ? { type: "handoff_nack", ...header, reason: (answer.reason ?? 1) as 1 }
    : {
      type: "flow_end",
      ...header,
      reason: (answer.reason ?? 1) as 1,
      counts: { packets_to_server: 3, packets_to_client: 4 },
    };
  const encoded = encode_datagram(message, hmac_key, { agent: server + 1, now: wall });
  if (!encoded.ok) throw new Error(encoded.problem);
  return build_udp({
    src_mac: spec.servers[server].mac,
    dst_mac: spec.director_mac,
    src_ip: spec.servers[server].ip,
    dst_ip: spec.director_ip,
    src_port: HANDOFF_PORT,
    dst_port: HANDOFF_PORT,
    payload: encoded.bytes,
  });
}

/** Frames into real mbufs, through the director's burst, out the real port. */
function inject(frames: Uint8Array[], now: number): void {
  const bytes = runner.bytes;
  for (let i = 0; i < frames.length; i++) {
    const offset = native.alloc(runner.slot, i, frames[i].length);
    if (offset < 0) throw new Error("mbuf pool empty");
    bytes.set(frames[i], offset);
  }
  director_burst(runner.state, bytes, runner.desc, frames.length, now);
  native.tx_burst(runner.queue, runner.slot, frames.length);
}

const sent: number[] = [];
let tx_before = 0;
for (const step of spec.steps) {
  wall = step.wall ?? spec.wall_clock;
  const frames = (step.frames ?? []).map(from_hex);
  if (step.answer !== undefined) frames.unshift(answer_frame(step.answer));
  if (frames.length > 0) inject(frames, step.now);
  // the rest of a runner round: rx (the pcap is empty), timers, the frames it built
  director_round(runner, step.now);
  const tx = native.port_stats(0).tx_packets;
  sent.push(tx - tx_before);
  tx_before = tx;
}

console.log(JSON.stringify({
  counters: director_counters(runner.state),
  sent,
  server_stats: spec.servers.map((_, i) => read_server_stats(new Float64Array(server_stats), i)),
}));
close_fixture_ports(fixture);

function from_hex(hex: string): Uint8Array {
  const bytes = new Uint8Array(hex.length / 2);
  for (let i = 0; i < bytes.length; i++) bytes[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return bytes;
}
