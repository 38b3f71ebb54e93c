// The director's BFD sessions (dataplane/director/bfd.ts) without DPDK: the
// frames a peer (BIRD) sends go through parse_frame and bfd_receive over a
// region, as in the burst; bfd_service runs at chosen times and what it
// claims is read back as packets. Each scenario is a table of steps
// {description, at, input packet, expected state, expected output packet,
// expected counters}: the three-way handshake, Poll/Final, the detection
// time, a peer that restarts or goes AdminDown, the transmit interval and its
// jitter, and a row per hostile packet with the one counter it must move.

import assert from "node:assert/strict";
import {
  bfd_jittered_ms,
  BFD_MAX_SESSIONS,
  bfd_receive,
  bfd_service,
  bfd_session_info,
  BFD_SLOW_TX_US,
  type BfdSessions,
  create_bfd_sessions,
} from "../../../dataplane/director/bfd.ts";
import {
  DIRECTOR_COUNTER_NAMES,
  DIRECTOR_COUNTER_WORDS,
  DIRECTOR_DROP_REASONS,
} from "../../../dataplane/director/state.ts";
import {
  BF_DESIRED_MIN_TX,
  BF_DETECT_MULT,
  BF_DIAG,
  BF_FLAGS,
  BF_MY_DISCR,
  BF_REQUIRED_MIN_RX,
  BF_STATE,
  BF_YOUR_DISCR,
  BFD_ADMIN_DOWN,
  BFD_DOWN,
  BFD_FLAG_AUTH,
  BFD_FLAG_CPI,
  BFD_FLAG_FINAL,
  BFD_FLAG_POLL,
  BFD_INIT,
  BFD_PORT,
  bfd_read,
  BFD_READ_OK,
  BFD_UP,
  create_bfd_fields,
} from "../../../dataplane/wire/mod.ts";
import {
  build_udp,
  bytes_to_mac,
  create_parse_out,
  ip_to_u32,
  ipv4_checksum_ok,
  mac_hi,
  mac_lo,
  mac_to_bytes,
  parse_frame,
  PARSE_OK,
  read_u16,
  u32_to_ip,
  udp_checksum_ok,
} from "../../../dataplane/mod.ts";

const DIRECTOR_IP = "198.18.0.2";
const DIRECTOR_MAC = "02:b7:00:00:00:02";
const PEER_IP = "198.18.0.201";
const PEER_MAC = "02:b7:00:00:40:01";
/** What the fixed discriminator source gives the director's sessions. */
const OURS = 0x0d0d0001;
const THEIRS = 0x7e7e0001;

type CounterName = typeof DIRECTOR_COUNTER_NAMES[number];

/** A peer's packet: the BFD fields and what carries them. */
interface Input {
  state: number;
  your?: number;
  my?: number;
  flags?: number;
  multiplier?: number;
  min_tx_us?: number;
  min_rx_us?: number;
  /** Bytes instead of a well-formed packet. */
  raw?: Uint8Array;
  ttl?: number;
  src_ip?: string;
  src_mac?: string;
  dst_port?: number;
  corrupt_checksum?: boolean;
}

/** A packet the director sent, read back. */
interface Output {
  state: number;
  diag: number;
  flags: number;
  my: number;
  your: number;
  multiplier: number;
  min_tx_us: number;
  min_rx_us: number;
  ttl: number;
  src_port: number;
  dst_port: number;
  dst_ip: string;
  dst_mac: string;
}

interface Step {
  description: string;
  /** ms on the poll loop's clock. */
  at: number;
  /** A packet from the peer at `at`; without it, the step is a service pass. */
  input?: Input;
  /** The session's state after the step (of the first session unless `session`). */
  state?: number;
  session?: number;
  /** Service passes only: what goes out (null: nothing). */
  output?: Partial<Output> | null;
  /** Counters after the step (absolute), only those named. */
  counters?: Partial<Record<CounterName, number>>;
}

