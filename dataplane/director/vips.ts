// The director's VIP set: which addresses are its own (ARP, frames of its
// flows) and which (address, port) pairs take new connections, as short
// arrays for a linear scan. From the config at start; once the control
// Worker publishes ports in the selection table (always, in baton; a
// reload may change them), copied from the table whenever its version
// changes: into the spare arrays, then swapped in, so a reader never sees
// half a set and nothing is allocated. The burst checks that once
// (sync_vips: one Atomics.load), before its first lookup.
// Nothing here allocates per packet or throws.

import {
  read_selection_vip_ports,
  SELECTION_BUSY,
  SELECTION_VERSION,
  type SelectionTable,
} from "../selection_table.ts";
import type { DirectorState, DirectorVip } from "./state.ts";

/** DirectorState's VIP words, from the configured VIPs, with room for any set the table holds. */
export function create_vip_set(vips: DirectorVip[], table: SelectionTable) {
  const pairs: number[][] = [];
  for (const vip of vips) {
    for (const port of vip.ports) pairs.push([vip.ip, port, vip.l4 ? 1 : 0]);
  }
  // room for every pair the selection table can publish (a VIP without ports is one pair)
  const capacity = Math.max(pairs.length, table.max_vips * Math.max(1, table.max_ports_per_vip));
  const arrays = (from: number[][]) => {
    const ips = new Int32Array(capacity);
    const ports = new Int32Array(capacity);
    const l4 = new Uint8Array(capacity);
    from.forEach((p, i) => {
      ips[i] = p[0] | 0;
      ports[i] = p[1];
      l4[i] = p[2];
    });
    return { ips, ports, l4 };
  };
  const configured = arrays(pairs);
  return {
    vip_ips: configured.ips,
    vip_ports: configured.ports,
    vip_l4: configured.l4,
    vip_count: pairs.length,
    vip_version: -1,
    vip_spare: { ...arrays([]), version: new Int32Array(1) },
  };
}

/**
 * Takes the selection table's VIP set when its version moved and it carries
 * ports (a reload changed the VIPs): one Atomics.load when nothing changed.
 * A table without ports (fixtures, benches) leaves the configured set; a
 * publish in progress is looked at again on the next call.
 */
export function sync_vips(state: DirectorState): void {
  const version = Atomics.load(state.selection.header, SELECTION_VERSION);
  if (version === state.vip_version) return;
  const spare = state.vip_spare;
  const count = read_selection_vip_ports(state.selection, spare);
  if (count === SELECTION_BUSY) return;
  state.vip_version = spare.version[0];
  if (count < 0) return; // no ports published (or too many): keep the set we have
  const ips = state.vip_ips;
  const ports = state.vip_ports;
  const l4 = state.vip_l4;
  state.vip_ips = spare.ips;
  state.vip_ports = spare.ports;
  state.vip_l4 = spare.l4;
  state.vip_count = count;
  spare.ips = ips; // the old set is the next spare: nothing allocated
  spare.ports = ports;
  spare.l4 = l4;
}

/** Index of (ip, port) among the served VIP ports; −2 if the IP is a VIP but the port is not; −1 otherwise. */
export function find_vip(state: DirectorState, ip: number, port: number): number {
  let is_vip = false;
  for (let i = 0; i < state.vip_count; i++) {
    if (state.vip_ips[i] === (ip | 0)) {
      if (state.vip_ports[i] === port) return i;
      is_vip = true;
    }
  }
  return is_vip ? -2 : -1;
}

export function is_vip_ip(state: DirectorState, ip: number): boolean {
  for (let i = 0; i < state.vip_count; i++) if (state.vip_ips[i] === (ip | 0)) return true;
  return false;
}

/** A VIP or the director's own fabric address: what it answers ARP for. */
export function is_own_ip(state: DirectorState, ip: number): boolean {
  return (ip | 0) === (state.config.address | 0) || is_vip_ip(state, ip);
}

/**
 * A source address no client can have: 0.0.0.0/8 ("this network"),
 * 127.0.0.0/8 (loopback), 224.0.0.0/4 (multicast), 240.0.0.0/4 (class E,
 * with the limited broadcast 255.255.255.255), all of which RFC 1122 section
 * 3.2.1.3 says a host must not accept as a source, or one of our own VIPs
 * (a reflection off ourselves). Answering one sends our reply to a group,
 * to ourselves, or nowhere; a connection from one (or from port 0, which the
 * hand-off codec refuses) would otherwise reach the control Worker.
 */
export function bad_source_address(state: DirectorState, ip: number): boolean {
  const top = ip >>> 24;
  return top === 0 || top === 127 || top >= 224 || is_vip_ip(state, ip);
}
