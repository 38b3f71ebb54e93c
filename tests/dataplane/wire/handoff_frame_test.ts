// The in-place hand-off frame codec against the object codec: a datagram
// written in place (and signed over the same bytes) decodes with
// decode_message to the same message; one encode_datagram made reads back
// in place with the same fields and the same adoption record; and every
// structural or field failure gets the code of the reason decode_message
// gives, for a seeded run of mutated datagrams.

import assert from "node:assert/strict";
import {
  create_frame_address,
  create_handoff_fields,
  datagram_fields,
  datagram_frame_length,
  datagram_signed_bytes,
  datagram_structure,
  decode_failure_code,
  decode_handoff_record,
  decode_message,
  DECODE_OK,
  DEFAULT_MAX_DATAGRAM,
  DF_DATAGRAM,
  encode_datagram,
  FA_DST_IP,
  FA_DST_MAC_HI,
  FA_DST_MAC_LO,
  FA_DST_PORT,
  FA_SRC_IP,
  FA_SRC_MAC_HI,
  FA_SRC_MAC_LO,
  FA_SRC_PORT,
  FLAG_TIMESTAMPS,
  FLOW_END_FIN,
  handoff_mac,
  handoff_request_at,
  handoff_to_record,
  type HandoffMessage,
  HS_CLIENT_ISN,
  HS_CLIENT_MAC_HI,
  HS_CLIENT_MAC_LO,
  HS_CLIENT_MSS,
  HS_CLIENT_TSVAL,
  HS_CLIENT_WINDOW,
  HS_CLIENT_WSCALE,
  HS_DIRECTOR_ISN,
  HS_DIRECTOR_MSS,
  HS_DIRECTOR_NEXT_SEQ,
  HS_DIRECTOR_TSVAL,
  HS_DIRECTOR_WSCALE,
  HS_FLAGS,
  import_handoff_key,
  parse_key_text,
  seal_datagram_frame,
  TYPE_FLOW_END,
  TYPE_HANDOFF,
  write_datagram_frame,
  write_datagram_key,
  write_flow_end_counts,
  write_handoff_state,
} from "../../../dataplane/wire/mod.ts";
import {
  create_parse_out,
  ip_to_u32,
  ipv4_checksum_ok,
  parse_frame,
  PARSE_OK,
  udp_checksum_ok,
} from "../../../dataplane/mod.ts";
import { mulberry32 } from "../../support/random.ts";

const KEY = await import_handoff_key(parse_key_text("0f".repeat(32)));
const AGENT = 2;
const NOW = 1_700_000_000_000;
const CLIENT = ip_to_u32("198.18.0.1");
const VIP = ip_to_u32("198.18.0.100");
const PORTS = (40000 << 16) | 80;
const REQUEST = new TextEncoder().encode("GET /a HTTP/1.1\r\nHost: x\r\n\r\n");