interface Harness {
  sessions: BfdSessions;
  counters: Float64Array;
  run(step: Step): Output[];
}

function harness(config = { min_rx_ms: 100, min_tx_ms: 100, multiplier: 3 }): Harness {
  const counters = new Float64Array(DIRECTOR_COUNTER_WORDS);
  const region = new Uint8Array(1 << 16);
  const parse_out = create_parse_out();
  const director_mac = mac_to_bytes(DIRECTOR_MAC);
  let next = 0;
  let claimed: { offset: number; length: number }[] = [];
  let discriminator = OURS;
  const sessions = create_bfd_sessions(config, {
    address: ip_to_u32(DIRECTOR_IP),
    mac_hi: mac_hi(director_mac, 0),
    mac_lo: mac_lo(director_mac, 0),
    port: 0,
    counters,
    parse_out,
    region,
    claim: (length) => {
      const offset = 1024 + (next++ % 64) * 128;
      claimed.push({ offset, length });
      return offset;
    },
    discriminator: () => discriminator++,
  });
  return {
    sessions,
    counters,
    run(step) {
      claimed = [];
      if (step.input) {
        const frame = peer_frame(step.input);
        const o = 40001; // odd, as IPv4 headers in mbufs are not aligned
        region.set(frame, o);
        assert.equal(parse_frame(region, o, frame.length, parse_out), PARSE_OK);
        bfd_receive(sessions, region, o, step.at);
      } else {
        bfd_service(sessions, step.at);
      }
      return claimed.map(({ offset, length }) =>
        read_output(region.subarray(offset, offset + length))
      );
    },
  };
}

function peer_frame(input: Input): Uint8Array {
  let payload = input.raw;
  if (!payload) {
    payload = new Uint8Array(24);
    const view = new DataView(payload.buffer);
    payload[0] = 1 << 5;
    payload[1] = (input.state << 6) | (input.flags ?? 0);
    payload[2] = input.multiplier ?? 3;
    payload[3] = 24;
    view.setUint32(4, input.my ?? THEIRS);
    view.setUint32(8, input.your ?? 0);
    view.setUint32(12, input.min_tx_us ?? 1_000_000);
    view.setUint32(16, input.min_rx_us ?? 100_000);
    view.setUint32(20, 0);
  }
  const frame = build_udp({
    src_mac: input.src_mac ?? PEER_MAC,
    dst_mac: DIRECTOR_MAC,
    src_ip: input.src_ip ?? PEER_IP,
    dst_ip: DIRECTOR_IP,
    src_port: 49200,
    dst_port: input.dst_port ?? BFD_PORT,
    ttl: input.ttl ?? 255,
    tos: 0xc0,
    payload,
  });
  if (input.corrupt_checksum) frame[frame.length - 1] ^= 0xff;
  return frame;
}

function read_output(frame: Uint8Array): Output {
  assert.ok(ipv4_checksum_ok(frame, 14), "IPv4 checksum (recomputed)");
  assert.ok(udp_checksum_ok(frame, 14), "UDP checksum (recomputed)");
  const fields = create_bfd_fields();
  assert.equal(bfd_read(frame, 42, frame.length - 42, fields), BFD_READ_OK);
  const view = new DataView(frame.buffer, frame.byteOffset);
  return {
    state: fields[BF_STATE],
    diag: fields[BF_DIAG],
    flags: fields[BF_FLAGS],
    my: fields[BF_MY_DISCR],
    your: fields[BF_YOUR_DISCR],
    multiplier: fields[BF_DETECT_MULT],
    min_tx_us: fields[BF_DESIRED_MIN_TX],
    min_rx_us: fields[BF_REQUIRED_MIN_RX],
    ttl: frame[22],
    src_port: read_u16(frame, 34),
    dst_port: read_u16(frame, 36),
    dst_ip: u32_to_ip(view.getUint32(30)),
    dst_mac: bytes_to_mac(frame, 0),
  };
}

