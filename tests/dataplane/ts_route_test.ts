// The TSval routing code (dataplane/ts_route.ts): any director reads the
// route id back from the echoed TSval, the client's TSvals stay monotonic,
// and the stack's TSecr is restored within [what it sent, its newest].

import assert from "node:assert/strict";
import {
  restored_tsecr,
  routed_tsval,
  ts_route_code,
  TS_ROUTE_HEADROOM,
  ts_route_id,
  ts_route_mask,
} from "../../dataplane/ts_route.ts";
import { halfsip_key } from "../../dataplane/halfsiphash.ts";

const KEY = halfsip_key(Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8));
const OTHER_KEY = halfsip_key(Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 9));

function mulberry32(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

Deno.test("ts_route: every route id 1..255 comes back from the TSecr, for any flow and clock", () => {
  const random = mulberry32(7);
  for (let round = 0; round < 2000; round++) {
    const client_ip = (random() * 2 ** 32) >>> 0;
    const ports = (random() * 2 ** 32) | 0;
    const mask = ts_route_mask(KEY, client_ip, 0xc6120064, ports);
    const route_id = 1 + Math.floor(random() * 255);
    const code = ts_route_code(route_id, mask);
    assert.ok(code >= 0 && code <= 255);
    const tsval = routed_tsval((random() * 2 ** 32) | 0, (random() * 2 ** 32) | 0, code);
    assert.equal(ts_route_id(tsval, mask), route_id);
  }
});

Deno.test("ts_route: ids 0 and above 255 get no code; the mask depends on key and flow", () => {
  assert.equal(ts_route_code(0, 0x5a), -1);
  assert.equal(ts_route_code(256, 0x5a), -1);
  assert.equal(ts_route_code(-1, 0x5a), -1);
  let differ_key = 0, differ_flow = 0;
  for (let port = 1; port <= 256; port++) {
    const mask = ts_route_mask(KEY, 0xc6120101, 0xc6120064, (port << 16) | 80);
    if (mask !== ts_route_mask(OTHER_KEY, 0xc6120101, 0xc6120064, (port << 16) | 80)) differ_key++;
    if (mask !== ts_route_mask(KEY, 0xc6120101, 0xc6120064, ((port + 1) << 16) | 80)) {
      differ_flow++;
    }
  }
  // an 8-bit value: equal by chance 1 time in 256
  assert.ok(differ_key > 240, `${differ_key}`);
  assert.ok(differ_flow > 240, `${differ_flow}`);
});

Deno.test("ts_route: routed TSvals never go back while the stack's clock goes on, across wrap", () => {
  const random = mulberry32(11);
  for (let round = 0; round < 200; round++) {
    const code = Math.floor(random() * 256);
    const ts_delta = (random() * 2 ** 32) | 0;
    let stack = (2 ** 32 - 5000 + Math.floor(random() * 10000)) | 0; // near the wrap
    let last = routed_tsval(stack, ts_delta, code);
    for (let step = 0; step < 300; step++) {
      stack = (stack + Math.floor(random() * 40)) | 0;
      const next = routed_tsval(stack, ts_delta, code);
      assert.ok(((next - last) | 0) >= 0, `round ${round} step ${step}`);
      last = next;
    }
  }
});

Deno.test("ts_route: with the headroom, the first routed TSval is after the director's last", () => {
  const random = mulberry32(13);
  for (let round = 0; round < 5000; round++) {
    const director_tsval = (random() * 2 ** 32) | 0;
    const stack_tsval = (random() * 2 ** 32) | 0;
    const ts_delta = (director_tsval - stack_tsval + TS_ROUTE_HEADROOM) | 0;
    const first = routed_tsval(stack_tsval, ts_delta, Math.floor(random() * 256));
    assert.ok(((first - director_tsval) | 0) > 0, `round ${round}`);
  }
});

Deno.test("ts_route: a restored TSecr lies between the echoed TSval and the newest one sent", () => {
  const random = mulberry32(17);
  for (let round = 0; round < 5000; round++) {
    const code = Math.floor(random() * 256);
    const ts_delta = (random() * 2 ** 32) | 0;
    const echoed = (random() * 2 ** 32) | 0;
    const newest = (echoed + Math.floor(random() * (random() < 0.5 ? 3 : 3000))) | 0;
    const tsecr = routed_tsval(echoed, ts_delta, code);
    const restored = restored_tsecr(tsecr, ts_delta, newest);
    assert.ok(((restored - echoed) | 0) >= 0, `round ${round}: before the echoed TSval`);
    assert.ok(((newest - restored) | 0) >= 0, `round ${round}: after the newest TSval`);
    if (echoed === newest) assert.equal(restored, newest, "the echo of the newest is exact");
  }
});
