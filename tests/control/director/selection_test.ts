import assert from "node:assert/strict";
import {
  l4_hash_key,
  rendezvous_order,
  rendezvous_pick,
  rendezvous_score,
  type SelectionServer,
  url_key,
} from "../../../control/director/selection.ts";
import { mulberry32 } from "../../support/random.ts";

const KEY_COUNT = 100_000;
const HOSTS = ["www.example.com", "img.example.com", "shop.example.org", "10.0.0.7:8080"];
const WORDS = ["index", "a", "static", "img", "css", "js", "product", "user", "v2", "api"];
const ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789-_";

/** 100,000 distinct, realistic-looking URL keys from a fixed seed. */
function generate_url_keys(seed: number): string[] {
  const random = mulberry32(seed);
  const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)];
  const keys = new Set<string>();
  while (keys.size < KEY_COUNT) {
    let path = "";
    const depth = 1 + Math.floor(random() * 4);
    for (let d = 0; d < depth; d++) {
      path += "/" + pick(WORDS);
      if (random() < 0.6) {
        const length = 1 + Math.floor(random() * 8);
        for (let i = 0; i < length; i++) path += pick([...ALPHABET]);
      }
    }
    if (random() < 0.3) path += ".html";
    if (random() < 0.25) path += `?id=${Math.floor(random() * 100_000)}`;
    keys.add(url_key(pick(HOSTS), path));
  }
  return [...keys];
}

const URL_KEYS = generate_url_keys(20240601);

function servers_named(count: number, weights?: number[]): SelectionServer[] {
  return Array.from({ length: count }, (_, i) => ({
    name: `10.1.0.${i + 1}:80`,
    weight: weights?.[i] ?? 1,
  }));
}

/** Map key → chosen server name (names, so arrays of different shape compare). */
function assignment(keys: readonly string[], servers: SelectionServer[]): string[] {
  return keys.map((key) => {
    const index = rendezvous_pick(key, servers);
    return index === -1 ? "" : servers[index].name;
  });
}

function shares(assigned: readonly string[], servers: SelectionServer[]): number[] {
  const counts = new Map(servers.map((server) => [server.name, 0]));
  for (const name of assigned) counts.set(name, (counts.get(name) ?? 0) + 1);
  return servers.map((server) => counts.get(server.name)! / assigned.length);
}

function percent(values: readonly number[]): string {
  return values.map((value) => (value * 100).toFixed(2) + "%").join(" ");
}

Deno.test("url keys are distinct and there are 100,000 of them", () => {
  assert.equal(URL_KEYS.length, KEY_COUNT);
  assert.equal(new Set(URL_KEYS).size, KEY_COUNT);
});

Deno.test("stability: the same key maps to the same server every time", () => {
  const servers = servers_named(5);
  const first = assignment(URL_KEYS, servers);
  const second = assignment(URL_KEYS, servers);
  assert.deepEqual(second, first);
  // and a fresh copy of the server list (same names, same weights) agrees too
  assert.deepEqual(assignment(URL_KEYS, servers.map((server) => ({ ...server }))), first);
  // order of the list does not matter: only names and weights do
  const reversed = [...servers].reverse();
  assert.deepEqual(assignment(URL_KEYS, reversed), first);
});

Deno.test("balance: 4 equal servers each get 25% ± 3 points", () => {
  const servers = servers_named(4);
  const measured = shares(assignment(URL_KEYS, servers), servers);
  console.log(`equal weights, 4 servers, ${KEY_COUNT} URLs: ${percent(measured)}`);
  for (const share of measured) assert.ok(Math.abs(share - 0.25) <= 0.03, percent(measured));
});

Deno.test("weights 1,2,3,4 give 10/20/30/40% within ±10% relative", () => {
  const servers = servers_named(4, [1, 2, 3, 4]);
  const measured = shares(assignment(URL_KEYS, servers), servers);
  console.log(`weights 1,2,3,4: ${percent(measured)}`);
  const expected = [0.1, 0.2, 0.3, 0.4];
  for (let i = 0; i < 4; i++) {
    assert.ok(Math.abs(measured[i] - expected[i]) <= 0.1 * expected[i], percent(measured));
  }
});

