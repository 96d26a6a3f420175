import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Subject, type Observable } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import type { Batch } from '../../../src/core/component.js';
import type { TcpEvent } from '../../../src/core/events.js';
import { batchProcessorFactory as factory } from '../../../src/processors/batch/factory.js';
import { testContext } from '../../support/context.js';
import { Telemetry } from '../../../src/core/telemetry.js';
import { batchOf, makeEvent, metricBatch } from '../../support/events.js';
import { DROPPED, ITEMS_IN, ITEMS_OUT, configOf, issuesOf } from '../../support/processors.js';

const ev = (id: number): TcpEvent => makeEvent({ socketId: id });
const evs = (from: number, to: number): TcpEvent[] => Array.from({ length: to - from + 1 }, (_, i) => ev(from + i));

type Cold = <T = Batch>(marbles: string, values?: Record<string, T>, error?: unknown) => Observable<T>;
type Expect = (input$: Observable<Batch>, marbles: string, values?: Record<string, Batch>, error?: unknown) => void;

/** Runs a marble test of the batch processor with `over` merged over the defaults; returns the telemetry. */
function marbles(over: Record<string, unknown>, body: (h: { cold: Cold; expect: Expect }) => void) {
  const scheduler = new TestScheduler((actual, expected) => assert.deepEqual(actual, expected));
  const ctx = testContext('batch', 'processor', { scheduler });
  scheduler.run(({ cold, expectObservable }) => {
    const op = factory.create(configOf(factory, over), ctx);
    body({
      cold: cold as Cold,
      expect: (input$, m, values, error) => expectObservable(input$.pipe(op)).toBe(m, values, error),
    });
  });
  return ctx.telemetry.telemetry;
}

test('the factory and its defaults', () => {
  assert.equal(factory.type, 'batch');
  assert.deepEqual(factory.accepts, ['events', 'metrics']);
  assert.equal(factory.output('metrics'), 'metrics');
  assert.equal(factory.output('events'), 'events');
  assert.deepEqual(factory.createDefaultConfig(), { send_batch_size: 8192, timeout: '200ms', send_batch_max_size: 0 });
  assert.deepEqual(configOf(factory), { send_batch_size: 8192, timeout: 200, send_batch_max_size: 0 });
});

test('size trigger: sends as soon as send_batch_size events are buffered (all of them, without a max)', () => {
  const t = marbles({ send_batch_size: 3, timeout: '100ms' }, ({ cold, expect }) => {
    expect(cold('a 9ms b 9ms c|', { a: batchOf(evs(1, 2)), b: batchOf(evs(3, 4)), c: batchOf(evs(5, 7)) }), '10ms x 9ms y|', {
      x: batchOf(evs(1, 4)),
      y: batchOf(evs(5, 7)),
    });
  });
  assert.equal(t.total(ITEMS_IN), 7);
  assert.equal(t.total(ITEMS_OUT), 7);
  assert.equal(t.total(DROPPED), 0);
});

test('timeout trigger: sends timeout after the first buffered event', () => {
  marbles({ send_batch_size: 100, timeout: '100ms' }, ({ cold, expect }) => {
    expect(cold('a 49ms b 99ms c 149ms -|', { a: batchOf(evs(1, 1)), b: batchOf(evs(2, 3)), c: batchOf(evs(4, 4)) }), '100ms x 149ms y 49ms -|', {
      x: batchOf(evs(1, 3)),
      y: batchOf(evs(4, 4)),
    });
  });
});

test('split: at most send_batch_max_size per send; the remainder waits for its own timeout', () => {
  const t = marbles({ send_batch_size: 3, send_batch_max_size: 4, timeout: '100ms' }, ({ cold, expect }) => {
    expect(cold('a 199ms -|', { a: batchOf(evs(1, 10)) }), '(xy) 96ms z 99ms -|', {
      x: batchOf(evs(1, 4)),
      y: batchOf(evs(5, 8)),
      z: batchOf(evs(9, 10)),
    });
  });
  assert.equal(t.total(ITEMS_OUT), 10);
});

