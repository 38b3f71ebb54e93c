// Loss and reordering on the lab's switch, built without netem (the lab
// kernels have CONFIG_NET_SCH_NETEM off) from what they do have:
//
// - loss: an nftables bridge-family table in the switch namespace whose
//   forward chain drops `numgen random mod 100 < loss` of the frames that
//   br0 forwards, in both directions; counters before and at the drop tell
//   how many frames were forwarded and how many were really dropped;
// - reordering: tc clsact on the egress of every br0 port, with a classic-BPF
//   classifier that picks a share of frames by the kernel's per-packet random
//   number and `mirred egress redirect` to the port's own IFB, which sends
//   the frame back out of the port later.
//
// A bare IFB detour hardly reorders here: a DPDK port's frames enter the
// kernel one sendto() frame at a time and each is carried to the client,
// IFB tasklet included, before the next is sent. The only qdiscs these
// kernels have that hold frames are token buckets (tbf, htb), and a token
// bucket lets a frame that finds it full pass at once. So the detour first
// mirrors `copies` copies of the frame into a sink (a veth pair in the switch
// namespace whose far end drops them) whose egress also leads into the IFB:
// the copies empty the IFB's tbf and the frame waits behind them, about
// copies * frame size / rate, while the frames behind it go past. The
// copies never leave the switch namespace.
//
// The capture helpers record what the client receives (tcpdump in the client
// namespace) and classify the server's data segments as in order, reordered
// (sent before a segment that arrived earlier) or retransmitted.
//
// Everything lives in the lab's own switch and client namespaces, so the
// host and other labs never see it; remove_impairment undoes it all.

import { in_namespace, type Lab, spawn_in_namespace } from "./lab.ts";

const TABLE = "bt_impair";
/** cBPF ancillary load: SKF_AD_OFF (-0x1000) + SKF_AD_RANDOM (56), as an unsigned k. */
const SKF_AD_RANDOM_K = 0xfffff038;
const TWO_POW_32 = 4294967296;
/** A cBPF program that matches every frame (cls_matchall is not built in). */
const MATCH_ALL = "1,6 0 0 4294967295";
/** tbf bucket: one full frame (a tbf drops frames larger than its bucket). */
const HOLD_BURST_BYTES = 1600;
/** tbf queue: far more than the detours ever queue, so the hold never drops. */
const HOLD_LIMIT_BYTES = 4_000_000;

export interface HoldOptions {
  /** Copies of a detoured frame that go ahead of it into the IFB's tbf. */
  copies: number;
  /** The tbf's rate: a full-size frame waits about copies * 12 µs * 1000 / rate_mbit. */
  rate_mbit: number;
}

export interface ImpairmentOptions {
  /** Percent of forwarded frames to drop (integer 0..100, nft numgen's unit). */
  loss_percent: number;
  /** Percent of each port's outgoing frames to detour through its IFB (0..100). */
  reorder_percent: number;
  /** br0 ports whose egress is detoured (default: every port of br0). */
  reorder_ports?: string[];
  /** How long a detoured frame is held (default: no hold, the bare IFB detour). */
  hold?: HoldOptions;
}

/** The devices that detour one port's frames. */
export interface PortDetour {
  port: string;
  ifb: string;
  /** The sink veth whose egress feeds the copies into the IFB, and its far end. */
  sink?: string;
  sink_peer?: string;
}

export interface Impairment {
  ns: string;
  table: string;
  /** Every port of br0 (drops apply to frames entering from any of them). */
  fabric_ports: string[];
  detours: PortDetour[];
  hold?: HoldOptions;
  /** The cBPF program (tc's "len,code jt jf k,..." form). */
  bytecode: string;
}

export interface PortDetours {
  port: string;
  /** Frames leaving the port (its own tx counter, detoured ones included). */
  tx_packets: number;
  /** Frames the BPF classifier sent through the IFB. */
  detoured: number;
  /** Copies that went ahead of them (and were dropped at the sink). */
  copies: number;
  /** What the port's IFB sent out (frames and copies), and what its tbf dropped. */
  ifb_tx_packets: number;
  ifb_dropped: number;
}

