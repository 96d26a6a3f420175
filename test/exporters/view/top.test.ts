/** `tcpotel top`'s built-in pipelines and options, and the configs `tcpotel run` uses without --config. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { basename } from 'node:path';
import { defaultConfigFiles, resolveTopConfig } from '../../../src/cli/top.js';
import { defaultRegistry } from '../../../src/components.js';
import { loadAndResolve } from '../../../src/config/validate.js';
import { UserFacingError } from '../../../src/core/errors.js';

test('tcpotel run without --config: default.yaml, plus otlp-overlay.yaml when OTEL_EXPORTER_OTLP_ENDPOINT is set', () => {
  assert.deepEqual(defaultConfigFiles({}).map((f) => basename(f)), ['default.yaml']);
  assert.deepEqual(defaultConfigFiles({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://localhost:4317' }).map((f) => basename(f)), ['default.yaml', 'otlp-overlay.yaml']);
  const plain = loadAndResolve(defaultConfigFiles({}), defaultRegistry(), {});
  assert.deepEqual(plain.pipelines.find((p) => p.id === 'metrics/view')!.exporters, ['view']);
  assert.deepEqual(plain.pipelines.find((p) => p.id === 'metrics')!.exporters, ['prometheus']);
  assert.deepEqual(plain.pipelines.find((p) => p.id === 'logs')!.exporters, ['view']);
  assert.deepEqual((plain.processors.get('aggregate/connections')!.config as { keys: string[] }).keys, ['five_tuple', 'process.pid', 'process.executable.name']);
  assert.equal((plain.processors.get('aggregate/connections')!.config as { interval: number }).interval, 1000);
  assert.deepEqual((plain.processors.get('aggregate')!.config as { keys: string[] }).keys, ['server', 'process.executable.name']);
  assert.equal((plain.exporters.get('prometheus')!.config as { endpoint: string }).endpoint, '127.0.0.1:9464');
  const env = { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://localhost:4317' };
  const withOtlp = loadAndResolve(defaultConfigFiles(env), defaultRegistry(), env);
  assert.deepEqual(withOtlp.pipelines.find((p) => p.id === 'metrics')!.exporters, ['prometheus', 'otlp']);
  assert.equal((withOtlp.exporters.get('otlp')!.config as { endpoint: string }).endpoint, '', 'the exporter reads the variable itself');
  assert.deepEqual(withOtlp.warnings, []);
});

test('tcpotel top: ebpf -> aggregate -> view and ebpf -> filter (failed, reset) -> view, from its options', () => {
  const r = resolveTopConfig({ interval: '2s', top: '15', port: ['443', '8080,9090'], summary: true, logLevel: 'warn' });
  assert.deepEqual(
    r.pipelines.map((p) => `${p.id}: ${[...p.receivers, ...p.processors, ...p.exporters].join(' -> ')}`),
    ['metrics: ebpf -> aggregate -> view', 'logs: ebpf -> filter/failures -> view'],
  );
  const ebpf = r.receivers.get('ebpf')!.config as { filter: { ports: number[] }; sample_interval: number };
  assert.deepEqual(ebpf.filter.ports, [443, 8080, 9090]);
  assert.equal(ebpf.sample_interval, 2000);
  assert.deepEqual(r.exporters.get('view')!.config, { interval: 2000, top: 15, mode: 'summary', max_recent: 20 });
  assert.equal((r.processors.get('aggregate')!.config as { interval: number }).interval, 2000);
  assert.deepEqual(r.warnings, []);

  const auto = resolveTopConfig({ interval: '1s', top: '20', logLevel: 'warn' });
  assert.equal((auto.exporters.get('view')!.config as { mode: string }).mode, 'auto');
  assert.deepEqual((auto.receivers.get('ebpf')!.config as { filter: { ports: number[] } }).filter.ports, []);

  for (const bad of [
    { interval: 'soon' },
    { interval: '10ms' },
    { top: '0' },
    { top: 'many' },
    { port: ['http'] },
    { port: ['70000'] },
    { port: [Array.from({ length: 17 }, (_, i) => String(1000 + i)).join(',')] },
  ]) {
    assert.throws(() => resolveTopConfig({ interval: '1s', top: '10', logLevel: 'warn', ...bad }), (e: unknown) => e instanceof UserFacingError && e.exitCode === 2, JSON.stringify(bad));
  }
});
