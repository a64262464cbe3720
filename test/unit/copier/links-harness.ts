/** The copier's control connections to a loopback intercept (ours, or a stand-in), recorded. */
import type { TestContext } from 'node:test';
import { ResponseBatchCursor, TcpFlag, createLogger } from '@tcpcopy/common';
import { InterceptLinks, type InterceptLinksOptions } from '@tcpcopy/copier/daemon';

export const LOOPBACK = 0x7f000001;
/** replyPacket's defaults: the test server 10.0.0.2:8000 answering the fake client 10.9.0.1:40000. */
export const TUPLE = { srcIp: 0x0a090001, srcPort: 40000, dstIp: 0x0a000002, dstPort: 8000 };
export const REPLY = { seq: 7000, flags: TcpFlag.ACK | TcpFlag.PSH, payloadLength: 10 };

export interface RecordedLinks {
  readonly links: InterceptLinks;
  /** Log lines (pino JSON), debug and up. */
  readonly logs: string[];
  /** Every header record received, copied. */
  readonly records: Buffer[];
}

/** Links to LOOPBACK:`port`, started now and closed after the test. */
export function linksTo(
  t: TestContext,
  port: number,
  options: Partial<
    Pick<
      InterceptLinksOptions,
      'protocol' | 'authKey' | 'connectionsPerIntercept' | 'wantPayloads' | 'onPayloadsRefused'
    >
  > = {},
): RecordedLinks {
  const logs: string[] = [];
  const records: Buffer[] = [];
  const links = new InterceptLinks({
    intercepts: [{ ip: LOOPBACK, port }],
    connectionsPerIntercept: 1,
    protocol: 'auto',
    ...options,
    instanceId: 'test',
    software: 'test',
    log: createLogger({ name: 'tcpcopy', level: 'debug', stderr: { write: (s: string) => logs.push(s) } }),
    onRecords: (batch) => {
      const cursor = new ResponseBatchCursor().reset(batch);
      let n = 0;
      for (; cursor.next(); n++)
        records.push(Buffer.from(cursor.buffer.subarray(cursor.offset, cursor.offset + cursor.length)));
      return n;
    },
  });
  links.start();
  t.after(() => links.close());
  return { links, logs, records };
}

export const said = (logs: readonly string[], text: string): boolean => logs.some((l) => l.includes(text));
