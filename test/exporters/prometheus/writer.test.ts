/**
 * The exposition writer against @opentelemetry/exporter-prometheus's serializer, which
 * tcpotel used before: from the same accumulator, the same samples (labels and values,
 * sample by sample; names with the unit suffixes of src/semconv/prometheus.ts, which the
 * serializer did not add) and the same HELP and TYPE lines once per metric; OpenMetrics
 * text holds the same samples; after any mix of changes, new series and expired ones, an
 * incremental render is byte for byte a render from scratch.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PrometheusSerializer } from '@opentelemetry/exporter-prometheus';
import { MetricsAccumulator } from '../../../src/exporters/shared/accumulator.js';
import { instrumentationScope, selfScope } from '../../../src/exporters/shared/resource.js';
import { ExpositionWriter } from '../../../src/exporters/prometheus/writer.js';
import { seriesKey, type Attributes, type HrTime, type MetricBatch, type MetricPoint } from '../../../src/core/metrics.js';
import { ALL_METRICS, DEFAULT_BOUNDS, type MetricDefinition } from '../../../src/semconv/metrics.js';
import { prometheusMetricNames } from '../../../src/semconv/prometheus.js';
import { mulberry32 } from '../../../src/core/hash.js';
import { assertSameSamples, parseExposition, sampleKeys } from './exposition.js';

const scopes = { tcp: instrumentationScope(), self: selfScope() };

function sum(name: string, attributes: Attributes, value: number): MetricPoint {
  return { type: 'sum', name, attributes, seriesKey: seriesKey(name, attributes), value };
}
function gauge(name: string, attributes: Attributes, value: number): MetricPoint {
  return { type: 'gauge', name, attributes, seriesKey: seriesKey(name, attributes), value };
}
function hist(name: string, attributes: Attributes, observations: number[], bounds: readonly number[]): MetricPoint {
  const bucketCounts = new Array<number>(bounds.length + 1).fill(0);
  for (const o of observations) {
    let i = bounds.findIndex((b) => o <= b);
    if (i < 0) i = bounds.length;
    bucketCounts[i]!++;
  }
  return {
    type: 'histogram',
    name,
    attributes,
    seriesKey: seriesKey(name, attributes),
    count: observations.length,
    sum: observations.reduce((a, b) => a + b, 0),
    min: Math.min(...observations),
    max: Math.max(...observations),
    bucketCounts,
    bounds,
  };
}
function batch(at: number, points: MetricPoint[], resource?: Attributes): MetricBatch {
  return { type: 'metrics', startTime: [at - 1, 0], endTime: [at, 0], points, resource };
}

/** Label values that need escaping, or are not strings. */
const AWKWARD: Array<string | number | boolean> = [
  'plain',
  'with "quotes"',
  'back\\slash',
  'new\nline',
  'all \\"\n of them\\n',
  'unicode: é 日本 🚀',
  'lone \ud800 surrogate',
  '',
  'trailing backslash \\',
  '}{,="',
  42,
  -1.5,
  true,
  false,
];

function tuple(i: number): Attributes {
  return {
    'network.transport': 'tcp',
    'network.type': i % 5 === 0 ? 'ipv6' : 'ipv4',
    'network.local.address': i % 5 === 0 ? `fd00::${i.toString(16)}` : `10.0.${i >> 8}.${i & 255}`,
    'network.local.port': 30000 + i,
    'network.peer.address': '10.1.0.1',
    'network.peer.port': 443,
  };
}

