import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Telemetry, componentTelemetry } from '../../src/core/telemetry.js';
import { SELF_METRICS_DEFS } from '../../src/semconv/metrics.js';

const SELF_METRICS = { itemsIn: SELF_METRICS_DEFS.itemsIn.name, itemsOut: SELF_METRICS_DEFS.itemsOut.name, itemsDropped: SELF_METRICS_DEFS.itemsDropped.name };

test('counters: one series per name and attribute set, cumulative', () => {
  const t = new Telemetry();
  const a = t.counter('x', { k: 'a' });
  a.add(2);
  a.add(3);
  t.counter('x', { k: 'a' }).add(1);
  t.counter('x', { k: 'b' }).add(10);
  assert.equal(a.value(), 6, 'the same series whoever asks');
  assert.deepEqual(
    t.collect().map((p) => [p.type, p.name, p.attributes, p.value]),
    [
      ['sum', 'x', { k: 'a' }, 6],
      ['sum', 'x', { k: 'b' }, 10],
    ],
  );
  assert.equal(t.total('x'), 16);
  assert.equal(t.total('x', { k: 'b' }), 10);
  assert.equal(t.total('x', { k: 'c' }), 0);
  assert.equal(t.total('y'), 0);
});

test('observed counters and gauges are read at collect; a read that throws keeps the last value', () => {
  const t = new Telemetry();
  let v = 5;
  let broken = false;
  t.observedCounter('kernel', {}, () => {
    if (broken) throw new Error('closed');
    return v;
  });
  t.gauge('g', { q: 1 }, () => v * 2);
  assert.deepEqual(t.collect().map((p) => [p.type, p.name, p.value]), [
    ['sum', 'kernel', 5],
    ['gauge', 'g', 10],
  ]);
  v = 7;
  assert.equal(t.total('kernel'), 7);
  broken = true;
  v = 9;
  assert.equal(t.total('kernel'), 7, 'the last value read');
  assert.equal(t.total('g'), 18);
  const p = t.collect()[1]!;
  assert.equal(p.seriesKey, 'g\u0000q=1');
});

test('componentTelemetry: in, out and dropped by reason, with the component\'s attributes', () => {
  const t = new Telemetry();
  const c = componentTelemetry(t, { id: 'filter/a', kind: 'processor', pipeline: 'logs' });
  c.incoming(10);
  c.outgoing(7);
  c.dropped(2, 'filtered');
  c.dropped(1, 'filtered');
  c.dropped(4, 'memory_limit');
  assert.equal(c.telemetry, t);
  const base = { 'tcpotel.component.id': 'filter/a', 'tcpotel.component.kind': 'processor', 'tcpotel.pipeline.id': 'logs' };
  assert.equal(t.total(SELF_METRICS.itemsIn, base), 10);
  assert.equal(t.total(SELF_METRICS.itemsOut, base), 7);
  assert.equal(t.total(SELF_METRICS.itemsDropped, { ...base, 'tcpotel.drop.reason': 'filtered' }), 3);
  assert.equal(t.total(SELF_METRICS.itemsDropped, { ...base, 'tcpotel.drop.reason': 'memory_limit' }), 4);
  const e = componentTelemetry(t, { id: 'otlp', kind: 'exporter', signal: 'metrics' });
  e.incoming(1);
  const attrs = t.collect().find((p) => p.attributes['tcpotel.component.id'] === 'otlp')!.attributes;
  assert.deepEqual(attrs, { 'tcpotel.component.id': 'otlp', 'tcpotel.component.kind': 'exporter', 'tcpotel.signal': 'metrics' });
  assert.deepEqual(SELF_METRICS, { itemsIn: 'tcpotel.component.items.in', itemsOut: 'tcpotel.component.items.out', itemsDropped: 'tcpotel.component.items.dropped' });
});
