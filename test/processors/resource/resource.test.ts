import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import * as os from 'node:os';
import { join } from 'node:path';
import { resourceProcessorFactory as factory } from '../../../src/processors/resource/factory.js';
import { resource } from '../../../src/processors/resource/resource.js';
import { detectResource, parseOsRelease } from '../../../src/processors/resource/detect.js';
import type { MetricBatch } from '../../../src/core/metrics.js';
import { testContext } from '../../support/context.js';
import { tempDirs } from '../../support/tmp.js';
import { batchOf, makeEvent, metricBatch } from '../../support/events.js';
import { ITEMS_IN, ITEMS_OUT, configOf, issuesOf, runSync } from '../../support/processors.js';

const tempDir = tempDirs();

function osRelease(text: string): string {
  const dir = tempDir('tcpotel-resource-');
  const path = join(dir, 'os-release');
  writeFileSync(path, text);
  return path;
}

const ARCH: Record<string, string> = { x64: 'amd64', arm64: 'arm64' };

test('the factory and its defaults', () => {
  assert.equal(factory.type, 'resource');
  assert.deepEqual(factory.accepts, ['events', 'metrics']);
  assert.equal(factory.output('events'), 'events');
  assert.deepEqual(configOf(factory), { detectors: ['host', 'os'], attributes: [] });
});

test('os-release parsing: quotes and escapes', () => {
  assert.deepEqual(parseOsRelease('NAME="Ubuntu"\nVERSION_ID="22.04"\nID=ubuntu\n# comment\nPRETTY_NAME=\'Ubuntu 22.04 LTS\'\nX="a \\"b\\""\n'), {
    NAME: 'Ubuntu',
    VERSION_ID: '22.04',
    ID: 'ubuntu',
    PRETTY_NAME: 'Ubuntu 22.04 LTS',
    X: 'a "b"',
  });
});

test('detectors: host, os (with os-release), process', () => {
  const path = osRelease('NAME="Debian GNU/Linux"\nVERSION_ID="12"\n');
  assert.deepEqual(detectResource(['host', 'os', 'process'], { osReleasePaths: [path] }), {
    'host.name': os.hostname(),
    'host.arch': ARCH[os.arch()] ?? os.arch(),
    'os.type': 'linux',
    'os.description': `Linux ${os.release()}`,
    'os.name': 'Debian GNU/Linux',
    'os.version': '12',
    'process.pid': process.pid,
    'process.runtime.name': 'nodejs',
    'process.runtime.version': process.versions.node,
  });
  // No readable os-release: no os.name / os.version.
  assert.deepEqual(detectResource(['os'], { osReleasePaths: ['/nonexistent/os-release'] }), {
    'os.type': 'linux',
    'os.description': `Linux ${os.release()}`,
  });
  assert.deepEqual(detectResource([]), {});
});

test('sets batch.resource over what it had, applies actions, copies the batch', () => {
  const ctx = testContext('resource');
  const path = osRelease('NAME=Alpine\n');
  const config = configOf(factory, {
    detectors: ['host', 'os'],
    attributes: [
      { key: 'deployment.environment.name', value: 'prod', action: 'insert' },
      { key: 'service.name', value: 'ignored', action: 'insert' }, // present: no-op
      { key: 'host.name', value: 'edge-1', action: 'update' },
      { key: 'absent', value: 'x', action: 'update' }, // absent: no-op
      { key: 'os.description', action: 'delete' },
      { key: 'cluster', value: 'eu-1', action: 'upsert' },
    ],
  });
  const input = batchOf([makeEvent()], { resource: { 'service.name': 'tcpotel', 'host.name': 'from-receiver' } });
  const m: MetricBatch = { ...metricBatch([{ name: 'x', attributes: {} }]), resource: { 'service.name': 'tcpotel' } };
  const bare = metricBatch([{ name: 'y', attributes: {} }]);
  const out = runSync(resource(config, ctx, { osReleasePaths: [path] }), [input, m, bare]);
  const expected = {
    'service.name': 'tcpotel',
    'host.name': 'edge-1',
    'host.arch': ARCH[os.arch()] ?? os.arch(),
    'os.type': 'linux',
    'os.name': 'Alpine',
    'deployment.environment.name': 'prod',
    cluster: 'eu-1',
  };
  assert.deepEqual(out, [{ ...input, resource: expected }, { ...m, resource: expected }, { ...bare, resource: { ...expected, 'service.name': 'ignored' } }]);
  assert.notEqual(out[0], input);
  assert.deepEqual(input.resource, { 'service.name': 'tcpotel', 'host.name': 'from-receiver' });
  assert.equal((out[0] as { events: unknown }).events, input.events);
  assert.notEqual((out[0] as { resource: unknown }).resource, (out[1] as MetricBatch).resource, 'each batch gets its own resource object');
  assert.equal(ctx.telemetry.telemetry.total(ITEMS_IN), 3);
  assert.equal(ctx.telemetry.telemetry.total(ITEMS_OUT), 3);
});

test('detection happens once, at create time', () => {
  const path = osRelease('NAME=Before\n');
  const op = resource(configOf(factory, { detectors: ['os'] }), testContext('resource'), { osReleasePaths: [path] });
  writeFileSync(path, 'NAME=After\n');
  const out = runSync(op, [batchOf([makeEvent()]), batchOf([], { stateCounts: { v4: {}, v6: {} } }), batchOf([])]);
  assert.equal(out.length, 2);
  assert.equal(out[0]!.resource!['os.name'], 'Before');
  assert.equal(out[1]!.resource!['os.name'], 'Before');
});

test('the factory detects from the real host', () => {
  const out = runSync(factory.create(configOf(factory), testContext('resource')), [batchOf([makeEvent()])]);
  assert.equal(out[0]!.resource!['host.name'], os.hostname());
  assert.equal(out[0]!.resource!['os.type'], 'linux');
});

test('schema errors point at the key', () => {
  const cases: Array<[Record<string, unknown>, string, RegExp]> = [
    [{ detectors: ['host', 'gcp'] }, 'detectors.1', /.+/],
    [{ attributes: [{ key: 'a', action: 'upsert' }] }, 'attributes.0.value', /^upsert needs a value$/],
    [{ attributes: [{ key: 'a', action: 'delete', value: 1 }] }, 'attributes.0.value', /^delete takes no value$/],
    [{ attributes: [{ key: 'a', action: 'hash' }] }, 'attributes.0.action', /.+/],
    [{ attributes: [{ key: 'a', value: {}, action: 'insert' }] }, 'attributes.0.value', /value must be a string, a number or a boolean/],
    [{ detector: ['host'] }, '', /Unrecognized key: "detector"/],
  ];
  for (const [bad, path, message] of cases) {
    const issues = issuesOf(factory, bad);
    assert.equal(issues.length, 1, `${JSON.stringify(bad)}: ${JSON.stringify(issues)}`);
    assert.equal(issues[0]!.path, path, JSON.stringify(bad));
    assert.match(issues[0]!.message, message);
  }
});
