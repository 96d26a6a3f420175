/**
 * The connection table's rules (pure logic, on stand-in sockets and times): who is closed
 * at the cap, after which timeout, and which responses are cut when old expositions pile
 * up; every close reported with its reason.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import type { ServerResponse } from 'node:http';
import { Connections, type CloseReason } from '../../../src/exporters/prometheus/connections.js';
import type { Exposition } from '../../../src/exporters/prometheus/exposition.js';

class FakeSocket extends EventEmitter {
  destroyed = false;
  constructor(readonly name: string) {
    super();
  }
  reset = false;
  destroy() {
    if (this.destroyed) return;
    this.destroyed = true;
    this.emit('close');
  }
  resetAndDestroy() {
    this.reset = true;
    this.destroy();
  }
}

function table(limits: Partial<ConstructorParameters<typeof Connections>[0]> = {}) {
  const closed: Array<[string, CloseReason, number]> = [];
  const t = new Connections({ maxConnections: 3, readHeaderMs: 1000, idleMs: 5000, writeMs: 2000, ...limits }, (c, reason) =>
    closed.push([(c as { socket?: FakeSocket }).socket?.name ?? 'refused', reason, c.points]),
  );
  const open = (name: string) => {
    const s = new FakeSocket(name);
    t.accept(s as unknown as Socket);
    return s;
  };
  const ask = (s: FakeSocket) => {
    const res = new EventEmitter();
    t.of(s as unknown as Socket)!.request(res as unknown as ServerResponse);
    return { conn: t.of(s as unknown as Socket)!, end: () => res.emit('close') };
  };
  return { t, closed, open, ask };
}

function exposition(generation: number, points: number, bytes: number) {
  let released = 0;
  const e = { generation, points, byteLength: () => bytes, release: () => void released++ } as unknown as Exposition;
  return { e, released: () => released };
}

test('at max_connections a new connection closes the one that has waited longest without a response under way', async () => {
  const { t, closed, open, ask } = table();
  const a = open('a');
  await new Promise((r) => setTimeout(r, 2));
  const b = open('b');
  const c = open('c');
  ask(a); // busy: kept
  open('d');
  assert.deepEqual(closed, [['b', 'connection_limit', 0]]);
  assert.ok(b.destroyed && !b.reset && !a.destroyed && !c.destroyed);
  assert.equal(t.size, 3);
});

test('a stalled response goes before a busy one, counted as a slow reader with its data points; when all are busy the newcomer is refused', () => {
  const { closed, open, ask } = table({ maxConnections: 2 });
  const a = open('a');
  const b = open('b');
  const ra = ask(a);
  const rb = ask(b);
  const ea = exposition(1, 1234, 10);
  ra.conn.serving(ea.e);
  rb.conn.serving(exposition(1, 1234, 10).e);
  ra.conn.stalled();
  open('c');
  assert.deepEqual(closed, [['a', 'slow_reader', 1234]]);
  assert.equal(ea.released(), 1, 'the cut response lets go of its exposition');
  assert.equal(a.reset, true, 'a response cut short is reset, not left to the kernel');
  // b is busy, c has not asked yet: c goes for d; then with b and d busy, e is refused.
  const d = open('d');
  ask(d);
  open('e');
  assert.deepEqual(closed.slice(1), [['c', 'connection_limit', 0], ['refused', 'connection_limit', 0]]);
  rb.end();
});

test('timeouts: no request head, idle between requests, a stalled response', () => {
  const { t, closed, open, ask } = table({ maxConnections: 10 });
  const now = performance.now();
  open('silent');
  const k = ask(open('kept-alive'));
  k.end(); // idle from now on
  const s = ask(open('slow'));
  s.conn.serving(exposition(1, 7, 10).e);
  s.conn.stalled();
  ask(open('busy'));
  t.sweep(now + 999);
  assert.deepEqual(closed, []);
  t.sweep(now + 1500);
  assert.deepEqual(closed, [['silent', 'header_timeout', 0]]);
  t.sweep(now + 2500);
  assert.deepEqual(closed.slice(1), [['slow', 'slow_reader', 7]]);
  t.sweep(now + 5500);
  assert.deepEqual(closed.slice(2), [['kept-alive', 'idle_timeout', 0]]);
  t.sweep(now + 1e9);
  assert.equal(closed.length, 3, 'a response making progress is never timed out');
  assert.equal(t.size, 1);
});

test('old expositions held by responses beyond the current one’s size: the responses holding the oldest are cut', () => {
  const { t, closed, open, ask } = table({ maxConnections: 10 });
  // What the writer would count: generations 1 and 2 replaced, 2 MiB each, held until their last response ends.
  const bytes = new Map([[1, 2 << 20], [2, 2 << 20]]);
  const holders = new Map<number, number>();
  let held = 4 << 20;
  const serve = (name: string, generation: number) => {
    holders.set(generation, (holders.get(generation) ?? 0) + 1);
    const e = {
      generation,
      points: 100 + generation,
      byteLength: () => 0,
      release: () => {
        holders.set(generation, holders.get(generation)! - 1);
        if (holders.get(generation) === 0) held -= bytes.get(generation) ?? 0;
      },
    } as unknown as Exposition;
    ask(open(name)).conn.serving(e);
  };
  serve('g1-a', 1);
  serve('g1-b', 1);
  serve('g2', 2);
  serve('g3', 3);
  const current = { generation: 3, byteLength: () => 3 << 20 } as unknown as Exposition;
  t.limitHeld(current, { memory: () => ({ heldBytes: held }) });
  // 4 MiB held > 3 MiB: generation 1 goes (2 MiB left, within the bound).
  assert.deepEqual(closed, [['g1-a', 'slow_reader', 101], ['g1-b', 'slow_reader', 101]]);
  t.limitHeld({ generation: 3, byteLength: () => 1000 } as unknown as Exposition, { memory: () => ({ heldBytes: held }) });
  // 2 MiB held > 1 MiB (the least bound): generation 2 goes; the current one's response never.
  assert.deepEqual(closed.slice(2), [['g2', 'slow_reader', 102]]);
  assert.equal(held, 0);
  assert.equal(t.size, 1);
});