export interface ImpairmentCounters {
  /** Frames br0 forwarded (before the drop rule). */
  forwarded: number;
  dropped: number;
  /** The same two counts for frames going out of the client's port. */
  forwarded_to_client: number;
  dropped_to_client: number;
  ports: PortDetours[];
  detoured: number;
  ifb_dropped: number;
}

/**
 * The classic-BPF classifier: `ld rand; jgt threshold; ret 0; ret -1`. The
 * random number is uniform over 32 bits, so `rand <= percent/100 * 2^32`
 * selects that share of frames; returning -1 is a match on the filter's
 * default class, which runs the attached actions.
 */
export function random_share_bytecode(percent: number): string {
  if (!(percent >= 0 && percent <= 100)) throw new Error(`impairment: bad share ${percent}%`);
  const threshold = Math.min(TWO_POW_32 - 1, Math.floor((percent / 100) * TWO_POW_32));
  const program = [
    [0x20, 0, 0, SKF_AD_RANDOM_K], // BPF_LD|BPF_W|BPF_ABS: A = random
    [0x25, 0, 1, threshold], // BPF_JMP|BPF_JGT|BPF_K: A > threshold ? next : skip one
    [0x06, 0, 0, 0], // BPF_RET|BPF_K: no match
    [0x06, 0, 0, 0xffffffff], // BPF_RET|BPF_K: match
  ];
  return `${program.length},${program.map((op) => op.join(" ")).join(",")}`;
}

function nft_ruleset(fabric_ports: string[], loss_percent: number): string {
  const ports = fabric_ports.map((p) => `"${p}"`).join(", ");
  // The switch namespace also holds the control bridge (hand-offs, health
  // checks); the impairment is for the data fabric only. `meta ibrname` is
  // not available on these kernels, so br0's ports are matched by name.
  return `table bridge ${TABLE} {
  set fabric_ports { type ifname; elements = { ${ports} } }
  chain forward {
    type filter hook forward priority 0; policy accept;
    iifname @fabric_ports jump impair
  }
  chain impair {
    counter comment "forwarded"
    oifname "pclient" counter comment "forwarded_to_client"
    numgen random mod 100 < ${loss_percent} jump lose
  }
  chain lose {
    counter comment "dropped"
    oifname "pclient" counter comment "dropped_to_client"
    drop
  }
}
`;
}

async function sw(lab: Lab, command: string[], stdin?: string) {
  return await in_namespace(lab.namespaces.switch, command, { check: true, stdin });
}

/** The ports of the lab's data bridge, from the kernel. */
export async function fabric_ports(lab: Lab): Promise<string[]> {
  const result = await sw(lab, ["ip", "-j", "link", "show", "master", lab.bridge.name]);
  return (JSON.parse(result.stdout) as { ifname: string }[]).map((link) => link.ifname);
}

/** Device names for a port's detour: a one-letter prefix keeps them unique and within IFNAMSIZ. */
function detour_names(port: string, hold: boolean): PortDetour {
  const name = (letter: string) => `${letter}${port}`.slice(0, 15);
  return hold
    ? { port, ifb: name("i"), sink: name("s"), sink_peer: name("t") }
    : { port, ifb: name("i") };
}

/**
 * Installs loss and reordering on the switch. Removes any earlier impairment
 * first; on failure removes what it added and rethrows.
 */