/** Every kind of series tcpotel exports, with awkward labels; `round` varies the values. */
function varied(round: number, n = 30): MetricBatch {
  const points: MetricPoint[] = [];
  AWKWARD.forEach((v, i) => {
    points.push(sum('tcp.connections.failed', { 'error.type': v, 'weird key': i, 'a.b-c__d': 'x', 'process.pid': 4000 + i }, i + round));
    points.push(hist('tcp.handshake.duration', { 'server.address': v }, i === 0 ? [] : [0.1 * i, 1e-7, 12345.678], DEFAULT_BOUNDS.handshake));
  });
  for (let i = 0; i < n; i++) {
    const a = tuple(i);
    points.push(sum('tcp.connections.opened', a, 1 + round));
    points.push(sum('tcp.connections.active', a, i % 3 === 0 ? -1 : 1));
    points.push(sum('tcp.io', { ...a, 'network.io.direction': 'transmit' }, 1000 * i + round));
    points.push(sum('tcp.io', { ...a, 'network.io.direction': 'receive' }, 2 ** 40 + i));
    points.push(hist('tcp.rtt', a, [0.0001 * (i + 1), 0.02, 3 + round], DEFAULT_BOUNDS.rtt));
  }
  points.push(sum('tcp.connections.active', {}, round));
  points.push(gauge('system.network.connection.count', { 'network.connection.state': 'established', 'network.type': 'ipv4', 'network.transport': 'tcp' }, 17 + round));
  points.push(gauge('system.network.connection.count', { 'network.connection.state': 'time_wait', 'network.type': 'ipv6', 'network.transport': 'tcp' }, 0.5));
  points.push(sum('custom.metric-name', { x: 'y' }, 3));
  points.push(hist('tcp.connection.duration', { odd: 'bounds' }, [0.5, 100], [0.001, 1, Infinity]));
  return batch(100 + round, points, { 'host.name': 'host "one"\\', 'k8s.pod.uid': 'pod-é', 'process.pid': 99 });
}

function accumulator(maxSeries = 10_000, expiryMs = 0) {
  let overflow = 0;
  const acc = new MetricsAccumulator({ temporality: 'cumulative', maxSeries, expiryMs, onOverflow: (n) => (overflow += n) }, [50, 0]);
  return { acc, overflow: () => overflow };
}

function addSelf(acc: MetricsAccumulator, at: HrTime, k: number) {
  acc.setSelf(
    [
      { ...sum('tcpotel.component.items.in', { 'tcpotel.component.id': 'prometheus', 'tcpotel.component.kind': 'exporter' }, 100 + k) },
      { ...sum('tcpotel.component.items.dropped', { 'tcpotel.component.id': 'ebpf', 'tcpotel.drop.reason': 'queue "full"' }, k) },
      { ...gauge('tcpotel.exporter.queue.size', { 'tcpotel.component.id': 'otlp' }, k % 2) } as MetricPoint & { type: 'gauge' },
    ] as Array<MetricPoint & { type: 'sum' | 'gauge' }>,
    at,
  );
}

/** What goes on the wire: the serializer's string, as UTF-8. */
function wire(text: string): string {
  return Buffer.from(text, 'utf8').toString('utf8');
}

/** The name the OpenTelemetry serializer gave a metric: sanitized, `_total` on counters, no unit. */
function serializerName(name: string, counter: boolean, namespace: string): string {
  let n = name.replace(/[^a-z0-9_]/gi, '_').replace(/_{2,}/g, '_');
  if (namespace) n = `${namespace}_${n}`;
  return counter && !n.endsWith('_total') ? `${n}_total` : n;
}

const CUSTOM: MetricDefinition = { name: 'custom.metric-name', instrument: 'counter', unit: '', description: '', attributes: [] };

/** The serializer's sample and family names to ours (what the unit suffixes change). */
function renames(namespace: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const m of [...ALL_METRICS, CUSTOM]) {
    const ours = prometheusMetricNames(m, namespace)!;
    const theirs = serializerName(m.name, m.instrument === 'counter', namespace);
    out.set(theirs, ours.name);
    if (m.instrument === 'histogram') for (const s of ['_count', '_sum', '_bucket']) out.set(theirs + s, ours.name + s);
  }
  return out;
}

/** Samples, and metadata per family, of both; equal or fail with the first difference. */
function assertSameExposition(ours: string, theirs: string, namespace = '') {
  const a = parseExposition(ours);
  const b = parseExposition(wire(theirs));
  const rename = renames(namespace);
  const to = (n: string) => rename.get(n) ?? n;
  assertSameSamples(sampleKeys(a.samples), sampleKeys(b.samples, to));
  const families = (p: typeof a, f: (n: string) => string) =>
    [...p.families.values()].map((x) => ({ name: f(x.name), help: x.help, type: x.type })).sort((x, y) => x.name.localeCompare(y.name));
  assert.deepEqual(families(a, (n) => n), families(b, to));
  // No UNIT lines in the text format (it has none): OpenMetrics carries them.
  assert.deepEqual([...a.families.values()].filter((f) => f.unit !== undefined), []);
  return a;
}