function counter(h: Harness, name: CounterName): number {
  return h.counters[DIRECTOR_COUNTER_NAMES.indexOf(name)];
}

function run_steps(h: Harness, steps: Step[]): void {
  for (const step of steps) {
    const sent = h.run(step);
    const where = `at ${step.at} ms: ${step.description}`;
    if (step.state !== undefined) {
      assert.equal(bfd_session_info(h.sessions, step.session ?? 0).state, step.state, where);
    }
    if (step.output === null) assert.deepEqual(sent, [], where);
    else if (step.output) {
      assert.equal(sent.length, 1, `${where}: one packet`);
      for (const [k, v] of Object.entries(step.output)) {
        assert.equal(sent[0][k as keyof Output], v, `${where}: ${k}`);
      }
    }
    for (const [name, value] of Object.entries(step.counters ?? {})) {
      assert.equal(counter(h, name as CounterName), value, `${where}: ${name}`);
    }
  }
}

/** Down → Init → Up with a peer that opens the session (BIRD's side), at t = 0, 10, 20, 30. */
const HANDSHAKE: Step[] = [
  {
    description: "the peer opens: Down, Your Discriminator 0; learned, Down → Init",
    at: 0,
    input: { state: BFD_DOWN },
    state: BFD_INIT,
    counters: { bfd_rx: 1, bfd_state_changes: 1, bfd_sessions_up: 0 },
  },
  {
    description: "Init goes out at once, slow (1 s) until Up, GTSM TTL 255, to the peer's MAC",
    at: 1,
    state: BFD_INIT,
    output: {
      state: BFD_INIT,
      my: OURS,
      your: THEIRS,
      multiplier: 3,
      min_tx_us: BFD_SLOW_TX_US,
      min_rx_us: 100_000,
      flags: BFD_FLAG_CPI,
      ttl: 255,
      dst_port: BFD_PORT,
      dst_ip: PEER_IP,
      dst_mac: PEER_MAC,
    },
    counters: { bfd_tx: 1 },
  },
  {
    description: "the peer answers Up: Init → Up",
    at: 10,
    input: { state: BFD_UP, your: OURS, min_tx_us: 100_000 },
    state: BFD_UP,
    counters: { bfd_rx: 2, bfd_state_changes: 2, bfd_sessions_up: 1 },
  },
  {
    description: "Up goes out at once with Poll: our Desired Min TX fell to 100 ms",
    at: 11,
    output: { state: BFD_UP, flags: BFD_FLAG_CPI | BFD_FLAG_POLL, min_tx_us: 100_000 },
  },
  {
    description: "the peer's Final ends our Poll Sequence",
    at: 20,
    input: { state: BFD_UP, your: OURS, flags: BFD_FLAG_FINAL, min_tx_us: 100_000 },
    state: BFD_UP,
    counters: { bfd_rx: 3 },
  },
  { description: "nothing due yet (next at 11 + 75..100 ms)", at: 30, output: null },
];

Deno.test("bfd: the three-way handshake and the Poll Sequence to fast timers", () => {
  run_steps(harness(), HANDSHAKE);
});

Deno.test("bfd: periodic packets at the negotiated interval less 0-25 % jitter", () => {
  const h = harness();
  run_steps(h, HANDSHAKE);
  const times: number[] = [];
  for (let t = 31; t < 2000; t++) {
    // the peer keeps the session Up (every 50 ms)
    if (t % 50 === 0) {
      h.run({ description: "", at: t, input: { state: BFD_UP, your: OURS, min_tx_us: 100_000 } });
    }
    const sent = h.run({ description: "", at: t });
    if (sent.length > 0) {
      times.push(t);
      assert.equal(sent[0].flags, BFD_FLAG_CPI, "no Poll after the Final");
    }
  }
  const gaps = times.slice(1).map((t, i) => t - times[i]);
  assert.ok(gaps.length > 15, `${gaps.length} packets`);
  for (const gap of gaps) assert.ok(gap >= 75 && gap <= 101, `gap ${gap} ms`);
  assert.ok(Math.max(...gaps) - Math.min(...gaps) >= 5, "jittered, not fixed");
  assert.equal(bfd_session_info(h.sessions, 0).state, BFD_UP);
});