export async function add_impairment(lab: Lab, options: ImpairmentOptions): Promise<Impairment> {
  const { loss_percent, reorder_percent, hold } = options;
  if (!Number.isInteger(loss_percent) || loss_percent < 0 || loss_percent > 100) {
    throw new Error(`impairment: loss_percent must be an integer 0..100, got ${loss_percent}`);
  }
  if (hold && !(Number.isInteger(hold.copies) && hold.copies >= 1 && hold.rate_mbit > 0)) {
    throw new Error(`impairment: bad hold ${JSON.stringify(hold)}`);
  }
  await remove_impairment(lab);
  const ports = await fabric_ports(lab);
  const impairment: Impairment = {
    ns: lab.namespaces.switch,
    table: TABLE,
    fabric_ports: ports,
    detours: (options.reorder_ports ?? ports).map((port) => detour_names(port, hold !== undefined)),
    hold,
    bytecode: random_share_bytecode(reorder_percent),
  };
  try {
    await sw(lab, ["nft", "-f", "-"], nft_ruleset(ports, loss_percent));
    for (const detour of impairment.detours) await add_detour(lab, impairment, detour);
  } catch (error) {
    await remove_impairment(lab).catch(() => {});
    throw error;
  }
  return impairment;
}

async function add_detour(lab: Lab, impairment: Impairment, detour: PortDetour): Promise<void> {
  const { hold } = impairment;
  await sw(lab, ["ip", "link", "add", detour.ifb, "type", "ifb"]);
  if (hold) {
    await sw(lab, [
      "tc",
      "qdisc",
      "add",
      "dev",
      detour.ifb,
      "root",
      "tbf",
      "rate",
      `${hold.rate_mbit}mbit`,
      "burst",
      `${HOLD_BURST_BYTES}`,
      "limit",
      `${HOLD_LIMIT_BYTES}`,
    ]);
  }
  await sw(lab, ["ip", "link", "set", detour.ifb, "up"]);
  const actions: string[] = [];
  if (hold && detour.sink && detour.sink_peer) {
    // The far end must be up: mirred refuses a device without carrier. It
    // has no address and the copies are addressed to other MACs, so the
    // kernel discards them on arrival.
    await sw(lab, [
      "ip",
      "link",
      "add",
      detour.sink,
      "type",
      "veth",
      "peer",
      "name",
      detour.sink_peer,
    ]);
    await sw(lab, ["ip", "link", "set", detour.sink_peer, "up"]);
    await sw(lab, ["ip", "link", "set", detour.sink, "up"]);
    await sw(lab, ["tc", "qdisc", "add", "dev", detour.sink, "clsact"]);
    await sw(lab, [
      "tc",
      "filter",
      "add",
      "dev",
      detour.sink,
      "egress",
      "bpf",
      "bytecode",
      MATCH_ALL,
      "action",
      "mirred",
      "egress",
      "redirect",
      "dev",
      detour.ifb,
    ]);
    for (let i = 0; i < hold.copies; i++) {
      actions.push("action", "mirred", "egress", "mirror", "dev", detour.sink);
    }
  }
  actions.push("action", "mirred", "egress", "redirect", "dev", detour.ifb);
  await sw(lab, ["tc", "qdisc", "add", "dev", detour.port, "clsact"]);
  await sw(lab, [
    "tc",
    "filter",
    "add",
    "dev",
    detour.port,
    "egress",
    "bpf",
    "bytecode",
    impairment.bytecode,
    ...actions,
  ]);
}

/**
 * Removes the table, the clsact qdiscs of br0's ports, the IFBs and sinks.
 * Quiet about parts that are not there (also when the switch namespace is gone).
 */
export async function remove_impairment(lab: Lab): Promise<void> {
  const ns = lab.namespaces.switch;
  const present = await in_namespace(ns, ["true"]);
  if (present.code !== 0) return;
  await in_namespace(ns, ["nft", "delete", "table", "bridge", TABLE]);
  const ports = await fabric_ports(lab).catch(() => [] as string[]);
  for (const port of ports) {
    await in_namespace(ns, ["tc", "qdisc", "del", "dev", port, "clsact"]);
    const names = detour_names(port, true);
    await in_namespace(ns, ["ip", "link", "del", names.ifb]);
    await in_namespace(ns, ["ip", "link", "del", names.sink!]); // takes its peer along
  }
}

interface NftRule {
  rule?: { comment?: string; expr?: { counter?: { packets: number } }[] };
}

