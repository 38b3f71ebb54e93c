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
// Everything lives in the lab's own switch namespace, so the host and other
// labs never see it; remove_impairment undoes it all. What the client then
// receives is recorded and classified by capture.ts.

import { in_namespace } from "./shell.ts";
import type { Lab } from "./topology.ts";

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
