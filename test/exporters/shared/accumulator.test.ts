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