Deno.test("bfd: the peer's Required Min RX slows us down; 0 stops periodic packets", () => {
  const h = harness();
  run_steps(h, HANDSHAKE);
  /** Service passes from..to, the peer sending every 50 ms; the times we sent. */
  const sends = (from: number, to: number, min_rx_us: number) => {
    const times: number[] = [];
    for (let t = from; t < to; t++) {
      if (t % 50 === 0) {
        const input = { state: BFD_UP, your: OURS, min_rx_us, min_tx_us: 100_000 };
        h.run({ description: "", at: t, input });
      }
      if (h.run({ description: "", at: t }).length > 0) times.push(t);
    }
    return times;
  };
  const slow = sends(40, 2000, 300_000).filter((t) => t > 200); // after the one due before
  const gaps = slow.slice(1).map((t, i) => t - slow[i]);
  assert.ok(gaps.length >= 5, `${gaps.length} gaps`);
  for (const gap of gaps) assert.ok(gap >= 225 && gap <= 301, `gap ${gap} ms`);
  assert.deepEqual(sends(2000, 3000, 0).filter((t) => t > 2001), [], "one that wants none");
  assert.equal(bfd_session_info(h.sessions, 0).state, BFD_UP);
});

Deno.test("bfd_jittered_ms: 75-100 % of the interval, 75-90 % with multiplier 1", () => {
  assert.equal(bfd_jittered_ms(100, 3, 0), 100);
  assert.equal(bfd_jittered_ms(100, 3, 1), 75);
  assert.equal(bfd_jittered_ms(100, 1, 0), 90);
  assert.equal(bfd_jittered_ms(100, 1, 1), 75);
});

Deno.test("bfd: a Poll from the peer is answered with Final at the next pass", () => {
  const h = harness();
  run_steps(h, [
    ...HANDSHAKE,
    {
      description: "the peer polls (it changed its timers)",
      at: 40,
      input: { state: BFD_UP, your: OURS, flags: BFD_FLAG_POLL, min_tx_us: 50_000 },
      state: BFD_UP,
    },
    {
      description: "Final at once, without Poll (never both), whatever the timer says",
      at: 41,
      output: { state: BFD_UP, flags: BFD_FLAG_CPI | BFD_FLAG_FINAL },
    },
  ]);
});

Deno.test("bfd: the detection time (peer's multiplier × agreed interval) takes the session Down", () => {
  const h = harness();
  run_steps(h, [
    ...HANDSHAKE,
    {
      description: "last packet from the peer: multiplier 3, its Desired Min TX 100 ms → 300 ms",
      at: 50,
      input: { state: BFD_UP, your: OURS, min_tx_us: 100_000 },
      state: BFD_UP,
    },
    { description: "299 ms of silence: still Up", at: 349, state: BFD_UP },
    {
      description: "past 300 ms: Down, diag 1 (control detection time expired), nothing sent: " +
        "the peer's discriminator is forgotten (passive)",
      at: 351,
      state: BFD_DOWN,
      output: null,
      counters: { bfd_sessions_up: 0, bfd_state_changes: 3 },
    },
    {
      description: "the peer comes back Down, Your Discriminator 0: found by address, Init",
      at: 1000,
      input: { state: BFD_DOWN },
      state: BFD_INIT,
    },
    {
      description: "Init goes out (diag: none, the reason for this change)",
      at: 1001,
      output: { state: BFD_INIT, diag: 0, your: THEIRS, my: OURS },
    },
  ]);
});

