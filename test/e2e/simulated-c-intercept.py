#!/usr/bin/env python3
"""A stand-in for upstream's C intercept 1.0, written from its sources' structs and loops, not
from our TypeScript codecs (tc_msg.h, tc_interception.c, tc_capture.c, tc_combine.c):

- listens on the control port; on each connection reads the 8-byte old record first (address and
  port must be zero: the version record), then its last 6 bytes, then 14-byte msg_clt_t records,
  big-endian {clt_ip u32, clt_port u16, type u16, target_ip u32, target_port u16}; type 1 =
  CLIENT_ADD binds the flow to the connection and releases parked replies;
- captures the test server's replies (IPv4, TCP, source port in PORTS) and sends each as a
  64-byte msg_server_t: the first 20 bytes of the IPv4 header verbatim, then the TCP header cut
  at 44 bytes, zero-padded; in combined frames (u16 count 1..16, then the records);
- parks a SYN or RST reply whose flow has no route yet (upstream's delay table).

Usage (inside a lab namespace only): simulated-c-intercept.py IFACE PORT[,PORT...] CONTROL_PORT
"""
import select
import socket
import struct
import sys

IFACE, PORTS, CONTROL_PORT = sys.argv[1], {int(p) for p in sys.argv[2].split(',')}, int(sys.argv[3])
ETH_P_IP = 0x0800
MSG_CLT = struct.Struct('!IHHIH')  # 14 bytes
CLIENT_ADD = 1
MAX_COMBINED = 16
TCP_SYN, TCP_RST = 0x02, 0x04

capture = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(ETH_P_IP))
capture.bind((IFACE, ETH_P_IP))
capture.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 << 20)
server = socket.socket()
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind(('0.0.0.0', CONTROL_PORT))
server.listen(16)

tunnels = {}  # socket -> {'buf': bytes, 'first_in': bool}
routes = {}  # (client ip, client port) -> socket
delayed = {}  # (client ip, client port) -> [record]
pending = {}  # socket -> [record] for this turn
print(f'intercept listening on {CONTROL_PORT}', flush=True)


def record_of(packet):
    ihl = (packet[0] & 0x0f) * 4
    doff = (packet[ihl + 12] >> 4) * 4
    tcp = packet[ihl:ihl + min(doff, 44)]
    return packet[:20] + tcp + bytes(44 - len(tcp))


def on_reply(packet):
    if len(packet) < 40 or packet[0] >> 4 != 4 or packet[9] != 6:
        return
    ihl = (packet[0] & 0x0f) * 4
    src_port, dst_port = struct.unpack_from('!HH', packet, ihl)
    if src_port not in PORTS:
        return
    key = (packet[16:20], dst_port)
    record = record_of(packet)
    conn = routes.get(key)
    if conn is not None and conn in tunnels:
        pending.setdefault(conn, []).append(record)
    elif packet[ihl + 13] & (TCP_SYN | TCP_RST):
        delayed.setdefault(key, []).append(record)


def on_control(conn):
    data = conn.recv(65536)
    if not data:
        drop(conn)
        return
    t = tunnels[conn]
    t['buf'] += data
    while True:
        if t['first_in']:
            if len(t['buf']) < MSG_CLT.size:
                return
            clt_ip, clt_port, version, _, _ = MSG_CLT.unpack_from(t['buf'])
            if clt_ip != 0 or clt_port != 0:
                print('client too old for intercept', flush=True)
            elif version != 6:
                print(f'not compatible,client:{version},intercept:6', flush=True)
            else:
                print('copier connected, protocol version 6', flush=True)
            t['first_in'] = False
            t['buf'] = t['buf'][MSG_CLT.size:]
            continue
        if len(t['buf']) < MSG_CLT.size:
            return
        clt_ip, clt_port, kind, _, _ = MSG_CLT.unpack_from(t['buf'])
        t['buf'] = t['buf'][MSG_CLT.size:]
        if kind != CLIENT_ADD:
            continue
        key = (struct.pack('!I', clt_ip), clt_port)
        routes[key] = conn
        for record in delayed.pop(key, []):
            pending.setdefault(conn, []).append(record)


def drop(conn):
    tunnels.pop(conn, None)
    pending.pop(conn, None)
    conn.close()


def flush():
    for conn, records in pending.items():
        for i in range(0, len(records), MAX_COMBINED):
            chunk = records[i:i + MAX_COMBINED]
            try:
                conn.sendall(struct.pack('!H', len(chunk)) + b''.join(chunk))
            except OSError:
                pass
    pending.clear()


while True:
    readable, _, _ = select.select([capture, server, *tunnels], [], [])
    for r in readable:
        if r is capture:
            for _ in range(256):
                try:
                    on_reply(capture.recv(65536, socket.MSG_DONTWAIT))
                except BlockingIOError:
                    break
        elif r is server:
            conn, _ = server.accept()
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            tunnels[conn] = {'buf': b'', 'first_in': True}
        elif r in tunnels:
            on_control(r)
    flush()
