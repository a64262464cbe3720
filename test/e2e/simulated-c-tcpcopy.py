#!/usr/bin/env python3
"""A stand-in for upstream's C tcpcopy 1.3 towards an intercept, written from its sources' structs
(tc_msg.h) and not from our TypeScript codecs. It captures nothing: it plays the sessions a
tcpcopy would replay, one after another, each from a fake client address:

- opens one control connection and sends the version record (14 bytes, all zero but type 6);
- per session, sends CLIENT_ADD (msg_clt_t, big-endian {clt_ip u32, clt_port u16, type u16,
  target_ip u32, target_port u16}) and then the SYN, through a raw IPv4 socket;
- reads the intercept's replies as upstream does: combined frames (u16 count 1..16, then 64-byte
  msg_server_t records: 20 bytes of IPv4 header, the TCP header cut or padded to 44 bytes), the
  payload length derived as tot_len - ihl*4 - doff*4;
- completes the handshake with its request, acknowledges the answer, and closes when the server
  does (the requests ask it to).

Usage (inside a lab namespace only):
  simulated-c-tcpcopy.py CONTROL_IP CONTROL_PORT TARGET_IP TARGET_PORT FAKE_IP REQUESTS_FILE
REQUESTS_FILE holds one request per line, as Python bytes literals (b'GET / ...\\r\\n\\r\\n').
"""
import ast
import random
import socket
import struct
import sys
import time

CONTROL_IP, CONTROL_PORT, TARGET_IP, TARGET_PORT, FAKE_IP, REQUESTS = sys.argv[1:7]
CONTROL_PORT, TARGET_PORT = int(CONTROL_PORT), int(TARGET_PORT)
MSG_CLT = struct.Struct('!IHHIH')
VERSION, CLIENT_ADD = 6, 1
RECORD = 64
FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10
STEP_TIMEOUT = 5.0


def ip_u32(text):
    return struct.unpack('!I', socket.inet_aton(text))[0]


def checksum(data):
    if len(data) % 2:
        data += b'\0'
    total = sum(struct.unpack(f'!{len(data) // 2}H', data))
    while total >> 16:
        total = (total & 0xffff) + (total >> 16)
    return ~total & 0xffff


def segment(src, sport, dst, dport, seq, ack, flags, payload=b''):
    tcp = struct.pack('!HHIIBBHHH', sport, dport, seq, ack, 5 << 4, flags, 65535, 0, 0) + payload
    pseudo = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack('!BBH', 0, 6, len(tcp))
    tcp = tcp[:16] + struct.pack('!H', checksum(pseudo + tcp)) + tcp[18:]
    ip = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + len(tcp), random.randrange(65536), 0x4000, 64, 6, 0,
                     socket.inet_aton(src), socket.inet_aton(dst))
    ip = ip[:10] + struct.pack('!H', checksum(ip)) + ip[12:]
    return ip + tcp


class Replies:
    """The intercept's records, by fake client port."""

    def __init__(self, sock):
        self.sock, self.buf, self.by_port = sock, b'', {}

    def next_for(self, port):
        deadline = time.time() + STEP_TIMEOUT
        while not self.by_port.get(port):
            self.sock.settimeout(max(0.01, deadline - time.time()))
            data = self.sock.recv(65536)
            if not data:
                sys.exit('intercept closed the control connection')
            self.buf += data
            while len(self.buf) >= 2:
                count = struct.unpack_from('!H', self.buf)[0]
                if not 1 <= count <= 16:
                    sys.exit(f'num:{count} larger than threshold')
                if len(self.buf) < 2 + count * RECORD:
                    break
                for i in range(count):
                    record = self.buf[2 + i * RECORD:2 + (i + 1) * RECORD]
                    ihl = (record[0] & 0x0f) * 4
                    tot_len = struct.unpack_from('!H', record, 2)[0]
                    dport, = struct.unpack_from('!H', record, 22)
                    seq, ack = struct.unpack_from('!II', record, 24)
                    doff, flags = record[32] >> 4, record[33]
                    length = tot_len - ihl - doff * 4
                    self.by_port.setdefault(dport, []).append((seq, ack, flags, length))
                self.buf = self.buf[2 + count * RECORD:]
        return self.by_port[port].pop(0)


def session(control, replies, raw, port, request):
    control.sendall(MSG_CLT.pack(ip_u32(FAKE_IP), port, CLIENT_ADD, ip_u32(TARGET_IP), TARGET_PORT))
    send = lambda seq, ack, flags, payload=b'': raw.sendto(
        segment(FAKE_IP, port, TARGET_IP, TARGET_PORT, seq, ack, flags, payload), (TARGET_IP, 0))
    isn = random.randrange(1 << 32)
    send(isn, 0, SYN)
    seq, _, flags, _ = replies.next_for(port)
    if flags & (SYN | ACK) != SYN | ACK:
        sys.exit(f'port {port}: expected a SYN-ACK, got flags {flags:#x}')
    rcv_nxt, snd_nxt = (seq + 1) & 0xffffffff, (isn + 1) & 0xffffffff
    send(snd_nxt, rcv_nxt, PSH | ACK, request)
    snd_nxt = (snd_nxt + len(request)) & 0xffffffff
    while True:
        seq, ack, flags, length = replies.next_for(port)
        if flags & RST:
            sys.exit(f'port {port}: reset by the server')
        if seq == rcv_nxt:
            rcv_nxt = (rcv_nxt + length + (1 if flags & FIN else 0)) & 0xffffffff
        if flags & FIN:
            send(snd_nxt, rcv_nxt, FIN | ACK)
            return
        if length > 0:
            send(snd_nxt, rcv_nxt, ACK)


def main():
    requests = [ast.literal_eval(line) for line in open(REQUESTS) if line.strip()]
    control = socket.create_connection((CONTROL_IP, CONTROL_PORT))
    control.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    control.sendall(MSG_CLT.pack(0, 0, VERSION, 0, 0))
    raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    replies = Replies(control)
    for i, request in enumerate(requests):
        session(control, replies, raw, 30000 + i, request)
    print(f'replayed {len(requests)} sessions', flush=True)
    time.sleep(0.5)  # the last FIN's ACK


main()
