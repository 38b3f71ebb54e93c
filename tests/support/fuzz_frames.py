#!/usr/bin/python3
"""Mutated frames at the director and the agents, for the fuzz lab test.

usage: fuzz_frames.py IFACE SRC_MAC SEED_PCAP COUNT PPS DST_MAC[,DST_MAC...] [HANDOFF_JSON]

Reads real frames from SEED_PCAP (a capture of the lab's own flows: ARP,
handshakes, requests, data, ACKs, FINs), and sends COUNT frames out of IFACE
(a raw AF_PACKET socket in the client namespace), each a mutation of a
random seed frame addressed to one of the DST_MACs in turn, from SRC_MAC
(the sender's own: a switch must not learn a server's MAC on the client's
port, which would be another attack than this one): bit flips,
random bytes in the headers, truncation, garbage appended, header fields set
to edge values (ports 0 and 65535, every flag combination, data offsets and
IHLs out of range, lengths that lie), random options, VLAN tags, random
EtherTypes. The pacing keeps the af_packet rings from overflowing, so the
receivers see (and must account for) every frame. A seeded PRNG makes a run
reproducible.

With HANDOFF_JSON ({"port": 7201, "director_ip": "198.18.0.2",
"targets": {"<mac>": "<ip>" | ["<ip>", "<source ip>"], ...}}: each
server's MAC and fabric address, and the director's own with an agent's
address as the source), one frame in five to a target MAC is hand-off
shaped instead: Ethernet/IPv4/UDP to that address at the hand-off port,
mostly from the configured source (by default the director's address, so
it passes the agents' sender filter and reaches the HMAC), carrying random
bytes or a near-valid datagram
(baton's magic and version, a type, lengths that fit or lie, a fresh
sent_at, a random tag), sometimes in a frame that lies (IP options, a
fragment, lengths, truncation). None can authenticate: the receive path must
count each one and adopt nothing.

stdout: one JSON line {"sent": N, "per_mac": {...}, "mutations": {...}}.
"""
import json
import random
import socket
import struct
import sys
import time


def read_pcap(path):
    frames = []
    with open(path, "rb") as f:
        header = f.read(24)
        magic = struct.unpack("<I", header[:4])[0]
        endian = "<" if magic in (0xA1B2C3D4, 0xA1B23C4D) else ">"
        while True:
            record = f.read(16)
            if len(record) < 16:
                break
            _, _, incl, _ = struct.unpack(endian + "IIII", record)
            data = f.read(incl)
            if len(data) == incl and len(data) >= 14:
                frames.append(bytearray(data))
    return frames


def l3(frame):
    """Offset of the IPv4 header (after VLAN tags), or None."""
    at = 12
    while at + 2 <= len(frame) and frame[at:at + 2] in (b"\x81\x00", b"\x88\xa8"):
        at += 4
    if frame[at:at + 2] == b"\x08\x00":
        return at + 2
    return None


