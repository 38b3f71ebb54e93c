// A DPDK process that calls the shim's hot functions with arguments no
// correct caller passes (a slot out of range, counts beyond the burst,
// lengths beyond the mbuf, an action that is no port) and prints, as JSON,
// what the shim counted, what it sent, and whether the pool got every mbuf
// back. Run by tests/native/shim_test.ts.
// usage: deno run -A shim_abuse_main.ts

import { DESC_WORDS, DROP } from "../../native/mod.ts";
import { close_fixture_ports, open_fixture_ports } from "./fixture_ports.ts";

const fixture = open_fixture_ports("shim", ["net_null0", "net_null1"]);
const { native } = fixture;
const slot = 0;
const desc = native.slot_descriptors(slot);
const pool_before = native.pool_available();
const results: Record<string, number> = {};

results.rx_bad_slot = native.rx_burst(0, 0, 99, 8);
native.free_burst(99, 8);
results.tx_bad_slot = native.tx_burst(0, 99, 8);

const n = native.rx_burst(0, 0, slot, 8);
results.received = n;
for (let i = 0; i < n; i++) desc[i * DESC_WORDS + 2] = 1; // all to port 1 ...
desc[0 * DESC_WORDS + 1] = 70_000; // ... but a length beyond any mbuf
desc[1 * DESC_WORDS + 1] = -5; // a negative length
desc[2 * DESC_WORDS + 2] = 99_999; // a port id beyond DPDK's range
desc[3 * DESC_WORDS + 2] = 65_536 + 1; // would wrap to port 1 as a u16
results.sent = native.tx_burst(0, slot, n + 100); // more than it holds
results.sent_again = native.tx_burst(0, slot, n); // those mbufs are gone: nothing to send

results.alloc_gap = native.alloc(slot, 5, 64); // positions fill from 0
results.alloc_too_long = native.alloc(slot, 0, 70_000);
const offset = native.alloc(slot, 0, 64);
results.alloc_ok = offset >= 0 ? 1 : 0;
results.alloc_again_same_index = native.alloc(slot, 0, 64) >= 0 ? 1 : 0; // replaces, frees the first
desc[2] = DROP;
native.tx_burst(0, slot, 1);

const port1 = native.port_stats(1);
results.port1_tx = port1.tx_packets;
// net_null frees what it sends; give the pool a moment of nothing in flight
results.pool_leaked = pool_before - native.pool_available();
const counters = native.shim_counters();
close_fixture_ports(fixture);
console.log(JSON.stringify({ results, counters }));