Deno.test("bfd: a slower peer (multiplier 5, 200 ms) gets a longer detection time", () => {
  const h = harness();
  run_steps(h, [
    { description: "open", at: 0, input: { state: BFD_DOWN, multiplier: 5 }, state: BFD_INIT },
    {
      description: "Up at 200 ms",
      at: 10,
      input: { state: BFD_UP, your: OURS, multiplier: 5, min_tx_us: 200_000 },
      state: BFD_UP,
    },
    { description: "999 ms later: Up", at: 1009, state: BFD_UP },
    { description: "past 1 s: Down", at: 1011, state: BFD_DOWN },
  ]);
});

Deno.test("bfd: the peer says Down (it restarted) or AdminDown: we go Down, diag 3", () => {
  run_steps(harness(), [
    ...HANDSHAKE,
    {
      description: "peer restarted: Down with Your Discriminator 0",
      at: 40,
      input: { state: BFD_DOWN, my: THEIRS + 1 },
      state: BFD_DOWN,
      counters: { bfd_sessions_up: 0 },
    },
    {
      description: "Down goes out at once, diag 3, to its new discriminator",
      at: 41,
      output: { state: BFD_DOWN, diag: 3, your: THEIRS + 1, min_tx_us: BFD_SLOW_TX_US },
    },
    {
      description: "its next Down: Init",
      at: 50,
      input: { state: BFD_DOWN, my: THEIRS + 1, your: OURS },
      state: BFD_INIT,
    },
    {
      description: "AdminDown from the peer: Down, diag 3",
      at: 60,
      input: { state: BFD_ADMIN_DOWN, my: THEIRS + 1, your: OURS },
      state: BFD_DOWN,
    },
    {
      description: "AdminDown again while Down: no change",
      at: 70,
      input: { state: BFD_ADMIN_DOWN, my: THEIRS + 1, your: OURS },
      state: BFD_DOWN,
      counters: { bfd_state_changes: 5 },
    },
  ]);
});

Deno.test("bfd: a peer silent for a minute gives its slot back", () => {
  const h = harness();
  run_steps(h, [{ description: "open", at: 0, input: { state: BFD_DOWN }, state: BFD_INIT }]);
  h.run({ description: "", at: 59_000 });
  assert.equal(bfd_session_info(h.sessions, 0).used, true);
  h.run({ description: "", at: 60_001 });
  assert.equal(bfd_session_info(h.sessions, 0).used, false);
});

interface HostileCase {
  description: string;
  input: Input;
  counter: CounterName;
}

const hostile: HostileCase[] = [
  {
    description: "TTL 254 (from beyond this link)",
    input: { state: BFD_DOWN, ttl: 254 },
    counter: "dropped_bfd_ttl",
  },
  { description: "TTL 64", input: { state: BFD_DOWN, ttl: 64 }, counter: "dropped_bfd_ttl" },
  {
    description: "a bad UDP checksum",
    input: { state: BFD_DOWN, corrupt_checksum: true },
    counter: "dropped_bfd_malformed",
  },
  {
    description: "version 0",
    input: {
      state: BFD_DOWN,
      raw: Uint8Array.of(0x00, 0x40, 3, 24, 0, 0, 0, 1, ...new Array(16).fill(0)),
    },
    counter: "dropped_bfd_malformed",
  },
  {
    description: "8 bytes of payload",
    input: { state: BFD_DOWN, raw: new Uint8Array(8) },
    counter: "dropped_bfd_malformed",
  },
  {
    description: "Detect Mult 0",
    input: { state: BFD_DOWN, multiplier: 0 },
    counter: "dropped_bfd_malformed",
  },
  {
    description: "My Discriminator 0",
    input: { state: BFD_DOWN, my: 0 },
    counter: "dropped_bfd_malformed",
  },
  {
    description: "the A bit (no authentication runs here)",
    input: { state: BFD_DOWN, flags: BFD_FLAG_AUTH },
    counter: "dropped_bfd_malformed",
  },
  {
    description: "Your Discriminator that is none of ours",
    input: { state: BFD_UP, your: 0x12345678 },
    counter: "dropped_bfd_no_session",
  },
  {
    description: "Your Discriminator 0 in state Up (RFC 5880: discard)",
    input: { state: BFD_UP, your: 0 },
    counter: "dropped_bfd_no_session",
  },
  {
    description: "Your Discriminator 0 in state Init",
    input: { state: BFD_INIT, your: 0 },
    counter: "dropped_bfd_no_session",
  },
];