Deno.test("disruption: removing 1 of 5 moves only its keys (≈20%); adding it back restores all", () => {
  const servers = servers_named(5);
  const before = assignment(URL_KEYS, servers);
  const removed = servers[2].name;
  const without = servers.filter((server) => server.name !== removed);
  const after = assignment(URL_KEYS, without);
  let moved = 0;
  for (let k = 0; k < KEY_COUNT; k++) {
    if (before[k] === after[k]) continue;
    moved++;
    assert.equal(before[k], removed, `key ${URL_KEYS[k]} moved off a server that stayed`);
  }
  const was_on_removed = before.filter((name) => name === removed).length;
  assert.equal(moved, was_on_removed, "every key of the removed server moved, and only those");
  console.log(`remove 1 of 5: ${(moved / KEY_COUNT * 100).toFixed(2)}% of keys moved`);
  assert.ok(Math.abs(moved / KEY_COUNT - 0.2) <= 0.02);
  // the orphans spread over the four survivors, not onto one of them
  const orphan_shares = shares(after.filter((_, k) => before[k] === removed), without);
  console.log(`  the removed server's keys went to: ${percent(orphan_shares)}`);
  for (const share of orphan_shares) assert.ok(Math.abs(share - 0.25) <= 0.03);
  // adding it back (at the end of the list) restores the original mapping exactly
  assert.deepEqual(assignment(URL_KEYS, [...without, servers[2]]), before);
});

Deno.test("raising one server's weight moves keys only to that server", () => {
  const servers = servers_named(5);
  const before = assignment(URL_KEYS, servers);
  const heavier = servers.map((server, i) => ({ ...server, weight: i === 3 ? 2 : 1 }));
  const after = assignment(URL_KEYS, heavier);
  let moved = 0;
  for (let k = 0; k < KEY_COUNT; k++) {
    if (before[k] === after[k]) continue;
    moved++;
    assert.equal(after[k], servers[3].name);
  }
  // its share goes from 1/5 to 2/6, so 2/6 − 1/5 ≈ 13.3% of all keys move
  console.log(
    `weight 1→2 on 1 of 5: ${(moved / KEY_COUNT * 100).toFixed(2)}% moved (ideal 13.33%)`,
  );
  assert.ok(Math.abs(moved / KEY_COUNT - (2 / 6 - 1 / 5)) <= 0.02);
});

Deno.test("exclude gives the next best; rendezvous_order is the fallback order", () => {
  const servers = servers_named(5);
  for (const key of URL_KEYS.slice(0, 5_000)) {
    const order = rendezvous_order(key, servers);
    assert.equal(order.length, 5);
    assert.deepEqual([...order].sort(), [0, 1, 2, 3, 4]);
    assert.equal(order[0], rendezvous_pick(key, servers));
    // scores really are descending
    for (let i = 1; i < order.length; i++) {
      assert.ok(
        rendezvous_score(key, servers[order[i - 1]]) >= rendezvous_score(key, servers[order[i]]),
      );
    }
    assert.equal(rendezvous_pick(key, servers, { exclude: new Set([order[0]]) }), order[1]);
    assert.equal(
      rendezvous_pick(key, servers, { exclude: new Set([order[0], order[1]]) }),
      order[2],
    );
    assert.deepEqual(rendezvous_order(key, servers, { exclude: new Set([order[1]]) }), [
      order[0],
      ...order.slice(2),
    ]);
  }
  assert.equal(rendezvous_pick("k", servers, { exclude: new Set([0, 1, 2, 3, 4]) }), -1);
  assert.deepEqual(rendezvous_order("k", servers, { exclude: new Set([0, 1, 2, 3, 4]) }), []);
});

Deno.test("weight 0 (or negative, or NaN) is never chosen", () => {
  const servers = servers_named(4, [1, 0, 1, 1]);
  servers.push({ name: "negative", weight: -1 }, { name: "nan", weight: NaN });
  const assigned = assignment(URL_KEYS.slice(0, 20_000), servers);
  const used = new Set(assigned);
  assert.deepEqual([...used].sort(), [servers[0].name, servers[2].name, servers[3].name].sort());
  assert.deepEqual(rendezvous_order("/x", servers).sort(), [0, 2, 3]);
  assert.equal(rendezvous_pick("/x", servers_named(3, [0, 0, 0])), -1);
  assert.equal(rendezvous_pick("/x", []), -1);
  assert.deepEqual(rendezvous_order("/x", []), []);
});

