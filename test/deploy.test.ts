/** The container and Kubernetes files stay true: valid YAML, the pipeline they ship validates. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { packageRoot } from '../src/core/paths.js';
import { defaultRegistry } from '../src/components.js';
import { loadAndResolve } from '../src/config/validate.js';

const k8s = join(packageRoot(), 'deploy', 'kubernetes');

function docs(file: string): any[] {
  const all = parseAllDocuments(readFileSync(join(k8s, file), 'utf8'));
  for (const d of all) assert.equal(d.errors.length, 0, `${file}: ${d.errors[0]?.message}`);
  return all.map((d) => d.toJS());
}

test('the DaemonSet runs with host network and PID, the minimal capabilities, and a valid tcpotel pipeline', () => {
  const all = docs('tcpotel-daemonset.yaml');
  const ds = all.find((d) => d.kind === 'DaemonSet');
  const spec = ds.spec.template.spec;
  assert.equal(spec.hostNetwork, true);
  assert.equal(spec.hostPID, true);
  const sc = spec.containers[0].securityContext;
  assert.deepEqual(sc.capabilities.drop, ['ALL']);
  assert.deepEqual([...sc.capabilities.add].sort(), ['BPF', 'PERFMON', 'SYS_PTRACE']);
  const cm = all.find((d) => d.kind === 'ConfigMap');
  const dir = mkdtempSync(join(tmpdir(), 'tcpotel-k8s-'));
  writeFileSync(join(dir, 'config.yaml'), cm.data['config.yaml']);
  const resolved = loadAndResolve([join(dir, 'config.yaml')], defaultRegistry());
  assert.deepEqual(resolved.pipelines.map((p) => p.id).sort(), ['logs', 'metrics']);
  const env = spec.containers[0].env.find((e: { name: string }) => e.name === 'OTEL_EXPORTER_OTLP_ENDPOINT');
  const gateway = docs('otel-collector-gateway.yaml').find((d) => d.kind === 'Service');
  assert.ok(env.value.includes(`${gateway.metadata.name}.${gateway.metadata.namespace}`), 'the DaemonSet exports to the gateway Service');
});

test('the gateway Collector config receives OTLP on the ports tcpotel sends to', () => {
  const all = docs('otel-collector-gateway.yaml');
  const cfg = parseAllDocuments(all.find((d) => d.kind === 'ConfigMap').data['config.yaml'])[0]!.toJS();
  assert.equal(cfg.receivers.otlp.protocols.grpc.endpoint, '0.0.0.0:4317');
  assert.deepEqual(cfg.service.pipelines.logs.receivers, ['otlp']);
  assert.deepEqual(cfg.service.pipelines.metrics.receivers, ['otlp']);
});
