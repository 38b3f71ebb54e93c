// The single-machine lab: namespaces, veths without offloads, fixed MACs,
// nginx per server, idempotent up/down. Needs root; uses its own prefix so
// it never meets a lab someone else has up.

import assert from "node:assert/strict";
import {
  af_packet_vdev,
  in_namespace,
  type Lab,
  lab_down,
  lab_status,
  lab_up,
} from "../../../control/lab/mod.ts";

const PREFIX = "btl-";
// Lab tests need root; they run (and fail loudly) without it rather than skip.

async function namespaces(): Promise<string[]> {
  const out = await new Deno.Command("ip", { args: ["-j", "netns", "list"] }).output();
  const text = new TextDecoder().decode(out.stdout).trim();
  return text ? (JSON.parse(text) as { name: string }[]).map((n) => n.name) : [];
}

/** Dead means gone, or a zombie waiting for its new parent to reap it. */
function process_dead(pid: number): boolean {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    return stat.slice(stat.lastIndexOf(")") + 2).startsWith("Z");
  } catch {
    return true;
  }
}

async function ok(ns: string, command: string[]): Promise<string> {
  const result = await in_namespace(ns, command);
  assert.equal(result.code, 0, `${command.join(" ")} in ${ns}: ${result.stderr}`);
  return result.stdout;
}

async function sha256_hex(bytes: Uint8Array<ArrayBuffer>): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  return [...digest].map((b) => b.toString(16).padStart(2, "0")).join("");
}

Deno.test("af_packet_vdev names DPDK 22.11's af_packet parameters", () => {
  assert.equal(
    af_packet_vdev(0, "dir0"),
    "net_af_packet0,iface=dir0,blocksz=4096,framesz=2048,framecnt=512,qpairs=1",
  );
  assert.equal(
    af_packet_vdev(3, "ag1f", { qpairs: 2, qdisc_bypass: true }),
    "net_af_packet3,iface=ag1f,blocksz=4096,framesz=2048,framecnt=512,qpairs=2,qdisc_bypass=1",
  );
});

