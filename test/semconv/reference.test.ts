/**
 * docs/reference.md and the code must agree: every metric (name, instrument, unit), every
 * event name and every attribute the code can emit is documented, and nothing documented is
 * missing from the code.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../../src/core/paths.js';
import { ALL_METRICS } from '../../src/semconv/metrics.js';
import { prometheusMetricNames } from '../../src/semconv/prometheus.js';
import { ATTR, EVENT_NAMES, RESOURCE_ATTR, SELF_ATTR, eventAttributes } from '../../src/semconv/attributes.js';
import { EVENT_KINDS } from '../../src/core/events.js';
import { KEY_PRESETS } from '../../src/processors/aggregate/config.js';
import { openEvent } from '../support/events.js';

const doc = readFileSync(join(packageRoot(), 'docs', 'reference.md'), 'utf8');

/** Rows of the tables under a "## heading", as arrays of cells (backticks removed). */
function table(heading: string): string[][] {
  const start = doc.indexOf(`\n## ${heading}\n`);
  assert.ok(start >= 0, `section "${heading}" in docs/reference.md`);
  const end = doc.indexOf('\n## ', start + 4);
  const section = doc.slice(start, end < 0 ? undefined : end);
  return section
    .split('\n')
    .filter((l) => l.startsWith('| ') && !l.startsWith('| ---'))
    .slice(1)
    .map((l) => l.slice(1, -1).split(' | ').map((c) => c.trim().replace(/`/g, '')));
}

test('every metric in the code is documented with its Prometheus name, instrument and unit, and nothing else', () => {
  const rows = [...table('Metrics'), ...table("tcpotel's own metrics")];
  const documented = new Map(rows.map((r) => [r[0]!, r]));
  for (const m of ALL_METRICS) {
    const row = documented.get(m.name);
    assert.ok(row, `${m.name} is documented`);
    assert.equal(row[1], prometheusMetricNames(m)!.name, `${m.name} Prometheus name`);
    assert.equal(row[2], m.instrument, `${m.name} instrument`);
    assert.equal(row[3], m.unit, `${m.name} unit`);
    for (const a of m.attributes) assert.ok(row[4]!.includes(a), `${m.name} lists attribute ${a}`);
  }
  assert.deepEqual([...documented.keys()].sort(), ALL_METRICS.map((m) => m.name).sort());
});

test('every log record event name is documented', () => {
  const names = new Set(table('Log records').map((r) => r[0]));
  assert.deepEqual([...names].sort(), [...new Set(Object.values(EVENT_NAMES))].sort());
  for (const row of table('Log records')) {
    for (const kind of row[1]!.split(',').map((k) => k.trim())) assert.equal(EVENT_NAMES[kind as keyof typeof EVENT_NAMES], row[0]);
  }
});

test('every attribute name in the code is documented, and nothing else', () => {
  const attrs = table('Attributes').map((r) => r[0]!);
  assert.deepEqual([...attrs].sort(), [...new Set(Object.values(ATTR))].sort());
  assert.deepEqual(table('Resource attributes').map((r) => r[0]).sort(), Object.values(RESOURCE_ATTR).sort());
  assert.deepEqual(table("Attributes of tcpotel's own metrics").map((r) => r[0]).sort(), Object.values(SELF_ATTR).sort());
});

test('what events and metrics actually carry is documented', () => {
  const documented = new Set(table('Attributes').map((r) => r[0]!));
  for (const kind of EVENT_KINDS) {
    for (const over of [{}, { errno: 111, resetSent: true, preexisting: true, direction: 'inbound' as const, reset: 'received' as const }]) {
      for (const key of Object.keys(eventAttributes(openEvent({ kind, ...over })))) assert.ok(documented.has(key), `${key} (on ${kind} events) is documented`);
    }
  }
  for (const keys of Object.values(KEY_PRESETS)) for (const k of keys) assert.ok(documented.has(k), `${k} (aggregate key) is documented`);
});
