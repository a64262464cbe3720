/**
 * The SYN of a session joined mid-stream (docs/upstream.md §2): seq = first seq - 1, MSS from -D,
 * window 65535. Unlike upstream it also offers timestamps when the client uses them, so the test
 * server keeps PAWS and RTT measurement as production had them.
 */
import {
  IPV4_OFF_DST,
  IPV4_OFF_ID,
  IPV4_OFF_SRC,
  TCP_OFF_DST_PORT,
  TCP_OFF_SRC_PORT,
  TcpFlag,
  decodeIpv4,
  decodeTcp,
} from '@tcpcopy/common/packet';
import { segmentFromCapture, type Segment } from './segment.js';
import { PacketScratch, writeMadePacket, type Tuple } from './wire.js';
import { UNSCALED_MAX_WINDOW } from './config.js';

/** IPv4 + TCP headers with MSS and timestamps options. */
const FAKED_SYN_MAX_LENGTH = 64;
/** IP ID offset of a faked SYN from the first captured packet's, as upstream. */
const FAKED_SYN_IP_ID_OFFSET = -2;

export class FakedSyns {
  private readonly scratch = new PacketScratch(FAKED_SYN_MAX_LENGTH);

  /** The SYN for the session whose first captured segment is `first`, offering MSS `mss`. */
  synFor(first: Segment, mss: number): Segment {
    const p = first.packet;
    const tuple: Tuple = {
      srcIp: p.readUInt32BE(IPV4_OFF_SRC),
      dstIp: p.readUInt32BE(IPV4_OFF_DST),
      srcPort: p.readUInt16BE(first.ipHeaderLength + TCP_OFF_SRC_PORT),
      dstPort: p.readUInt16BE(first.ipHeaderLength + TCP_OFF_DST_PORT),
    };
    const out = this.scratch;
    const length = writeMadePacket(out.buf, tuple, {
      seq: (first.seq - 1) >>> 0,
      ack: 0,
      flags: TcpFlag.SYN,
      window: UNSCALED_MAX_WINDOW,
      ipId: p.readUInt16BE(IPV4_OFF_ID) + FAKED_SYN_IP_ID_OFFSET,
      options: first.hasTimestamps ? { mss, timestamps: { val: (first.tsVal - 1) >>> 0, ecr: 0 } } : { mss },
    });
    decodeIpv4(out.buf, 0, length, out.ip);
    decodeTcp(out.buf, out.ip, out.tcp);
    return segmentFromCapture(out.buf, out.ip, out.tcp, true, first.capturedAt);
  }
}
