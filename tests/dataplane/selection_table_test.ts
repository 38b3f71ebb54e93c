import assert from "node:assert/strict";
import {
  create_selection_scratch,
  create_selection_table,
  find_selection_vip,
  l4_key_state,
  open_selection_table,
  publish_selection,
  SELECT_RESULT_CANDIDATES,
  SELECT_RESULT_FAIL_OPEN,
  SELECT_RESULT_POSITION,
  SELECT_RESULT_VERSION,
  select_server,
  SELECTION_BUSY,
  selection_draining,
  selection_key_state,
  SELECTION_NAME_MAX_BYTES,
  SELECTION_NONE,
  selection_score,
  SELECTION_SERVER_AGENT_ID,
  SELECTION_SERVER_AGENT_IP,
  SELECTION_SERVER_AGENT_PORT,
  SELECTION_SERVER_HEALTHY,
  SELECTION_SERVER_KEY_SLOT,
  SELECTION_SERVER_MAC_HI,
  SELECTION_SERVER_MAC_LO,
  SELECTION_VERSION,
  selection_vip_l4,
  type SelectionScratch,
  type SelectionSnapshot,
  type SelectionSnapshotServer,
  type SelectionTable,
  u32_to_ip,
  url_key_state,
} from "../../dataplane/mod.ts";
import {
  l4_hash_key,
  rendezvous_order,
  rendezvous_score,
  url_key,
} from "../../control/director/mod.ts";
import { mulberry32 } from "../support/random.ts";

const encoder = new TextEncoder();

// ---------------------------------------------------------------- helpers

/** Every rank select_server gives, until SELECTION_NONE. */
function all_ranks(
  table: SelectionTable,
  slot: number,
  state: number,
  scratch: SelectionScratch,
): number[] {
  const order: number[] = [];
  for (let rank = 0;; rank++) {
    const server = select_server(table, slot, state, rank, scratch);
    assert.notEqual(server, SELECTION_BUSY);
    if (server === SELECTION_NONE) return order;
    order.push(server);
  }
}

/**
 * The control Worker's server_order (control/director/servers.ts before
 * selection moved into the poll loop), word for word: the VIP's servers to
 * try for this key, best first, by rendezvous_order over the healthy ones
 * with weight > 0, or over all of them when none is (fail open, counted).
 */
function server_order(
  ctl: ReferenceControl,
  vip: { servers: readonly number[] },
  selection_key: string,
): number[] {
  const servers = ctl.servers;
  const healthy = vip.servers.some((i) => servers[i].healthy && servers[i].weight > 0);
  if (!healthy) ctl.counters.fail_open++;
  const candidates = vip.servers.map((i) => ({
    name: servers[i].name,
    weight: servers[i].healthy || !healthy ? servers[i].weight : 0,
  }));
  return rendezvous_order(selection_key, candidates).map((k) => vip.servers[k]);
}

interface ReferenceControl {
  servers: readonly SelectionSnapshotServer[];
  counters: { fail_open: number };
}

function control_of(servers: readonly SelectionSnapshotServer[]): ReferenceControl {
  return { servers, counters: { fail_open: 0 } };
}

function snapshot_server(name: string, weight: number, healthy: boolean, i: number) {
  return {
    name,
    weight,
    healthy,
    mac_hi: 0x02000000 + i,
    mac_lo: 0x100 + i,
    agent_ip: (0xc0a80000 + i) >>> 0,
    agent_port: 7000 + i,
    agent_id: i + 1,
    key_slot: i,
  };
}

const NAME_PARTS = [
  "web",
  "cache",
  "10.1.0.",
  "é",
  "ü",
  "\uE000",
  "\uFFFD",
  "😀",
  "\u{10000}",
  "-",
];

function random_name(random: () => number): string {
  let name = "";
  const parts = 1 + Math.floor(random() * 4);
  for (let p = 0; p < parts; p++) {
    name += NAME_PARTS[Math.floor(random() * NAME_PARTS.length)];
    if (random() < 0.7) name += Math.floor(random() * 100);
  }
  return name;
}