/** A HANDOFF written in place at offset 6 of a larger buffer, signed over its own bytes. */
function handoff_frame(): { bytes: Uint8Array; o: number; length: number } {
  const bytes = new Uint8Array(2048);
  const o = 6; // an odd place, as in an mbuf: nothing may assume alignment
  const address = create_frame_address();
  address[FA_SRC_MAC_HI] = 0x02b70000;
  address[FA_SRC_MAC_LO] = 0x0002;
  address[FA_DST_MAC_HI] = 0x02b70000;
  address[FA_DST_MAC_LO] = 0x0111;
  address[FA_SRC_IP] = ip_to_u32("198.18.0.2");
  address[FA_DST_IP] = ip_to_u32("198.18.0.11");
  address[FA_SRC_PORT] = 7201;
  address[FA_DST_PORT] = 7201;
  const fields = create_handoff_fields();
  fields[HS_CLIENT_MAC_HI] = 0x02b70000;
  fields[HS_CLIENT_MAC_LO] = 0x0001;
  fields[HS_CLIENT_ISN] = 0xfffffff0 | 0;
  fields[HS_DIRECTOR_ISN] = 1234;
  fields[HS_DIRECTOR_NEXT_SEQ] = 1235;
  fields[HS_CLIENT_WINDOW] = 502;
  fields[HS_CLIENT_MSS] = 1460;
  fields[HS_DIRECTOR_MSS] = 1460;
  fields[HS_CLIENT_WSCALE] = 7;
  fields[HS_DIRECTOR_WSCALE] = 7;
  fields[HS_FLAGS] = FLAG_TIMESTAMPS;
  fields[HS_CLIENT_TSVAL] = 99;
  fields[HS_DIRECTOR_TSVAL] = 0x80000000 | 0;
  const body_length = 56 + REQUEST.length;
  const length = write_datagram_frame(
    bytes,
    o,
    address,
    TYPE_HANDOFF,
    77,
    5,
    body_length,
    0,
    AGENT,
    NOW >>> 0,
  );
  write_datagram_key(bytes, o, CLIENT, VIP, PORTS);
  write_handoff_state(bytes, o, fields, REQUEST.length);
  bytes.set(REQUEST, handoff_request_at(o));
  const d = o + DF_DATAGRAM;
  const signed = datagram_signed_bytes(bytes, d);
  bytes.set(handoff_mac(KEY, bytes.subarray(d, d + signed)), d + signed);
  seal_datagram_frame(bytes, o);
  assert.equal(length, datagram_frame_length(body_length));
  return { bytes, o, length };
}

Deno.test("a HANDOFF written in place is a valid UDP frame that decode_message reads", async () => {
  const { bytes, o, length } = handoff_frame();
  const frame = bytes.slice(o, o + length);
  const out = create_parse_out();
  assert.equal(parse_frame(frame, 0, frame.length, out), PARSE_OK);
  assert.ok(ipv4_checksum_ok(frame, 14));
  assert.ok(udp_checksum_ok(frame, 14));
  const result = await decode_message(frame.subarray(DF_DATAGRAM), KEY, {
    agent: AGENT,
    now: NOW,
  });
  assert.ok(result.ok, JSON.stringify(result));
  const message = result.message;
  assert.equal(message.type, "handoff");
  if (message.type !== "handoff") return;
  assert.deepEqual(message.key, { client_ip: CLIENT, vip: VIP, client_port: 40000, vip_port: 80 });
  assert.equal(message.epoch, 77);
  assert.equal(message.id, 5);
  assert.equal(message.state.client_isn, 0xfffffff0);
  assert.equal(message.state.client_next_seq, (0xfffffff0 + 1 + REQUEST.length) >>> 0);
  assert.equal(message.state.director_tsval, 0x80000000);
  assert.equal(message.state.timestamps, true);
  assert.equal(message.state.sack_permitted, false);
  assert.deepEqual(message.state.request, REQUEST);
});

Deno.test("the in-place reader accepts it and gives the adoption record the control side made", async () => {
  const { bytes, o, length } = handoff_frame();
  const d = o + DF_DATAGRAM;
  assert.equal(datagram_structure(bytes, d, length - DF_DATAGRAM, DEFAULT_MAX_DATAGRAM), DECODE_OK);
  assert.equal(datagram_fields(bytes, d, NOW, 10_000, AGENT), DECODE_OK);
  assert.equal(
    datagram_fields(bytes, d, NOW, 10_000, AGENT + 1),
    decode_failure_code("wrong_agent"),
  );
  assert.equal(datagram_fields(bytes, d, NOW + 20_000, 10_000, 0), decode_failure_code("stale"));
  const record = new Uint8Array(2048);
  const record_length = handoff_to_record(bytes, d, record);
  const decoded = decode_handoff_record(record.subarray(0, record_length))!;
  const result = await decode_message(bytes.subarray(d, o + length), KEY, { now: NOW });
  assert.ok(result.ok && result.message.type === "handoff");
  const state = result.message.state;
  assert.equal(decoded.epoch, 77);
  assert.equal(decoded.id, 5);
  assert.equal(decoded.client_ip, CLIENT);
  assert.equal(decoded.client_port, 40000);
  assert.equal(decoded.client_isn, state.client_isn);
  assert.equal(decoded.director_next_seq, state.director_next_seq);
  assert.equal(decoded.client_wscale, 7);
  assert.equal(decoded.timestamps, true);
  assert.deepEqual(decoded.client_mac, state.client_mac);
  assert.deepEqual(decoded.request, REQUEST);
});

