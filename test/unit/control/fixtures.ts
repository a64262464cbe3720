/** Sample control messages, fast-check arbitraries and reply headers shared by control and intercept tests. */
import fc from 'fast-check';
import {
  CONTROL_MAX_ID_LENGTH,
  ControlMessageType,
  PayloadBatchBuilder,
  ResponseBatchBuilder,
  RouteBatchBuilder,
  type ControlMessage,
} from '@tcpcopy/common';
import { buildTcpPacket, type TcpPacketSpec } from '@tcpcopy/common/testing';

/** IP and TCP "no operation" option kinds (RFC 791, RFC 9293): padding that decodes cleanly. */
const IP_OPTION_NOP = 1;
const TCP_OPTION_NOP = 1;

export interface ReplySpec extends Partial<TcpPacketSpec> {
  /** Extra IPv4 header words (IHL = 5 + n). */
  ipOptionWords?: number;
  /** Extra TCP header words (data offset = 5 + n). */
  tcpOptionWords?: number;
  payloadLength?: number;
}

/** A captured reply from the target 10.0.0.2:8000 to the fake client 10.9.0.1:40000 unless overridden. */
export function replyPacket(spec: ReplySpec = {}): Buffer {
  const { ipOptionWords = 0, tcpOptionWords = 0, payloadLength = 0, ...fields } = spec;
  return buildTcpPacket({
    src: '10.0.0.2',
    dst: '10.9.0.1',
    srcPort: 8000,
    dstPort: 40000,
    seq: 1000,
    ack: 2000,
    flags: 0x10,
    window: 65535,
    ...(ipOptionWords > 0 ? { ipOptions: Buffer.alloc(ipOptionWords * 4, IP_OPTION_NOP) } : {}),
    ...(tcpOptionWords > 0 ? { options: { raw: Buffer.alloc(tcpOptionWords * 4, TCP_OPTION_NOP) } } : {}),
    ...(payloadLength > 0 ? { payload: Buffer.alloc(payloadLength, 0x61) } : {}),
    ...fields,
  });
}

/** The headers part of a reply built by replyPacket (what a response record carries). */
export function replyHeaders(spec: ReplySpec = {}): Buffer {
  const packet = replyPacket(spec);
  const headersLength = (packet[0]! & 0x0f) * 4 + (packet[(packet[0]! & 0x0f) * 4 + 12]! >> 4) * 4;
  return packet.subarray(0, headersLength);
}

export function routesBuffer(routes: readonly (readonly [number, number, number, number])[]): Buffer {
  const b = new RouteBatchBuilder(1);
  for (const [ci, cp, ti, tp] of routes) b.add(ci, cp, ti, tp);
  return Buffer.from(b.view());
}

export function recordsBuffer(specs: readonly ReplySpec[]): Buffer {
  const b = new ResponseBatchBuilder(1);
  for (const spec of specs) {
    const headers = replyHeaders(spec);
    b.append(headers, 0, headers.length);
  }
  return Buffer.from(b.view());
}

/** Payload records of replies built by replyPacket: headers and payload, the payload cut to `keep` bytes. */
export function payloadRecordsBuffer(specs: readonly (ReplySpec & { keep?: number })[]): Buffer {
  const b = new PayloadBatchBuilder(1);
  for (const { keep, ...spec } of specs) {
    const packet = replyPacket(spec);
    const headersLength = replyHeaders(spec).length;
    b.append(packet, 0, headersLength, Math.min(keep ?? Infinity, packet.length - headersLength));
  }
  return Buffer.from(b.view());
}

