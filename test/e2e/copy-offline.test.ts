/**
 * Offline replay: production traffic captured to a file with tcpdump, replayed later with
 * `tcpcopy --offline file -a N` (and `-i file`, as upstream's offline builds take it) through
 * intercept to the test server, from the classic pcap tcpdump wrote and from the same capture as
 * pcapng. Every request of the file arrives, the replay keeps the capture's pace divided by -a,
 * and tcpcopy exits 0 by itself.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { PcapFileReader, PcapReadStatus } from '@tcpcopy/common';
import { writePcapng, type PcapngBlockToWrite } from '@tcpcopy/common/testing';
import { withLab } from '../lab/index.js';
import { TCPCOPY_BIN, fakeRange, settle, sleep, startIntercept } from './copy-harness.js';

const REQUESTS = 30;
/** Requests are spread over this long in the capture. */
const SPREAD_MS = 3000;
const SPEEDUP = 3;
const NANOSECONDS_TSRESOL = 9;
const INTERFACE_STATISTICS_BLOCK = 5;
/** An ISB's interface id and timestamp, without options. */
const STATISTICS_BODY_LENGTH = 12;

/**
 * The capture as pcapng, laid out as dumpcap writes it: one interface with nanosecond
 * timestamps, then the packets, then a statistics block. No tool the set-up installs writes
 * pcapng (tcpdump writes classic pcap only), and the pcapng fixtures made by editcap hold
 * another lab's addresses, so the test converts its own capture with the test writer; the
 * fixtures tie the reader to Wireshark's own files (test/unit/io/pcapng-reader.test.ts).
 */
function asPcapng(pcapPath: string): string {
  const reader = new PcapFileReader(pcapPath);
  const blocks: PcapngBlockToWrite[] = [
    { kind: 'section', bigEndian: false },
    {
      kind: 'interface',
      linkType: reader.linkType,
      snapLength: reader.header?.snapLength,
      tsresol: NANOSECONDS_TSRESOL,
    },
  ];
  let status: PcapReadStatus;
  while ((status = reader.next()) === PcapReadStatus.Packet) {
    const { tsMicros, capturedLength, originalLength } = reader.record;
    blocks.push({
      kind: 'enhanced',
      interfaceId: 0,
      timestamp: BigInt(tsMicros) * 1000n,
      data: Buffer.from(reader.packet.subarray(0, capturedLength)),
      originalLength,
    });
  }
  reader.close();
  assert.equal(status, PcapReadStatus.End, `${pcapPath}: read stopped with status ${status}`);
  blocks.push({ kind: 'other', blockType: INTERFACE_STATISTICS_BLOCK, body: Buffer.alloc(STATISTICS_BODY_LENGTH) });
  const path = pcapPath.replace(/\.pcap$/, '.pcapng');
  writeFileSync(path, writePcapng(blocks));
  return path;
}

// `-i FILE` as upstream's offline builds take it, and our --offline; pcapng as Wireshark writes.
for (const { fileFlag, format } of [
  { fileFlag: '--offline', format: 'pcap' },
  { fileFlag: '-i', format: 'pcap' },
  { fileFlag: '-i', format: 'pcapng' },
] as const) {
  test(
    `tcpcopy ${fileFlag} replays a ${format} capture file at -a speed and exits by itself`,
    { timeout: 120_000 },
    async (t) => {
      await withLab(t, async (lab) => {
        const prod = await lab.startNginx('prod');
        const target = await lab.startNginx('target');
        const capture = await lab.captureOn('prod', 'tcp port 80');
        await sleep(300);
        for (let i = 0; i < REQUESTS; i++) {
          await lab.exec('client', 'curl', ['-s', '-o', '/dev/null', prod.url(`/index.html?n=${i}`)]);
          await sleep(SPREAD_MS / REQUESTS);
        }
        await sleep(300);
        const pcap = await capture.stop();
        const file = format === 'pcapng' ? asPcapng(pcap) : pcap;
        assert.equal(target.readAccessLog().length, 0, 'nothing was copied while capturing');

        await startIntercept(lab, 80);
        const replay = lab.spawn(
          'prod',
          TCPCOPY_BIN,
          [
            fileFlag,
            file,
            '-a',
            String(SPEEDUP),
            '-x',
            `80-${lab.host('target').ip}:80`,
            '-s',
            lab.host('aux').ip,
            '-c',
            fakeRange(lab),
          ],
          { name: 'tcpcopy-offline' },
        );
        // When the first and the last copied request reach the test server.
        let firstAt = 0;
        let lastAt = 0;
        const arrived = await settle(() => {
          const n = target.readAccessLog().length;
          if (n > 0 && firstAt === 0) firstAt = Date.now();
          if (n === REQUESTS && lastAt === 0) lastAt = Date.now();
          return n;
        }, REQUESTS);
        const exit = await replay.exited;
        assert.equal(arrived, REQUESTS, `target received ${arrived} of ${REQUESTS}`);
        assert.deepEqual(
          target.readAccessLog().map((e) => e.path),
          prod.readAccessLog().map((e) => e.path),
          'same requests, in the same order',
        );
        assert.equal(exit.code, 0, `exit ${exit.code}: ${replay.stderr.slice(-500)}`);
        assert.match(replay.stderr, /"msg":"final stats"/);
        // The requests span ~SPREAD_MS in the file: at -a 3 about a third of it, not all at once.
        const span = lastAt - firstAt;
        const expected = SPREAD_MS / SPEEDUP;
        assert.ok(
          span > expected * 0.6 && span < expected * 2.5,
          `copies spread over ${span} ms, expected about ${expected}`,
        );
      });
    },
  );
}
