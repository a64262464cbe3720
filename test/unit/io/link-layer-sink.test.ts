/**
 * Link-layer sending (tcpcopy -o): the frames the sink hands the link socket, against a fake
 * link socket (the real one is exercised in the lab: test/e2e/copy-link-layer.test.ts).
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { LinkLayerSocket, RawSocketSink, macBytes } from '@tcpcopy/common';

const TARGET = '10.231.0.40';
const OTHER_TARGET = '10.231.0.41';
const DEVICE_MAC = '02:00:00:00:00:01';

/** What the capture addon's LinkSocket offers, recording frames; fails as the kernel would when told to. */
class FakeLink {
  readonly mac = DEVICE_MAC;
  readonly frames: Buffer[] = [];
  failures: string[] = [];
  closed = false;

  send(buffer: Buffer, offset: number, length: number): void {
    const failure = this.failures.shift();
    if (failure !== undefined) throw new Error(failure);
    this.frames.push(Buffer.from(buffer.subarray(offset, offset + length)));
  }
  close(): void {
    this.closed = true;
  }
}

function sinkWith(link: FakeLink, now: () => number = () => 0): RawSocketSink {
  const routes = [
    { dstIp: TARGET, nextHopMac: '00:11:22:33:44:55' },
    { dstIp: OTHER_TARGET, nextHopMac: '66:77:88:99:aa:bb', sourceMac: 'aa:bb:cc:dd:ee:ff' },
  ];
  return new RawSocketSink({ createSocket: () => new LinkLayerSocket(link, routes), now });
}

describe('link-layer sink', () => {
  test("each packet leaves as one Ethernet frame to its test server's next hop", async () => {
    const link = new FakeLink();
    const sink = sinkWith(link);
    const packet = Buffer.from('45000028000000004006000000000000', 'hex');
    const scratch = Buffer.concat([Buffer.alloc(7, 0xee), packet, Buffer.alloc(5, 0xee)]);
    assert.equal(sink.send(scratch, 7, packet.length, TARGET), true);
    assert.equal(sink.send(scratch, 7, packet.length, OTHER_TARGET), true);
    assert.deepEqual(link.frames, [
      Buffer.concat([Buffer.from('001122334455', 'hex'), macBytes(DEVICE_MAC), Buffer.from('0800', 'hex'), packet]),
      Buffer.concat([
        Buffer.from('66778899aabb', 'hex'),
        Buffer.from('aabbccddeeff', 'hex'),
        Buffer.from('0800', 'hex'),
        packet,
      ]),
    ]);
    assert.equal(sink.stats().sent, 2);
    await sink.close();
    assert.equal(link.closed, true);
  });

  test('a full device queue is retried as with the raw socket; an address without a route is counted', async () => {
    const link = new FakeLink();
    let ms = 0;
    const sink = sinkWith(link, () => ms);
    const packet = Buffer.alloc(40, 0x45);
    link.failures = ['No buffer space available'];
    assert.equal(sink.send(packet, 0, packet.length, TARGET), true, 'queued after ENOBUFS');
    assert.equal(sink.stats().retried, 1);
    ms = 5;
    assert.equal(sink.send(packet, 0, packet.length, TARGET), true);
    assert.equal(link.frames.length, 2, 'the queued frame went first, then the new one');
    assert.equal(sink.send(packet, 0, packet.length, '10.231.0.99'), false);
    assert.deepEqual(sink.stats().errors, { EHOSTUNREACH: 1 });
    await sink.close();
  });

  test('MAC addresses with any separator', () => {
    assert.deepEqual(macBytes('00:1a:2B:3c:4d:5e'), Buffer.from('001a2b3c4d5e', 'hex'));
    assert.deepEqual(macBytes('00-1a-2b-3c-4d-5e'), Buffer.from('001a2b3c4d5e', 'hex'));
  });
});
