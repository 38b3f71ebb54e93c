// The control Worker's side of the selection table (selection_table.ts
// defines the memory and the poll loops' readers): publish_selection writes
// a whole snapshot under the table's seqlock. It checks every bound first and
// throws a clear Error before it touches the table; it may allocate (it runs
// when servers, weights, health or draining change, never per connection).

import {
  SELECTION_DRAINING,
  SELECTION_NAME_MAX_BYTES,
  SELECTION_PORTS_SET,
  SELECTION_SERVER_COUNT,
  SELECTION_SERVER_WORDS,
  SELECTION_VERSION,
  SELECTION_VIP_ADDRESS,
  SELECTION_VIP_IN_USE,
  SELECTION_VIP_L4,
  SELECTION_VIP_SERVER_COUNT,
  SELECTION_VIP_SERVERS,
  SELECTION_VIP_SLOTS,
  type SelectionSnapshot,
  type SelectionSnapshotVip,
  type SelectionTable,
} from "./selection_table.ts";

const encoder = new TextEncoder();

function int32_word(value: number, what: string): number {
  // u32 values (addresses) are welcome too: they are stored as their Int32 bits
  if (!Number.isInteger(value) || value < -0x80000000 || value > 0xffffffff) {
    throw new RangeError(`selection: ${what} must be an integer that fits 32 bits, got ${value}`);
  }
  return value | 0;
}

/**
 * Writes a snapshot for the poll loops (control side; one writer). Checks
 * everything first and throws an Error naming the first problem, with the
 * table left as it was. A VIP keeps its slot from one publish to the next, so
 * a slot index a reader found stays that VIP's for as long as the VIP exists.
 * A new VIP takes a slot that was already free before this publish if there
 * is one, and otherwise a slot freed by this publish.
 */