test('the same samples and metadata as the OpenTelemetry serializer, for every kind of series and awkward labels', () => {
  for (const namespace of ['', 'ns']) {
    const { acc, overflow } = accumulator(175);
    acc.add(varied(0));
    addSelf(acc, [101, 0], 1);
    assert.ok(overflow() > 0, 'some series overflowed');
    const ours = new ExpositionWriter(namespace, scopes).renderNow(acc.collectSeries([101, 0])).text();
    const theirs = new PrometheusSerializer(namespace || undefined).serialize(acc.collect([101, 0]));
    const parsed = assertSameExposition(ours, theirs, namespace);
    const p = namespace ? 'ns_' : '';
    // What the comparison covered.
    const names = new Set(parsed.samples.map((s) => s.name));
    for (const n of ['target_info', 'tcp_connections_opened_total', 'tcp_connections_active', 'tcp_io_bytes_total', 'tcp_rtt_seconds_bucket', 'tcp_rtt_seconds_count', 'tcp_rtt_seconds_sum', 'tcp_handshake_duration_seconds_bucket', 'tcp_connection_duration_seconds_count', 'tcp_connections_failed_total', 'system_network_connections', 'custom_metric_name_total', 'tcpotel_component_items_in_total', 'tcpotel_exporter_queue_size']) {
      assert.ok(names.has(n === 'target_info' ? n : p + n), `${p + n} is in the exposition`);
    }
    assert.ok(parsed.samples.some((s) => s.labels.otel_metric_overflow === 'true'), 'an overflow series');
    for (const v of AWKWARD.filter((x) => typeof x === 'string')) {
      assert.ok(parsed.samples.some((s) => s.labels.error_type === wire(v as string)), `the label value ${JSON.stringify(v)} round-trips`);
    }
    assert.equal(parsed.samples.filter((s) => s.name === 'target_info')[0]!.labels.host_name, 'host "one"\\');
  }
});

