/**
 * Diff-log records for the report's tests, made by the real comparison and toDiffRecord so the
 * tests follow the log's format; HTTP mode's fields (not written by the code yet) added by hand.
 */
import { ExchangeRecorder, compareExchange, toDiffRecord } from '@tcpcopy/copier/compare';
import type { DiffHttpFields, DiffRecord, DiffSession, Exchange } from '../../../packages/copier/src/compare/index.js';

export const SESSION: DiffSession = { client: '198.51.100.7:51234', target: '10.0.0.2:80', copy: 0 };

function exchange(request: string, answer: string): Exchange {
  const recorder = new ExchangeRecorder({ compareBytes: 64 * 1024, requestBytes: 512 });
  recorder.clientBytes(Buffer.from(request, 'latin1'), 0);
  recorder.serverBytes(Buffer.from(answer, 'latin1'), 1);
  return recorder.end(false)!;
}

/** The record of production's and the test server's answers to `request`; `test` undefined: a timeout. */
export function diffRecord(
  request: string,
  production: string,
  test: string | undefined,
  session: DiffSession = SESSION,
): DiffRecord {
  const ours = exchange(request, production);
  const theirs = test === undefined ? undefined : exchange(request, test);
  const record = toDiffRecord(session, compareExchange(ours, theirs));
  if (record === undefined) throw new Error('the answers do not differ');
  return record;
}

export function get(path: string): string {
  return `GET ${path} HTTP/1.1\r\nHost: example.com\r\n\r\n`;
}

export function answer(status: string, body: string, headers = ''): string {
  return `HTTP/1.1 ${status}\r\n${headers}Content-Length: ${body.length}\r\n\r\n${body}`;
}

/** An HTTP-mode record: a bytes-mode one with the kind and the answers' `http` fields set. */
export function httpRecord(
  base: DiffRecord,
  kind: DiffRecord['kind'],
  production: DiffHttpFields,
  test: DiffHttpFields,
): DiffRecord {
  return {
    ...base,
    kind,
    production: { ...base.production, http: production },
    test: base.test === null ? null : { ...base.test, http: test },
  };
}
