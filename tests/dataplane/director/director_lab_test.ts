// The whole path on real parts: curl and wrk in the client namespace, the
// director and three agents in one baton process on af_packet ports, three
// nginx servers with their own kernel stacks. Responses come straight from
// the servers (direct server return); the director only hands off.

import assert from "node:assert/strict";
import {
  curl_download,
  curl_many,
  type DpdkProcess,
  type Fetched,
  in_namespace,
  type Lab,
  lab_down,
  lab_interfaces,
  lab_up,
  run_wrk,
  start_baton_in_lab,
  write_lab_config,
} from "../../../control/lab/mod.ts";
import { parse_latest_port_stats, parse_prometheus } from "../../../control/mod.ts";

const PREFIX = "btr-";
const WEIGHTS = [1, 2, 3];
const HEALTH_INTERVAL_MS = 500;

/** Fetches each URL with one curl (each on its own connection unless keep_alive). */
async function fetch_all(lab: Lab, urls: string[], keep_alive = false): Promise<Fetched[]> {
  const fetched = await curl_many(lab, urls, { keep_alive });
  assert.equal(fetched.length, urls.length, `curl answered ${fetched.length}/${urls.length}`);
  return fetched;
}

function director_tx_bytes(baton: DpdkProcess): number {
  const port0 = parse_latest_port_stats(baton.output()).find((p) => p.port === 0);
  assert.ok(port0, "director port statistics");
  return port0.tx_bytes;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

Deno.test({
  name: "lab: director hands off by content to three nginx servers (DSR, keep-alive, wrk, health)",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    await lab_down({ prefix: PREFIX });
    const lab = await lab_up(3, { prefix: PREFIX });
    const dir = await Deno.makeTempDir({ prefix: "baton-director-lab-" });
    const config = await write_lab_config(lab, dir, {
      weights: WEIGHTS,
      health_interval_ms: HEALTH_INTERVAL_MS,
    });
    const baton = await start_baton_in_lab(lab, {
      interfaces: lab_interfaces(lab),
      app: ["--role=director,agent", `--config=${config}`, "--stats-period=1"],
      name: "dirlab",
    });
    const vip = `http://${lab.vip}`;
    try {
      await sleep(1200); // first health checks
      await t.step(
        "each server answers with its own content; a URL always lands on the same server",
        async () => {
          const urls = Array.from({ length: 30 }, (_, i) => `${vip}/same/${i}`);
          const first = await fetch_all(lab, urls);
          const again = await fetch_all(lab, urls);
          const third = await fetch_all(lab, urls);
          for (let i = 0; i < urls.length; i++) {
            assert.equal(first[i].code, 200);
            assert.match(first[i].served_by, /^srv[123]$/);
            assert.equal(first[i].body, `server ${first[i].served_by.slice(3)}\n`, "own content");
            assert.equal(again[i].served_by, first[i].served_by, urls[i]);
            assert.equal(third[i].served_by, first[i].served_by, urls[i]);
          }
        },
      );

      await t.step("1,000 distinct URLs spread within ±20% of the weights 1:2:3", async () => {
        const urls = Array.from({ length: 1000 }, (_, i) => `${vip}/spread/${i}/item.html`);
        const fetched = await fetch_all(lab, urls);
        const counts = new Map<string, number>();
        for (const f of fetched) {
          assert.equal(f.code, 200, f.url);
          counts.set(f.served_by, (counts.get(f.served_by) ?? 0) + 1);
        }
        const total = WEIGHTS.reduce((a, b) => a + b, 0);
        const shares = WEIGHTS.map((w, i) => {
          const got = counts.get(`srv${i + 1}`) ?? 0;
          const expected = (1000 * w) / total;
          assert.ok(
            Math.abs(got - expected) <= 0.2 * expected,
            `srv${i + 1}: ${got} vs ${expected}`,
          );
          return `srv${i + 1}=${got} (expected ${expected.toFixed(0)})`;
        });
        console.log(`spread over 1,000 URLs: ${shares.join(", ")}`);
      });

      await t.step(
        "10 MB download: sha256 matches, only the client's ACKs cross the director",
        async () => {
          await sleep(1100);
          const before = director_tx_bytes(baton);
          const download = await curl_download(lab, `${vip}${lab.big_file.path}`);
          assert.equal(download.error, "");
          assert.equal(download.bytes, lab.big_file.size);
          assert.equal(download.sha256, lab.big_file.sha256);
          await sleep(1100);
          const sent = director_tx_bytes(baton) - before;
          const share = sent / lab.big_file.size;
          console.log(
            `director transmitted ${sent} bytes during the 10 MB download: ${
              (share * 100).toFixed(2)
            }%`,
          );
          // What the director sends during a download is the client's ACKs, forwarded to the
          // server: one per one or two full segments (66-byte frames, more with SACK blocks), so
          // 2-5 % of the response; a response that crossed the director would be over 100 %. The
          // bound is one 80-byte frame per 1448-byte segment (5.5 %). (Was < 2 %, which the ACKs
          // alone exceed whenever the client acknowledges more often than every other segment.)
          const ack_bound = (lab.big_file.size / 1448) * 80;
          assert.ok(
            sent < ack_bound,
            `director sent ${sent} bytes (${(share * 100).toFixed(2)}% of the response), ` +
              `more than its client's ACKs can be (${ack_bound.toFixed(0)})`,
          );
        },
      );

      await t.step(
        "the L4 VIP hands off by 4-tuple, carrying the first segment unparsed",
        async () => {
          const urls = Array.from({ length: 40 }, (_, i) => `http://${lab.vip_l4}/l4/${i}`);
          const fetched = await fetch_all(lab, urls);
          for (const f of fetched) {
            assert.equal(f.code, 200, f.url);
            assert.equal(f.body, `server ${f.served_by.slice(3)}\n`);
          }
          assert.ok(new Set(fetched.map((f) => f.served_by)).size > 1, "spread by 4-tuple");
        },
      );

      await t.step("two requests on one keep-alive connection are both served", async () => {
        const [a, b] = await fetch_all(lab, [`${vip}/keep/1`, `${vip}/keep/2`], true);
        assert.equal(a.code, 200);
        assert.equal(b.code, 200);
        assert.equal(b.connects, 0, "the second request reused the connection");
        assert.equal(b.served_by, a.served_by, "the connection stays with its server");
      });

      await t.step(
        "a body in the request's own segment is carried: nginx reads it (WebDAV PUT) with no client retransmission",
        async () => {
          const retransmitted = async () => {
            const nstat = await in_namespace(lab.client.ns, ["nstat", "-az", "TcpRetransSegs"]);
            return Number(/TcpRetransSegs\s+(\d+)/.exec(nstat.stdout)?.[1] ?? NaN);
          };
          const before = await retransmitted();
          const times: number[] = [];
          for (let i = 0; i < 10; i++) {
            const body = `body ${i} `.repeat(60); // ~500 bytes: curl sends it with the head
            const put = await in_namespace(lab.client.ns, [
              "curl",
              "-sS",
              "-X",
              "PUT",
              "--data-binary",
              body,
              "-H",
              "Connection: close",
              "-o",
              "/dev/null",
              "-w",
              "%{http_code} %{time_total}",
              `${vip}/upload/${i}.txt`,
            ]);
            const [code, seconds] = put.stdout.trim().split(" ");
            assert.ok(code === "201" || code === "204", `PUT ${i}: ${put.stdout} ${put.stderr}`);
            times.push(Number(seconds) * 1000);
            const [back] = await fetch_all(lab, [`${vip}/upload/${i}.txt`]);
            assert.equal(back.body, body + "\n", "the server stored the whole body");
          }
          const after = await retransmitted();
          assert.equal(after - before, 0, "the client retransmitted nothing: its body was ACKed");
          times.sort((x, y) => x - y);
          console.log(`PUT with a body in the head's segment: median ${times[5].toFixed(1)} ms`);
        },
      );

      await t.step("wrk, 100 connections for 30 s: zero errors, zero non-2xx", async () => {
        const wrk = await run_wrk(lab, `${vip}/wrk/index.html`, {
          connections: 100,
          seconds: 30,
          threads: 2,
        });
        console.log(`wrk: ${wrk.requests} requests, ${wrk.requests_per_s.toFixed(0)}/s`);
        assert.ok(wrk.requests > 1000, wrk.raw);
        assert.equal(wrk.socket_errors, 0, wrk.raw);
        assert.equal(wrk.non_2xx, 0, wrk.raw);
      });

      await t.step("the metrics endpoint reports hand-offs, selections and ports", async () => {
        const result = await in_namespace(lab.namespaces.dp, [
          "curl",
          "-sS",
          `http://${lab.control.dp_ip}:9100/metrics`,
        ]);
        assert.equal(result.code, 0, result.stderr);
        const values = parse_prometheus(result.stdout);
        // every director metric names its director (director.name: its address by default)
        const d = `director="${lab.director_ip}"`;
        assert.ok(values.get(`baton_director_handoffs_total{${d},outcome="acked"}`)! > 1000);
        for (const s of lab.servers) {
          assert.ok(
            values.get(`baton_director_server_selections_total{${d},server="srv${s.id}"}`)! > 0,
          );
          assert.equal(values.get(`baton_director_server_healthy{${d},server="srv${s.id}"}`), 1);
        }
        const director_port =
          'baton_port_transmitted_bytes_total{port="0",device="net_af_packet0"}';
        assert.ok(values.get(director_port)! > 0);
        // an agent's metrics name it by its id (the lab's agents: the server's number)
        assert.ok(values.get('baton_agent_adopted_total{agent="1"}')! > 0);
      });

      await t.step(
        "a stopped nginx: its URLs go to the others within the health interval",
        async () => {
          const urls = Array.from({ length: 60 }, (_, i) => `${vip}/health/${i}`);
          const before = await fetch_all(lab, urls);
          const victim = lab.servers[2];
          const moved = before.filter((f) => f.served_by === `srv${victim.id}`);
          assert.ok(moved.length > 0, "some URLs were on the victim");
          Deno.kill(victim.nginx_pid, "SIGTERM");
          await sleep(HEALTH_INTERVAL_MS * 3);
          const after = await fetch_all(lab, urls);
          for (let i = 0; i < urls.length; i++) {
            assert.equal(after[i].code, 200, urls[i]);
            assert.notEqual(after[i].served_by, `srv${victim.id}`);
            // only the victim's URLs move (rendezvous hashing)
            if (before[i].served_by !== `srv${victim.id}`) {
              assert.equal(after[i].served_by, before[i].served_by);
            }
          }
        },
      );
    } finally {
      const code = await baton.stop();
      await lab_down({ prefix: PREFIX });
      await Deno.remove(dir, { recursive: true });
      console.log(
        baton.output().split("\n").filter((l) => /^(director|agent \d)/.test(l)).slice(-9).join(
          "\n",
        ),
      );
      assert.equal(code, 0, baton.output().slice(-3000));
    }
  },
});