test('an empty accumulator: target_info alone', () => {
  const { acc } = accumulator();
  const e = new ExpositionWriter('', scopes).renderNow(acc.collectSeries([1, 0]));
  const theirs = new PrometheusSerializer().serialize(acc.collect([1, 0]));
  assert.ok(theirs.endsWith('# no registered metrics'));
  assert.equal(e.text(), theirs.replace('# no registered metrics', ''));
  assert.match(e.text('openmetrics'), /^# HELP target Target metadata\n# TYPE target info\ntarget_info\{[^\n]*\} 1\n# EOF\n$/);
});

test('OpenMetrics text: the same samples; families named without _total, a UNIT line where the name ends in its unit, target_info an info metric, # EOF last', () => {
  const { acc } = accumulator(175);
  acc.add(varied(0));
  addSelf(acc, [101, 0], 1);
  const e = new ExpositionWriter('', scopes).renderNow(acc.collectSeries([101, 0]));
  const text = parseExposition(e.text('text'));
  const om = parseExposition(e.text('openmetrics'));
  assert.ok(om.eof && !text.eof);
  assertSameSamples(sampleKeys(om.samples), sampleKeys(text.samples));
  const f = (name: string) => om.families.get(name);
  assert.deepEqual(f('tcp_io_bytes'), { name: 'tcp_io_bytes', help: 'Bytes sent (and acknowledged) and received, by direction.', type: 'counter', unit: 'bytes' });
  assert.deepEqual(f('tcp_rtt_seconds'), { name: 'tcp_rtt_seconds', help: f('tcp_rtt_seconds')!.help, type: 'histogram', unit: 'seconds' });
  assert.deepEqual(f('tcp_connections_opened'), { name: 'tcp_connections_opened', help: 'Connections established (connect or accept) since start.', type: 'counter' });
  assert.equal(f('tcp_connections_active')!.type, 'gauge');
  assert.equal(f('target')!.type, 'info');
  for (const fam of om.families.values()) if (fam.unit) assert.ok(fam.name.endsWith(`_${fam.unit}`), `${fam.name}: its UNIT is its suffix`);
  assert.equal(om.familyOf.get('tcp_io_bytes_total'), 'tcp_io_bytes');
  assert.equal(om.familyOf.get('target_info'), 'target');
});

test('incremental renders: after changes, new series and expired ones, byte for byte a render from scratch, and the serializer’s samples', () => {
  const rnd = mulberry32(5);
  const { acc } = accumulator(100_000, 20_000);
  const writer = new ExpositionWriter('', scopes);
  let at = 100;
  for (let round = 0; round < 25; round++) {
    at += round % 7 === 6 ? 30 : 1; // now and then, long enough for untouched series to expire
    const points: MetricPoint[] = [];
    const n = 1 + Math.floor(rnd() * 400);
    for (let k = 0; k < n; k++) {
      const i = Math.floor(rnd() * 300);
      const a = tuple(i);
      const r = rnd();
      if (r < 0.4) points.push(sum('tcp.connections.opened', a, 1));
      else if (r < 0.6) points.push(sum('tcp.connections.active', a, rnd() < 0.5 ? 1 : -1));
      else if (r < 0.9) points.push(hist('tcp.rtt', a, [rnd() * 0.01, rnd()], DEFAULT_BOUNDS.rtt));
      else points.push(sum('tcp.connections.failed', { ...a, 'error.type': AWKWARD[i % AWKWARD.length]! }, 2));
    }
    acc.add({ type: 'metrics', startTime: [at - 1, 0], endTime: [at, 0], points });
    if (round % 3 === 0) addSelf(acc, [at, 0], round);
    const now: HrTime = [at, 500_000_000];
    const incremental = writer.renderNow(acc.collectSeries(now)).text();
    const scratch = new ExpositionWriter('', scopes).renderNow(acc.collectSeries(now)).text();
    assert.equal(incremental, scratch, `round ${round}`);
    assertSameExposition(incremental, new PrometheusSerializer().serialize(acc.collect(now)));
  }
});

test('nothing changed: the same exposition again, nothing rendered; one series changed: only its metric is rendered again', () => {
  const { acc } = accumulator();
  acc.add(varied(0));
  const writer = new ExpositionWriter('', scopes);
  const first = writer.renderNow(acc.collectSeries([101, 0])).hold();
  const again = writer.renderNow(acc.collectSeries([101, 0]));
  assert.equal(again, first);
  acc.add(batch(102, [sum('tcp.connections.opened', tuple(3), 5)]));
  const third = writer.renderNow(acc.collectSeries([102, 0]));
  assert.notEqual(third, first);
  assert.ok(third.generation > first.generation);
  const before = first.body('text');
  const after = third.body('text');
  assert.equal(after.length, before.length);
  // Arenas are Buffers of their own: the same memory, or another.
  const changed = after.filter((b, i) => b.buffer !== before[i]!.buffer);
  assert.equal(changed.length, 1, 'one arena differs');
  assert.match(changed[0]!.toString(), /^tcp_connections_opened_total\{/);
  assert.match(third.text(), /tcp_connections_opened_total\{network_transport="tcp",network_type="ipv4",network_local_address="10\.0\.0\.3",[^}]*\} 6\n/);
  first.release();
});

test('a render in slices yields between them and gives what a render in one go gives', () => {
  const { acc } = accumulator();
  acc.add(varied(0, 200));
  const sliced = new ExpositionWriter('', scopes).render(acc.collectSeries([101, 0]), 50);
  let yields = 0;
  let r = sliced.next();
  while (!r.done) {
    yields++;
    r = sliced.next();
  }
  assert.ok(yields >= 10, `yielded ${yields} times`);
  assert.equal(r.value.text(), new ExpositionWriter('', scopes).renderNow(acc.collectSeries([101, 0])).text());
});

test('an exposition held by a response keeps its arenas: a later render writes elsewhere', () => {
  const { acc } = accumulator();
  acc.add(varied(0));
  const writer = new ExpositionWriter('', scopes);
  const held = writer.renderNow(acc.collectSeries([101, 0])).hold();
  const text = held.text();
  for (let round = 1; round < 5; round++) {
    acc.add(varied(round));
    writer.renderNow(acc.collectSeries([101 + round, 0]));
  }
  assert.equal(held.text(), text, 'what a slow response still writes is unchanged');
  held.release();
});