for (const row of hostile) {
  Deno.test(`bfd hostile: ${row.description}: dropped as ${row.counter}, no session, no reply`, () => {
    const h = harness();
    const sent = h.run({ description: row.description, at: 0, input: row.input });
    assert.deepEqual(sent, []);
    assert.equal(counter(h, row.counter), 1);
    assert.equal(counter(h, "bfd_rx"), 0);
    assert.equal(bfd_session_info(h.sessions, 0).used, false);
    assert.deepEqual(h.run({ description: "service", at: 1 }), []);
    // exactly one drop reason moved
    const reasons = DIRECTOR_DROP_REASONS.reduce((n, name) => n + counter(h, name), 0);
    assert.equal(reasons, 1);
  });
}

Deno.test("bfd hostile: another address with a session's discriminator does not move it", () => {
  const h = harness();
  run_steps(h, [
    ...HANDSHAKE,
    {
      description: "a neighbour claims the session: Down with our discriminator",
      at: 40,
      input: { state: BFD_DOWN, your: OURS, src_ip: "198.18.0.66" },
      state: BFD_UP,
      counters: { dropped_bfd_no_session: 1, bfd_sessions_up: 1 },
    },
  ]);
});

Deno.test(`bfd: at most ${BFD_MAX_SESSIONS} peers; one more is refused, counted`, () => {
  const h = harness();
  for (let k = 0; k < BFD_MAX_SESSIONS; k++) {
    h.run({
      description: "",
      at: k,
      input: { state: BFD_DOWN, src_ip: `198.18.0.${201 + k}`, my: 100 + k },
    });
  }
  assert.equal(counter(h, "bfd_rx"), BFD_MAX_SESSIONS);
  h.run({ description: "", at: 9, input: { state: BFD_DOWN, src_ip: "198.18.0.250", my: 999 } });
  assert.equal(counter(h, "dropped_bfd_no_session"), 1);
  const discriminators = new Set(
    Array.from({ length: BFD_MAX_SESSIONS }, (_, s) => bfd_session_info(h.sessions, s).local_discr),
  );
  assert.equal(discriminators.size, BFD_MAX_SESSIONS, "every session its own discriminator");
  const ports = Array.from(
    { length: BFD_MAX_SESSIONS },
    (_, s) => bfd_session_info(h.sessions, s).source_port,
  );
  assert.ok(ports.every((p) => p >= 49152 && p <= 65535), `source ports ${ports}`);
  // each peer gets its answers
  const sent = h.run({ description: "", at: 10 });
  assert.deepEqual(
    sent.map((p) => p.dst_ip).sort(),
    Array.from({ length: BFD_MAX_SESSIONS }, (_, k) => `198.18.0.${201 + k}`).sort(),
  );
});

Deno.test("bfd: the peer's MAC is learned from its frames (it may change)", () => {
  const h = harness();
  run_steps(h, [
    { description: "open", at: 0, input: { state: BFD_DOWN } },
    { description: "to its MAC", at: 1, output: { dst_mac: PEER_MAC } },
    {
      description: "its next packet from another MAC",
      at: 5,
      input: { state: BFD_DOWN, your: OURS, src_mac: "02:b7:00:00:40:09" },
    },
    {
      description:
        "Up from Init needs Init or Up; Down again keeps Init; answers go to the new MAC",
      at: 1100,
      output: { dst_mac: "02:b7:00:00:40:09", state: BFD_INIT },
    },
  ]);
});
