// The access log ring: records round-trip (addresses, ports, server,
// latency, outcome, Host and path), the ring wraps, a full ring drops and
// counts, Host and path are cut to their budgets (and say so), a torn or
// overwritten record is skipped and counted, a Worker writing while the
// reader drains loses nothing, and the control side formats one JSON line.

import assert from "node:assert/strict";
import {
  ACCESS_ACKED,
  access_log_dropped,
  access_log_pending,
  ACCESS_NACK,
  AL_CLIENT_IP,
  AL_HOST_LENGTH,
  AL_HOST_START,
  AL_LATENCY_US,
  AL_OUTCOME,
  AL_PATH_LENGTH,
  AL_PATH_START,
  AL_PORTS,
  AL_SERVER,
  AL_TIME_HI,
  AL_TIME_LO,
  AL_VIP_IP,
  create_access_log_ring,
  create_access_scratch,
  open_access_log_ring,
  read_access_records,
  write_access_record,
} from "../../../dataplane/wire/mod.ts";
import { ip_to_u32 } from "../../../dataplane/mod.ts";
import { format_access_record } from "../../../control/mod.ts";

const encoder = new TextEncoder();

/** Writes one record with this host and path (text laid out as "host path"). */
function write(
  ring: ReturnType<typeof create_access_log_ring>,
  options: { n: number; host?: string; path?: string; outcome?: number },
): boolean {
  const host = options.host ?? "example.test";
  const path = options.path ?? `/item/${options.n}`;
  const text = encoder.encode(`${host} ${path}`);
  const r = create_access_scratch();
  const time = 1_767_225_600_000 + options.n; // 2026-01-01T00:00:00Z + n ms
  r[AL_TIME_HI] = Math.floor(time / 2 ** 32);
  r[AL_TIME_LO] = time >>> 0;
  r[AL_CLIENT_IP] = ip_to_u32("198.18.0.1") | 0;
  r[AL_VIP_IP] = ip_to_u32("198.18.0.100") | 0;
  r[AL_PORTS] = ((40000 + options.n) << 16) | 80;
  r[AL_SERVER] = options.n % 3;
  r[AL_LATENCY_US] = 1250;
  r[AL_OUTCOME] = options.outcome ?? ACCESS_ACKED;
  r[AL_HOST_START] = 0;
  r[AL_HOST_LENGTH] = encoder.encode(host).length;
  r[AL_PATH_START] = encoder.encode(host).length + 1;
  r[AL_PATH_LENGTH] = encoder.encode(path).length;
  return write_access_record(ring, r, text);
}

Deno.test("access log ring: a record round-trips every field", () => {
  const ring = create_access_log_ring({ capacity: 4 });
  assert.ok(write(ring, { n: 7, outcome: ACCESS_NACK }));
  const { records, torn } = read_access_records(ring);
  assert.equal(torn, 0);
  assert.deepEqual(records, [{
    time_ms: 1_767_225_600_007,
    client_ip: ip_to_u32("198.18.0.1"),
    client_port: 40007,
    vip_ip: ip_to_u32("198.18.0.100"),
    vip_port: 80,
    server: 1,
    latency_ms: 1.25,
    outcome: ACCESS_NACK,
    host: "example.test",
    path: "/item/7",
    truncated: false,
  }]);
  assert.equal(access_log_pending(ring), 0);
});

Deno.test("access log ring: wraps around many times in order", () => {
  const ring = create_access_log_ring({ capacity: 4 });
  const seen: string[] = [];
  for (let n = 0; n < 50; n++) {
    assert.ok(write(ring, { n }));
    if (n % 3 === 2) seen.push(...read_access_records(ring).records.map((r) => r.path));
  }
  seen.push(...read_access_records(ring).records.map((r) => r.path));
  assert.deepEqual(seen, Array.from({ length: 50 }, (_, n) => `/item/${n}`));
  assert.equal(access_log_dropped(ring), 0);
});

Deno.test("access log ring: a full ring drops the record and counts it, then takes more", () => {
  const ring = create_access_log_ring({ capacity: 4 });
  for (let n = 0; n < 4; n++) assert.ok(write(ring, { n }));
  assert.equal(write(ring, { n: 4 }), false);
  assert.equal(write(ring, { n: 5 }), false);
  assert.equal(access_log_dropped(ring), 2);
  assert.deepEqual(read_access_records(ring, 1).records.map((r) => r.path), ["/item/0"]);
  assert.ok(write(ring, { n: 6 }), "room again after a read");
  assert.deepEqual(read_access_records(ring).records.map((r) => r.path), [
    "/item/1",
    "/item/2",
    "/item/3",
    "/item/6",
  ]);
});

