// The agent with a real nginx behind it: the test plays the director at
// packet level (tests/support/packet_director.py on the director's port),
// a real curl is the client, and baton --role=agent adopts each handed-off
// connection into the server's own kernel stack. Hand-offs travel in-band,
// as the director sends them: a HANDOFF frame from the director's fabric
// address (198.18.0.2) to the server's own address at the hand-off port,
// through the fabric bridge, taken by the agent in front of the server;
// its answers come back the same way. The 10 MB download must arrive
// intact, and every segment the client sees must be in the director's
// sequence space. A second case drops the first HANDOFF frame on the
// fabric bridge (nftables) and the retransmission must succeed.

import assert from "node:assert/strict";
import {
  curl_download,
  in_namespace,
  type Lab,
  lab_down,
  lab_up,
  spawn_in_namespace,
  start_baton_in_lab,
} from "../../../control/lab/mod.ts";
import {
  decode_message,
  encode_message,
  FLOW_END_FIN,
  type HandoffMessage,
  import_handoff_key,
} from "../../../dataplane/wire/mod.ts";
import { describe_frame, ip_to_u32, mac_to_bytes } from "../../../dataplane/mod.ts";
import { read_pcap } from "../../support/pcap.ts";

const PREFIX = "bta-";
const HANDOFF_PORT = 7201;
const DIRECTOR = new URL("../../support/packet_director.py", import.meta.url).pathname;

/** JSON lines from a child's stdout, as an async queue. */
function json_lines(stream: ReadableStream<Uint8Array>) {
  const queue: Record<string, unknown>[] = [];
  const waiters: (() => void)[] = [];
  (async () => {
    let buffer = "";
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
      buffer += chunk;
      let newline;
      while ((newline = buffer.indexOf("\n")) >= 0) {
        queue.push(JSON.parse(buffer.slice(0, newline)));
        buffer = buffer.slice(newline + 1);
        waiters.splice(0).forEach((wake) => wake());
      }
    }
  })();
  return async function next(event: string, timeout_ms = 20_000) {
    const deadline = Date.now() + timeout_ms;
    for (;;) {
      const index = queue.findIndex((line) => line.event === event);
      if (index >= 0) return queue.splice(index, 1)[0];
      if (Date.now() > deadline) throw new Error(`no '${event}' from the test director`);
      await new Promise<void>((resolve) => {
        waiters.push(resolve);
        setTimeout(resolve, 200);
      });
    }
  };
}

interface RequestEvent {
  flow: [string, number, number];
  client_ip: string;
  client_port: number;
  vip_port: number;
  client_mac: string;
  client_isn: number;
  director_isn: number;
  client_next_seq: number;
  director_next_seq: number;
  client_window: number;
  client_mss: number;
  director_mss: number;
  client_wscale: number;
  director_wscale: number;
  sack_permitted: boolean;
  timestamps: boolean;
  client_tsval: number;
  director_tsval: number;
  request: string;
}

/** An answer from the agent, as the packet director saw it on the fabric. */
interface Reply {
  datagram: string;
  sends: number;
  src_ip: string;
  src_port: number;
  src_mac: string;
}

function handoff_for(lab: Lab, r: RequestEvent, id: number): HandoffMessage {
  return {
    type: "handoff",
    epoch: 0x5eed,
    id,
    key: {
      client_ip: ip_to_u32(r.client_ip),
      vip: ip_to_u32(lab.vip),
      client_port: r.client_port,
      vip_port: r.vip_port,
    },
    state: {
      client_mac: mac_to_bytes(r.client_mac),
      client_isn: r.client_isn,
      director_isn: r.director_isn,
      client_next_seq: r.client_next_seq,
      director_next_seq: r.director_next_seq,
      client_window: r.client_window,
      client_mss: r.client_mss,
      director_mss: r.director_mss,
      client_wscale: r.client_wscale,
      director_wscale: r.director_wscale,
      sack_permitted: r.sack_permitted,
      timestamps: r.timestamps,
      client_tsval: r.client_tsval,
      director_tsval: r.director_tsval,
      request: Uint8Array.from(r.request.match(/../g)!.map((h) => parseInt(h, 16))),
    },
  };
}