test('split on timeout and on complete too', () => {
  marbles({ send_batch_size: 5, send_batch_max_size: 5, timeout: '50ms' }, ({ cold, expect }) => {
    // 4 + 3 events: the size trigger fires at 10ms (5 sent), 2 wait for the timeout.
    expect(cold('a 9ms b 99ms c 9ms d|', { a: batchOf(evs(1, 4)), b: batchOf(evs(5, 7)), c: batchOf(evs(8, 11)), d: batchOf(evs(12, 13)) }), '10ms x 49ms y 59ms z (w|)', {
      x: batchOf(evs(1, 5)),
      y: batchOf(evs(6, 7)),
      z: batchOf(evs(8, 12)),
      w: batchOf(evs(13, 13)),
    });
  });
});

test('a batch that reaches the size on its own passes as it is', () => {
  const scheduler = new TestScheduler((a, b) => assert.deepEqual(a, b));
  const input = batchOf(evs(1, 5));
  scheduler.run(({ cold, expectObservable }) => {
    const op = factory.create(configOf(factory, { send_batch_size: 5 }), testContext('batch', 'processor', { scheduler }));
    const out: Batch[] = [];
    expectObservable(cold('a|', { a: input }).pipe(op)).toBe('a|', { a: input });
    cold('a|', { a: input }).pipe(op).subscribe((b) => out.push(b));
    scheduler.flush();
    assert.equal(out[0], input);
  });
});

test('flush on complete: what is buffered goes out, then complete', () => {
  marbles({ timeout: '1s' }, ({ cold, expect }) => {
    expect(cold('a 19ms b 9ms |', { a: batchOf(evs(1, 2)), b: batchOf(evs(3, 3)) }), '30ms (x|)', { x: batchOf(evs(1, 3)) });
  });
  marbles({}, ({ cold, expect }) => {
    expect(cold('---|'), '---|');
  });
});

test('errors are forwarded (after what is buffered is sent)', () => {
  const t = marbles({ timeout: '1s' }, ({ cold, expect }) => {
    expect(cold('a 19ms #', { a: batchOf(evs(1, 2)) }, new Error('boom')), '20ms (x#)', { x: batchOf(evs(1, 2)) }, new Error('boom'));
  });
  assert.equal(t.total(ITEMS_OUT), 2);
});

test('metric batches pass at once, after the buffered events', () => {
  const m = metricBatch([{ name: 'tcp.connections.opened', attributes: {} }, { name: 'tcp.connections.closed', attributes: {} }]);
  const t = marbles({ timeout: '1s' }, ({ cold, expect }) => {
    expect(cold('a 9ms m 9ms n 9ms b|', { a: batchOf(evs(1, 2)), m, n: m, b: batchOf(evs(3, 3)) }), '10ms (xm) 6ms m 10ms (y|)', {
      x: batchOf(evs(1, 2)),
      m,
      y: batchOf(evs(3, 3)),
    });
  });
  assert.equal(t.total(ITEMS_IN), 3 + 4);
  assert.equal(t.total(ITEMS_OUT), 3 + 4);
});

test('a batch with state counts sends the buffer with it and keeps its state counts', () => {
  const stateCounts = { v4: { established: 2, listen: 1 }, v6: {} };
  marbles({ timeout: '1s', send_batch_max_size: 2, send_batch_size: 2 }, ({ cold, expect }) => {
    expect(cold('a 9ms s 9ms e|', { a: batchOf(evs(1, 1)), s: batchOf(evs(2, 3), { stateCounts }), e: batchOf([], { stateCounts }) }), '10ms (xy) 6ms e|', {
      x: batchOf(evs(1, 2)),
      y: batchOf(evs(3, 3), { stateCounts }),
      e: batchOf([], { stateCounts }),
    });
  });
});

test('batches from another receiver or with another resource are not joined', () => {
  const r1 = { 'host.name': 'a' };
  marbles({ timeout: '100ms' }, ({ cold, expect }) => {
    const a = batchOf(evs(1, 1), { resource: { ...r1 } });
    const b = batchOf(evs(2, 2), { resource: { ...r1 } }); // equal, not the same object: joined
    const c = { ...batchOf(evs(3, 3)), receiver: 'other' };
    const d = { ...batchOf(evs(4, 4)), receiver: 'other', resource: { 'host.name': 'b' } };
    expect(cold('a 9ms b 9ms c 9ms d|', { a, b, c, d }), '20ms x 9ms y (z|)', {
      x: batchOf(evs(1, 2), { resource: r1 }),
      y: { ...batchOf(evs(3, 3)), receiver: 'other' },
      z: { ...batchOf(evs(4, 4)), receiver: 'other', resource: { 'host.name': 'b' } },
    });
  });
});