const WEIGHTS = [1, 1, 1, 2, 3, 0, 0.5, 10, 1000, 0.001, -1, NaN];

/** A random key: a URL (host, path) or a 4-tuple. */
interface RandomKey {
  text: string;
  state: number;
}

function random_url(random: () => number): { host: string; path: string } {
  const hosts = ["www.example.com", "img.example.com", "10.0.0.7:8080", "a", "[::1]:8443"];
  const host = hosts[Math.floor(random() * hosts.length)];
  let path = "";
  const depth = Math.floor(random() * 4);
  for (let d = 0; d < depth; d++) path += "/" + Math.floor(random() * 1e6).toString(36);
  // a query always follows a path, as parse_request_head gives it ("/?x", never "?x")
  if (random() < 0.3) path = `${path || "/"}?id=${Math.floor(random() * 1e5)}`;
  if (random() < 0.1) path += "#section";
  return { host, path };
}

// ---------------------------------------------------------------- keys

Deno.test("key states: selection_key_state is selection.ts's key_state (scores agree bit for bit)", () => {
  const random = mulberry32(11);
  for (let n = 0; n < 3000; n++) {
    const { host, path } = random_url(random);
    const key = n % 3 === 0
      ? l4_hash_key(Math.floor(random() * 2 ** 32), Math.floor(random() * 65536), 0x0a000001, 80)
      : url_key(host, path);
    const state = selection_key_state(key);
    const name = random_name(random);
    const weight = WEIGHTS[n % WEIGHTS.length];
    assert.ok(
      Object.is(selection_score(state, name, weight), rendezvous_score(key, { name, weight })),
      `${key} / ${name} / ${weight}`,
    );
  }
});

Deno.test("url_key_state hashes url_key(host || dotted VIP, path) straight off the bytes", () => {
  const random = mulberry32(12);
  const hosts = [
    "www.example.com",
    "WWW.Example.COM",
    "shop.example.org:80",
    "Shop.Example.Org:80",
    "10.0.0.7:8080",
    "[2001:DB8::1]:8080",
    "[::1]:80",
    "[::1]",
    "a",
    "",
  ];
  const paths = ["", "/", "/a/b", "/a?x=1", "/a#frag", "/a?x#y", "*", "#only", "/caf%C3%A9"];
  for (let n = 0; n < 5000; n++) {
    const host = hosts[Math.floor(random() * hosts.length)];
    let path = paths[Math.floor(random() * paths.length)];
    if (random() < 0.5) path += "/" + Math.floor(random() * 1e9).toString(36);
    const vip = Math.floor(random() * 2 ** 32);
    // host and path somewhere inside a buffer, with bytes around them
    const prefix = "GET ".repeat(Math.floor(random() * 3));
    const bytes = encoder.encode(prefix + host + "|" + path + "\r\n");
    const host_start = prefix.length;
    const host_end = host_start + host.length;
    const state = url_key_state(
      bytes,
      host_start,
      host_end,
      host_end + 1,
      host_end + 1 + path.length,
      vip,
    );
    const expected = selection_key_state(url_key(host || u32_to_ip(vip), path));
    assert.equal(state, expected, `host "${host}" path "${path}" vip ${u32_to_ip(vip)}`);
  }
  // a path that starts with "?" is an absolute-form target without a path: "/" goes in front
  const bytes = encoder.encode("a?x=1");
  assert.equal(url_key_state(bytes, 0, 1, 1, 5, 0), selection_key_state("a/?x=1"));
  // ports the way parse_request_head writes them: no leading zeros, no :80
  const zeros = encoder.encode("a:0080 a:08080");
  assert.equal(url_key_state(zeros, 0, 6, 0, 0, 0), selection_key_state("a/"));
  assert.equal(url_key_state(zeros, 7, 14, 0, 0, 0), selection_key_state("a:8080/"));
  // ranges past the buffer are clamped
  assert.equal(url_key_state(zeros, 0, 1, 5, 500, 0), selection_key_state("a0 a:08080"));
});

