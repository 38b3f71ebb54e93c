// A DPDK process for the director's packet fixtures: one net_pcap port (the
// fabric) whose tx_pcap records everything the director sends. The case is a
// list of steps run in one process, because the director's flows must live
// from the SYN to the hand-off and beyond; net_pcap rx hands out a whole file
// at once, so the harness injects each step's frames itself: it copies them
// into real mbufs of the runner's slot and calls director_burst and tx_burst,
// exactly what director_round does after rx_burst, then director_round (with
// an empty rx pcap) for the slow path: verdicts, timers, emitted responses.
// The clock is the step's `now`, so time-outs are reproducible, and the
// cookie key and TSval offset are fixed, so cookies and timestamps are too.
// The harness also plays the control Worker: a step's `verdict` answers the
// request records waiting on request_ring.
//
// usage: deno run -A director_fixture_main.ts CASE.json   (see director_fixture_test.ts)
// stdout (last line): {"counters", "sent", "records", "events"} as JSON.

import { close_fixture_ports, open_fixture_ports } from "./fixture_ports.ts";
import {
  decode_handoff_record,
  DIRECTOR_EVENT_WORDS,
  type HandoffRecord,
  http_response,
  ring_ports,
  VERDICT_FORGET,
  VERDICT_FORWARD,
  VERDICT_RESPOND,
  VERDICT_TRY,
  VERDICT_WORDS,
  write_verdict,
  write_verdict_server,
  write_verdict_status,
} from "../../dataplane/wire/mod.ts";
import {
  create_director_runner,
  director_burst,
  director_counters,
  director_round,
} from "../../dataplane/director/mod.ts";
import { ip_to_u32, mac_to_bytes } from "../../dataplane/mod.ts";

interface FixtureVerdict {
  verdict: "forward" | "try" | "respond" | "forget";
  server_mac?: string;
  status?: number;
}

interface FixtureStep {
  /** The clock (ms) for this step's burst and service. */
  now: number;
  /** Frames from the client, hex, given to director_burst as one burst. */
  frames?: string[];
  /** As the control Worker: answer the records waiting (or, if none, the last one seen). */
  verdict?: FixtureVerdict;
}

interface FixtureCase {
  dir: string;
  director_mac: string;
  vip: string;
  ports: number[];
  cookie_key: number[];
  ts_offset: number;
  mss: number;
  max_header: number;
  l4?: boolean;
  request_timeout_ms: number;
  /** More VIPs, served on the same ports. */
  other_vips?: string[];
  /** Limits the director has defaults for (DirectorConfig). */
  max_reading?: number;
  max_request?: number;
  reading_share?: number;
  challenge_ack_limit?: number;
  steps: FixtureStep[];
}

const spec: FixtureCase = JSON.parse(await Deno.readTextFile(Deno.args[0]));
const fixture = open_fixture_ports("dirfix", [
  `net_pcap0,rx_pcap=${spec.dir}/in.pcap,tx_pcap=${spec.dir}/out.pcap`,
]);
const { native } = fixture;

const request_ring = native.ring_create("fixture_requests", 64);
const verdict_ring = native.ring_create("fixture_verdicts", 64);
const event_ring = native.ring_create("fixture_events", 64);
const responses: Record<string, number[]> = {};
for (const status of [400, 408, 431, 503]) responses[status] = Array.from(http_response(status));
const runner = create_director_runner(native, {
  spec: {
    port: 0,
    emit_slot: 1,
    director_mac: Array.from(mac_to_bytes(spec.director_mac)),
    vips: [spec.vip, ...(spec.other_vips ?? [])].map((vip) => ({
      ip: ip_to_u32(vip),
      ports: spec.ports,
      l4: spec.l4 ?? false,
    })),
    cookie_key: spec.cookie_key,
    mss: spec.mss,
    max_header: spec.max_header,
    max_request: spec.max_request,
    request_timeout_ms: spec.request_timeout_ms,
    // long enough never to fire inside a case: no case waits for them
    idle_timeout_ms: 600_000,
    handoff_timeout_ms: 600_000,
    // small, so one director_service sweep (64 slots) sees every flow
    flow_capacity: 64,
    max_reading: spec.max_reading ?? 8,
    reading_share: spec.reading_share,
    challenge_ack_limit: spec.challenge_ack_limit,
    responses,
    request_ring,
    verdict_ring,
    event_ring,
  },
  slot: 0,
  queue: 0,
  burst: 32,
});
// the real one is random (TSvals must not start at 0); fixed, the expected frames can say it
runner.state.ts_offset = spec.ts_offset;

const record_buffer = new Uint8Array(64 * 1024);
const records: string[] = [];
let last_record: HandoffRecord | null = null;
const verdict = new Int32Array(VERDICT_WORDS);
const verdict_bytes = new Uint8Array(verdict.buffer);
const VERDICT_TYPES = {
  forward: VERDICT_FORWARD,
  try: VERDICT_TRY,
  respond: VERDICT_RESPOND,
  forget: VERDICT_FORGET,
};

/** Every record waiting on request_ring, decoded (and kept, hex, for the test). */
function take_records(): HandoffRecord[] {
  const taken: HandoffRecord[] = [];
  for (;;) {
    const length = native.ring_dequeue(request_ring, record_buffer);
    if (length < 0) return taken;
    const bytes = record_buffer.slice(0, length);
    records.push(to_hex(bytes));
    const record = decode_handoff_record(bytes);
    if (record === null) throw new Error(`a request record of ${length} bytes does not decode`);
    taken.push(record);
    last_record = record;
  }
}

function answer(record: HandoffRecord, v: FixtureVerdict): void {
  write_verdict(
    verdict,
    VERDICT_TYPES[v.verdict],
    record.client_ip,
    record.vip,
    ring_ports(record.client_port, record.vip_port),
  );
  if (v.server_mac !== undefined) {
    const mac = mac_to_bytes(v.server_mac);
    write_verdict_server(
      verdict,
      (mac[0] << 24) | (mac[1] << 16) | (mac[2] << 8) | mac[3],
      (mac[4] << 8) | mac[5],
    );
  }
  if (v.status !== undefined) write_verdict_status(verdict, v.status);
  if (!native.ring_enqueue(verdict_ring, verdict_bytes)) throw new Error("verdict ring full");
}

/** The client's frames into real mbufs, through the director's burst, out the real port. */
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
  if (step.verdict !== undefined) {
    const waiting = take_records();
    const to_answer = waiting.length > 0 ? waiting : last_record ? [last_record] : [];
    for (const record of to_answer) answer(record, step.verdict);
  }
  if (step.frames !== undefined && step.frames.length > 0) {
    inject(step.frames.map(from_hex), step.now);
  }
  // the rest of a runner round: rx (the pcap is empty), verdicts, timers, emitted frames
  director_round(runner, step.now);
  const tx = native.port_stats(0).tx_packets;
  sent.push(tx - tx_before);
  tx_before = tx;
}
take_records(); // records nobody answered are part of the result too

const events: number[][] = [];
const event_bytes = new Uint8Array(DIRECTOR_EVENT_WORDS * 4);
while (native.ring_dequeue(event_ring, event_bytes) >= 0) {
  events.push(Array.from(new Int32Array(event_bytes.buffer.slice(0))));
}

console.log(JSON.stringify({ counters: director_counters(runner.state), sent, records, events }));
close_fixture_ports(fixture);

function to_hex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

function from_hex(hex: string): Uint8Array {
  const bytes = new Uint8Array(hex.length / 2);
  for (let i = 0; i < bytes.length; i++) bytes[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return bytes;
}