/** One message of every type (and both route kinds), for exhaustive split tests. */
export const SAMPLE_MESSAGES: readonly ControlMessage[] = [
  { type: ControlMessageType.Hello, version: 1, role: 'copier', instanceId: 'host-a:1234', software: '0.1.0' },
  {
    type: ControlMessageType.Hello,
    version: 7,
    role: 'intercept',
    instanceId: 'aux',
    software: '0.1.0',
    auth: Buffer.from('nonce-bytes'),
  },
  {
    type: ControlMessageType.Hello,
    version: 2,
    role: 'copier',
    instanceId: 'host-a:1234',
    software: '0.1.0',
    features: ['payload', 'not-yet-invented'],
  },
  { type: ControlMessageType.Heartbeat, timeMs: 1_764_000_000_123.5 },
  {
    type: ControlMessageType.RouteAdd,
    routes: routesBuffer([
      [0x0a090001, 40000, 0x0a000002, 8000],
      [0xfffffffe, 65535, 0x7f000001, 1],
    ]),
  },
  { type: ControlMessageType.RouteDel, routes: routesBuffer([[0x0a090001, 40000, 0x0a000002, 8000]]) },
  { type: ControlMessageType.RouteAdd, routes: Buffer.alloc(0) },
  {
    type: ControlMessageType.Responses,
    records: recordsBuffer([{}, { ipOptionWords: 1, tcpOptionWords: 3, payloadLength: 100 }, { tcpOptionWords: 10 }]),
  },
  {
    type: ControlMessageType.PayloadResponses,
    records: payloadRecordsBuffer([
      {},
      { ipOptionWords: 1, tcpOptionWords: 3, payloadLength: 100 },
      { payloadLength: 300, keep: 20 },
    ]),
  },
  { type: ControlMessageType.PayloadResponses, records: Buffer.alloc(0) },
  { type: ControlMessageType.Stats, values: { routes: 12, replies: 3.5, lag: -1 } },
  { type: ControlMessageType.Auth, proof: Buffer.alloc(32, 0xa5) },
];

/** Plain data for deepStrictEqual: prototypes differ (fast-check and stats values use null ones). */
export function comparable(msg: ControlMessage): unknown {
  return msg.type === ControlMessageType.Stats ? { ...msg, values: { ...msg.values } } : { ...msg };
}

const u32 = fc.integer({ min: 0, max: 0xffffffff });
const u16 = fc.integer({ min: 0, max: 0xffff });
const shortText = fc.string({ unit: 'grapheme', maxLength: 24 }).filter((s) => s.length <= CONTROL_MAX_ID_LENGTH);

export const replySpecArb: fc.Arbitrary<ReplySpec> = fc.record({
  ipOptionWords: fc.integer({ min: 0, max: 10 }),
  tcpOptionWords: fc.integer({ min: 0, max: 10 }),
  payloadLength: fc.integer({ min: 0, max: 300 }),
  seq: u32,
  ack: u32,
  flags: fc.integer({ min: 0, max: 0xff }),
  srcPort: u16,
  dstPort: u16,
});

const routesArb = fc.array(fc.tuple(u32, u16, u32, u16), { maxLength: 40 }).map(routesBuffer);

export const messageArb: fc.Arbitrary<ControlMessage> = fc.oneof(
  fc.record(
    {
      type: fc.constant(ControlMessageType.Hello),
      version: fc.integer({ min: 1, max: 0xffff }),
      role: fc.constantFrom('copier' as const, 'intercept' as const),
      instanceId: shortText,
      software: shortText,
      auth: fc.uint8Array({ maxLength: 256 }).map((a) => Buffer.from(a)),
      features: fc.array(fc.string({ maxLength: 32 }), { maxLength: 16 }),
    },
    { requiredKeys: ['type', 'version', 'role', 'instanceId', 'software'] },
  ),
  fc.record({
    type: fc.constant(ControlMessageType.Heartbeat),
    // msgpack has no negative zero integer: -0 comes back as 0, and no clock reads -0.
    timeMs: fc.double({ noNaN: true, noDefaultInfinity: true }).filter((x) => !Object.is(x, -0)),
  }),
  fc.record({ type: fc.constant(ControlMessageType.RouteAdd), routes: routesArb }),
  fc.record({ type: fc.constant(ControlMessageType.RouteDel), routes: routesArb }),
  fc.record({
    type: fc.constant(ControlMessageType.Responses),
    records: fc.array(replySpecArb, { maxLength: 20 }).map(recordsBuffer),
  }),
  fc.record({
    type: fc.constant(ControlMessageType.PayloadResponses),
    records: fc.array(replySpecArb, { maxLength: 20 }).map(payloadRecordsBuffer),
  }),
  fc.record({
    type: fc.constant(ControlMessageType.Stats),
    // '__proto__' is no key for a plain map: msgpackr renames it on decode, so senders never use it.
    values: fc.dictionary(
      shortText.filter((k) => k !== '__proto__'),
      fc.double({ noNaN: true, noDefaultInfinity: true }).filter((x) => !Object.is(x, -0)),
      { maxKeys: 20 },
    ),
  }),
  fc.record({
    type: fc.constant(ControlMessageType.Auth),
    proof: fc.uint8Array({ maxLength: 256 }).map((a) => Buffer.from(a)),
  }),
);

/** Bytes written as hex, spaces and `|` between fields allowed (struct layouts read better so). */
export const hex = (s: string): Buffer => Buffer.from(s.replace(/[\s|]/g, ''), 'hex');