Deno.test("a FLOW_END written in place decodes with its counts", async () => {
  const bytes = new Uint8Array(256);
  const length = write_datagram_frame(
    bytes,
    0,
    create_frame_address(),
    TYPE_FLOW_END,
    9,
    10,
    20,
    FLOW_END_FIN,
    AGENT,
    NOW >>> 0,
  );
  write_datagram_key(bytes, 0, CLIENT, VIP, PORTS);
  write_flow_end_counts(bytes, 0, 12, 34);
  const signed = datagram_signed_bytes(bytes, DF_DATAGRAM);
  bytes.set(
    handoff_mac(KEY, bytes.subarray(DF_DATAGRAM, DF_DATAGRAM + signed)),
    DF_DATAGRAM + signed,
  );
  const result = await decode_message(bytes.subarray(DF_DATAGRAM, length), KEY, { now: NOW });
  assert.ok(result.ok);
  assert.deepEqual(result.message, {
    type: "flow_end",
    epoch: 9,
    id: 10,
    key: { client_ip: CLIENT, vip: VIP, client_port: 40000, vip_port: 80 },
    reason: FLOW_END_FIN,
    counts: { packets_to_server: 12, packets_to_client: 34 },
  });
});

Deno.test("mutated datagrams: the in-place reader fails exactly as decode_message does", async () => {
  const random = mulberry32(2026);
  const messages: HandoffMessage[] = [
    {
      type: "handoff_ack",
      epoch: 1,
      id: 2,
      key: { client_ip: CLIENT, vip: VIP, client_port: 1, vip_port: 80 },
    },
    {
      type: "handoff_nack",
      epoch: 1,
      id: 2,
      key: { client_ip: CLIENT, vip: VIP, client_port: 1, vip_port: 80 },
      reason: 3,
    },
  ];
  const { bytes, o, length } = handoff_frame();
  const originals: Uint8Array[] = [bytes.slice(o + DF_DATAGRAM, o + length)];
  for (const m of messages) {
    const encoded = encode_datagram(m, KEY, { agent: AGENT, now: NOW });
    assert.ok(encoded.ok);
    originals.push(encoded.bytes);
  }
  for (let round = 0; round < 3000; round++) {
    const original = originals[round % originals.length];
    let datagram = original.slice();
    const flips = 1 + Math.floor(random() * 3);
    for (let k = 0; k < flips; k++) {
      const at = Math.floor(random() * datagram.length);
      datagram[at] ^= 1 << Math.floor(random() * 8);
    }
    if (random() < 0.2) datagram = datagram.subarray(0, Math.floor(random() * datagram.length));
    // re-sign half of them, so the field checks after the tag are reached too
    const resign = random() < 0.5 && datagram.length >= 24;
    if (resign) {
      const signed = Math.min(datagram.length - 32, 24 + ((datagram[12] << 8) | datagram[13]));
      if (signed >= 24 && signed + 32 <= datagram.length) {
        datagram.set(handoff_mac(KEY, datagram.subarray(0, signed)), signed);
      }
    }
    const expected = await decode_message(datagram, KEY, { agent: AGENT, now: NOW });
    const buffer = new Uint8Array(datagram.length + 64);
    buffer.set(datagram, 10);
    let code = datagram_structure(buffer, 10, datagram.length, DEFAULT_MAX_DATAGRAM);
    if (code === DECODE_OK) {
      const signed = datagram_signed_bytes(buffer, 10);
      const tag = handoff_mac(KEY, buffer.subarray(10, 10 + signed));
      const authentic = tag.every((b, i) => b === buffer[10 + signed + i]);
      code = authentic
        ? datagram_fields(buffer, 10, NOW, 10_000, AGENT)
        : decode_failure_code("bad_mac");
    }
    assert.equal(
      code,
      expected.ok ? DECODE_OK : decode_failure_code(expected.reason),
      `round ${round}`,
    );
  }
});