interface LinkStats {
  ifname: string;
  stats64?: { rx: { packets: number }; tx: { packets: number; dropped: number } };
}

interface TcFilter {
  options?: {
    actions?: { kind: string; mirred_action?: string; stats?: { packets: number } }[];
  };
}

async function link_stats(lab: Lab, dev: string) {
  const result = await sw(lab, ["ip", "-j", "-s", "link", "show", "dev", dev]);
  const [link] = JSON.parse(result.stdout) as LinkStats[];
  return {
    rx_packets: link.stats64?.rx.packets ?? 0,
    tx_packets: link.stats64?.tx.packets ?? 0,
    tx_dropped: link.stats64?.tx.dropped ?? 0,
  };
}

/** Frames a device's qdiscs dropped (a rate limit's queue overflowing). */
async function qdisc_drops(lab: Lab, dev: string): Promise<number> {
  const result = await sw(lab, ["tc", "-s", "-j", "qdisc", "show", "dev", dev]);
  const qdiscs = JSON.parse(result.stdout || "[]") as { drops?: number }[];
  return qdiscs.reduce((sum, q) => sum + (q.drops ?? 0), 0);
}

/** What the impairment has done so far. */
export async function impairment_counters(
  lab: Lab,
  impairment: Impairment,
): Promise<ImpairmentCounters> {
  const listing = await sw(lab, ["nft", "-j", "list", "table", "bridge", impairment.table]);
  const counters = new Map<string, number>();
  for (const item of (JSON.parse(listing.stdout) as { nftables: NftRule[] }).nftables) {
    const comment = item.rule?.comment;
    const counter = item.rule?.expr?.find((e) => e.counter)?.counter;
    if (comment && counter) counters.set(comment, counter.packets);
  }
  const ports: PortDetours[] = [];
  for (const detour of impairment.detours) {
    const shown = await sw(lab, ["tc", "-s", "-j", "filter", "show", "dev", detour.port, "egress"]);
    let detoured = 0;
    for (const filter of JSON.parse(shown.stdout || "[]") as TcFilter[]) {
      for (const action of filter.options?.actions ?? []) {
        if (action.kind === "mirred" && action.mirred_action === "redirect") {
          detoured += action.stats?.packets ?? 0;
        }
      }
    }
    const ifb = await link_stats(lab, detour.ifb);
    ports.push({
      port: detour.port,
      tx_packets: (await link_stats(lab, detour.port)).tx_packets,
      detoured,
      copies: detour.sink_peer ? (await link_stats(lab, detour.sink_peer)).rx_packets : 0,
      ifb_tx_packets: ifb.tx_packets,
      ifb_dropped: ifb.tx_dropped + await qdisc_drops(lab, detour.ifb),
    });
  }
  return {
    forwarded: counters.get("forwarded") ?? 0,
    dropped: counters.get("dropped") ?? 0,
    forwarded_to_client: counters.get("forwarded_to_client") ?? 0,
    dropped_to_client: counters.get("dropped_to_client") ?? 0,
    ports,
    detoured: ports.reduce((sum, p) => sum + p.detoured, 0),
    ifb_dropped: ports.reduce((sum, p) => sum + p.ifb_dropped, 0),
  };
}

// ---------------------------------------------------------------------------
// What the client sees

export interface Capture {
  path: string;
  /** Stops tcpdump (SIGINT, so it flushes) and returns its closing report. */
  stop(): Promise<{ captured: number; dropped_by_kernel: number; stderr: string }>;
}

/**
 * Starts tcpdump on the client's interface, writing `filter`'s frames
 * (headers only) to path; resolves once tcpdump listens.
 */
