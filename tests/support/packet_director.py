#!/usr/bin/python3
"""A director played at packet level, for the agent's lab test.

Runs inside the lab's dp namespace on the director's interface (a raw
AF_PACKET socket; the interface has no IP, so the kernel stays out of it).
It owns the VIP: answers ARP for it, completes the client's handshake with
its own ISN and options, reads the HTTP request and ACKs exactly those
bytes, then prints the connection state as one JSON line. The test (Deno)
encodes the HANDOFF datagram with baton's own codec and writes it back as
hex; this script sends it in-band, as the director does: an
Ethernet/IPv4/UDP frame from its own MAC, fabric address and the hand-off
port to the server's MAC and address at the hand-off port (the agent in
front of the server takes it), retransmitting until a reply comes. The
agent's answers (HANDOFF_ACK, NACK, FLOW_END) come back the same way, to
this MAC and address: each is printed as hex ("reply" for the ACK or
NACK of the HANDOFF being sent, "other_reply" for the rest: FLOW_ENDs). From then on every frame of
that flow is forwarded to the server's MAC with only its Ethernet header
rewritten.

usage: packet_director.py IFACE VIP SERVER_MAC SERVER_IP DIRECTOR_IP HANDOFF_PORT

stdout: JSON lines {"event": ...}; stdin: JSON lines {"datagram": hex}.
"""
import json
import os
import random
import select
import socket
import struct
import sys
import time

ETH_P_ALL = 3
PACKET_OUTGOING = 4


def log(event, **fields):
    fields["event"] = event
    sys.stdout.write(json.dumps(fields) + "\n")
    sys.stdout.flush()


def csum(data):
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return (~total) & 0xFFFF


def ip_bytes(text):
    return socket.inet_aton(text)


def udp_frame(src_mac, dst_mac, src_ip, dst_ip, sport, dport, payload):
    udp = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
    pseudo = ip_bytes(src_ip) + ip_bytes(dst_ip) + struct.pack("!BBH", 0, 17, len(udp))
    checksum = csum(pseudo + udp) or 0xFFFF
    udp = udp[:6] + struct.pack("!H", checksum) + udp[8:]
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), random.randint(0, 0xFFFF), 0x4000, 64, 17, 0, ip_bytes(src_ip), ip_bytes(dst_ip))
    ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
    return dst_mac + src_mac + b"\x08\x00" + ip + udp


def parse_options(raw):
    options = {}
    i = 0
    while i < len(raw):
        kind = raw[i]
        if kind == 0:
            break
        if kind == 1:
            i += 1
            continue
        if i + 1 >= len(raw) or raw[i + 1] < 2:
            break
        length = raw[i + 1]
        body = raw[i + 2:i + length]
        if kind == 2 and length == 4:
            options["mss"] = struct.unpack("!H", body)[0]
        elif kind == 3 and length == 3:
            options["wscale"] = body[0]
        elif kind == 4:
            options["sack_permitted"] = True
        elif kind == 8 and length == 10:
            options["ts"] = struct.unpack("!II", body)
        i += length
    return options


def tcp_frame(src_mac, dst_mac, src_ip, dst_ip, sport, dport, seq, ack, flags, window, options=b"", payload=b""):
    while len(options) % 4:
        options += b"\0"
    offset = (20 + len(options)) // 4
    tcp = struct.pack("!HHIIBBHHH", sport, dport, seq & 0xFFFFFFFF, ack & 0xFFFFFFFF, offset << 4, flags, window, 0, 0) + options + payload
    pseudo = ip_bytes(src_ip) + ip_bytes(dst_ip) + struct.pack("!BBH", 0, 6, len(tcp))
    tcp = tcp[:16] + struct.pack("!H", csum(pseudo + tcp)) + tcp[18:]
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), random.randint(0, 0xFFFF), 0x4000, 64, 6, 0, ip_bytes(src_ip), ip_bytes(dst_ip))
    ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
    return dst_mac + src_mac + b"\x08\x00" + ip + tcp