Deno.test("access log ring: Host and path are cut to their budgets, and say so", () => {
  const ring = create_access_log_ring({ capacity: 2, host_bytes: 8, path_bytes: 10 });
  assert.ok(write(ring, { n: 0, host: "a-very-long-host.example", path: "/0123456789abcdef" }));
  assert.ok(write(ring, { n: 1, host: "short", path: "/ok" }));
  const [cut, whole] = read_access_records(ring).records;
  assert.equal(cut.host, "a-very-l");
  assert.equal(cut.path, "/012345678");
  assert.equal(cut.truncated, true);
  assert.equal(whole.host, "short");
  assert.equal(whole.path, "/ok");
  assert.equal(whole.truncated, false);
  // a cut in the middle of a UTF-8 sequence reads as U+FFFD, never throws
  assert.ok(write(ring, { n: 2, host: "h", path: "/ééééééé" }));
  assert.match(read_access_records(ring).records[0].path, /^\/éééé/);
});

Deno.test("access log ring: a range outside the source bytes copies nothing (never throws)", () => {
  const ring = create_access_log_ring({ capacity: 2 });
  const r = create_access_scratch();
  r[AL_HOST_START] = 1000;
  r[AL_HOST_LENGTH] = 20;
  r[AL_PATH_START] = -5;
  r[AL_PATH_LENGTH] = 3;
  assert.ok(write_access_record(ring, r, new Uint8Array(10)));
  const [record] = read_access_records(ring).records;
  assert.equal(record.host, "");
  assert.equal(record.path, "");
});

Deno.test("access log ring: a torn (or overwritten) record is skipped and counted", () => {
  const ring = create_access_log_ring({ capacity: 4 });
  for (let n = 0; n < 3; n++) assert.ok(write(ring, { n }));
  // record 1's stamp as the writer leaves it mid-write (or a record of another lap)
  const record_words = ring.record_bytes / 4;
  const stamp_of_1 = 16 + record_words * 1;
  ring.words[stamp_of_1] = ~ring.words[stamp_of_1];
  const { records, torn } = read_access_records(ring);
  assert.equal(torn, 1);
  assert.deepEqual(records.map((r) => r.path), ["/item/0", "/item/2"]);
  assert.equal(access_log_pending(ring), 0, "the reader moved past it");
});

Deno.test("access log ring: a Worker writes while this side drains: nothing lost or torn", async () => {
  const ring = create_access_log_ring({ capacity: 64 });
  const total = 20_000;
  const source = `
    import { create_access_scratch, open_access_log_ring, write_access_record, AL_SERVER,
      AL_PATH_START, AL_PATH_LENGTH } from "${
    new URL("../../../dataplane/wire/mod.ts", import.meta.url).href
  }";
    self.onmessage = (event) => {
      const ring = open_access_log_ring(event.data);
      const r = create_access_scratch();
      const text = new TextEncoder().encode("/p");
      r[AL_PATH_START] = 0;
      r[AL_PATH_LENGTH] = 2;
      let written = 0;
      while (written < ${total}) {
        r[AL_SERVER] = written;
        if (write_access_record(ring, r, text)) written++;
      }
      self.postMessage("done");
    };`;
  const url = URL.createObjectURL(new Blob([source], { type: "application/javascript" }));
  const worker = new Worker(url, { type: "module" });
  const done = new Promise((resolve) => worker.onmessage = resolve);
  worker.postMessage(open_access_log_ring(ring.buffer).buffer);
  const servers: number[] = [];
  let torn = 0;
  let finished = false;
  done.then(() => finished = true);
  while (!finished || access_log_pending(ring) > 0) {
    const read = read_access_records(ring);
    torn += read.torn;
    for (const r of read.records) servers.push(r.server);
    await new Promise((resolve) => setTimeout(resolve, 0));
  }
  worker.terminate();
  URL.revokeObjectURL(url);
  assert.equal(torn, 0);
  assert.equal(servers.length, total);
  assert.ok(servers.every((s, i) => s === i), "in order, each once");
});

Deno.test("access log ring: a bad buffer is refused when opened", () => {
  assert.throws(() => open_access_log_ring(new SharedArrayBuffer(8)), /access log/);
  assert.throws(() => open_access_log_ring(new SharedArrayBuffer(256)), /magic/);
  assert.throws(() => create_access_log_ring({ capacity: 3 }), /power of two/);
});

Deno.test("access log: one JSON line per record, with the fields named", () => {
  const ring = create_access_log_ring({ capacity: 4 });
  write(ring, { n: 1 });
  write(ring, { n: 2, outcome: 503 });
  const [acked, refused] = read_access_records(ring).records;
  const names = ["srv1", "srv2", "srv3"];
  const line = JSON.parse(format_access_record(acked, (i) => names[i]));
  assert.deepEqual(line, {
    time: "2026-01-01T00:00:00.001Z",
    client: "198.18.0.1:40001",
    vip: "198.18.0.100:80",
    host: "example.test",
    path: "/item/1",
    server: "srv2",
    handoff_ms: 1.25,
    outcome: "acked",
    status: null,
  });
  const answer = JSON.parse(format_access_record(refused, (i) => names[i]));
  assert.equal(answer.outcome, "503");
  assert.equal(answer.status, 503);
});
