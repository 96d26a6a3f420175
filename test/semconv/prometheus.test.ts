/**
 * Prometheus names of tcpotel's metrics: unit suffixes in Prometheus' words, `_total` on
 * counters after them, label names and values as Prometheus takes them.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../../src/core/paths.js';
import { ALL_METRICS, SELF_METRICS_DEFS, TCP_METRICS } from '../../src/semconv/metrics.js';
import { escapeLabelValue, escapeOpenMetricsHelp, prometheusLabelName, prometheusMetricNames, prometheusUnit } from '../../src/semconv/prometheus.js';

test('tcpotel’s metrics: the unit is a suffix of the name, counters end in _total after it', () => {
  const names = (m: (typeof ALL_METRICS)[number]) => prometheusMetricNames(m)!;
  assert.deepEqual(names(TCP_METRICS.io), { family: 'tcp_io_bytes', name: 'tcp_io_bytes_total', type: 'counter', unit: 'bytes' });
  assert.deepEqual(names(TCP_METRICS.rtt), { family: 'tcp_rtt_seconds', name: 'tcp_rtt_seconds', type: 'histogram', unit: 'seconds' });
  assert.deepEqual(names(TCP_METRICS.handshake), { family: 'tcp_handshake_duration_seconds', name: 'tcp_handshake_duration_seconds', type: 'histogram', unit: 'seconds' });
  assert.deepEqual(names(TCP_METRICS.duration), { family: 'tcp_connection_duration_seconds', name: 'tcp_connection_duration_seconds', type: 'histogram', unit: 'seconds' });
  assert.deepEqual(names(TCP_METRICS.opened), { family: 'tcp_connections_opened', name: 'tcp_connections_opened_total', type: 'counter', unit: '' });
  assert.deepEqual(names(TCP_METRICS.active), { family: 'tcp_connections_active', name: 'tcp_connections_active', type: 'gauge', unit: '' });
  // Not system_network_connection_count: _count is a histogram's (promtool check metrics).
  assert.deepEqual(names(TCP_METRICS.connectionCount), { family: 'system_network_connections', name: 'system_network_connections', type: 'gauge', unit: '' });
  assert.equal(names(SELF_METRICS_DEFS.ebpfDropped).name, 'tcpotel_ebpf_events_dropped_total');
  assert.equal(prometheusMetricNames(TCP_METRICS.io, 'host1')!.name, 'host1_tcp_io_bytes_total');
  // Every name is valid, and unique.
  const all = ALL_METRICS.map((m) => names(m).name);
  for (const n of all) assert.match(n, /^[a-zA-Z_:][a-zA-Z0-9_:]*$/);
  assert.equal(new Set(all).size, all.length);
});

test('units in Prometheus’ words; annotations are no unit; no suffix twice; a counter named ..._total keeps one', () => {
  assert.equal(prometheusUnit('s', 'histogram'), 'seconds');
  assert.equal(prometheusUnit('ms', 'gauge'), 'milliseconds');
  assert.equal(prometheusUnit('By', 'counter'), 'bytes');
  assert.equal(prometheusUnit('KiBy', 'gauge'), 'kibibytes');
  assert.equal(prometheusUnit('By/s', 'gauge'), 'bytes_per_second');
  assert.equal(prometheusUnit('{packet}/s', 'gauge'), 'per_second');
  assert.equal(prometheusUnit('{connection}', 'counter'), '');
  assert.equal(prometheusUnit('1', 'gauge'), 'ratio');
  assert.equal(prometheusUnit('1', 'counter'), '');
  assert.equal(prometheusUnit('%', 'gauge'), 'percent');
  assert.equal(prometheusUnit('furlong', 'gauge'), 'furlong');
  assert.deepEqual(prometheusMetricNames({ name: 'x.latency_seconds', unit: 's', instrument: 'histogram' }), { family: 'x_latency_seconds', name: 'x_latency_seconds', type: 'histogram', unit: 'seconds' });
  assert.deepEqual(prometheusMetricNames({ name: 'requests_total', unit: '{request}', instrument: 'counter' }), { family: 'requests', name: 'requests_total', type: 'counter', unit: '' });
  assert.equal(prometheusMetricNames({ name: '2xx.count', unit: '', instrument: 'counter' })!.name, '_2xx_count_total');
  assert.equal(prometheusMetricNames({ name: '...', unit: '', instrument: 'gauge' }), undefined);
});

test('label names and values', () => {
  assert.equal(prometheusLabelName('network.peer.address'), 'network_peer_address');
  assert.equal(prometheusLabelName('weird key-é'), 'weird_key_');
  assert.equal(prometheusLabelName('2fa'), 'key_2fa');
  assert.equal(escapeLabelValue('a "b" \\ c\nd'), 'a \\"b\\" \\\\ c\\nd');
  assert.equal(escapeLabelValue(42), '42');
  assert.equal(escapeLabelValue(true), 'true');
  assert.equal(escapeLabelValue(undefined), '');
  assert.equal(escapeOpenMetricsHelp('say "hi"\\n'), 'say \\"hi\\"\\\\n');
});

test('every Prometheus name the README, the reference, the examples and the benchmarks write is one tcpotel serves', () => {
  const root = packageRoot();
  const served = new Set<string>(['target_info', 'up']);
  for (const m of ALL_METRICS) {
    const n = prometheusMetricNames(m)!;
    served.add(n.name);
    served.add(n.family); // OpenMetrics' name of a counter's family
    if (n.type === 'histogram') for (const s of ['_bucket', '_count', '_sum']) served.add(n.name + s);
  }
  const files = ['README.md', 'bench/README.md', 'docs/reference.md', ...readdirSync(join(root, 'pipelines')).map((f) => `pipelines/${f}`)];
  const written: string[] = [];
  for (const f of files) {
    const text = readFileSync(join(root, f), 'utf8');
    // Sample names as PromQL and prose spell them (kernel tracepoints and struct names are not).
    for (const m of text.matchAll(/\b(?:tcp|tcpotel|system)_[a-z0-9_]*(?:_total|_bucket|_count|_sum|_seconds|_bytes|_connections|_active)\b/g)) written.push(`${f}: ${m[0]}`);
  }
  // What scripts/run-bench.mjs reads from a scrape.
  const bench = readFileSync(join(root, 'scripts', 'run-bench.mjs'), 'utf8');
  for (const m of bench.matchAll(/promSum\([^,]+,\s*'([^']+)'/g)) written.push(`scripts/run-bench.mjs: ${m[1]}`);
  assert.ok(written.length >= 10, `found the names (${written.length})`);
  for (const w of written) assert.ok(served.has(w.slice(w.indexOf(': ') + 2)), `${w} is a name tcpotel serves`);
});
