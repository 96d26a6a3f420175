/** Points and log records grouped by resource: container.id and k8s.pod.uid move to the resource. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DataPointType, type ResourceMetrics } from '@opentelemetry/sdk-metrics';
import { ProtobufMetricsSerializer } from '@opentelemetry/otlp-transformer';
import { MetricsAccumulator } from '../../../src/exporters/shared/accumulator.js';
import { groupByAttributes } from '../../../src/exporters/shared/resource-groups.js';
import { batchToLogRecords } from '../../../src/exporters/shared/logs.js';
import { seriesKey, type MetricPoint } from '../../../src/core/metrics.js';
import { eventBatch } from '../../../src/core/events.js';
import { RESOURCE_IDENTITY_ATTRS } from '../../../src/semconv/attributes.js';
import { openEvent } from '../../support/events.js';

const KEYS = RESOURCE_IDENTITY_ATTRS;
const A = 'a'.repeat(64);
const B = 'b'.repeat(64);

function sum(name: string, attributes: Record<string, string | number>, value: number): MetricPoint {
  return { type: 'sum', name, attributes, seriesKey: seriesKey(name, attributes), value };
}

function collected(points: MetricPoint[]): ResourceMetrics {
  const acc = new MetricsAccumulator({ temporality: 'cumulative', maxSeries: 100, expiryMs: 0 }, [0, 0]);
  acc.add({ type: 'metrics', startTime: [1, 0], endTime: [2, 0], points, resource: { 'host.name': 'node-1' } });
  acc.setSelf([{ type: 'sum', name: 'tcpotel.component.items.in', attributes: { 'tcpotel.component.id': 'ebpf' }, seriesKey: 'x', value: 7 }], [2, 0]);
  return acc.collect([3, 0]);
}

function summary(parts: ResourceMetrics[]) {
  return parts.map((rm) => ({
    resource: { container: rm.resource.attributes['container.id'], pod: rm.resource.attributes['k8s.pod.uid'], host: rm.resource.attributes['host.name'] },
    points: rm.scopeMetrics.flatMap((sm) => sm.metrics.flatMap((m) => m.dataPoints.map((dp) => `${sm.scope.name} ${m.descriptor.name} ${JSON.stringify(dp.attributes)} ${m.dataPointType === DataPointType.SUM ? dp.value : ''}`))),
  }));
}

test('metrics: one resource per container (and pod), the ids off the points; the rest and tcpotel’s own under the base resource', () => {
  const rm = collected([
    sum('tcp.connections.opened', { 'server.port': 80, 'container.id': A }, 3),
    sum('tcp.connections.opened', { 'server.port': 80, 'container.id': B, 'k8s.pod.uid': 'pod-b' }, 2),
    sum('tcp.connections.opened', { 'server.port': 80 }, 5),
    sum('tcp.connections.closed', { 'server.port': 80, 'container.id': A }, 1),
  ]);
  const parts = groupByAttributes(rm, KEYS);
  assert.deepEqual(summary(parts), [
    {
      resource: { container: undefined, pod: undefined, host: 'node-1' },
      points: ['tcpotel tcp.connections.opened {"server.port":80} 5', 'tcpotel/self tcpotel.component.items.in {"tcpotel.component.id":"ebpf"} 7'],
    },
    { resource: { container: A, pod: undefined, host: 'node-1' }, points: ['tcpotel tcp.connections.opened {"server.port":80} 3', 'tcpotel tcp.connections.closed {"server.port":80} 1'] },
    { resource: { container: B, pod: 'pod-b', host: 'node-1' }, points: ['tcpotel tcp.connections.opened {"server.port":80} 2'] },
  ]);
  // The metric's description, unit and temporality travel with each part.
  assert.equal(parts[1]!.scopeMetrics[0]!.metrics[0]!.descriptor.unit, '{connection}');
  // No point with those attributes, or no keys: the same object.
  const plain = collected([sum('tcp.connections.opened', { 'server.port': 80 }, 5)]);
  assert.equal(groupByAttributes(plain, KEYS)[0], plain);
  assert.equal(groupByAttributes(rm, [])[0], rm);
});

test('the parts, serialized one by one and joined, are one request with every resource', async () => {
  const parts = groupByAttributes(collected([sum('tcp.connections.opened', { 'container.id': A }, 3), sum('tcp.connections.opened', { 'container.id': B }, 2)]), KEYS);
  const joined = Buffer.concat(parts.map((p) => ProtobufMetricsSerializer.serializeRequest(p)!));
  const protobuf = (await import('protobufjs')).default;
  const root = new protobuf.Root();
  root.resolvePath = (_origin, target) => (target.startsWith('/') ? target : `/usr/include/${target}`);
  root.loadSync('opentelemetry/proto/collector/metrics/v1/metrics_service.proto', { keepCase: false });
  const Request = root.lookupType('opentelemetry.proto.collector.metrics.v1.ExportMetricsServiceRequest');
  const decoded = Request.toObject(Request.decode(joined), { longs: String, defaults: true, arrays: true }) as { resourceMetrics: Array<{ resource: { attributes: Array<{ key: string; value: { stringValue?: string } }> } }> };
  assert.deepEqual(
    decoded.resourceMetrics.map((rm) => rm.resource.attributes.find((a) => a.key === 'container.id')?.value.stringValue ?? ''),
    ['', A, B],
  );
});

test('logs: a record’s container and pod ids move to a resource shared by that container’s records', () => {
  const evs = [
    openEvent({ kind: 'open', pid: 10, attributes: { 'container.id': A, 'k8s.pod.uid': 'pod-a' } }),
    openEvent({ kind: 'close', pid: 10, attributes: { 'container.id': A, 'k8s.pod.uid': 'pod-a' } }),
    openEvent({ kind: 'open', pid: 20, attributes: { 'container.id': B } }),
    openEvent({ kind: 'open', pid: 30 }),
  ];
  const batch = eventBatch('ebpf', evs, { resource: { 'host.name': 'node-1' } });
  const records = batchToLogRecords(batch, KEYS);
  assert.deepEqual(records.map((r) => [r.resource.attributes['container.id'], r.resource.attributes['k8s.pod.uid'], r.attributes['container.id'], r.attributes['process.pid']]), [
    [A, 'pod-a', undefined, 10],
    [A, 'pod-a', undefined, 10],
    [B, undefined, undefined, 20],
    [undefined, undefined, undefined, 30],
  ]);
  assert.equal(records[0]!.resource, records[1]!.resource, 'one resource object per container: one ResourceLogs');
  assert.notEqual(records[0]!.resource, records[2]!.resource);
  assert.equal(records[0]!.instrumentationScope, records[3]!.instrumentationScope, 'one scope object: one ScopeLogs per resource');
  // Without groupBy: left on the records, one resource.
  const flat = batchToLogRecords(batch);
  assert.equal(flat[0]!.attributes['container.id'], A);
  assert.equal(new Set(flat.map((r) => r.resource)).size, 1);
});