Deno.test("l4_key_state is key_state(l4_hash_key(...)) for any 4-tuple", () => {
  const random = mulberry32(13);
  const edges = [0, 1, 9, 10, 99, 100, 255, 65535, 65536, 2 ** 31 - 1, 2 ** 31, 2 ** 32 - 1, -1];
  const value = (
    n: number,
  ) => (random() < 0.3 ? edges[n % edges.length] : Math.floor(random() * 2 ** 32));
  for (let n = 0; n < 5000; n++) {
    const client_ip = value(n);
    const client_port = random() < 0.3
      ? edges[(n + 3) % edges.length]
      : Math.floor(random() * 65536);
    const vip = value(n + 5);
    const vip_port = [80, 443, 0, 65535, 8080][n % 5];
    assert.equal(
      l4_key_state(client_ip, client_port, vip, vip_port),
      selection_key_state(l4_hash_key(client_ip, client_port, vip, vip_port)),
      l4_hash_key(client_ip, client_port, vip, vip_port),
    );
  }
});

// ---------------------------------------------------------------- choice

Deno.test("select_server lists every rank exactly as server_order does", () => {
  const random = mulberry32(14);
  const table = create_selection_table({ max_servers: 16, max_vips: 4, max_servers_per_vip: 20 });
  const reader = open_selection_table(table.buffer);
  const scratch = create_selection_scratch(reader);
  let keys_checked = 0;
  let fail_opens = 0;
  for (let trial = 0; trial < 300; trial++) {
    const count = 1 + Math.floor(random() * 16);
    const names = new Set<string>();
    while (names.size < count) names.add(random_name(random));
    // all unhealthy in a quarter of the trials, else each server healthy with probability 0.7
    const none_healthy = random() < 0.25;
    const servers = [...names].map((name, i) =>
      snapshot_server(
        name,
        WEIGHTS[Math.floor(random() * WEIGHTS.length)],
        !none_healthy && random() < 0.7,
        i,
      )
    );
    const vips = Array.from({ length: 1 + Math.floor(random() * 4) }, (_, v) => {
      // a subset in any order, sometimes with a server listed twice, sometimes empty
      const list: number[] = [];
      const size = Math.floor(random() * (count + 2));
      for (let k = 0; k < size; k++) list.push(Math.floor(random() * count));
      return { address: (0x0a000001 + v * 7 + trial) >>> 0, l4: random() < 0.3, servers: list };
    });
    publish_selection(table, { servers, vips, draining: false });
    const ctl = control_of(servers);
    for (const vip of vips) {
      const slot = find_selection_vip(reader, vip.address);
      assert.ok(slot >= 0);
      assert.equal(selection_vip_l4(reader, slot), vip.l4 ? 1 : 0);
      for (let k = 0; k < 12; k++) {
        let text: string;
        let state: number;
        if (vip.l4) {
          const client_ip = Math.floor(random() * 2 ** 32);
          const client_port = Math.floor(random() * 65536);
          text = l4_hash_key(client_ip, client_port, vip.address, 80);
          state = l4_key_state(client_ip, client_port, vip.address, 80);
        } else {
          const { host, path } = random_url(random);
          text = url_key(host, path);
          const bytes = encoder.encode(host + path);
          state = url_key_state(bytes, 0, host.length, host.length, bytes.length, vip.address);
        }
        const before = ctl.counters.fail_open;
        const expected = server_order(ctl, vip, text);
        const failed_open = ctl.counters.fail_open - before;
        const got = all_ranks(reader, slot, state, scratch);
        assert.deepEqual(got, expected, `trial ${trial}, key ${text}`);
        // rank 0 again, for its result words
        const pick = select_server(reader, slot, state, 0, scratch);
        assert.equal(scratch.result[SELECT_RESULT_FAIL_OPEN], failed_open);
        assert.equal(scratch.result[SELECT_RESULT_CANDIDATES], expected.length);
        assert.equal(
          scratch.result[SELECT_RESULT_VERSION],
          Atomics.load(table.header, SELECTION_VERSION),
        );
        if (pick >= 0) {
          assert.equal(vip.servers[scratch.result[SELECT_RESULT_POSITION]], pick);
          const s = servers[pick];
          assert.deepEqual([...scratch.server.subarray(SELECTION_SERVER_MAC_HI)], [
            s.mac_hi,
            s.mac_lo,
            s.agent_ip | 0,
            s.agent_port,
            s.agent_id,
            s.key_slot,
          ]);
          assert.equal(scratch.server[SELECTION_SERVER_HEALTHY], s.healthy ? 1 : 0);
          assert.equal(scratch.server[SELECTION_SERVER_AGENT_IP] >>> 0, s.agent_ip);
        }
        fail_opens += failed_open;
        keys_checked++;
      }
    }
  }
  assert.ok(keys_checked > 5000, `${keys_checked} keys`);
  assert.ok(fail_opens > 500, `${fail_opens} fail-opens`);
});

