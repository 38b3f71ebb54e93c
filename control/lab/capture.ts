// What the client sees, for judging loss and reordering (impairment.ts): a
// capture records what the client receives (tcpdump in the client namespace,
// headers only), and analyse_arrivals classifies the server's data segments
// as in order, reordered (sent before a segment that arrived earlier) or
// retransmitted. The analysis is a pure function of the pcap bytes; the
// capture runs only in the lab's client namespace, so the host and other
// labs never see it.

import { spawn_in_namespace } from "./shell.ts";
import type { Lab } from "./topology.ts";

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
