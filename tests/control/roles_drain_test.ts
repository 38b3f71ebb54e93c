// SIGTERM drains the director: no new hand-offs (a new request gets 503),
// while a connection already handed off keeps being forwarded until it
// ends; then the process exits cleanly. A 10 MB download in flight when the
// signal arrives must complete intact.

import assert from "node:assert/strict";
import {
  curl_many,
  in_namespace,
  lab_down,
  lab_interfaces,
  lab_up,
  start_baton_in_lab,
  write_lab_config,
} from "../../control/lab/mod.ts";

const PREFIX = "btt-";

Deno.test({
  name: "lab: SIGTERM on the director during a 10 MB download: the download completes",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await lab_down({ prefix: PREFIX });
    const lab = await lab_up(3, { prefix: PREFIX });
    const dir = await Deno.makeTempDir({ prefix: "baton-drain-" });
    const config = await write_lab_config(lab, dir, { linger_ms: 300 });
    const baton = await start_baton_in_lab(lab, {
      interfaces: lab_interfaces(lab),
      app: ["--role=director,agent", `--config=${config}`, "--stats-period=1"],
      name: "drain",
    });
    let exit_code = -1;
    try {
      await new Promise((resolve) => setTimeout(resolve, 1000));
      // A small receive buffer keeps the transfer on the wire as slow as curl
      // reads it (else the client's kernel takes it all in a second).
      const rmem = await in_namespace(lab.client.ns, [
        "sysctl",
        "-w",
        "net.ipv4.tcp_rmem=4096 65536 65536",
      ]);
      assert.equal(rmem.code, 0, rmem.stderr);
      // about 3.5 s at 3 MB/s: the signal lands in the middle
      const download = in_namespace(lab.client.ns, [
        "bash",
        "-c",
        `set -o pipefail; curl -sS --max-time 60 --limit-rate 3M http://${lab.vip}${lab.big_file.path} | sha256sum`,
      ]);
      await new Promise((resolve) => setTimeout(resolve, 1200));
      baton.child.kill("SIGTERM");
      await baton.wait_for(/Signal SIGTERM received/, 5000);
      // draining: a new connection is answered by the director itself
      await new Promise((resolve) => setTimeout(resolve, 300));
      const during = await curl_many(lab, [`http://${lab.vip}/new/after/sigterm`]);
      assert.equal(during[0]?.code, 503, "no new hand-offs while draining");
      const result = await download;
      assert.equal(result.code, 0, result.stderr);
      assert.equal(result.stdout.slice(0, 64), lab.big_file.sha256, "the download is intact");
      exit_code = await baton.exited;
      assert.equal(exit_code, 0, baton.output().slice(-2000));
      assert.match(baton.output(), /Bye\.\.\./);
      // the process waited for the download (it was really in flight)
      const drained = /drain: every flow ended after (\d+) ms/.exec(baton.output());
      assert.ok(drained && Number(drained[1]) > 1000, `drain: ${drained?.[0]}`);
    } finally {
      if (exit_code < 0) await baton.stop();
      await lab_down({ prefix: PREFIX });
      await Deno.remove(dir, { recursive: true });
    }
    // after the download the process left on its own (no grace-period timeout)
    assert.doesNotMatch(baton.output(), /grace period over/);
  },
});