export async function start_client_capture(
  lab: Lab,
  path: string,
  filter: string,
): Promise<Capture> {
  // -Z root: tcpdump would otherwise drop to its own user, who may not write
  // in the lab's state directory; -B: a large buffer so a burst is not lost
  // to the capture itself; -s 128: headers are all the analysis needs.
  const child = spawn_in_namespace(lab.client.ns, [
    "tcpdump",
    "-i",
    lab.client.if,
    "-n",
    "-s",
    "128",
    "-B",
    "16384",
    "-Z",
    "root",
    "-w",
    path,
    filter,
  ], { stdout: "null", stderr: "piped" });
  let stderr = "";
  let wake = () => {};
  const decoder = new TextDecoder();
  const pumped = (async () => {
    for await (const chunk of child.stderr) {
      stderr += decoder.decode(chunk, { stream: true });
      wake();
    }
  })();
  const status = child.status;
  const listening = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`tcpdump did not start: ${stderr}`)), 10_000);
    const check = () => {
      if (/listening on/.test(stderr)) {
        clearTimeout(timer);
        resolve();
      }
    };
    wake = check;
    check();
    status.then(() => {
      clearTimeout(timer);
      reject(new Error(`tcpdump exited: ${stderr}`));
    });
  });
  try {
    await listening;
  } catch (error) {
    try {
      child.kill("SIGKILL");
    } catch { /* already gone */ }
    await status;
    throw error;
  }
  return {
    path,
    async stop() {
      try {
        child.kill("SIGINT");
      } catch { /* already gone */ }
      const timer = setTimeout(() => {
        try {
          child.kill("SIGKILL");
        } catch { /* already gone */ }
      }, 5000);
      await status;
      clearTimeout(timer);
      await pumped;
      const number = (pattern: RegExp) => Number(pattern.exec(stderr)?.[1] ?? 0);
      return {
        captured: number(/(\d+) packets? captured/),
        dropped_by_kernel: number(/(\d+) packets? dropped by kernel/),
        stderr,
      };
    },
  };
}

export interface ArrivalStats {
  connections: number;
  /** Segments with payload from the server side (source port `server_port`). */
  data_segments: number;
  /** Sent (IP ID order) after every segment that had arrived before it, and new data. */
  in_order: number;
  /**
   * Sent before a segment that had already arrived (its IP ID is below the
   * highest seen on the connection): overtaken on the way.
   */
  reordered: number;
  /** Of the reordered ones, those that filled a hole rather than repeating data. */
  reordered_filling: number;
  /** Sent after everything that had arrived, yet starting below the highest sequence seen. */
  retransmitted: number;
  /** Of the retransmissions, those whose bytes had all arrived already (spurious). */
  retransmitted_duplicate: number;
  /** Sequence view (ignores IP IDs): segments starting below the highest sequence seen... */
  below_highest: number;
  /** ...that brought bytes no earlier copy had brought. */
  below_highest_filling: number;
  /** The largest number of later-sent segments that arrived before a reordered one. */
  max_displacement: number;
}

interface ConnectionState {
  base: number;
  max_id: number;
  /** Arrival order of IP IDs seen, for displacement. */
  ids_after: number[];
  max_end: number;
  /** Received byte ranges [start, end), relative to base, merged and sorted. */
  ranges: [number, number][];
}

/** a > b in 16-bit serial arithmetic (IP IDs wrap). */
function id_after(a: number, b: number): boolean {
  const d = (a - b) & 0xffff;
  return d !== 0 && d < 0x8000;
}

function covered(ranges: [number, number][], start: number, end: number): number {
  let bytes = 0;
  for (const [s, e] of ranges) {
    const lo = Math.max(s, start);
    const hi = Math.min(e, end);
    if (hi > lo) bytes += hi - lo;
  }
  return bytes;
}

function add_range(ranges: [number, number][], start: number, end: number): void {
  ranges.push([start, end]);
  ranges.sort((a, b) => a[0] - b[0]);
  const merged: [number, number][] = [];
  for (const r of ranges) {
    const last = merged[merged.length - 1];
    if (last && r[0] <= last[1]) last[1] = Math.max(last[1], r[1]);
    else merged.push([r[0], r[1]]);
  }
  ranges.splice(0, ranges.length, ...merged);
}