def mutate(rng, frame, stats):
    f = bytearray(frame)
    kind = rng.randrange(12)
    ip = l3(f)
    tcp = ip + (f[ip] & 0x0F) * 4 if ip is not None and ip < len(f) else None
    if kind == 0:  # bit flips anywhere past the MACs
        for _ in range(rng.randint(1, 8)):
            at = rng.randrange(12, len(f))
            f[at] ^= 1 << rng.randrange(8)
        name = "bit_flips"
    elif kind == 1:  # random bytes in the first 80
        for _ in range(rng.randint(1, 6)):
            at = rng.randrange(12, min(len(f), 80))
            f[at] = rng.randrange(256)
        name = "random_header_bytes"
    elif kind == 2:  # truncation
        f = f[:rng.randrange(1, len(f) + 1)]
        name = "truncated"
    elif kind == 3:  # garbage appended
        f += bytes(rng.randrange(256) for _ in range(rng.randint(1, 200)))
        name = "garbage_appended"
    elif kind == 4 and tcp is not None and tcp + 20 <= len(f):  # ports at the edges
        f[tcp:tcp + 2] = struct.pack("!H", rng.choice([0, 1, 65535, rng.randrange(65536)]))
        f[tcp + 2:tcp + 4] = struct.pack("!H", rng.choice([0, 80, 65535]))
        name = "edge_ports"
    elif kind == 5 and tcp is not None and tcp + 20 <= len(f):  # every flag combination
        f[tcp + 13] = rng.randrange(256)
        name = "random_flags"
    elif kind == 6 and tcp is not None and tcp + 20 <= len(f):  # data offset out of range
        f[tcp + 12] = (rng.randrange(16) << 4) | (f[tcp + 12] & 0x0F)
        name = "data_offset"
    elif kind == 7 and ip is not None and ip + 20 <= len(f):  # IHL and lengths that lie
        f[ip] = 0x40 | rng.randrange(16)
        f[ip + 2:ip + 4] = struct.pack("!H", rng.choice([0, 19, 20, 40, len(f), 65535]))
        name = "ip_lengths"
    elif kind == 8 and ip is not None and ip + 20 <= len(f):  # fragments
        f[ip + 6:ip + 8] = struct.pack("!H", rng.choice([0x2000, 0x0001, 0x3fff, 0x4000 | 5]))
        name = "fragment"
    elif kind == 9 and tcp is not None and tcp + 20 <= len(f):  # random options
        options = bytes(rng.randrange(256) for _ in range(rng.choice([4, 8, 12, 20, 40])))
        f = f[:tcp + 20] + options + f[tcp + 20 + max(0, ((f[tcp + 12] >> 4) * 4) - 20):]
        f[tcp + 12] = (((20 + len(options)) // 4) << 4) | (f[tcp + 12] & 0x0F)
        name = "random_options"
    elif kind == 10:  # a VLAN tag (or two)
        tags = b"\x81\x00" + struct.pack("!H", rng.randrange(4096))
        if rng.random() < 0.3:
            tags = b"\x88\xa8" + struct.pack("!H", rng.randrange(4096)) + tags
        f = f[:12] + tags + f[12:]
        name = "vlan"
    else:  # a random EtherType
        f[12:14] = struct.pack("!H", rng.randrange(65536))
        name = "ethertype"
    stats[name] = stats.get(name, 0) + 1
    if len(f) < 14:
        f = f + bytes(14 - len(f))
    return bytes(f[:1514])


def csum(data):
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return (~total) & 0xFFFF


# The hand-off datagram's header (dataplane/wire/handoff_header.ts): magic, version, type,
# epoch, id, body_length, reason, reserved, agent, sent_at; then the body and a 32-byte tag.
MAGIC, VERSION, HEADER, TAG = 0xB7A0, 2, 24, 32
# body length by type: HANDOFF 56 + request, FLOW_END 20, the others the 12-byte flow key
BODY = {1: 56, 2: 12, 3: 12, 4: 20, 5: 12, 6: 12}


def near_valid_datagram(rng):
    kind = rng.choice([1, 1, 1, 2, 3, 4, 5, 6, 0, 7, 255])
    body = BODY.get(kind, 12) + (rng.randrange(0, 300) if kind == 1 else 0)
    declared = body
    lie = rng.random()
    if lie < 0.15:
        declared = rng.choice([0, body - 1, body + 1, 0xFFFF, rng.randrange(65536)])
    reason = 0 if rng.random() < 0.7 else rng.randrange(256)
    agent = rng.choice([1, 2, 3, 0, rng.randrange(1 << 32)])
    sent_at = int(time.time() * 1000) & 0xFFFFFFFF
    if rng.random() < 0.1:
        sent_at = (sent_at - rng.choice([11_000, 3_600_000, 1 << 31])) & 0xFFFFFFFF
    header = struct.pack("!HBBIIHBBII", MAGIC, VERSION if rng.random() < 0.95 else 1, kind,
                         rng.randrange(1 << 32), rng.randrange(1 << 32), declared, reason,
                         0 if rng.random() < 0.95 else 1, agent, sent_at)
    datagram = header + bytes(rng.randrange(256) for _ in range(body)) + bytes(rng.randrange(256) for _ in range(TAG))
    if kind == 1 and len(datagram) > HEADER + 56:
        # a request length that matches the body, most of the time
        request = body - 56 if rng.random() < 0.8 else rng.randrange(65536)
        at = HEADER + 54
        datagram = datagram[:at] + struct.pack("!H", request) + datagram[at + 2:]
    if rng.random() < 0.1:
        datagram = datagram[:rng.randrange(len(datagram))]  # cut short
    return datagram


def handoff_frame(rng, dst_mac, src_mac, target, spec, stats):
    """A hand-off shaped UDP frame to a target's address at the hand-off port (see the top)."""
    port = spec["port"]
    dst_ip, source = (target, spec["director_ip"]) if isinstance(target, str) else target
    if rng.random() < 0.3:
        datagram, name = bytes(rng.randrange(256) for _ in range(rng.randrange(0, 1473))), "handoff_random"
    else:
        datagram, name = near_valid_datagram(rng), "handoff_near_valid"
    src_ip = source if rng.random() < 0.85 else ".".join(str(rng.randrange(1, 224)) for _ in range(4))
    sport = port if rng.random() < 0.9 else rng.randrange(65536)
    udp = struct.pack("!HHHH", sport, port, 8 + len(datagram), 0) + datagram
    pseudo = socket.inet_aton(src_ip) + socket.inet_aton(dst_ip) + struct.pack("!BBH", 0, 17, len(udp))
    udp = udp[:6] + struct.pack("!H", csum(pseudo + udp) or 0xFFFF) + udp[8:]
    options = b""
    fragment = 0x4000
    bend = rng.random()
    if bend < 0.05:
        options, name = b"\x01\x01\x01\x00", name + "_ip_options"
    elif bend < 0.1:
        fragment, name = rng.choice([0x2000, 0x0001, 0x2005]), name + "_fragment"
    ihl = 5 + len(options) // 4
    total = ihl * 4 + len(udp)
    if 0.1 <= bend < 0.15:
        total, name = rng.choice([0, 20, 28, total - 1, total + 1, 65535]), name + "_ip_length"
    ip = struct.pack("!BBHHHBBH4s4s", 0x40 | ihl, 0, total & 0xFFFF, rng.randrange(65536), fragment, 64, 17, 0,
                     socket.inet_aton(src_ip), socket.inet_aton(dst_ip)) + options
    ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
    frame = dst_mac + src_mac + b"\x08\x00" + ip + udp
    if 0.15 <= bend < 0.2:
        frame, name = frame[:rng.randrange(14, len(frame))], name + "_truncated"
    stats[name] = stats.get(name, 0) + 1
    if len(frame) < 60:
        frame += bytes(60 - len(frame))
    return frame[:1514]


def main():
    iface, src_mac, seed_pcap, count, pps, macs = sys.argv[1:7]
    handoff = json.loads(sys.argv[7]) if len(sys.argv) > 7 else None
    targets = {bytes(int(b, 16) for b in m.split(":")): ip for m, ip in (handoff or {}).get("targets", {}).items()}
    src = bytes(int(b, 16) for b in src_mac.split(":"))
    count, pps = int(count), float(pps)
    dst_macs = [bytes(int(b, 16) for b in m.split(":")) for m in macs.split(",")]
    seeds = read_pcap(seed_pcap)
    if not seeds:
        sys.exit("no frames in " + seed_pcap)
    rng = random.Random(0xBA70)
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    s.bind((iface, 0))
    s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
    stats = {}
    per_mac = {}
    started = time.time()
    for i in range(count):
        dst = dst_macs[i % len(dst_macs)]
        if dst in targets and rng.random() < 0.2:
            frame = bytearray(handoff_frame(rng, dst, src, targets[dst], handoff, stats))
        else:
            frame = bytearray(mutate(rng, rng.choice(seeds), stats))
            frame[0:6] = dst
            frame[6:12] = src
        s.send(bytes(frame))
        key = ":".join("%02x" % b for b in dst)
        per_mac[key] = per_mac.get(key, 0) + 1
        if i % 256 == 255:
            ahead = started + (i + 1) / pps - time.time()
            if ahead > 0:
                time.sleep(ahead)
    print(json.dumps({"sent": count, "per_mac": per_mac, "mutations": stats,
                      "seconds": round(time.time() - started, 2)}))


if __name__ == "__main__":
    main()
