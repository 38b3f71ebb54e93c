// Minimal classic pcap (libpcap) reader and writer for packet fixtures.
// Handles micro- and nanosecond magic in either byte order; writes
// microsecond little-endian Ethernet captures.

export interface PcapRecord {
  frame: Uint8Array;
  /** Original length on the wire (may exceed frame.length if snapped). */
  wire_length: number;
}

const MAGIC_MICRO = 0xa1b2c3d4;
const MAGIC_NANO = 0xa1b23c4d;

export function read_pcap(bytes: Uint8Array): PcapRecord[] {
  if (bytes.length < 24) throw new Error("pcap: file shorter than its header");
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const magic_le = view.getUint32(0, true);
  let little: boolean;
  if (magic_le === MAGIC_MICRO || magic_le === MAGIC_NANO) little = true;
  else if (view.getUint32(0, false) === MAGIC_MICRO || view.getUint32(0, false) === MAGIC_NANO) {
    little = false;
  } else throw new Error(`pcap: bad magic 0x${magic_le.toString(16)}`);
  const records: PcapRecord[] = [];
  let at = 24;
  while (at + 16 <= bytes.length) {
    const captured = view.getUint32(at + 8, little);
    const wire_length = view.getUint32(at + 12, little);
    if (at + 16 + captured > bytes.length) throw new Error("pcap: truncated record");
    records.push({ frame: bytes.slice(at + 16, at + 16 + captured), wire_length });
    at += 16 + captured;
  }
  return records;
}

export function write_pcap(frames: Uint8Array[]): Uint8Array {
  const size = 24 + frames.reduce((n, f) => n + 16 + f.length, 0);
  const out = new Uint8Array(size);
  const view = new DataView(out.buffer);
  view.setUint32(0, MAGIC_MICRO, true);
  view.setUint16(4, 2, true);
  view.setUint16(6, 4, true);
  view.setUint32(16, 65535, true);
  view.setUint32(20, 1, true); // LINKTYPE_ETHERNET
  let at = 24;
  frames.forEach((frame, i) => {
    view.setUint32(at, 1_700_000_000 + Math.floor(i / 1000), true);
    view.setUint32(at + 4, (i % 1000) * 1000, true);
    view.setUint32(at + 8, frame.length, true);
    view.setUint32(at + 12, frame.length, true);
    out.set(frame, at + 16);
    at += 16 + frame.length;
  });
  return out;
}