Deno.test("ties: equal scores go to the smaller name in UTF-16 order, then the earlier place", () => {
  // infinite weights score +∞ for every key, so only the tie-breaks decide
  const names = ["\uE000", "\u{10000}", "z", "\uFFFD", "a", "é", "\u{10FFFF}", "ab", ""];
  const servers = names.map((name, i) => snapshot_server(name, Infinity, true, i));
  const table = create_selection_table({ max_servers: 16, max_vips: 1, max_servers_per_vip: 16 });
  const scratch = create_selection_scratch(table);
  // every server, and then "z" and "a" again: listed twice, they tie with themselves
  const list = [...names.keys(), 2, 4];
  publish_selection(table, {
    servers,
    vips: [{ address: 1, l4: false, servers: list }],
    draining: false,
  });
  const ctl = control_of(servers);
  const state = selection_key_state("any key");
  const got = all_ranks(table, find_selection_vip(table, 1), state, scratch);
  assert.deepEqual(got, server_order(ctl, { servers: list }, "any key"));
  assert.deepEqual(got.map((i) => names[i]), [...names, "z", "a"].sort());
  // the two copies come in list order: the first "a" is place 4, the second place 10
  assert.equal(select_server(table, 0, state, 1, scratch), 4);
  assert.equal(scratch.result[SELECT_RESULT_POSITION], 4);
  assert.equal(select_server(table, 0, state, 2, scratch), 4);
  assert.equal(scratch.result[SELECT_RESULT_POSITION], 10);
});

Deno.test("balance: select_server's picks agree with rendezvous_order over many keys", () => {
  // the same five servers as the selection tests, three weights, 20,000 keys
  const servers = [1, 1, 2, 3, 0].map((weight, i) =>
    snapshot_server(`10.1.0.${i + 1}:80`, weight, true, i)
  );
  const table = create_selection_table({ max_servers: 8, max_vips: 1, max_servers_per_vip: 8 });
  const scratch = create_selection_scratch(table);
  publish_selection(table, {
    servers,
    vips: [{ address: 9, l4: false, servers: [0, 1, 2, 3, 4] }],
    draining: false,
  });
  const random = mulberry32(15);
  const counts = [0, 0, 0, 0, 0];
  for (let n = 0; n < 20_000; n++) {
    const { host, path } = random_url(random);
    const key = url_key(host, path + "/" + n);
    const pick = select_server(table, 0, selection_key_state(key), 0, scratch);
    assert.equal(pick, rendezvous_order(key, servers)[0]);
    counts[pick]++;
  }
  // shares follow the weights 1:1:2:3:0
  const shares = counts.map((c) => c / 20_000);
  [1 / 7, 1 / 7, 2 / 7, 3 / 7, 0].forEach((share, i) =>
    assert.ok(Math.abs(shares[i] - share) < 0.02)
  );
});

// ---------------------------------------------------------------- shared memory

