/**
 * The dashboard and the rules in deploy/: the files are what src/deploy/ makes; promtool
 * accepts the rules and their unit tests pass (each alert fires where it should and
 * nowhere else); every metric, label and recorded name they use is one tcpotel (or the
 * rules) serves.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../../src/core/paths.js';
import { DEPLOY_FILES, deployFiles } from '../../src/deploy/files.js';
import { dashboardQueries, grafanaDashboard } from '../../src/deploy/grafana-dashboard.js';
import { RECORDED, prometheusRules } from '../../src/deploy/prometheus-rules.js';
import { ALL_METRICS } from '../../src/semconv/metrics.js';
import { ATTR, RESOURCE_ATTR, SELF_ATTR } from '../../src/semconv/attributes.js';
import { prometheusLabelName, prometheusMetricNames } from '../../src/semconv/prometheus.js';

const root = packageRoot();
const hasPromtool = spawnSync('promtool', ['--version'], { stdio: 'ignore' }).status === 0;

test('deploy/ holds what src/deploy/ makes (run `node scripts/gen-deploy.mjs` after changing it)', () => {
  for (const [path, text] of Object.entries(deployFiles())) assert.equal(readFileSync(join(root, path), 'utf8'), text, path);
});

test('promtool check rules accepts the rules', (t) => {
  if (!hasPromtool) return t.skip('promtool is not installed (scripts/setup.sh installs the prometheus package)');
  const r = spawnSync('promtool', ['check', 'rules', join(root, DEPLOY_FILES.rules)], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stdout + r.stderr);
  const rules = prometheusRules().groups.flatMap((g) => g.rules);
  assert.match(r.stdout, new RegExp(`SUCCESS: ${rules.length} rules found`));
});

test('promtool test rules: each alert fires for its input and not for the other series', (t) => {
  if (!hasPromtool) return t.skip('promtool is not installed (scripts/setup.sh installs the prometheus package)');
  const r = spawnSync('promtool', ['test', 'rules', DEPLOY_FILES.ruleTests.split('/').at(-1)!], { encoding: 'utf8', cwd: join(root, 'deploy', 'prometheus') });
  assert.equal(r.status, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /SUCCESS/);
  // Every alert has a test in which it fires.
  const tests = readFileSync(join(root, DEPLOY_FILES.ruleTests), 'utf8');
  for (const rule of prometheusRules().groups.flatMap((g) => g.rules)) {
    if (rule.alert) assert.match(tests, new RegExp(`alertname: ${rule.alert}\\n\\s+eval_time: \\S+\\n\\s+exp_alerts:\\n\\s+- exp_labels`), `${rule.alert} is tested firing`);
    if (rule.record) assert.ok(tests.includes(`expr: ${rule.record}\n`), `${rule.record} is tested`);
  }
});

test('the dashboard and the rules use only names tcpotel serves, labels it sets, and rules that exist', () => {
  const served = new Set<string>(['up']);
  for (const m of ALL_METRICS) {
    const n = prometheusMetricNames(m)!;
    served.add(n.name);
    if (n.type === 'histogram') for (const s of ['_bucket', '_count', '_sum']) served.add(n.name + s);
  }
  const labels = new Set<string>(['job', 'instance', 'le', 'otel_scope_name', 'otel_scope_version']);
  for (const a of [...Object.values(ATTR), ...Object.values(SELF_ATTR), ...Object.values(RESOURCE_ATTR)]) labels.add(prometheusLabelName(a));
  const recorded = new Set<string>(Object.values(RECORDED));
  const exprs = [
    ...dashboardQueries().map((q) => ({ where: `dashboard "${q.panel}" ${q.refId}`, expr: q.expr })),
    ...prometheusRules().groups.flatMap((g) => g.rules.map((r) => ({ where: `rule ${r.record ?? r.alert}`, expr: r.expr }))),
  ];
  let names = 0;
  for (const { where, expr } of exprs) {
    // Without quoted values and by (...) lists: what is left before { or [ is a metric name.
    const text = expr.replace(/"[^"]*"/g, '""').replace(/\bby \([^)]*\)/g, '');
    // Metric names: before { or [ or at a selector's place; names inside __name__ regexes.
    for (const m of expr.matchAll(/__name__=~"([^"]+)"/g)) for (const n of m[1]!.split('|')) {
      names++;
      assert.ok(served.has(n), `${where}: ${n} is a name tcpotel serves`);
    }
    for (const m of text.matchAll(/\b((?:tcp|tcpotel|system)_[a-z0-9_]+)\b(?=\s*[{[])/g)) {
      names++;
      assert.ok(served.has(m[1]!), `${where}: ${m[1]} is a name tcpotel serves`);
    }
    for (const m of text.matchAll(/\b([a-z_]+:[a-z0-9_]+:[a-z0-9_]+)\b/g)) assert.ok(recorded.has(m[1]!), `${where}: ${m[1]} is a recording rule`);
    // Labels: in by (...) and in matchers.
    for (const m of expr.matchAll(/\bby \(([^)]*)\)/g)) for (const l of m[1]!.split(',').map((x) => x.trim())) assert.ok(labels.has(l), `${where}: label ${l}`);
    for (const m of expr.matchAll(/[{,]\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)/g)) if (m[1] !== '__name__') assert.ok(labels.has(m[1]!), `${where}: label ${m[1]}`);
  }
  assert.ok(names >= 20, `found the names (${names})`);
  // Legends name labels the queries keep.
  const d = grafanaDashboard() as { panels: Array<{ targets?: Array<{ legendFormat: string }> }> };
  for (const p of d.panels) for (const t of p.targets ?? []) for (const m of t.legendFormat.matchAll(/\{\{(\w+)\}\}/g)) assert.ok(labels.has(m[1]!), `legend label ${m[1]}`);
});
