// A DPDK process (EAL without hugepages, one net_null port, the usual pool)
// that computes and verifies HMAC-SHA256 tags inside mbufs through the
// shim's region calls, and calls them with ranges no correct caller passes.
// Prints, as JSON, each message with its key and the tag the shim wrote (so
// the test recomputes them with Web Crypto), and what every call returned.
// Run by tests/native/hmac_test.ts.
// usage: deno run -A hmac_region_main.ts

import { HMAC_KEY_SLOTS, HMAC_TAG_BYTES, type Native } from "../../native/mod.ts";
import { close_fixture_ports, open_fixture_ports } from "./fixture_ports.ts";
import { mulberry32 } from "./random.ts";

const KEY_SLOT = 7;
const UNSET_KEY_SLOT = 8;
const MBUF_SLOT = 0;
// around SHA-256's block edges (55/56/64), and a SYN-sized, an MTU-sized and a jumbo-ish body
const LENGTHS = [0, 1, 55, 56, 63, 64, 65, 300, 1400, 2000];

const random = mulberry32(0x4d4143);
const bytes = (n: number) => Uint8Array.from({ length: n }, () => Math.floor(random() * 256));
const hex = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");

function run(native: Native) {
  const region = native.region();
  const region_len = region.length;

  const key = bytes(40);
  native.hmac_key_set(KEY_SLOT, key);

  // One mbuf per message: the message, then its tag right behind it (the datagram's layout).
  const cases = LENGTHS.map((len, index) => {
    const offset = native.alloc(MBUF_SLOT, index, len + HMAC_TAG_BYTES);
    if (offset < 0) throw new Error(`alloc ${len + HMAC_TAG_BYTES} bytes failed`);
    const message = bytes(len);
    region.set(message, offset);
    const tag_offset = offset + len;
    const result = native.hmac_region(KEY_SLOT, offset, len, tag_offset);
    const tag = region.slice(tag_offset, tag_offset + HMAC_TAG_BYTES);
    return { len, offset, tag_offset, result, message: hex(message), tag: hex(tag) };
  });

  const results: Record<string, number> = {};
  const { offset, len, tag_offset } = cases.find((c) => c.len === 300)!;
  const verify = () => native.hmac_verify_region(KEY_SLOT, offset, len, tag_offset);
  results.verify_right = verify();
  region[offset + 17] ^= 0x08;
  results.verify_message_bit = verify();
  region[offset + 17] ^= 0x08;
  region[tag_offset + 31] ^= 0x01;
  results.verify_tag_bit = verify();
  region[tag_offset + 31] ^= 0x01;
  results.verify_restored = verify();
  results.verify_other_key = native.hmac_verify_region(UNSET_KEY_SLOT, offset, len, tag_offset);

  // The last bytes of the region are readable (pool memory): a message may end exactly there.
  results.region_end_exact = native.hmac_region(KEY_SLOT, region_len - 16, 16, tag_offset);
  results.verify_region_end_exact = native.hmac_verify_region(
    KEY_SLOT,
    region_len - 16,
    16,
    tag_offset,
  );

  // Every refused call must leave the tag bytes as they were.
  const tag_before = region.slice(tag_offset, tag_offset + HMAC_TAG_BYTES);
  const refusals: Record<string, [number, number, number, number]> = {
    bad_slot: [HMAC_KEY_SLOTS, offset, len, tag_offset],
    unset_slot: [UNSET_KEY_SLOT, offset, len, tag_offset],
    message_past_end: [KEY_SLOT, region_len - 10, 20, tag_offset],
    message_at_end: [KEY_SLOT, region_len, 1, tag_offset],
    message_offset_beyond: [KEY_SLOT, region_len + 1000, 0, tag_offset],
    message_len_huge: [KEY_SLOT, offset, 0xffffffff, tag_offset],
    message_wraps_2_32: [KEY_SLOT, 0xfffffff0, 0x20, tag_offset], // sum is 0x10 in 32 bits
    tag_past_end: [KEY_SLOT, offset, len, region_len - HMAC_TAG_BYTES + 1],
    tag_wraps_2_32: [KEY_SLOT, offset, len, 0xfffffff0],
  };
  for (const [name, [slot, o, l, t]] of Object.entries(refusals)) {
    results[`region_refused_${name}`] = native.hmac_region(slot, o, l, t);
    results[`verify_refused_${name}`] = native.hmac_verify_region(slot, o, l, t);
  }
  // Deno refuses a number that is no u32 before the shim sees it: a caller's bug, not a packet's.
  const throws = (call: () => number) => {
    try {
      call();
      return 0;
    } catch (err) {
      return err instanceof TypeError ? 1 : 0;
    }
  };
  results.negative_offset_throws = throws(() => native.hmac_region(KEY_SLOT, -1, len, tag_offset));
  results.negative_tag_throws = throws(() => native.hmac_verify_region(KEY_SLOT, offset, len, -16));
  results.tag_untouched =
    hex(tag_before) === hex(region.slice(tag_offset, tag_offset + HMAC_TAG_BYTES)) ? 1 : 0;
  native.free_burst(MBUF_SLOT, LENGTHS.length);
  return { key: hex(key), region_len, cases, results };
}

const fixture = open_fixture_ports("hmac", ["net_null0"]);
try {
  console.log(JSON.stringify(run(fixture.native)));
} finally {
  close_fixture_ports(fixture); // also on a failure: no runtime directory left behind
}
