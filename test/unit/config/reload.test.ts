import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { componentLogger, ConfigReloader, createLogger, ErrorCode, type RootLogger } from '@tcpcopy/common';
import { parseCopierArgs, type CopierConfig } from '@tcpcopy/copier';
import { Client, connect, Sim } from '../engine/harness.js';

const FILE = '/etc/tcpcopy.yaml';
const BASE = 'transfer: 80-10.0.0.3:80\nintercepts: 10.0.0.2\n';

/** A logger whose JSON lines land in `lines`. */
function memoryLogger(level: CopierConfig['logLevel']): { log: RootLogger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const log = createLogger({
    name: 'tcpcopy',
    level,
    stderr: { write: (s: string) => lines.push(JSON.parse(s) as Record<string, unknown>) },
  });
  return { log, lines };
}

/** The config tcpcopy starts with, and a load() that re-reads whatever `file.text` holds then. */
function fileBacked(text: string): { config: CopierConfig; file: { text: string }; load: () => CopierConfig } {
  const file = { text };
  const load = (): CopierConfig => parseCopierArgs(['--config', FILE], () => file.text);
  return { config: load(), file, load };
}

describe('SIGHUP: reload of --config', () => {
  test('the log level follows the file, in child loggers made before the reload too', () => {
    const { config, file, load } = fileBacked(`${BASE}logLevel: info\n`);
    const { log, lines } = memoryLogger(config.logLevel);
    const capture = componentLogger(log, 'capture');
    const reloader = new ConfigReloader(config, { log, load });
    capture.debug('before');
    file.text = `${BASE}logLevel: debug\n`;
    const outcome = reloader.onSighup();
    assert.deepEqual(outcome, { ok: true, applied: ['logLevel'], restartNeeded: [] });
    capture.debug('after');
    assert.deepEqual(
      lines.map((l) => l['msg']),
      ['config reloaded', 'after'],
    );
    assert.deepEqual(lines[0]!['applied'], { logLevel: 'debug' });
    assert.equal(reloader.settings.logLevel, 'debug');
    assert.ok(Object.isFrozen(reloader.settings));
  });

  test('the reload is confirmed at info under the old level or the new one', () => {
    for (const [from, to] of [
      ['info', 'warn'],
      ['warn', 'info'],
    ] as const) {
      const { config, file, load } = fileBacked(`${BASE}logLevel: ${from}\n`);
      const { log, lines } = memoryLogger(config.logLevel);
      file.text = `${BASE}logLevel: ${to}\n`;
      new ConfigReloader(config, { log, load }).reload();
      assert.deepEqual(
        lines.map((l) => [l['msg'], l['applied']]),
        [['config reloaded', { logLevel: to }]],
        `${from} -> ${to}`,
      );
      assert.equal(log.level, to);
    }
  });

  test("-r is applied through the daemon's applier; other changes wait for a restart, named in a warning", () => {
    const { config, file, load } = fileBacked(`${BASE}percentage: 50\ncopies: 1\n`);
    const { log, lines } = memoryLogger('info');
    const applied: number[] = [];
    const reloader = new ConfigReloader(config, { log, load, apply: { samplePercent: (p) => applied.push(p) } });
    file.text = `${BASE}percentage: 20\ncopies: 3\n`;
    assert.deepEqual(reloader.reload(), { ok: true, applied: ['samplePercent'], restartNeeded: ['copies'] });
    assert.deepEqual(applied, [20]);
    assert.equal(reloader.settings.samplePercent, 20);
    assert.equal(reloader.settings.copies, 1, 'the running value stays until restart');
    const warning = lines.find((l) => l['msg'] === 'changed settings take effect on restart only');
    assert.deepEqual(warning?.['settings'], ['copies']);
    assert.equal(warning?.['file'], FILE);

    // The same file again: -r is in effect already; copies still differs from the running
    // value, so it is named again.
    lines.length = 0;
    assert.deepEqual(reloader.reload(), { ok: true, applied: [], restartNeeded: ['copies'] });
    assert.deepEqual(applied, [20]);
  });

  test('a bad file is logged with its code and the running settings stay', () => {
    const { config, file, load } = fileBacked(`${BASE}percentage: 50\nlogLevel: info\n`);
    const { log, lines } = memoryLogger('info');
    const applied: number[] = [];
    const reloader = new ConfigReloader(config, { log, load, apply: { samplePercent: (p) => applied.push(p) } });
    for (const bad of [
      `${BASE}percentage: fifty\nlogLevel: debug\n`,
      `${BASE}percentage: 20\ncolour: blue\n`,
      'transfer: [80\n',
    ]) {
      file.text = bad;
      lines.length = 0;
      const outcome = reloader.reload();
      assert.equal(outcome.ok, false, bad);
      assert.equal(lines.length, 1);
      assert.equal(lines[0]!['msg'], 'config reload failed: the current settings stay');
      assert.equal(lines[0]!['level'], 50);
      assert.match(String((lines[0]!['err'] as { code: string }).code), /^TCPCOPY_ERR_(BAD_FLAG|CONFIG_FILE)$/);
    }
    assert.deepEqual(applied, []);
    assert.equal(reloader.settings, config);
    assert.equal(log.level, 'info');
    // A good file again is applied.
    file.text = `${BASE}percentage: 20\nlogLevel: info\n`;
    assert.deepEqual(reloader.reload(), { ok: true, applied: ['samplePercent'], restartNeeded: [] });
  });

  test('the code of a bad file is CONFIG_FILE when the file is at fault', () => {
    const { config, file, load } = fileBacked(BASE);
    const { log } = memoryLogger('info');
    file.text = 'colour: blue\n';
    const outcome = new ConfigReloader(config, { log, load }).reload();
    assert.ok(!outcome.ok && (outcome.error as { code: string }).code === ErrorCode.CONFIG_FILE);
  });

  test('without --config, SIGHUP only reopens the log file (logrotate), at the same path', () => {
    const dir = mkdtempSync(join(tmpdir(), 'reload-'));
    try {
      const path = join(dir, 'tcpcopy.log');
      const config = parseCopierArgs(['-x', '80-10.0.0.3:80', '-s', '10.0.0.2', '-l', path]);
      const log = createLogger({ name: 'tcpcopy', level: 'info', file: path });
      let loads = 0;
      const reloader = new ConfigReloader(config, { log, load: () => (loads++, config) });
      log.info('one');
      renameSync(path, `${path}.1`); // logrotate moves the file away
      log.info('two');
      assert.equal(reloader.onSighup(), undefined);
      log.info('three');
      log.flush();
      assert.equal(loads, 0);
      const msgs = (p: string): unknown[] =>
        readFileSync(p, 'utf8')
          .trim()
          .split('\n')
          .map((l) => (JSON.parse(l) as { msg: unknown }).msg);
      assert.deepEqual(msgs(`${path}.1`), ['one', 'two']);
      assert.deepEqual(msgs(path), ['three']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('the engine reads -r at each session start (what makes the reload safe)', () => {
  test('lowering -r keeps running sessions and skips new ones; raising it takes new ones again', () => {
    const sim = new Sim({ config: { samplePercent: 100 } });
    const live = sim.config as { samplePercent: number }; // main.ts keeps the engine config mutable
    const running = connect(sim, { port: 30000 });
    running.feed(running.data('one'));
    sim.settle();

    live.samplePercent = 0;
    running.feed(running.data('two'));
    const skipped = new Client(sim, { port: 30001 });
    skipped.feed(skipped.syn());
    sim.settle();
    assert.deepEqual(
      sim.target.accepted.map((c) => c.clientPort),
      [30000],
    );
    assert.equal(sim.target.accepted[0]!.received.toString(), 'onetwo', 'the running session is not dropped');
    assert.equal(sim.engine.counters.sessionsSampledOut, 1);

    live.samplePercent = 100;
    connect(sim, { port: 30002 });
    assert.deepEqual(
      sim.target.accepted.map((c) => c.clientPort),
      [30000, 30002],
    );
  });
});