Deno.test("publish, open and read across a SharedArrayBuffer; draining; VIP slots stay put", () => {
  const table = create_selection_table({ max_servers: 4, max_vips: 3, max_servers_per_vip: 4 });
  const scratch = create_selection_scratch(table);
  assert.equal(find_selection_vip(table, 1), SELECTION_NONE, "nothing published yet");
  const servers = [snapshot_server("a", 1, true, 0), snapshot_server("b", 1, true, 1)];
  publish_selection(table, {
    servers,
    vips: [{ address: 0xc0000201, l4: false, servers: [0, 1] }, {
      address: 0xc0000202,
      l4: true,
      servers: [1],
    }],
    draining: false,
  });
  const reader = open_selection_table(table.buffer);
  assert.equal(reader.max_servers, 4);
  assert.equal(find_selection_vip(reader, 0xc0000201), 0);
  assert.equal(find_selection_vip(reader, 0xc0000202), 1);
  assert.equal(find_selection_vip(reader, 0xc0000203), SELECTION_NONE);
  assert.equal(selection_draining(reader), false);
  assert.equal(select_server(reader, 1, 12345, 0, scratch), 1);
  assert.equal(select_server(reader, 1, 12345, 1, scratch), SELECTION_NONE);
  assert.equal(select_server(reader, 7, 12345, 0, scratch), SELECTION_NONE, "no such slot");
  assert.equal(select_server(reader, 2, 12345, 0, scratch), SELECTION_NONE, "free slot");

  // .201 goes, .203 comes: .202 keeps slot 1, and .203 takes slot 2 (free before), not .201's
  publish_selection(table, {
    servers,
    vips: [{ address: 0xc0000202, l4: true, servers: [1] }, {
      address: 0xc0000203,
      l4: false,
      servers: [0],
    }],
    draining: true,
  });
  assert.equal(find_selection_vip(reader, 0xc0000201), SELECTION_NONE);
  assert.equal(find_selection_vip(reader, 0xc0000202), 1);
  assert.equal(find_selection_vip(reader, 0xc0000203), 2);
  assert.equal(select_server(reader, 0, 12345, 0, scratch), SELECTION_NONE, "freed slot");
  assert.equal(selection_draining(reader), true);
  // and a newcomer when no slot was free before takes a freed one
  publish_selection(table, {
    servers,
    vips: [
      { address: 0xc0000202, l4: true, servers: [1] },
      { address: 0xc0000203, l4: false, servers: [0] },
      { address: 0xc0000204, l4: false, servers: [0, 1] },
    ],
    draining: false,
  });
  assert.equal(find_selection_vip(reader, 0xc0000204), 0);
  assert.equal(Atomics.load(table.header, SELECTION_VERSION), 6, "three publishes, two steps each");

  assert.throws(() => open_selection_table(new SharedArrayBuffer(64)), /magic/);
  assert.throws(
    () => open_selection_table(table.buffer.slice(0, 128) as SharedArrayBuffer),
    /bytes/,
  );
  assert.throws(
    () => open_selection_table(new ArrayBuffer(1024) as unknown as SharedArrayBuffer),
    /SharedArrayBuffer/,
  );
});

Deno.test("a reader during a write retries, then reports busy instead of reading a torn table", () => {
  const table = create_selection_table({ max_servers: 2, max_vips: 1, max_servers_per_vip: 2 });
  const scratch = create_selection_scratch(table);
  publish_selection(table, {
    servers: [snapshot_server("a", 1, true, 0)],
    vips: [{ address: 5, l4: false, servers: [0] }],
    draining: false,
  });
  // the writer is in the middle of a publish: the version is odd
  Atomics.add(table.header, SELECTION_VERSION, 1);
  assert.equal(find_selection_vip(table, 5), SELECTION_BUSY);
  assert.equal(select_server(table, 0, 1, 0, scratch), SELECTION_BUSY);
  assert.equal(selection_vip_l4(table, 0), SELECTION_BUSY);
  assert.throws(
    () => publish_selection(table, { servers: [], vips: [], draining: false }),
    /another writer/,
  );
  Atomics.add(table.header, SELECTION_VERSION, 1);
  assert.equal(find_selection_vip(table, 5), 0);
  assert.equal(select_server(table, 0, 1, 0, scratch), 0);
});