Deno.test({
  name: "lab up 2: namespaces, offloads off, fixed MACs, nginx; idempotent; down cleans up",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn(t) {
    await lab_down({ prefix: PREFIX }); // leftovers from an interrupted run
    let lab: Lab | undefined;
    try {
      lab = await lab_up(2, { prefix: PREFIX });
      const up = lab;

      await t.step("namespaces exist", async () => {
        const present = await namespaces();
        for (const ns of ["btl-sw", "btl-client", "btl-dp", "btl-srv1", "btl-srv2"]) {
          assert.ok(present.includes(ns), `${ns} missing`);
        }
        assert.deepEqual(up.namespaces.servers, ["btl-srv1", "btl-srv2"]);
      });

      await t.step("description: addresses and MACs", () => {
        assert.equal(up.vip, "198.18.0.100");
        assert.equal(up.client.ip, "198.18.0.1");
        assert.equal(up.client.mac, "02:b7:00:00:00:01");
        assert.equal(up.director_if, "dir0");
        assert.equal(up.director_mac, "02:b7:00:00:00:02");
        assert.equal(up.servers[1].ip, "198.18.0.12");
        assert.equal(up.servers[1].mac, "02:b7:00:00:01:02");
        assert.equal(up.servers[1].agent_fabric_if, "ag2f");
        assert.equal(up.servers[1].agent_fabric_mac, "02:b7:00:00:03:02");
        assert.equal(up.servers[1].agent_fabric_peer_mac, "02:b7:00:00:11:02");
        assert.equal(up.servers[1].agent_server_if, "ag2s");
        assert.equal(up.servers[1].agent_server_mac, "02:b7:00:00:02:02");
        assert.equal(up.big_file.path, "/big.bin");
        assert.equal(up.big_file.size, 10 * 1024 * 1024);
        assert.match(up.big_file.sha256, /^[0-9a-f]{64}$/);
      });

      await t.step("every veth end has its offloads off", async () => {
        const ends: [string, string][] = [
          ["btl-sw", "pclient"],
          ["btl-sw", "pdir"],
          ["btl-sw", "pag1"],
          ["btl-client", "eth0"],
          ["btl-dp", "dir0"],
          ["btl-dp", "ag1f"],
          ["btl-dp", "ag2s"],
          ["btl-srv2", "eth0"],
        ];
        for (const [ns, dev] of ends) {
          const features = await ok(ns, ["ethtool", "-k", dev]);
          for (
            const name of [
              "rx-checksumming",
              "tx-checksumming",
              "tcp-segmentation-offload",
              "generic-segmentation-offload",
              "generic-receive-offload",
            ]
          ) {
            assert.match(features, new RegExp(`^${name}: off`, "m"), `${ns}/${dev} ${name}`);
          }
        }
      });

      await t.step("server eth0 has its IP and fixed MAC, VIP on lo, arp_ignore", async () => {
        const links = JSON.parse(await ok("btl-srv1", ["ip", "-j", "addr", "show"])) as {
          ifname: string;
          address: string;
          addr_info: { local: string; prefixlen: number }[];
        }[];
        const eth0 = links.find((l) => l.ifname === "eth0");
        const lo = links.find((l) => l.ifname === "lo");
        assert.equal(eth0?.address, "02:b7:00:00:01:01");
        assert.ok(eth0?.addr_info.some((a) => a.local === "198.18.0.11" && a.prefixlen === 24));
        assert.ok(lo?.addr_info.some((a) => a.local === "198.18.0.100" && a.prefixlen === 32));
        const sysctl = await ok("btl-srv1", [
          "sysctl",
          "-n",
          "net.ipv4.conf.all.arp_ignore",
          "net.ipv4.conf.all.arp_announce",
          "net.ipv6.conf.all.disable_ipv6",
        ]);
        assert.deepEqual(sysctl.trim().split("\n"), ["1", "2", "1"]);
        const dp = JSON.parse(await ok("btl-dp", ["ip", "-j", "addr", "show", "dir0"]));
        assert.deepEqual(dp[0].addr_info, [], "DPDK-read veths carry no address");
      });

      await t.step("nginx serves each server's id, any path, and big.bin", async () => {
        for (const server of up.servers) {
          const body = await ok(server.ns, [
            "curl",
            "-sS",
            "--max-time",
            "5",
            `http://${server.ip}/`,
          ]);
          assert.equal(body, `server ${server.id}\n`);
          const headers = await ok(server.ns, [
            "curl",
            "-sS",
            "-D",
            "-",
            "-o",
            "/dev/null",
            "--max-time",
            "5",
            "http://127.0.0.1/echo/any/path",
          ]);
          assert.match(headers, /^HTTP\/1\.1 200/);
          assert.match(headers, new RegExp(`^X-Served-By: srv${server.id}\\r?$`, "mi"));
        }
        const small = await ok("btl-srv2", ["curl", "-sS", "http://198.18.0.12/small.txt"]);
        assert.equal(small.length, up.small_file.size);
        const big = await in_namespace("btl-srv1", [
          "sh",
          "-c",
          "curl -sS --max-time 20 http://198.18.0.11/big.bin | sha256sum",
        ]);
        assert.equal(big.code, 0, big.stderr);
        assert.equal(big.stdout.split(" ")[0], up.big_file.sha256);
        const file = await Deno.readFile(`${up.servers[1].docroot}/big.bin`);
        assert.equal(await sha256_hex(file), up.big_file.sha256);
      });

      await t.step("the fabric carries traffic once dp joins an agent's two ports", async () => {
        // Stand-in for baton: tc mirred in the dp namespace (which this test's
        // lab owns) turns agent 1's two veths into a wire.
        for (const [from, to] of [["ag1f", "ag1s"], ["ag1s", "ag1f"]]) {
          await ok("btl-dp", ["tc", "qdisc", "add", "dev", from, "clsact"]);
          await ok("btl-dp", [
            "tc",
            "filter",
            "add",
            "dev",
            from,
            "ingress",
            "bpf",
            "bytecode",
            "1,6 0 0 65535",
            "action",
            "mirred",
            "egress",
            "redirect",
            "dev",
            to,
          ]);
        }
        const body = await ok("btl-client", [
          "curl",
          "-sS",
          "--max-time",
          "5",
          "http://198.18.0.11/x",
        ]);
        assert.equal(body, "server 1\n");
        // Direct server return: the server holds the VIP but does not answer ARP for it.
        const vip = await in_namespace("btl-client", [
          "curl",
          "-sS",
          "--max-time",
          "2",
          "http://198.18.0.100/",
        ]);
        assert.notEqual(vip.code, 0);
        const neigh = await ok("btl-client", ["ip", "neigh", "show", "198.18.0.100"]);
        assert.doesNotMatch(neigh, /lladdr/);
      });

      await t.step("status reports namespaces, nginx and interfaces", async () => {
        const status = await lab_status({ prefix: PREFIX });
        assert.equal(status.up, true);
        assert.equal(status.servers, 2);
        assert.ok(status.namespaces.every((ns) => ns.exists));
        assert.deepEqual(status.nginx.map((n) => n.alive), [true, true]);
        const dir0 = status.interfaces.find((i) => i.ns === "btl-dp" && i.name === "dir0");
        assert.equal(dir0?.state, "UP");
        assert.equal(dir0?.mac, "02:b7:00:00:00:02");
      });

      await t.step("up again with the same N is a no-op", async () => {
        const again = await lab_up(2, { prefix: PREFIX });
        assert.deepEqual(again, up);
      });
    } finally {
      await lab_down({ prefix: PREFIX });
    }

    const present = await namespaces();
    assert.deepEqual(present.filter((ns) => ns.startsWith(PREFIX)), []);
    for (const server of lab?.servers ?? []) {
      assert.ok(process_dead(server.nginx_pid), `nginx ${server.nginx_pid} still running`);
    }
    assert.equal((await lab_status({ prefix: PREFIX })).up, false);
    await lab_down({ prefix: PREFIX }); // down again: nothing to do, no error
  },
});

