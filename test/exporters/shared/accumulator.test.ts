import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AggregationTemporality, DataPointType, type ResourceMetrics } from '@opentelemetry/sdk-metrics';
import { MetricsAccumulator } from '../../../src/exporters/shared/accumulator.js';
import { seriesKey, type MetricBatch, type MetricPoint } from '../../../src/core/metrics.js';

function sum(name: string, attributes: Record<string, string | number | boolean>, value: number): MetricPoint {
  return { type: 'sum', name, attributes, seriesKey: seriesKey(name, attributes), value };
}
function batch(startS: number, points: MetricPoint[]): MetricBatch {
  return { type: 'metrics', startTime: [startS, 0], endTime: [startS + 1, 0], points };
}
function values(rm: ResourceMetrics, name: string): Array<[Record<string, unknown>, number]> {
  const out: Array<[Record<string, unknown>, number]> = [];
  for (const sm of rm.scopeMetrics) for (const m of sm.metrics) if (m.descriptor.name === name && m.dataPointType !== DataPointType.HISTOGRAM) for (const dp of m.dataPoints) out.push([dp.attributes, dp.value as number]);
  return out;
}

test('cumulative: running totals since the series appeared, with its start time', () => {
  const acc = new MetricsAccumulator({ temporality: 'cumulative', maxSeries: 100, expiryMs: 0 }, [0, 0]);
  acc.add(batch(10, [sum('tcp.connections.opened', { p: 1 }, 2)]));
  acc.add(batch(11, [sum('tcp.connections.opened', { p: 1 }, 3), sum('tcp.connections.opened', { p: 2 }, 1)]));
  const rm = acc.collect([12, 0]);
  assert.deepEqual(values(rm, 'tcp.connections.opened'), [[{ p: 1 }, 5], [{ p: 2 }, 1]]);
  const m = rm.scopeMetrics[0]!.metrics[0]!;
  assert.equal(m.aggregationTemporality, AggregationTemporality.CUMULATIVE);
  assert.equal(m.dataPointType === DataPointType.SUM && m.isMonotonic, true);
  assert.deepEqual(m.dataPoints[0]!.startTime, [10, 0]);
  assert.deepEqual(m.dataPoints[1]!.startTime, [11, 0]);
  assert.equal(m.descriptor.unit, '{connection}');
  // Nothing new: the totals are exported again, unchanged.
  assert.deepEqual(values(acc.collect([13, 0]), 'tcp.connections.opened'), [[{ p: 1 }, 5], [{ p: 2 }, 1]]);
});

test('delta: what changed since the last export, then nothing', () => {
  const acc = new MetricsAccumulator({ temporality: 'delta', maxSeries: 100, expiryMs: 0 }, [0, 0]);
  acc.add(batch(10, [sum('tcp.connections.opened', {}, 2)]));
  acc.add(batch(11, [sum('tcp.connections.opened', {}, 3)]));
  const rm = acc.collect([12, 0]);
  assert.deepEqual(values(rm, 'tcp.connections.opened'), [[{}, 5]]);
  assert.equal(rm.scopeMetrics[0]!.metrics[0]!.aggregationTemporality, AggregationTemporality.DELTA);
  assert.equal(acc.hasUpdates, false);
  assert.deepEqual(values(acc.collect([13, 0]), 'tcp.connections.opened'), []);
});

test('the series cap folds new series into otel.metric.overflow and counts them', () => {
  let overflow = 0;
  const acc = new MetricsAccumulator({ temporality: 'cumulative', maxSeries: 2, expiryMs: 0, onOverflow: (n) => (overflow += n) }, [0, 0]);
  acc.add(batch(1, [1, 2, 3, 4].map((p) => sum('tcp.connections.opened', { p }, 1))));
  assert.deepEqual(values(acc.collect([2, 0]), 'tcp.connections.opened'), [[{ p: 1 }, 1], [{ p: 2 }, 1], [{ 'otel.metric.overflow': true }, 2]]);
  assert.equal(overflow, 2);
});