Deno.test("equal scores (duplicate names) break ties by name, then index", () => {
  const servers = [{ name: "b", weight: 1 }, { name: "a", weight: 1 }, { name: "a", weight: 1 }];
  const order = rendezvous_order("/same", servers);
  // the two "a" entries always score the same; the lower index comes first
  assert.ok(order.indexOf(1) < order.indexOf(2));
});

Deno.test("l4 keys of random 4-tuples balance too", () => {
  const random = mulberry32(0x14);
  const servers = servers_named(4);
  const vip = 0xc0a80a0a;
  const assigned: string[] = [];
  for (let i = 0; i < KEY_COUNT; i++) {
    const client_ip = (0x0a000000 + Math.floor(random() * 65536)) >>> 0;
    const client_port = 1024 + Math.floor(random() * 64512);
    const index = rendezvous_pick(l4_hash_key(client_ip, client_port, vip, 80), servers);
    assigned.push(servers[index].name);
  }
  const measured = shares(assigned, servers);
  console.log(`L4 4-tuples, 4 equal servers: ${percent(measured)}`);
  for (const share of measured) assert.ok(Math.abs(share - 0.25) <= 0.03, percent(measured));
});

Deno.test("l4_hash_key is the 4-tuple, unsigned, and never collides with a url key", () => {
  assert.equal(l4_hash_key(0x0a000001, 40000, 0xc0a80a0a, 80), "167772161:40000>3232238090:80");
  assert.equal(l4_hash_key(-1, 1, 0, 2), "4294967295:1>0:2");
  assert.notEqual(l4_hash_key(1, 2, 3, 4), l4_hash_key(1, 2, 3, 5));
  assert.notEqual(l4_hash_key(1, 23, 4, 5), l4_hash_key(12, 3, 4, 5));
  assert.ok(!l4_hash_key(1, 2, 3, 4).includes("/"));
});

Deno.test("url_key: lower-case host, default port dropped, query kept, fragment dropped", () => {
  const cases = [
    { host: "Example.COM", path: "/A/b", expected: "example.com/A/b" },
    { host: "example.com:80", path: "/", expected: "example.com/" },
    { host: "example.com:8080", path: "/", expected: "example.com:8080/" },
    { host: "example.com:180", path: "/", expected: "example.com:180/" },
    { host: "[::1]:80", path: "/", expected: "[::1]/" },
    { host: "h", path: "/p?q=1&r=2", expected: "h/p?q=1&r=2" },
    { host: "h", path: "/p?q=1#frag", expected: "h/p?q=1" },
    { host: "h", path: "", expected: "h/" },
  ];
  for (const { host, path, expected } of cases) assert.equal(url_key(host, path), expected);
  // the query really does change the pick for some keys (it is part of the hash)
  const servers = servers_named(5);
  let differs = 0;
  for (let i = 0; i < 100; i++) {
    if (rendezvous_pick(url_key("h", `/p?i=${i}`), servers) !== rendezvous_pick("h/p", servers)) {
      differs++;
    }
  }
  assert.ok(differs > 50);
});

Deno.test("scores of one key at different servers are independent (no correlated names)", () => {
  // Pairwise: for names differing only in the last character, which server of a
  // pair wins should be a fair coin, and P(a beats b and b beats c) should be 1/3
  // for a triple, as for independent scores.
  const servers = servers_named(3);
  let a_beats_b = 0;
  let chain = 0;
  const keys = URL_KEYS.slice(0, 50_000);
  for (const key of keys) {
    const [a, b, c] = servers.map((server) => rendezvous_score(key, server));
    if (a > b) a_beats_b++;
    if (a > b && b > c) chain++;
  }
  console.log(
    `independence: P(a>b) = ${(a_beats_b / keys.length).toFixed(4)}, P(a>b>c) = ${
      (chain / keys.length).toFixed(4)
    } (ideal 0.5, 0.1667)`,
  );
  assert.ok(Math.abs(a_beats_b / keys.length - 0.5) < 0.01);
  assert.ok(Math.abs(chain / keys.length - 1 / 6) < 0.01);
});