test('empty batches are not passed on; timeout 0 sends at once (split to the max)', () => {
  marbles({ timeout: 0, send_batch_max_size: 8192 }, ({ cold, expect }) => {
    expect(cold('a 9ms e 9ms b|', { a: batchOf(evs(1, 2)), e: batchOf([]), b: batchOf(evs(3, 3)) }), 'x 19ms y|', {
      x: batchOf(evs(1, 2)),
      y: batchOf(evs(3, 3)),
    });
  });
  marbles({ timeout: 0, send_batch_size: 2, send_batch_max_size: 2 }, ({ cold, expect }) => {
    expect(cold('a 9ms |', { a: batchOf(evs(1, 5)) }), '(xyz) 5ms |', { x: batchOf(evs(1, 2)), y: batchOf(evs(3, 4)), z: batchOf(evs(5, 5)) });
  });
});

test('unsubscribing cancels the timer', () => {
  marbles({ timeout: '100ms' }, ({ cold, expect }) => {
    expect(cold('a 199ms |', { a: batchOf(evs(1, 1)) }), '100ms x 99ms |', { x: batchOf(evs(1, 1)) });
  });
  const scheduler = new TestScheduler((a, b) => assert.deepEqual(a, b));
  scheduler.run(({ cold, expectObservable }) => {
    const op = factory.create(configOf(factory, { timeout: '100ms' }), testContext('batch', 'processor', { scheduler }));
    expectObservable(cold('a 199ms |', { a: batchOf(evs(1, 1)) }).pipe(op), '^ 49ms !').toBe('');
  });
});

test('schema errors point at the key', () => {
  const cases: Array<[Record<string, unknown>, string, RegExp]> = [
    [{ send_batch_size: 100, send_batch_max_size: 10 }, 'send_batch_max_size', /^send_batch_max_size must be >= send_batch_size$/],
    [{ timeout: 'soon' }, 'timeout', /"soon" is not a duration/],
    [{ send_batch_size: -1 }, 'send_batch_size', /.+/],
    [{ send_batch_size: 1.5 }, 'send_batch_size', /.+/],
    [{ flush_interval: '1s' }, '', /Unrecognized key: "flush_interval"/],
  ];
  for (const [bad, path, message] of cases) {
    const issues = issuesOf(factory, bad);
    assert.equal(issues.length, 1, `${JSON.stringify(bad)}: ${JSON.stringify(issues)}`);
    assert.equal(issues[0]!.path, path, JSON.stringify(bad));
    assert.match(issues[0]!.message, message);
  }
  assert.ok(factory.schema.safeParse({ send_batch_size: 100, send_batch_max_size: 100, timeout: '1s' }).success);
  assert.ok(factory.schema.safeParse({ send_batch_size: 100, send_batch_max_size: 0, timeout: 0 }).success);
});

test('unsubscribed with events still buffered (a shutdown past its deadline): they are counted as dropped', () => {
  const telemetry = new Telemetry();
  const ctx = testContext('batch', 'processor', { telemetry, pipeline: 'logs' });
  const subject = new Subject<Batch>();
  const sub = subject.pipe(factory.create(configOf(factory, { send_batch_size: 100, timeout: '10s' }), ctx)).subscribe();
  subject.next(batchOf([ev(1), ev(2), ev(3)]));
  sub.unsubscribe();
  assert.equal(telemetry.total(DROPPED, { 'tcpotel.drop.reason': 'shutdown' }), 3);
});

test('the buffer is bounded: send_batch_size and send_batch_max_size at most 1,000,000, timeout at most 1m', () => {
  assert.match(issuesOf(factory, { send_batch_size: 2_000_000 }).map((i) => i.message).join(), /send_batch_size must be at most 1000000/);
  assert.match(issuesOf(factory, { timeout: '1h' }).map((i) => i.message).join(), /must be between 0s and 1m/);
});
