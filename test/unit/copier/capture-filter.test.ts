import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { parseIpv4 } from '@tcpcopy/common';
import { AddressWatch, buildCaptureFilter, filterNamesHostAddresses } from '@tcpcopy/copier/daemon';

const ip = (s: string): number => parseIpv4(s)!;
const target = (matchIp: string | undefined, matchPort: number, targetIp: string, targetPort: number) => ({
  matchIp: matchIp === undefined ? 0 : ip(matchIp),
  matchPort,
  targetIp: ip(targetIp),
  targetPort,
});

describe('copier capture filter', () => {
  test("without a source IP, the port addressed to any of this host's addresses", () => {
    const f = buildCaptureFilter(
      [target(undefined, 8000, '10.0.0.3', 8000)],
      [ip('127.0.0.1'), ip('10.0.0.2')],
      undefined,
    );
    assert.equal(f, 'tcp and ((dst port 8000 and dst host (127.0.0.1 or 10.0.0.2)))');
    assert.doesNotMatch(f, /inbound/, 'libpcap drops the first frame with inbound');
    assert.doesNotMatch(f, /10\.0\.0\.3/, 'the test server address never matches: our own packets go there');
  });

  test('entries with a source IP (a mirror port: not an address of this host), duplicates merged', () => {
    const targets = [
      target('192.0.2.1', 80, '10.0.0.3', 80),
      target('192.0.2.1', 80, '10.0.0.4', 80),
      target(undefined, 443, '10.0.0.3', 443),
    ];
    const f = buildCaptureFilter(targets, [ip('192.0.2.7')], undefined);
    assert.equal(f, 'tcp and ((dst port 80 and dst host (192.0.2.1)) or (dst port 443 and dst host (192.0.2.7)))');
  });

  test("--compare adds production's answers: from the same port and address, never the test server's", () => {
    const targets = [target(undefined, 8000, '10.0.0.3', 8000), target('192.0.2.1', 80, '10.0.0.3', 80)];
    const f = buildCaptureFilter(targets, [ip('10.0.0.2')], undefined, true);
    assert.equal(
      f,
      'tcp and ((dst port 8000 and dst host (10.0.0.2)) or (src port 8000 and src host (10.0.0.2)) or ' +
        '(dst port 80 and dst host (192.0.2.1)) or (src port 80 and src host (192.0.2.1)))',
    );
    assert.doesNotMatch(f, /10\.0\.0\.3/, "the test server's packets never match");
  });

  test('-F replaces the built filter, as upstream', () => {
    const targets = [target(undefined, 80, '10.0.0.3', 80)];
    assert.equal(
      buildCaptureFilter(targets, [ip('192.0.2.7')], 'tcp dst port 80 and src net 10.8.0.0/16'),
      'tcp dst port 80 and src net 10.8.0.0/16',
    );
    assert.match(buildCaptureFilter(targets, [ip('192.0.2.7')], '  '), /^tcp and \(/);
  });
});

describe('the copier follows the host addresses', () => {
  test('only a built filter that names them follows them', () => {
    assert.equal(filterNamesHostAddresses([target(undefined, 80, '10.0.0.3', 80)], undefined), true);
    assert.equal(filterNamesHostAddresses([target(undefined, 80, '10.0.0.3', 80)], '  '), true);
    assert.equal(filterNamesHostAddresses([target(undefined, 80, '10.0.0.3', 80)], 'tcp port 80'), false, '-F');
    assert.equal(filterNamesHostAddresses([target('192.0.2.1', 80, '10.0.0.3', 80)], undefined), false);
  });

  test('a watch reports what was added and removed since its last poll, once', () => {
    let now = [ip('10.0.0.2'), ip('127.0.0.1')];
    const watch = new AddressWatch(() => now, now);
    assert.equal(watch.poll(), undefined);
    now = [ip('10.0.0.2'), ip('127.0.0.1'), ip('10.0.0.99')];
    assert.deepEqual(watch.poll(), { added: [ip('10.0.0.99')], removed: [], current: now });
    assert.equal(watch.poll(), undefined);
    now = [ip('127.0.0.1'), ip('10.0.0.99')];
    assert.deepEqual(watch.poll(), { added: [], removed: [ip('10.0.0.2')], current: now });
  });
});
