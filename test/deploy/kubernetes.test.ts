/**
 * The Kubernetes files stay true: valid YAML; the tcpotel pipeline they ship validates;
 * the DaemonSet's probes use its health_check; the gateway Collector's config validates
 * against the components its image offers (test/deploy/otelcol-contrib-components.yaml),
 * with k8sattributes in every pipeline, associating pods by what tcpotel puts on its
 * resources, and the RBAC it needs.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse, parseAllDocuments } from 'yaml';
import { packageRoot } from '../../src/core/paths.js';
import { defaultRegistry } from '../../src/components.js';
import { loadAndResolve, type ResolvedConfig } from '../../src/config/validate.js';

const k8s = join(packageRoot(), 'deploy', 'kubernetes');
const distribution = parse(readFileSync(join(packageRoot(), 'test', 'deploy', 'otelcol-contrib-components.yaml'), 'utf8'));

function docs(file: string): any[] {
  const all = parseAllDocuments(readFileSync(join(k8s, file), 'utf8'));
  for (const d of all) assert.equal(d.errors.length, 0, `${file}: ${d.errors[0]?.message}`);
  return all.map((d) => d.toJS());
}

function daemonSetConfig(): { resolved: ResolvedConfig; spec: any } {
  const all = docs('tcpotel-daemonset.yaml');
  const spec = all.find((d) => d.kind === 'DaemonSet').spec.template.spec;
  const cm = all.find((d) => d.kind === 'ConfigMap');
  const dir = mkdtempSync(join(tmpdir(), 'tcpotel-k8s-'));
  writeFileSync(join(dir, 'config.yaml'), cm.data['config.yaml']);
  const resolved = loadAndResolve([join(dir, 'config.yaml')], defaultRegistry(), { ...process.env, NODE_IP: '10.0.0.7' });
  return { resolved, spec };
}

test('the DaemonSet runs with host network and PID, the minimal capabilities, and a valid tcpotel pipeline', () => {
  const { resolved, spec } = daemonSetConfig();
  assert.equal(spec.hostNetwork, true);
  assert.equal(spec.hostPID, true);
  const sc = spec.containers[0].securityContext;
  assert.deepEqual(sc.capabilities.drop, ['ALL']);
  assert.deepEqual([...sc.capabilities.add].sort(), ['BPF', 'NET_ADMIN', 'PERFMON', 'SYS_PTRACE']);
  assert.deepEqual(resolved.pipelines.map((p) => p.id).sort(), ['logs', 'metrics']);
  assert.deepEqual(resolved.warnings, []);
  const env = spec.containers[0].env.find((e: { name: string }) => e.name === 'OTEL_EXPORTER_OTLP_ENDPOINT');
  const gateway = docs('otel-collector-gateway.yaml').find((d) => d.kind === 'Service');
  assert.ok(env.value.includes(`${gateway.metadata.name}.${gateway.metadata.namespace}`), 'the DaemonSet exports to the gateway Service');
});

test('the DaemonSet’s startup, readiness and liveness probes ask its health_check, where it listens', () => {
  const { resolved, spec } = daemonSetConfig();
  assert.deepEqual(resolved.serviceExtensions, ['health_check']);
  const hc = resolved.extensions.get('health_check')!.config as { endpoint: string; path: string };
  // On the node's address (hostNetwork): the kubelet probes the pod's IP, the node's.
  assert.equal(hc.endpoint, '10.0.0.7:13133');
  const nodeIp = spec.containers[0].env.find((e: { name: string }) => e.name === 'NODE_IP');
  assert.equal(nodeIp.valueFrom.fieldRef.fieldPath, 'status.hostIP');
  const c = spec.containers[0];
  const port = c.ports.find((p: { name: string }) => p.name === 'health');
  assert.equal(port.containerPort, Number(hc.endpoint.split(':')[1]));
  for (const probe of ['startupProbe', 'readinessProbe', 'livenessProbe']) {
    assert.deepEqual(c[probe]?.httpGet, { path: hc.path, port: 'health' }, probe);
  }
});

function gatewayConfig(): any {
  const all = docs('otel-collector-gateway.yaml');
  return parse(all.find((d) => d.kind === 'ConfigMap').data['config.yaml']);
}

test('the gateway Collector config validates against its image’s components', () => {
  const all = docs('otel-collector-gateway.yaml');
  const deployment = all.find((d) => d.kind === 'Deployment');
  assert.equal(deployment.spec.template.spec.containers[0].image, distribution.image, 'the image the component list describes');
  const cfg = gatewayConfig();
  const errors: string[] = [];
  const kinds = ['receivers', 'processors', 'exporters', 'extensions'] as const;
  for (const k of Object.keys(cfg)) if (![...kinds, 'service', 'connectors'].includes(k)) errors.push(`unknown top-level key ${k}`);
  for (const kind of kinds) {
    for (const [id, settings] of Object.entries<Record<string, unknown> | null>(cfg[kind] ?? {})) {
      const type = id.split('/')[0]!;
      const known = distribution[kind][type];
      if (!known) {
        errors.push(`${kind}::${id}: no ${type} in ${distribution.image}`);
        continue;
      }
      for (const key of Object.keys(settings ?? {})) if (!known.keys.includes(key)) errors.push(`${kind}::${id}::${key}: not a setting of ${type}`);
    }
  }
  // References, one level up, as the Collector checks them.
  const used: Record<string, Set<string>> = { receivers: new Set(), processors: new Set(), exporters: new Set() };
  for (const [pid, p] of Object.entries<any>(cfg.service.pipelines)) {
    for (const kind of ['receivers', 'processors', 'exporters'] as const) {
      for (const ref of p[kind] ?? []) {
        used[kind]!.add(ref);
        if (!(ref in (cfg[kind] ?? {}))) errors.push(`service::pipelines::${pid}::${kind}: references ${ref} which is not configured`);
      }
    }
  }
  for (const kind of ['receivers', 'processors', 'exporters'] as const) for (const id of Object.keys(cfg[kind] ?? {})) if (!used[kind]!.has(id)) errors.push(`${kind}::${id} is configured but used by no pipeline`);
  for (const x of cfg.service.extensions ?? []) if (!(x in (cfg.extensions ?? {}))) errors.push(`service::extensions: ${x} is not configured`);
  for (const x of Object.keys(cfg.extensions ?? {})) if (!(cfg.service.extensions ?? []).includes(x)) errors.push(`extensions::${x} is not in service::extensions`);
  assert.deepEqual(errors, []);
  assert.equal(cfg.receivers.otlp.protocols.grpc.endpoint, '0.0.0.0:4317', 'the port tcpotel sends to');
});

test('k8sattributes: in every pipeline between memory_limiter and batch, matching pods by what tcpotel puts on its resources', () => {
  const cfg = gatewayConfig();
  const ka = cfg.processors.k8sattributes;
  for (const [pid, p] of Object.entries<any>(cfg.service.pipelines)) {
    assert.deepEqual(p.processors, ['memory_limiter', 'k8sattributes', 'batch'], `pipeline ${pid}`);
  }
  for (const field of ka.extract.metadata) assert.ok(distribution.k8sattributes.metadata.includes(field), `extract::metadata: ${field}`);
  const { resolved } = daemonSetConfig();
  const otlp = resolved.exporters.get('otlp')!.config as { group_by_attrs: string[] };
  for (const assoc of ka.pod_association) {
    assert.ok(assoc.sources.length <= distribution.k8sattributes.max_sources);
    for (const s of assoc.sources) {
      assert.ok(distribution.k8sattributes.association_from.includes(s.from), s.from);
      // A resource attribute tcpotel's otlp exporter puts on each container's resource.
      if (s.from === 'resource_attribute') assert.ok(otlp.group_by_attrs.includes(s.name), `${s.name} is on tcpotel's resources (group_by_attrs: ${otlp.group_by_attrs})`);
    }
  }
  // The same attributes tcpotel's process processor sets and its aggregate keys on.
  const agg = resolved.processors.get('aggregate')!.config as { keys: string[] };
  for (const a of otlp.group_by_attrs) assert.ok(agg.keys.includes(a), `the aggregate keys on ${a}`);
});

test('the gateway’s service account has the RBAC k8sattributes needs, bound cluster-wide', () => {
  const all = docs('otel-collector-gateway.yaml');
  const deployment = all.find((d) => d.kind === 'Deployment');
  const sa = deployment.spec.template.spec.serviceAccountName;
  assert.ok(all.some((d) => d.kind === 'ServiceAccount' && d.metadata.name === sa && d.metadata.namespace === deployment.metadata.namespace));
  const binding = all.find((d) => d.kind === 'ClusterRoleBinding');
  assert.deepEqual(binding.subjects, [{ kind: 'ServiceAccount', name: sa, namespace: deployment.metadata.namespace }]);
  const role = all.find((d) => d.kind === 'ClusterRole' && d.metadata.name === binding.roleRef.name);
  assert.ok(role, 'the bound ClusterRole');
  const grants = (group: string, resource: string) =>
    role.rules.some((r: any) => r.apiGroups.includes(group) && r.resources.includes(resource) && ['get', 'watch', 'list'].every((v) => r.verbs.includes(v)));
  const needs = [...distribution.k8sattributes.rbac.always];
  const metadata: string[] = gatewayConfig().processors.k8sattributes.extract.metadata;
  for (const [field, rules] of Object.entries<any[]>(distribution.k8sattributes.rbac)) if (metadata.includes(field)) needs.push(...rules);
  for (const n of needs) for (const r of n.resources) assert.ok(grants(n.apiGroup, r), `get, watch, list on ${n.apiGroup || 'core'}/${r}`);
  // And nothing to write.
  for (const r of role.rules) assert.deepEqual(r.verbs.filter((v: string) => !['get', 'watch', 'list'].includes(v)), []);
});