Deno.test({
  name: "lab up with a different N rebuilds the lab",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    try {
      const one = await lab_up(1, { prefix: PREFIX });
      const two = await lab_up(2, { prefix: PREFIX });
      assert.equal(two.servers.length, 2);
      assert.ok(process_dead(one.servers[0].nginx_pid));
      const body = await ok("btl-srv2", ["curl", "-sS", "http://127.0.0.1/"]);
      assert.equal(body, "server 2\n");
    } finally {
      await lab_down({ prefix: PREFIX });
    }
    assert.deepEqual((await namespaces()).filter((ns) => ns.startsWith(PREFIX)), []);
  },
});

Deno.test("lab_cli: an unknown command exits non-zero and names it", async () => {
  const cli = new URL("../../../control/lab/cli.ts", import.meta.url).pathname;
  const run = async (...args: string[]) => {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", cli, ...args],
      stdout: "piped",
      stderr: "piped",
    }).output();
    return { code: out.code, stderr: new TextDecoder().decode(out.stderr) };
  };
  const bogus = await run("bogus");
  assert.notEqual(bogus.code, 0);
  assert.match(bogus.stderr, /unknown command 'bogus'/);
  const no_count = await run("up");
  assert.notEqual(no_count.code, 0);
  assert.match(no_count.stderr, /'up' takes one argument/);
  const zero = await run("up", "0");
  assert.notEqual(zero.code, 0);
  const none = await run();
  assert.notEqual(none.code, 0);
  assert.match(none.stderr, /missing command/);
});
