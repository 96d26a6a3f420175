/**
 * The prometheus exporter's settings: docs/reference.md lists every key with its default,
 * and the schema refuses what makes no sense, in terms of the YAML key.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../../../src/core/paths.js';
import { defaultPrometheusConfig, prometheusConfigSchema } from '../../../src/exporters/prometheus/config.js';

test('docs/reference.md lists every setting with its default', () => {
  const doc = readFileSync(join(packageRoot(), 'docs', 'reference.md'), 'utf8');
  const start = doc.indexOf('\n## The prometheus exporter\n');
  const next = doc.indexOf('\n## ', start + 1);
  const section = doc.slice(start, next < 0 ? undefined : next);
  const rows = section
    .split('\n')
    .filter((l) => l.startsWith('| `'))
    .map((l) => l.slice(1, -1).split(' | ').map((c) => c.trim().replace(/`/g, '')));
  const documented = Object.fromEntries(rows.map((r) => [r[0], r[1]]));
  const defaults = Object.fromEntries(Object.entries(defaultPrometheusConfig()).map(([k, v]) => [k, v === '' ? '""' : String(v)]));
  assert.deepEqual(documented, defaults);
});

test('the defaults are valid; limits that make no sense are refused, naming the key', () => {
  assert.ok(prometheusConfigSchema.safeParse(defaultPrometheusConfig()).success);
  for (const [key, value, message] of [
    ['max_connections', 0, /too small|>=1/i],
    ['write_timeout', '0s', /write_timeout must be more than 0/],
    ['read_header_timeout', 'soon', /not a duration/],
    ['idle_timeout', 0, /idle_timeout must be more than 0/],
  ] as const) {
    const r = prometheusConfigSchema.safeParse({ ...defaultPrometheusConfig(), [key]: value });
    assert.ok(!r.success, `${key}: ${value} is refused`);
    assert.equal(r.error.issues[0]!.path.join('.'), key);
    assert.match(r.error.issues[0]!.message, message);
  }
});