/**
 * Classifies the server's data segments in an Ethernet/IPv4 pcap taken at the
 * client. Send order comes from the IP ID: Linux numbers a connected TCP
 * socket's segments consecutively (a retransmission gets a new, higher ID),
 * so an ID below the highest already seen means the segment was overtaken.
 * Sequence numbers are taken relative to the connection's first segment
 * from the server (its SYN-ACK); a transfer here is far below 2 GiB.
 */
export function analyse_arrivals(pcap: Uint8Array, server_port = 80): ArrivalStats {
  const view = new DataView(pcap.buffer, pcap.byteOffset, pcap.byteLength);
  const magic = view.getUint32(0, true);
  const little = magic === 0xa1b2c3d4 || magic === 0xa1b23c4d;
  if (
    !little && view.getUint32(0, false) !== 0xa1b2c3d4 && view.getUint32(0, false) !== 0xa1b23c4d
  ) {
    throw new Error("not a pcap file");
  }
  if (view.getUint32(20, little) !== 1) throw new Error("pcap link type is not Ethernet");
  const stats: ArrivalStats = {
    connections: 0,
    data_segments: 0,
    in_order: 0,
    reordered: 0,
    reordered_filling: 0,
    retransmitted: 0,
    retransmitted_duplicate: 0,
    below_highest: 0,
    below_highest_filling: 0,
    max_displacement: 0,
  };
  const connections = new Map<string, ConnectionState>();
  for (let offset = 24; offset + 16 <= pcap.byteLength;) {
    const caplen = view.getUint32(offset + 8, little);
    const frame = offset + 16;
    offset = frame + caplen;
    if (offset > pcap.byteLength || caplen < 14 + 20 + 20) continue;
    if (view.getUint16(frame + 12) !== 0x0800) continue;
    const ip = frame + 14;
    const ihl = (view.getUint8(ip) & 0x0f) * 4;
    if (view.getUint8(ip + 9) !== 6 || caplen < 14 + ihl + 20) continue;
    const total = view.getUint16(ip + 2);
    const id = view.getUint16(ip + 4);
    const tcp = ip + ihl;
    const src_port = view.getUint16(tcp);
    if (src_port !== server_port) continue;
    const key = `${view.getUint32(ip + 16)}:${view.getUint16(tcp + 2)}`;
    const seq = view.getUint32(tcp + 4);
    const flags = view.getUint8(tcp + 13);
    const payload = total - ihl - (view.getUint8(tcp + 12) >> 4) * 4;
    let conn = connections.get(key);
    if (!conn || ((flags & 0x02) !== 0 && seq !== conn.base)) {
      // SYN-ACK (or the first segment seen): the connection's sequence origin;
      // a SYN-ACK with another sequence number is a new connection on a reused port
      conn = { base: seq, max_id: -1, ids_after: [], max_end: 0, ranges: [] };
      connections.set(key, conn);
      stats.connections++;
    }
    if (payload <= 0) continue;
    stats.data_segments++;
    const start = (seq - conn.base) >>> 0;
    const end = start + payload;
    const new_bytes = payload - covered(conn.ranges, start, end);
    if (start < conn.max_end) {
      stats.below_highest++;
      if (new_bytes > 0) stats.below_highest_filling++;
    }
    if (conn.max_id >= 0 && !id_after(id, conn.max_id)) {
      stats.reordered++;
      if (new_bytes > 0) stats.reordered_filling++;
      const overtaken_by = conn.ids_after.filter((later) => id_after(later, id)).length;
      stats.max_displacement = Math.max(stats.max_displacement, overtaken_by);
    } else {
      conn.max_id = id;
      if (start < conn.max_end) {
        stats.retransmitted++;
        if (new_bytes === 0) stats.retransmitted_duplicate++;
      } else {
        stats.in_order++;
      }
    }
    // only the recent past matters for displacement; keep the list short
    conn.ids_after.push(id);
    if (conn.ids_after.length > 256) conn.ids_after.shift();
    add_range(conn.ranges, start, end);
    conn.max_end = Math.max(conn.max_end, end);
  }
  return stats;
}