test('cumulative series expire when nothing updates them, except up-down counters not back at zero', () => {
  const acc = new MetricsAccumulator({ temporality: 'cumulative', maxSeries: 100, expiryMs: 5000 }, [0, 0]);
  acc.add(batch(1, [sum('tcp.connections.opened', { p: 1 }, 1), sum('tcp.connections.active', { p: 1 }, 1), sum('tcp.connections.active', { p: 2 }, 0)]));
  const rm = acc.collect([100, 0]);
  assert.deepEqual(values(rm, 'tcp.connections.opened'), []);
  assert.deepEqual(values(rm, 'tcp.connections.active'), [[{ p: 1 }, 1]]);
});

test('self metrics: cumulative totals as read; in delta mode their increase', () => {
  const points = (v: number) => [{ type: 'sum' as const, name: 'tcpotel.component.items.in', attributes: {}, seriesKey: 'k', value: v }];
  const cum = new MetricsAccumulator({ temporality: 'cumulative', maxSeries: 10, expiryMs: 0 }, [0, 0]);
  cum.setSelf(points(10), [1, 0]);
  cum.setSelf(points(15), [2, 0]);
  assert.deepEqual(values(cum.collect([2, 0]), 'tcpotel.component.items.in'), [[{}, 15]]);
  const delta = new MetricsAccumulator({ temporality: 'delta', maxSeries: 10, expiryMs: 0 }, [0, 0]);
  delta.setSelf(points(10), [1, 0]);
  assert.deepEqual(values(delta.collect([1, 0]), 'tcpotel.component.items.in'), [[{}, 10]]);
  delta.setSelf(points(15), [2, 0]);
  assert.deepEqual(values(delta.collect([2, 0]), 'tcpotel.component.items.in'), [[{}, 5]]);
  assert.equal(cum.collect([3, 0]).scopeMetrics[0]!.scope.name, 'tcpotel/self');
});

test('collectSeries: the series collect() exports, grouped by metric in the same order, with versions that change with their values', () => {
  const make = () => new MetricsAccumulator({ temporality: 'cumulative', maxSeries: 3, expiryMs: 5000 }, [0, 0]);
  const a = make();
  const b = make();
  const input = [
    batch(1, [sum('tcp.connections.opened', { p: 1 }, 1), sum('tcp.connections.active', { p: 1 }, 1), sum('tcp.connections.opened', { p: 2 }, 1)]),
    batch(2, [sum('tcp.connections.opened', { p: 3 }, 4), sum('tcp.connections.opened', { p: 4 }, 2)]),
    batch(9, [sum('tcp.connections.opened', { p: 2 }, 1)]),
  ];
  for (const x of input) {
    a.add(x);
    b.add(x);
  }
  a.setSelf([{ ...sum('tcpotel.component.items.in', { c: 'x' }, 7) }] as never, [9, 0]);
  b.setSelf([{ ...sum('tcpotel.component.items.in', { c: 'x' }, 7) }] as never, [9, 0]);
  const rm = a.collect([9, 0]);
  const got = b.collectSeries([9, 0]);
  assert.deepEqual(
    got.metrics.map((m) => [m.name, m.self, m.series.map((s) => [s.attributes, s.value])]),
    rm.scopeMetrics.flatMap((sm) => sm.metrics.map((m) => [m.descriptor.name, sm.scope.name === 'tcpotel/self', m.dataPoints.map((dp) => [dp.attributes, dp.value])])),
  );
  assert.deepEqual(got.resource, rm.resource.attributes);
  // Versions: changed by a new value, not by the same self value set again.
  const opened = got.metrics.find((m) => m.name === 'tcp.connections.opened')!.series.find((s) => s.attributes.p === 2)!;
  const selfSeries = got.metrics.find((m) => m.self)!.series[0]!;
  const [v, sv] = [opened.version, selfSeries.version];
  b.add(batch(10, [sum('tcp.connections.opened', { p: 2 }, 1)]));
  b.setSelf([{ ...sum('tcpotel.component.items.in', { c: 'x' }, 7) }] as never, [10, 0]);
  assert.notEqual(opened.version, v);
  assert.equal(selfSeries.version, sv);
  b.setSelf([{ ...sum('tcpotel.component.items.in', { c: 'x' }, 8) }] as never, [10, 0]);
  assert.notEqual(selfSeries.version, sv);
  assert.throws(() => new MetricsAccumulator({ temporality: 'delta', maxSeries: 3, expiryMs: 0 }, [0, 0]).collectSeries([1, 0]), /cumulative/);
});