export function publish_selection(table: SelectionTable, snapshot: SelectionSnapshot): void {
  const { servers, vips } = snapshot;
  if (servers.length > table.max_servers) {
    throw new Error(
      `selection: ${servers.length} servers, but the table holds at most ${table.max_servers}`,
    );
  }
  if (vips.length > table.max_vips) {
    throw new Error(
      `selection: ${vips.length} VIPs, but the table holds at most ${table.max_vips}`,
    );
  }
  const names = servers.map((server, i) => {
    if (typeof server.name !== "string" || !server.name.isWellFormed()) {
      // a lone surrogate would hash as U+FFFD yet compare as itself
      throw new Error(`selection: servers[${i}].name is not a well-formed string`);
    }
    const bytes = encoder.encode(server.name);
    if (bytes.length > SELECTION_NAME_MAX_BYTES) {
      throw new Error(
        `selection: servers[${i}].name "${server.name}" is ${bytes.length} bytes of UTF-8, ` +
          `longer than ${SELECTION_NAME_MAX_BYTES}`,
      );
    }
    if (typeof server.weight !== "number") {
      throw new Error(`selection: servers[${i}].weight is not a number`);
    }
    return bytes;
  });
  const words = servers.map((server, i) => [
    server.healthy ? 1 : 0,
    names[i].length,
    int32_word(server.mac_hi, `servers[${i}].mac_hi`),
    int32_word(server.mac_lo, `servers[${i}].mac_lo`),
    int32_word(server.agent_ip, `servers[${i}].agent_ip`),
    int32_word(server.agent_port, `servers[${i}].agent_port`),
    int32_word(server.agent_id, `servers[${i}].agent_id`),
    int32_word(server.key_slot, `servers[${i}].key_slot`),
  ]);
  const addresses = new Set<number>();
  vips.forEach((vip, v) => {
    if (!Number.isInteger(vip.address) || vip.address < 0 || vip.address > 0xffffffff) {
      throw new Error(`selection: vips[${v}].address must be a u32 IPv4 address`);
    }
    if (addresses.has(vip.address)) {
      throw new Error(`selection: vips[${v}].address ${vip.address} appears twice`);
    }
    addresses.add(vip.address);
    if (vip.servers.length > table.max_servers_per_vip) {
      throw new Error(
        `selection: vips[${v}] has ${vip.servers.length} servers, but a VIP holds at most ` +
          table.max_servers_per_vip,
      );
    }
    vip.servers.forEach((index, k) => {
      if (!Number.isInteger(index) || index < 0 || index >= servers.length) {
        throw new Error(
          `selection: vips[${v}].servers[${k}] = ${index} is not an index into servers`,
        );
      }
    });
  });
  const with_ports = vips.filter((vip) => vip.ports !== undefined).length;
  if (with_ports !== 0 && with_ports !== vips.length) {
    throw new Error("selection: give every VIP its ports, or none");
  }
  vips.forEach((vip, v) => {
    if (vip.ports === undefined) return;
    if (vip.ports.length > table.max_ports_per_vip) {
      throw new Error(
        `selection: vips[${v}] has ${vip.ports.length} ports, but a VIP holds at most ` +
          table.max_ports_per_vip,
      );
    }
    vip.ports.forEach((port, k) => {
      if (!Number.isInteger(port) || port < 1 || port > 65535) {
        throw new Error(`selection: vips[${v}].ports[${k}] = ${port} is not a TCP port`);
      }
    });
  });
  const slots = vip_slots(table, vips);

  const header = table.header;
  const version = Atomics.load(header, SELECTION_VERSION);
  if ((version & 1) !== 0) {
    throw new Error("selection: the version is odd: another writer is publishing");
  }
  Atomics.store(header, SELECTION_VERSION, (version + 1) | 0);
  try {
    header[SELECTION_SERVER_COUNT] = servers.length;
    for (let i = 0; i < servers.length; i++) {
      table.weights[i] = servers[i].weight;
      table.servers.set(words[i], i * SELECTION_SERVER_WORDS);
      table.names.set(names[i], i * SELECTION_NAME_MAX_BYTES);
    }
    let slot_count = 0;
    for (let slot = 0; slot < table.max_vips; slot++) {
      const base = slot * table.vip_stride;
      const v = slots[slot];
      if (v === -1) {
        table.vips[base + SELECTION_VIP_IN_USE] = 0;
        table.vips[base + SELECTION_VIP_SERVER_COUNT] = 0;
        if (table.port_stride > 0) table.ports[slot * table.port_stride] = 0;
        continue;
      }
      const vip = vips[v];
      table.vips[base + SELECTION_VIP_ADDRESS] = vip.address | 0;
      table.vips[base + SELECTION_VIP_IN_USE] = 1;
      table.vips[base + SELECTION_VIP_L4] = vip.l4 ? 1 : 0;
      table.vips[base + SELECTION_VIP_SERVER_COUNT] = vip.servers.length;
      for (let k = 0; k < vip.servers.length; k++) {
        table.vips[base + SELECTION_VIP_SERVERS + k] = vip.servers[k];
      }
      if (table.port_stride > 0) {
        const ports = vip.ports ?? [];
        const at = slot * table.port_stride;
        table.ports[at] = ports.length;
        for (let k = 0; k < ports.length; k++) table.ports[at + 1 + k] = ports[k];
      }
      slot_count = slot + 1;
    }
    header[SELECTION_VIP_SLOTS] = slot_count;
    header[SELECTION_PORTS_SET] = with_ports > 0 && table.port_stride > 0 ? 1 : 0;
    header[SELECTION_DRAINING] = snapshot.draining ? 1 : 0;
  } finally {
    Atomics.store(header, SELECTION_VERSION, (version + 2) | 0);
  }
}

/** Which snapshot VIP each slot gets (−1: free): kept slots first, then free ones. */
function vip_slots(table: SelectionTable, vips: readonly SelectionSnapshotVip[]): number[] {
  const slots = new Array<number>(table.max_vips).fill(-1);
  const previous = new Map<number, number>();
  const in_use_before = new Uint8Array(table.max_vips);
  for (let slot = 0; slot < table.header[SELECTION_VIP_SLOTS]; slot++) {
    const base = slot * table.vip_stride;
    if (table.vips[base + SELECTION_VIP_IN_USE] !== 1) continue;
    in_use_before[slot] = 1;
    previous.set(table.vips[base + SELECTION_VIP_ADDRESS] >>> 0, slot);
  }
  const newcomers: number[] = [];
  vips.forEach((vip, v) => {
    const slot = previous.get(vip.address);
    if (slot === undefined) newcomers.push(v);
    else slots[slot] = v;
  });
  // a slot free before this publish first, so a reader that found a VIP just
  // removed is unlikely to land on a newcomer in its old slot
  let next = 0;
  for (const pass of [0, 1]) {
    for (let slot = 0; slot < table.max_vips && next < newcomers.length; slot++) {
      if (slots[slot] === -1 && in_use_before[slot] === pass) slots[slot] = newcomers[next++];
    }
  }
  return slots;
}
