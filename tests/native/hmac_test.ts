// The shim's HMAC-SHA256 (native/baton_hmac.c): RFC 4231's test cases and
// random keys and messages against Web Crypto through hmac_buffer (no EAL
// needed), and, in a DPDK process of its own (tests/support/
// hmac_region_main.ts), tags computed and verified inside mbufs. Arguments
// no correct caller passes get -1, never a crash.

import assert from "node:assert/strict";
import { HMAC_KEY_SLOTS, HMAC_TAG_BYTES, NativeError, open_native } from "../../native/mod.ts";
import { mulberry32 } from "../support/random.ts";

const HARNESS = new URL("../support/hmac_region_main.ts", import.meta.url).pathname;
// Slots this file sets; UNSET_SLOT is never given a key in this process.
const SLOT = 3;
const UNSET_SLOT = 201;

const encoder = new TextEncoder();
const hex = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
const from_hex = (s: string) => Uint8Array.from(s.match(/../g) ?? [], (x) => parseInt(x, 16));
const repeat = (byte: number, n: number) => new Uint8Array(n).fill(byte);

async function subtle_hmac(key: Uint8Array, message: Uint8Array): Promise<string> {
  const k = await crypto.subtle.importKey(
    "raw",
    key as Uint8Array<ArrayBuffer>,
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  return hex(
    new Uint8Array(await crypto.subtle.sign("HMAC", k, message as Uint8Array<ArrayBuffer>)),
  );
}

function shim_hmac(key: Uint8Array, message: Uint8Array): string {
  const native = open_native();
  native.hmac_key_set(SLOT, key);
  const tag = new Uint8Array(HMAC_TAG_BYTES);
  assert.equal(native.hmac_buffer(SLOT, message, tag), 0);
  return hex(tag);
}

interface Rfc4231Case {
  description: string;
  key: Uint8Array;
  data: Uint8Array;
  tag: string;
}

// RFC 4231 section 4 (case 5 is a truncated tag: not ours).
const rfc4231: Rfc4231Case[] = [
  {
    description: "case 1: 20-byte key",
    key: repeat(0x0b, 20),
    data: encoder.encode("Hi There"),
    tag: "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7",
  },
  {
    description: "case 2: a key shorter than the tag",
    key: encoder.encode("Jefe"),
    data: encoder.encode("what do ya want for nothing?"),
    tag: "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
  },
  {
    description: "case 3: 50 bytes of 0xdd",
    key: repeat(0xaa, 20),
    data: repeat(0xdd, 50),
    tag: "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe",
  },
  {
    description: "case 4: 25-byte key, 50 bytes of 0xcd",
    key: Uint8Array.from({ length: 25 }, (_, i) => i + 1),
    data: repeat(0xcd, 50),
    tag: "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b",
  },
  {
    description: "case 6: a key longer than a block is hashed first",
    key: repeat(0xaa, 131),
    data: encoder.encode("Test Using Larger Than Block-Size Key - Hash Key First"),
    tag: "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
  },
  {
    description: "case 7: key and data longer than a block",
    key: repeat(0xaa, 131),
    data: encoder.encode(
      "This is a test using a larger than block-size key and a larger than block-size data." +
        " The key needs to be hashed before being used by the HMAC algorithm.",
    ),
    tag: "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2",
  },
];

for (const c of rfc4231) {
  Deno.test(`hmac: RFC 4231 ${c.description}`, () => {
    assert.equal(shim_hmac(c.key, c.data), c.tag);
  });
}

Deno.test("hmac: an empty key and an empty message", () => {
  // HMAC-SHA256("", ""): Web Crypto refuses an empty key, so the known value
  assert.equal(
    shim_hmac(new Uint8Array(0), new Uint8Array(0)),
    "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad",
  );
});

Deno.test("hmac: random keys (1..200 bytes) and messages (0..2000) agree with Web Crypto", async () => {
  const random = mulberry32(4231);
  const bytes = (n: number) => Uint8Array.from({ length: n }, () => Math.floor(random() * 256));
  const lengths = [0, 1, 31, 55, 56, 63, 64, 65, 119, 120, 127, 128, 300, 1400, 1999, 2000];
  for (let i = 0; i < 200; i++) {
    const key = bytes(1 + Math.floor(random() * 200));
    const len = i < lengths.length ? lengths[i] : Math.floor(random() * 2001);
    const message = bytes(len);
    assert.equal(
      shim_hmac(key, message),
      await subtle_hmac(key, message),
      `key ${key.length} bytes, message ${len} bytes`,
    );
  }
});

Deno.test("hmac: keys live in their slot, for the process", () => {
  const native = open_native();
  const tag_a = new Uint8Array(HMAC_TAG_BYTES);
  const tag_b = new Uint8Array(HMAC_TAG_BYTES);
  const message = encoder.encode("same message");
  native.hmac_key_set(HMAC_KEY_SLOTS - 1, encoder.encode("key a"));
  native.hmac_key_set(0, encoder.encode("key b"));
  assert.equal(native.hmac_buffer(HMAC_KEY_SLOTS - 1, message, tag_a), 0);
  assert.equal(native.hmac_buffer(0, message, tag_b), 0);
  assert.notEqual(hex(tag_a), hex(tag_b));
  assert.equal(hex(tag_a), shim_hmac(encoder.encode("key a"), message));
});

Deno.test("hmac: bad slots, a slot without a key, a short tag and ranges outside any region get -1", () => {
  const native = open_native();
  for (const slot of [HMAC_KEY_SLOTS, -1, 1.5, NaN, 2 ** 32]) {
    assert.throws(
      () => native.hmac_key_set(slot, encoder.encode("k")),
      NativeError,
      `slot ${slot}`,
    );
  }
  const tag = new Uint8Array(HMAC_TAG_BYTES).fill(0xee);
  const message = encoder.encode("message");
  assert.equal(native.hmac_buffer(HMAC_KEY_SLOTS, message, tag), -1);
  assert.equal(native.hmac_buffer(UNSET_SLOT, message, tag), -1);
  assert.equal(hex(tag), "ee".repeat(HMAC_TAG_BYTES), "nothing written on -1");
  native.hmac_key_set(SLOT, encoder.encode("k"));
  assert.equal(native.hmac_buffer(SLOT, message, new Uint8Array(HMAC_TAG_BYTES - 1)), -1);
  // no pool in this process (or, if there is one, nothing reaches 2^32)
  assert.equal(native.hmac_region(SLOT, 0xffffffff, 1, 0), -1);
  assert.equal(native.hmac_region(SLOT, 0, 0, 0xffffffff), -1);
  assert.equal(native.hmac_verify_region(SLOT, 0xfffffff0, 0x20, 0), -1);
  assert.equal(native.hmac_region(UNSET_SLOT, 0, 0, 0), -1);
  assert.equal(native.hmac_verify_region(HMAC_KEY_SLOTS, 0, 0, 0), -1);
});

Deno.test("hmac: tags computed and verified inside mbufs; ranges past the region refused", async () => {
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", HARNESS],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const out = new TextDecoder().decode(stdout);
  assert.equal(code, 0, `harness failed:\n${out}\n${new TextDecoder().decode(stderr)}`);
  const { key, cases, results } = JSON.parse(out.trim().split("\n").at(-1)!);
  for (const c of cases) {
    assert.equal(c.result, 0, `hmac_region of ${c.len} bytes`);
    assert.equal(c.tag, await subtle_hmac(from_hex(key), from_hex(c.message)), `${c.len} bytes`);
  }
  const refused = Object.keys(results).filter((name) => name.includes("_refused_"));
  assert.equal(refused.length, 18);
  const expected: Record<string, number> = {
    verify_right: 1,
    verify_message_bit: 0,
    verify_tag_bit: 0,
    verify_restored: 1,
    verify_other_key: -1,
    region_end_exact: 0,
    verify_region_end_exact: 1,
    negative_offset_throws: 1,
    negative_tag_throws: 1,
    tag_untouched: 1,
    ...Object.fromEntries(refused.map((name) => [name, -1])),
  };
  assert.deepEqual(results, expected);
});