Deno.test("a poll-loop Worker reads while the control side publishes: never a torn choice", async () => {
  // two snapshots that differ in every server: names, health and the words,
  // whose mac_hi says which snapshot the server came from
  const snapshot = (tag: number): SelectionSnapshot => ({
    servers: Array.from({ length: 6 }, (_, i) => ({
      ...snapshot_server(
        `${tag === 0xa ? "alpha" : "beta"}-${i}`,
        1 + ((i + tag) % 3),
        (i + tag) % 4 !== 0,
        i,
      ),
      mac_hi: (tag << 8) | i,
    })),
    vips: [{ address: 0x0a000001, l4: false, servers: [0, 1, 2, 3, 4, 5] }],
    draining: false,
  });
  const snapshots = [snapshot(0xa), snapshot(0xb)];
  const table = create_selection_table({ max_servers: 8, max_vips: 2, max_servers_per_vip: 8 });
  // what a consistent read gives under each, for 64 keys
  const keys = Array.from({ length: 64 }, (_, n) => selection_key_state(url_key("a", `/k${n}`)));
  const expected = snapshots.map((snap) => {
    publish_selection(table, snap);
    const scratch = create_selection_scratch(table);
    return keys.map((key) => select_server(table, 0, key, 0, scratch));
  });
  const control = new Int32Array(new SharedArrayBuffer(16)); // [0]: stop, [1]: ready
  const module_url = new URL("../../dataplane/selection_table.ts", import.meta.url).href;
  const code = `
    import * as s from ${JSON.stringify(module_url)};
    self.onmessage = ({ data }) => {
      const table = s.open_selection_table(data.buffer);
      const scratch = s.create_selection_scratch(table);
      const counts = { a: 0, b: 0, busy: 0, torn: 0 };
      Atomics.store(data.control, 1, 1);
      let n = 0;
      while (Atomics.load(data.control, 0) === 0) {
        const k = n++ % data.keys.length;
        const slot = s.find_selection_vip(table, 0x0a000001);
        const server = slot < 0 ? slot : s.select_server(table, slot, data.keys[k], 0, scratch);
        if (server === s.SELECTION_BUSY) { counts.busy++; continue; }
        const tag = scratch.server[s.SELECTION_SERVER_MAC_HI] >> 8;
        const which = tag === 0xa ? 0 : tag === 0xb ? 1 : -1;
        if (which !== -1 && server === data.expected[which][k] &&
            (scratch.server[s.SELECTION_SERVER_MAC_HI] & 0xff) === server) {
          if (which === 0) counts.a++; else counts.b++;
        } else {
          counts.torn++;
        }
      }
      self.postMessage(counts);
    };
  `;
  const url = URL.createObjectURL(new Blob([code], { type: "application/javascript" }));
  const worker = new Worker(url, { type: "module" });
  try {
    const done = new Promise<Record<string, number>>((resolve, reject) => {
      worker.onmessage = (event) => resolve(event.data);
      worker.onerror = (event) => {
        event.preventDefault();
        reject(new Error(event.message));
      };
    });
    worker.postMessage({ buffer: table.buffer, control, keys, expected });
    while (Atomics.load(control, 1) === 0) await new Promise((r) => setTimeout(r, 1));
    // publish as fast as possible for a while, alternating the two snapshots
    const until = performance.now() + 300;
    let publishes = 0;
    while (performance.now() < until) publish_selection(table, snapshots[publishes++ % 2]);
    Atomics.store(control, 0, 1);
    const counts = await done;
    console.log(`${publishes} publishes; reader: ${JSON.stringify(counts)}`);
    assert.equal(counts.torn, 0);
    assert.ok(counts.a > 0 && counts.b > 0, "the reader saw both snapshots");
  } finally {
    worker.terminate();
    URL.revokeObjectURL(url);
  }
});

// ---------------------------------------------------------------- bounds

