/** Captured replies decoded the way the daemon decodes them, and a transport that records frames. */
import assert from 'node:assert/strict';
import {
  DecodeStatus,
  FrameDecoder,
  encodeFrame,
  ControlMessageType,
  ResponseBatchCursor,
  decodeIpv4,
  decodeTcp,
  newIpv4View,
  newTcpView,
  type Ipv4View,
  type TcpView,
} from '@tcpcopy/common';
import type { ConnectionId, InterceptTransport } from '@tcpcopy/intercept';
import { replyPacket, type ReplySpec } from '../control/fixtures.js';

export interface Captured {
  buf: Buffer;
  ip: Ipv4View;
  tcp: TcpView;
}

/** A reply as capture hands it over: behind a 14-byte link header, decoded in place. */
export function captured(spec: ReplySpec = {}): Captured {
  const packet = replyPacket(spec);
  const buf = Buffer.concat([Buffer.alloc(14), packet]);
  const ip = newIpv4View();
  const tcp = newTcpView();
  assert.equal(decodeIpv4(buf, 14, packet.length, ip), DecodeStatus.Ok);
  assert.equal(decodeTcp(buf, ip, tcp), DecodeStatus.Ok);
  return { buf, ip, tcp };
}

/** The headers a record for this reply must carry. */
export function expectedRecord(c: Captured): Buffer {
  return c.buf.subarray(c.ip.offset, c.ip.offset + c.ip.headerLength + c.tcp.headerLength);
}

/** Decodes a responses frame back into its records (copies). */
export function recordsOf(frame: Buffer): Buffer[] {
  const records: Buffer[] = [];
  const decoder = new FrameDecoder({
    onMessage: (msg) => {
      assert.equal(msg.type, ControlMessageType.Responses);
      if (msg.type !== ControlMessageType.Responses) return;
      const cursor = new ResponseBatchCursor().reset(msg.records);
      while (cursor.next())
        records.push(Buffer.from(cursor.buffer.subarray(cursor.offset, cursor.offset + cursor.length)));
    },
    onError: (err) => assert.fail(err),
  });
  decoder.push(frame);
  assert.equal(decoder.bufferedBytes, 0);
  return records;
}

export class RecordingTransport implements InterceptTransport {
  readonly sent: { conn: ConnectionId; frame: Buffer }[] = [];
  readonly pending = new Map<ConnectionId, number>();
  /** Connections granted payload records: their batches are framed as payloadResponses. */
  readonly payloadConns = new Set<ConnectionId>();

  sendResponses(conn: ConnectionId, records: Buffer): number {
    const type = this.payloadConns.has(conn) ? ControlMessageType.PayloadResponses : ControlMessageType.Responses;
    const frame = encodeFrame({ type, records });
    this.sent.push({ conn, frame });
    return frame.length;
  }

  pendingBytes(conn: ConnectionId): number {
    return this.pending.get(conn) ?? 0;
  }

  wantsPayloads(conn: ConnectionId): boolean {
    return this.payloadConns.has(conn);
  }

  /** Records sent to `conn` so far, across frames, in order. */
  recordsTo(conn: ConnectionId): Buffer[] {
    return this.sent.filter((s) => s.conn === conn).flatMap((s) => recordsOf(s.frame));
  }
}
