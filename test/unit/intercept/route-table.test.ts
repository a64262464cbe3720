import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ROUTE_IDLE_TIMEOUT_MS, RouteTable } from '@tcpcopy/intercept';

const FLOW = [0x0a090001, 40000, 0x0a000002, 8000] as const;

describe('RouteTable', () => {
  test('add then lookup; every field of the key matters', () => {
    const t = new RouteTable();
    assert.equal(t.add(...FLOW, 1, 0), undefined);
    assert.equal(t.lookup(...FLOW, 0), 1);
    assert.equal(t.lookup(FLOW[0] + 1, FLOW[1], FLOW[2], FLOW[3], 0), undefined);
    assert.equal(t.lookup(FLOW[0], FLOW[1] + 1, FLOW[2], FLOW[3], 0), undefined);
    assert.equal(t.lookup(FLOW[0], FLOW[1], FLOW[2] + 1, FLOW[3], 0), undefined);
    assert.equal(t.lookup(FLOW[0], FLOW[1], FLOW[2], FLOW[3] + 1, 0), undefined);
    // Keys must not alias: ip*65536+port arithmetic must keep (ip, port+1) apart from (ip+1, port).
    assert.equal(t.lookup(0xffffffff, 0xffff, 0xffffffff, 0xffff, 0), undefined);
    assert.equal(t.size, 1);
  });

  test('rebinding: the last add wins and reports the previous connection', () => {
    const t = new RouteTable();
    t.add(...FLOW, 1, 0);
    assert.equal(t.add(...FLOW, 1, 5), 1, 'refresh');
    assert.equal(t.add(...FLOW, 2, 6), 1, 'rebound');
    assert.equal(t.lookup(...FLOW, 7), 2);
    assert.equal(t.size, 1);
    assert.equal(t.routesOf(1), 0);
    assert.equal(t.routesOf(2), 1);
  });

  test('delete only by the connection that holds the route', () => {
    const t = new RouteTable();
    t.add(...FLOW, 1, 0);
    t.add(...FLOW, 2, 0);
    assert.equal(t.delete(...FLOW, 1), false);
    assert.equal(t.lookup(...FLOW, 0), 2);
    assert.equal(t.delete(...FLOW, 2), true);
    assert.equal(t.lookup(...FLOW, 0), undefined);
    assert.equal(t.delete(...FLOW, 2), false);
    assert.equal(t.size, 0);
  });

  test('one fake client toward several targets: each route independent, any one removable', () => {
    const t = new RouteTable();
    for (let port = 1; port <= 4; port++) t.add(FLOW[0], FLOW[1], FLOW[2], port, port, 0);
    assert.equal(t.delete(FLOW[0], FLOW[1], FLOW[2], 2, 2), true);
    assert.equal(t.delete(FLOW[0], FLOW[1], FLOW[2], 4, 4), true);
    assert.deepEqual(
      [1, 2, 3, 4].map((port) => t.lookup(FLOW[0], FLOW[1], FLOW[2], port, 0)),
      [1, undefined, 3, undefined],
    );
    assert.equal(t.size, 2);
  });

  test('closing a connection removes exactly its routes', () => {
    const t = new RouteTable();
    for (let port = 1; port <= 10; port++) t.add(FLOW[0], port, FLOW[2], FLOW[3], port % 2, 0);
    assert.equal(t.deleteConnection(1), 5);
    assert.equal(t.deleteConnection(1), 0);
    assert.equal(t.size, 5);
    for (let port = 1; port <= 10; port++) {
      assert.equal(t.lookup(FLOW[0], port, FLOW[2], FLOW[3], 0), port % 2 === 0 ? 0 : undefined);
    }
  });

  test('idle routes expire; adds and routed lookups keep a route alive', () => {
    const t = new RouteTable(1000);
    t.add(FLOW[0], 1, FLOW[2], FLOW[3], 1, 0);
    t.add(FLOW[0], 2, FLOW[2], FLOW[3], 1, 0);
    t.add(FLOW[0], 3, FLOW[2], FLOW[3], 1, 0);
    t.lookup(FLOW[0], 1, FLOW[2], FLOW[3], 600);
    t.add(FLOW[0], 2, FLOW[2], FLOW[3], 1, 700);
    assert.equal(t.expireIdle(999), 0);
    assert.equal(t.expireIdle(1000), 1);
    assert.equal(t.lookup(FLOW[0], 3, FLOW[2], FLOW[3], 1000), undefined);
    assert.equal(t.expireIdle(1600), 1);
    assert.equal(t.expireIdle(1700), 1);
    assert.equal(t.size, 0);
    assert.equal(t.routesOf(1), 0);
    assert.equal(new RouteTable().idleTimeoutMs, ROUTE_IDLE_TIMEOUT_MS);
  });

  test('behaves like a simple model under any sequence of operations', () => {
    type Op =
      | { op: 'add'; flow: number[]; conn: number }
      | { op: 'lookup'; flow: number[] }
      | { op: 'delete'; flow: number[]; conn: number }
      | { op: 'close'; conn: number }
      | { op: 'wait'; ms: number };
    // A tiny key space so adds collide, rebind and share client endpoints.
    const flow = fc.tuple(
      fc.constantFrom(1, 0xffffffff),
      fc.constantFrom(0, 1),
      fc.constantFrom(1, 2),
      fc.constantFrom(80, 0xffff),
    );
    const conn = fc.integer({ min: 0, max: 2 });
    const op: fc.Arbitrary<Op> = fc.oneof(
      fc.record({ op: fc.constant('add' as const), flow, conn }),
      fc.record({ op: fc.constant('lookup' as const), flow }),
      fc.record({ op: fc.constant('delete' as const), flow, conn }),
      fc.record({ op: fc.constant('close' as const), conn }),
      fc.record({ op: fc.constant('wait' as const), ms: fc.integer({ min: 0, max: 60 }) }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 80 }), (ops) => {
        const idle = 100;
        const t = new RouteTable(idle);
        const model = new Map<string, { conn: number; used: number }>();
        let now = 0;
        for (const o of ops) {
          if (o.op === 'wait') {
            now += o.ms;
            let expired = 0;
            for (const [k, v] of model) {
              if (now - v.used < idle) continue;
              model.delete(k);
              expired++;
            }
            assert.equal(t.expireIdle(now), expired);
          } else if (o.op === 'close') {
            let closed = 0;
            for (const [k, v] of model) {
              if (v.conn !== o.conn) continue;
              model.delete(k);
              closed++;
            }
            assert.equal(t.deleteConnection(o.conn), closed);
          } else {
            const [ci, cp, ti, tp] = o.flow as [number, number, number, number];
            const k = o.flow.join(':');
            const m = model.get(k);
            if (o.op === 'add') {
              assert.equal(t.add(ci, cp, ti, tp, o.conn, now), m?.conn);
              model.set(k, { conn: o.conn, used: now });
            } else if (o.op === 'lookup') {
              assert.equal(t.lookup(ci, cp, ti, tp, now), m?.conn);
              if (m !== undefined) m.used = now;
            } else {
              const owned = m?.conn === o.conn;
              assert.equal(t.delete(ci, cp, ti, tp, o.conn), owned);
              if (owned) model.delete(k);
            }
          }
          assert.equal(t.size, model.size);
          for (const c of [0, 1, 2])
            assert.equal(t.routesOf(c), [...model.values()].filter((v) => v.conn === c).length);
        }
      }),
    );
  });
});