Deno.test("publish refuses what does not fit, with a clear Error, and leaves the table as it was", () => {
  const table = create_selection_table({ max_servers: 3, max_vips: 2, max_servers_per_vip: 2 });
  const good: SelectionSnapshot = {
    servers: [snapshot_server("a", 1, true, 0), snapshot_server("b", 1, true, 1)],
    vips: [{ address: 1, l4: false, servers: [0, 1] }],
    draining: false,
  };
  publish_selection(table, good);
  const before = new Uint8Array(table.buffer).slice();
  const server = (name: string, i = 0) => snapshot_server(name, 1, true, i);
  const bad: Array<[string, SelectionSnapshot, RegExp]> = [
    [
      "too many servers",
      { ...good, servers: ["a", "b", "c", "d"].map((n, i) => server(n, i)) },
      /4 servers.*at most 3/,
    ],
    [
      "too many VIPs",
      { ...good, vips: [1, 2, 3].map((address) => ({ address, l4: false, servers: [0] })) },
      /3 VIPs.*at most 2/,
    ],
    ["too many servers for a VIP", {
      ...good,
      vips: [{ address: 1, l4: false, servers: [0, 1, 0] }],
    }, /vips\[0\] has 3 servers/],
    [
      "a name too long",
      { ...good, servers: [server("n".repeat(SELECTION_NAME_MAX_BYTES + 1))] },
      /65 bytes.*longer than 64/,
    ],
    ["a name too long in UTF-8 only", { ...good, servers: [server("é".repeat(33))] }, /66 bytes/],
    ["a lone surrogate", { ...good, servers: [server("web\uD800")] }, /well-formed/],
    [
      "an index past the servers",
      { ...good, vips: [{ address: 1, l4: false, servers: [2] }] },
      /servers\[0\] = 2/,
    ],
    [
      "a fractional index",
      { ...good, vips: [{ address: 1, l4: false, servers: [0.5] }] },
      /not an index/,
    ],
    [
      "a VIP twice",
      {
        ...good,
        vips: [{ address: 1, l4: false, servers: [0] }, { address: 1, l4: true, servers: [1] }],
      },
      /appears twice/,
    ],
    ["a VIP address out of range", {
      ...good,
      vips: [{ address: 2 ** 32, l4: false, servers: [0] }],
    }, /u32/],
    ["a word too wide", { ...good, servers: [{ ...server("a"), mac_hi: 2 ** 33 }] }, /mac_hi/],
    ["a weight that is not a number", {
      ...good,
      servers: [{ ...server("a"), weight: "1" as unknown as number }],
    }, /weight/],
  ];
  for (const [label, snapshot, message] of bad) {
    assert.throws(() => publish_selection(table, snapshot), (err: Error) => {
      assert.ok(err instanceof Error, label);
      assert.match(err.message, message, label);
      return true;
    });
    assert.deepEqual(new Uint8Array(table.buffer), before, `${label}: table untouched`);
  }
  // exactly the bounds fit: 64 bytes of name, max servers, max per VIP
  publish_selection(table, {
    servers: ["é".repeat(32), "b", "c"].map((n, i) => server(n, i)),
    vips: [{ address: 1, l4: false, servers: [0, 2] }, { address: 2, l4: false, servers: [1] }],
    draining: false,
  });
  const scratch = create_selection_scratch(table);
  assert.ok(select_server(table, 0, 99, 0, scratch) >= 0);
  assert.equal(
    scratch.server[SELECTION_SERVER_AGENT_ID],
    scratch.server[SELECTION_SERVER_KEY_SLOT] + 1,
  );
  assert.equal(
    scratch.server[SELECTION_SERVER_AGENT_PORT],
    7000 + scratch.server[SELECTION_SERVER_KEY_SLOT],
  );
  assert.equal(
    scratch.server[SELECTION_SERVER_MAC_LO],
    0x100 + scratch.server[SELECTION_SERVER_KEY_SLOT],
  );

  assert.throws(
    () => create_selection_table({ max_servers: 0, max_vips: 1, max_servers_per_vip: 1 }),
    /max_servers/,
  );
  assert.throws(
    () => create_selection_table({ max_servers: 4, max_vips: 1.5, max_servers_per_vip: 1 }),
    /max_vips/,
  );
  assert.throws(
    () => create_selection_table({ max_servers: 4, max_vips: 1, max_servers_per_vip: 5000 }),
    /per_vip/,
  );
});