class Flow:
    def __init__(self, key):
        self.key = key
        self.state = "syn"
        self.request = b""


def main():
    iface, vip, server_mac_text, server_ip, director_ip, port_text = sys.argv[1:7]
    handoff_port = int(port_text)
    server_mac = bytes.fromhex(server_mac_text.replace(":", ""))
    raw = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    raw.bind((iface, 0))
    my_mac = raw.getsockname()[4]
    vip_bytes = ip_bytes(vip)
    director_bytes = ip_bytes(director_ip)

    def send_handoff(datagram):
        raw.send(udp_frame(my_mac, server_mac, director_ip, server_ip, handoff_port, handoff_port, datagram))

    flows = {}
    pending = None  # (datagram, flow, next_send_at, sends)
    stdin_buffer = b""
    started = time.monotonic()
    log("ready", mac=my_mac.hex(":"))

    def clock():
        return int((time.monotonic() - started) * 1000) + 1_000_000

    while True:
        timeout = None
        if pending is not None:
            timeout = max(0.0, pending[2] - time.monotonic())
        readable, _, _ = select.select([raw, sys.stdin.buffer], [], [], timeout)
        if pending is not None and time.monotonic() >= pending[2]:
            datagram, flow, _, sends = pending
            send_handoff(datagram)
            pending = (datagram, flow, time.monotonic() + 0.3 * (2 ** sends), sends + 1)
        if sys.stdin.buffer in readable:
            chunk = os.read(sys.stdin.fileno(), 65536)
            if not chunk:
                return
            stdin_buffer += chunk
            while b"\n" in stdin_buffer:
                line, stdin_buffer = stdin_buffer.split(b"\n", 1)
                command = json.loads(line)
                datagram = bytes.fromhex(command["datagram"])
                flow = flows[tuple(command["flow"])]
                pending = (datagram, flow, time.monotonic(), 0)
        if raw not in readable:
            continue
        frame, address = raw.recvfrom(65535)
        if address[2] == PACKET_OUTGOING or len(frame) < 14:
            continue
        dst, src, ethertype = frame[0:6], frame[6:12], frame[12:14]
        if (dst == my_mac and ethertype == b"\x08\x00" and len(frame) >= 42 and frame[23] == 17
                and frame[30:34] == director_bytes and frame[14] == 0x45
                and struct.unpack("!H", frame[36:38])[0] == handoff_port):
            # an answer from an agent, in-band: its UDP payload is the datagram
            udp_length = struct.unpack("!H", frame[38:40])[0]
            reply = frame[42:34 + udp_length]
            where = dict(src_ip=socket.inet_ntoa(frame[26:30]),
                         src_port=struct.unpack("!H", frame[34:36])[0], src_mac=src.hex(":"))
            # the answer to the HANDOFF being sent: an ACK or NACK (type 2, 3) with its id;
            # anything else (a FLOW_END of an earlier flow) is printed as what it is
            answers_pending = (pending is not None and len(reply) >= 12 and reply[3] in (2, 3)
                               and reply[8:12] == pending[0][8:12])
            if answers_pending:
                log("reply", datagram=reply.hex(), sends=pending[3], **where)
                pending[1].state = "handed"
                pending = None
            else:
                log("other_reply", datagram=reply.hex(), **where)
            continue
        if ethertype == b"\x08\x06" and len(frame) >= 42:
            # ARP request for the VIP: the director owns it
            if struct.unpack("!H", frame[20:22])[0] == 1 and frame[38:42] == vip_bytes:
                reply = src + my_mac + b"\x08\x06" + struct.pack("!HHBBH", 1, 0x0800, 6, 4, 2) + my_mac + vip_bytes + frame[22:28] + frame[28:32]
                raw.send(reply + b"\0" * (60 - len(reply)))
            continue
        if dst != my_mac or ethertype != b"\x08\x00" or frame[23] != 6 or frame[30:34] != vip_bytes:
            continue
        ihl = (frame[14] & 0x0F) * 4
        tcp = 14 + ihl
        total = struct.unpack("!H", frame[16:18])[0]
        sport, dport, seq, ack, offset, flags, window = struct.unpack("!HHIIBBH", frame[tcp:tcp + 16])
        header = (offset >> 4) * 4
        payload = frame[tcp + header:14 + total]
        client_ip = socket.inet_ntoa(frame[26:30])
        key = (client_ip, sport, dport)
        flow = flows.get(key)
        if flags & 0x02:  # SYN: a new connection (a retransmitted SYN gets the same answer)
            options = parse_options(frame[tcp + 20:tcp + header])
            if flow is None or flow.state != "syn":
                flow = Flow(key)
                flows[key] = flow
                flow.client_mac = src
                flow.client_isn = seq
                flow.director_isn = random.randint(0, 0xFFFFFFFF)
                flow.options = options
                flow.client_window = window
            out = struct.pack("!BBH", 2, 4, 1460)
            if options.get("sack_permitted"):
                out += b"\x04\x02"
            if "ts" in options:
                flow.director_tsval = clock()
                flow.client_tsval = options["ts"][0]
                out += b"\x01\x01\x08\x0a" + struct.pack("!II", flow.director_tsval, flow.client_tsval)
            if "wscale" in options:
                out += b"\x01\x03\x03\x07"
            raw.send(tcp_frame(my_mac, src, vip, client_ip, dport, sport, flow.director_isn, seq + 1, 0x12, 65535, out))
            continue
        if flow is None:
            continue
        if flow.state == "handed":
            # forwarding: only the Ethernet header changes
            raw.send(server_mac + my_mac + frame[12:])
            continue
        if flow.state == "syn" and flags & 0x10:
            flow.state = "reading"
        if flow.state != "reading" or not payload:
            continue
        options = parse_options(frame[tcp + 20:tcp + header])
        if "ts" in options:
            flow.client_tsval = options["ts"][0]
        flow.client_window = window
        if seq != (flow.client_isn + 1 + len(flow.request)) & 0xFFFFFFFF:
            continue  # out of order: the client retransmits
        flow.request += payload
        end = flow.request.find(b"\r\n\r\n")
        if end < 0:
            continue
        flow.request = flow.request[:end + 4]
        rcv_next = (flow.client_isn + 1 + len(flow.request)) & 0xFFFFFFFF
        out = b""
        if "ts" in flow.options:
            flow.director_tsval = clock()
            out = b"\x01\x01\x08\x0a" + struct.pack("!II", flow.director_tsval, flow.client_tsval)
        raw.send(tcp_frame(my_mac, src, vip, client_ip, dport, sport, flow.director_isn + 1, rcv_next, 0x10, 65535 >> 7 if "wscale" in flow.options else 65535, out))
        flow.state = "handing"
        log(
            "request",
            flow=list(key),
            client_ip=client_ip,
            client_port=sport,
            vip_port=dport,
            client_mac=flow.client_mac.hex(":"),
            client_isn=flow.client_isn,
            director_isn=flow.director_isn,
            client_next_seq=rcv_next,
            director_next_seq=(flow.director_isn + 1) & 0xFFFFFFFF,
            client_window=flow.client_window,
            client_mss=flow.options.get("mss", 536),
            director_mss=1460,
            client_wscale=flow.options.get("wscale", 255),
            director_wscale=7 if "wscale" in flow.options else 255,
            sack_permitted=bool(flow.options.get("sack_permitted")),
            timestamps="ts" in flow.options,
            client_tsval=flow.client_tsval if "ts" in flow.options else 0,
            director_tsval=flow.director_tsval if "ts" in flow.options else 0,
            request=flow.request.hex(),
        )


if __name__ == "__main__":
    main()
