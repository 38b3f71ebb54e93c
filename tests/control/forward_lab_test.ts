// A real TCP connection through baton: io mode as a bump in the wire between
// agent 1's two net_af_packet ports, real curl and wrk in the client
// namespace, real nginx with its own kernel stack in the server namespace.

import assert from "node:assert/strict";
import {
  curl_download,
  lab_down,
  lab_up,
  run_wrk,
  start_baton_in_lab,
} from "../../control/lab/mod.ts";

const PREFIX = "btf-";

Deno.test({
  name: "lab: io bump in the wire on af_packet: 10 MB sha256 and wrk with zero errors",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    await lab_down({ prefix: PREFIX });
    const lab = await lab_up(1, { prefix: PREFIX });
    const server = lab.servers[0];
    const baton = await start_baton_in_lab(lab, {
      interfaces: [server.agent_fabric_if, server.agent_server_if],
      app: ["--forward-mode=io", "--stats-period=1"],
      name: "fwdlab",
    });
    try {
      await t.step("curl of the 10 MB file: sha256 matches", async () => {
        const download = await curl_download(lab, `http://${server.ip}${lab.big_file.path}`);
        assert.equal(download.error, "");
        assert.equal(download.http_code, 200);
        assert.equal(download.bytes, lab.big_file.size);
        assert.equal(download.sha256, lab.big_file.sha256);
      });
      await t.step("wrk: at least 1,000 small requests, zero errors", async () => {
        const wrk = await run_wrk(lab, `http://${server.ip}${lab.small_file.path}`, {
          connections: 10,
          seconds: 4,
        });
        assert.ok(wrk.requests >= 1000, `only ${wrk.requests} requests:\n${wrk.raw}`);
        assert.equal(wrk.socket_errors, 0, wrk.raw);
        assert.equal(wrk.non_2xx, 0, wrk.raw);
      });
    } finally {
      const code = await baton.stop();
      await lab_down({ prefix: PREFIX });
      assert.equal(code, 0, `baton exit code; output:\n${baton.output().slice(-3000)}`);
    }
    // Both directions crossed baton: its port counters saw the download.
    const tx = [...baton.output().matchAll(/TX-packets: (\d+)/g)].map((m) => Number(m[1]));
    assert.ok(Math.max(...tx) > 7000, "baton transmitted the download's segments");
  },
});
