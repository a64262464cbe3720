/**
 * Every way a lab run can end leaves no namespace and no process behind: a failing test, a
 * signal, an uncaught exception, process.exit, and (through sweepStaleLabs) even SIGKILL.
 * Each case runs in a child process (test/lab/selftest) so the test itself survives it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DEFAULT_LOG_ROOT, sweepStaleLabs } from '../lab/index.js';
import { newPrefix, namespaceName, procStat } from '../lab/names.js';
import { listNamespaces } from '../lab/registry.js';
import { CommandRunner } from '../lab/shell.js';

const SELFTEST = join(dirname(fileURLToPath(import.meta.url)), '..', 'lab', 'selftest');

interface ChildResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

interface Held {
  prefix: string;
  sleepPid: number;
}

function namespacesWith(prefix: string): string[] {
  return listNamespaces(new CommandRunner()).filter((n) => n.startsWith(`${prefix}-`));
}

/** True once `pid` is gone (a zombie counts as gone: it holds no namespace). */
async function processGone(pid: number, timeoutMs = 2000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const state = procStat(pid)?.[0];
    if (state === undefined || state === 'Z') return true;
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Runs a selftest script; `onReady` is called once it prints `ready` (e.g. to signal it). */
function runChild(script: string, args: string[], onReady?: (pid: number) => void): Promise<ChildResult> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [join(SELFTEST, script), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => {
      stdout += s;
      if (onReady && /^ready$/m.test(stdout)) {
        onReady(child.pid!);
        onReady = undefined;
      }
    });
    child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

/** Where a child reports its lab; cleanup also removes that lab's log directory. */
function tempFile(): { path: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'lab-teardown-'));
  const path = join(dir, 'out.json');
  const cleanup = (): void => {
    if (existsSync(path)) {
      const text = readFileSync(path, 'utf8');
      const prefix = text.startsWith('{') ? (JSON.parse(text) as Held).prefix : text;
      rmSync(join(DEFAULT_LOG_ROOT, prefix), { recursive: true, force: true });
    }
    rmSync(dir, { recursive: true, force: true });
  };
  return { path, cleanup };
}

test('a test that throws inside withLab leaves no namespace and keeps its logs', async (t) => {
  const out = tempFile();
  t.after(out.cleanup);
  const result = await runChild('throws-in-test.js', [out.path]);
  const prefix = readFileSync(out.path, 'utf8');
  assert.notEqual(result.code, 0, 'the child test should fail');
  assert.match(result.stderr + result.stdout, /deliberate failure inside the lab/);
  assert.match(result.stderr, new RegExp(`lab ${prefix} failed; logs in`));
  assert.deepEqual(namespacesWith(prefix), []);
  assert.ok(existsSync(join(DEFAULT_LOG_ROOT, prefix, 'commands.log')), 'a failed run keeps its logs');
});

for (const sig of ['SIGTERM', 'SIGINT'] as const) {
  test(`${sig} mid-run tears the lab down and kills what ran in it`, async () => {
    const out = tempFile();
    try {
      const result = await runChild('holds-lab.js', ['wait', out.path], (pid) => process.kill(pid, sig));
      const held = JSON.parse(readFileSync(out.path, 'utf8')) as Held;
      assert.equal(result.signal, sig, `child should die of ${sig}; stderr: ${result.stderr}`);
      assert.deepEqual(namespacesWith(held.prefix), []);
      assert.ok(await processGone(held.sleepPid), 'the program inside the lab survived');
    } finally {
      out.cleanup();
    }
  });
}

for (const mode of ['uncaught', 'exit'] as const) {
  test(`${mode === 'exit' ? 'process.exit()' : 'an uncaught exception'} tears the lab down`, async () => {
    const out = tempFile();
    try {
      const result = await runChild('holds-lab.js', [mode, out.path]);
      const held = JSON.parse(readFileSync(out.path, 'utf8')) as Held;
      assert.equal(result.code, mode === 'exit' ? 5 : 1, result.stderr);
      assert.deepEqual(namespacesWith(held.prefix), []);
      assert.ok(await processGone(held.sleepPid), 'the program inside the lab survived');
    } finally {
      out.cleanup();
    }
  });
}

test('after SIGKILL the namespaces remain until sweepStaleLabs removes them', async () => {
  const out = tempFile();
  try {
    const result = await runChild('holds-lab.js', ['wait', out.path], (pid) => process.kill(pid, 'SIGKILL'));
    const held = JSON.parse(readFileSync(out.path, 'utf8')) as Held;
    assert.equal(result.signal, 'SIGKILL');
    assert.equal(namespacesWith(held.prefix).length, 5, 'SIGKILL cannot be handled: switch + 4 hosts stay');
    const removed = sweepStaleLabs();
    assert.deepEqual(removed.filter((n) => n.startsWith(`${held.prefix}-`)).sort(), namespacesExpected(held.prefix));
    assert.deepEqual(namespacesWith(held.prefix), []);
    assert.ok(await processGone(held.sleepPid), 'the program inside the stale lab survived the sweep');
  } finally {
    out.cleanup();
  }
});

function namespacesExpected(prefix: string): string[] {
  return ['switch', 'client', 'prod', 'aux', 'target'].map((r) => namespaceName(prefix, r)).sort();
}

test('sweepStaleLabs leaves alone namespaces that are not ours or whose owner lives', async (t) => {
  // Owned by this (living) process, and a name outside the lab pattern.
  const mine = namespaceName(newPrefix(), 'client');
  const foreign = `notalab-${process.pid}`;
  for (const ns of [mine, foreign]) {
    execFileSync('ip', ['netns', 'add', ns]);
    t.after(() => execFileSync('ip', ['netns', 'del', ns]));
  }
  const removed = sweepStaleLabs();
  assert.ok(!removed.includes(mine) && !removed.includes(foreign), `swept ${removed.join(', ')}`);
  const left = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' });
  assert.match(left, new RegExp(`^${mine}\\b`, 'm'));
  assert.match(left, new RegExp(`^${foreign}\\b`, 'm'));
});