Deno.test({
  name: "lab: agent adopts handed-off connections into nginx's stack (10 MB, lost datagram)",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    await lab_down({ prefix: PREFIX });
    const lab = await lab_up(1, { prefix: PREFIX });
    const server = lab.servers[0];
    const dir = await Deno.makeTempDir({ prefix: "baton-agent-lab-" });
    const raw_key = crypto.getRandomValues(new Uint8Array(32));
    const key_hex = Array.from(raw_key, (b) => b.toString(16).padStart(2, "0")).join("");
    await Deno.writeTextFile(`${dir}/handoff.key`, key_hex + "\n");
    await Deno.writeTextFile(
      `${dir}/agent.json`,
      JSON.stringify({
        key_file: "handoff.key",
        handoff_port: HANDOFF_PORT,
        agents: [{
          address: server.ip,
          directors: [lab.director_ip],
          server_mac: server.mac,
          fabric_port: 0,
          server_port: 1,
          timeouts: { linger_ms: 500 },
        }],
      }),
    );
    const key = await import_handoff_key(raw_key);
    const pcap = `${dir}/client.pcap`;
    const agent = await start_baton_in_lab(lab, {
      interfaces: [server.agent_fabric_if, server.agent_server_if],
      app: ["--role=agent", `--config=${dir}/agent.json`, "--stats-period=1"],
      name: "agentlab",
    });
    const director = spawn_in_namespace(
      lab.namespaces.dp,
      [
        "/usr/bin/python3",
        DIRECTOR,
        lab.director_if,
        lab.vip,
        server.mac,
        server.ip,
        lab.director_ip,
        String(HANDOFF_PORT),
      ],
      { stdin: "piped", stdout: "piped", stderr: "inherit" },
    );
    const from_director = json_lines(director.stdout);
    const to_director = director.stdin.getWriter();
    const capture = spawn_in_namespace(lab.client.ns, [
      "tcpdump",
      "-i",
      "eth0",
      "-U",
      "-w",
      pcap,
      `tcp and host ${lab.vip}`,
    ], { stdout: "null", stderr: "null" });
    const handed: RequestEvent[] = [];
    try {
      await from_director("ready");
      await new Promise((resolve) => setTimeout(resolve, 500)); // tcpdump attaches

      // One connection: curl → director (handshake, request) → HANDOFF → agent → nginx.
      const hand_off = async (id: number, path: string, expect_sends: (n: number) => boolean) => {
        const download = curl_download(lab, `http://${lab.vip}${path}`);
        const request = (await from_director("request")) as unknown as RequestEvent;
        handed.push(request);
        const datagram = await encode_message(handoff_for(lab, request, id), key, { agent: 1 });
        const hex = Array.from(datagram, (b) => b.toString(16).padStart(2, "0")).join("");
        await to_director.write(
          new TextEncoder().encode(JSON.stringify({ flow: request.flow, datagram: hex }) + "\n"),
        );
        const reply = await from_director("reply") as unknown as Reply;
        const decoded = await decode_message(
          Uint8Array.from(reply.datagram.match(/../g)!.map((h) => parseInt(h, 16))),
          key,
          { agent: 1 },
        );
        assert.ok(decoded.ok, "the agent's reply authenticates");
        assert.deepEqual(
          [reply.src_ip, reply.src_port, reply.src_mac],
          [server.ip, HANDOFF_PORT, server.mac.toLowerCase()],
          "answered in-band, from the server's address and MAC",
        );
        assert.equal(decoded.message.type, "handoff_ack");
        assert.equal(decoded.message.id, id);
        assert.ok(expect_sends(reply.sends), `hand-off datagram sent ${reply.sends} times`);
        return await download;
      };

      await t.step("10 MB through the agent: sha256 matches", async () => {
        const download = await hand_off(1, lab.big_file.path, (sends) => sends === 1);
        assert.equal(download.error, "");
        assert.equal(download.bytes, lab.big_file.size);
        assert.equal(download.sha256, lab.big_file.sha256);
      });

      await t.step(
        "the first hand-off datagram is lost: the retransmission is adopted",
        async () => {
          // drop exactly one HANDOFF frame on its way to the agent, on the fabric bridge
          const rules = [
            "add table bridge bt_loss",
            "add chain bridge bt_loss forward { type filter hook forward priority 0 ; }",
            `add rule bridge bt_loss forward ip daddr ${server.ip} udp dport ${HANDOFF_PORT} ` +
            "limit rate 1/hour burst 1 packets counter drop",
          ].join("\n");
          const nft = await in_namespace(lab.namespaces.switch, ["nft", "-f", "-"], {
            stdin: rules,
          });
          assert.equal(nft.code, 0, nft.stderr);
          const download = await hand_off(2, lab.small_file.path, (sends) => sends >= 2);
          assert.equal(download.error, "");
          assert.equal(download.bytes, lab.small_file.size);
          const listed = await in_namespace(lab.namespaces.switch, [
            "nft",
            "list",
            "table",
            "bridge",
            "bt_loss",
          ]);
          assert.match(listed.stdout, /counter packets 1 /, "the bridge dropped one HANDOFF");
        },
      );

      await t.step("the agent reports the end of each flow (FIN) to the director", async () => {
        // FLOW_END is retransmitted until acknowledged: count distinct flows
        const ended = new Set<number>();
        while (ended.size < 2) {
          const reply = await from_director("other_reply", 10_000) as unknown as Reply;
          const decoded = await decode_message(
            Uint8Array.from(reply.datagram.match(/../g)!.map((h) => parseInt(h, 16))),
            key,
            { agent: 1 },
          );
          assert.ok(decoded.ok);
          assert.equal(decoded.message.type, "flow_end");
          if (decoded.message.type === "flow_end") {
            assert.equal(decoded.message.reason, FLOW_END_FIN);
            ended.add(decoded.message.key.client_port);
          }
        }
        assert.deepEqual([...ended].sort(), handed.map((r) => r.client_port).sort());
      });
    } finally {
      capture.kill("SIGINT");
      await capture.status;
      await to_director.close().catch(() => {});
      try {
        director.kill("SIGTERM");
      } catch { /* exited */ }
      await director.status;
      const code = await agent.stop();
      await lab_down({ prefix: PREFIX });
      console.log(agent.output().split("\n").filter((l) => l.startsWith("agent ")).join("\n"));
      assert.equal(code, 0, agent.output().slice(-2000));
    }

    await t.step("every segment the client saw is in the director's sequence space", async () => {
      const frames = read_pcap(await Deno.readFile(pcap)).map((r) => describe_frame(r.frame));
      const first = handed[0];
      const from_vip = frames.filter((f) =>
        f.ipv4?.src_ip === lab.vip && f.tcp?.dst_port === first.client_port
      );
      assert.ok(from_vip.length > 5000, `${from_vip.length} segments from the VIP`);
      const size = lab.big_file.size + 4096; // the body plus nginx's response header
      for (const f of from_vip) {
        const offset = (f.tcp!.seq - first.director_isn) >>> 0;
        assert.ok(offset <= size, `seq ${f.tcp!.seq} is outside the director's space`);
        assert.ok(f.tcp!.checksum_ok, "TCP checksum valid as received");
      }
    });
    await Deno.remove(dir, { recursive: true });
  },
});
