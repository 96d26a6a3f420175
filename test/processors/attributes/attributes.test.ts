import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { attributesProcessorFactory as factory } from '../../../src/processors/attributes/factory.js';
import { seriesKey, type MetricBatch } from '../../../src/core/metrics.js';
import { eventAttributes } from '../../../src/semconv/attributes.js';
import { testContext } from '../../support/context.js';
import { batchOf, events, makeEvent, metricBatch } from '../../support/events.js';
import { DROPPED, ITEMS_IN, ITEMS_OUT, configOf, issuesOf, runSync } from '../../support/processors.js';
import type { TcpEvent } from '../../../src/core/events.js';

const sha = (s: string) => createHash('sha256').update(s).digest('hex');

function run(actions: unknown[], evs: TcpEvent[]) {
  const ctx = testContext('attributes');
  const out = runSync(factory.create(configOf(factory, { actions }), ctx), [batchOf(evs)]);
  return { out: events(out[0]), ctx };
}

test('the factory and its defaults', () => {
  assert.equal(factory.type, 'attributes');
  assert.deepEqual(factory.accepts, ['events', 'metrics']);
  assert.equal(factory.output('metrics'), 'metrics');
  assert.deepEqual(configOf(factory), { actions: [] });
});

test('events: insert, update, upsert, delete and hash, in order, with Collector semantics', () => {
  const ev = makeEvent({ attributes: { 'team': 'payments' } });
  const { out, ctx } = run(
    [
      { key: 'env', action: 'insert', value: 'prod' }, // absent: inserted
      { key: 'env', action: 'insert', value: 'dev' }, // present now: no-op
      { key: 'team', action: 'update', value: 'billing' }, // present: updated
      { key: 'missing', action: 'update', value: 'x' }, // absent: no-op
      { key: 'network.peer.port', action: 'upsert', value: 8443 },
      { key: 'process.executable.name', action: 'delete' },
      { key: 'network.peer.address', action: 'hash' },
      { key: 'server.copy', action: 'insert', from_attribute: 'server.address' },
      { key: 'nothing', action: 'upsert', from_attribute: 'no.such.attribute' }, // source absent: no-op
      { key: 'flag', action: 'upsert', value: true },
    ],
    [ev],
  );
  const e = out[0]!;
  assert.notEqual(e, ev, 'the event is copied');
  assert.deepEqual(ev.attributes, { team: 'payments' }, 'the input event is not changed');
  assert.deepEqual(e.attributes, {
    team: 'billing',
    env: 'prod',
    'network.peer.port': 8443,
    'process.executable.name': undefined,
    'network.peer.address': sha('93.184.215.14'),
    'server.copy': '93.184.215.14',
    flag: true,
  });
  const all = eventAttributes(e);
  assert.equal(all['network.peer.port'], 8443);
  assert.equal('process.executable.name' in all, false);
  assert.equal(all['network.peer.address'], sha('93.184.215.14'));
  assert.equal(all['env'], 'prod');
  assert.equal(ctx.telemetry.telemetry.total(ITEMS_IN), 1);
  assert.equal(ctx.telemetry.telemetry.total(ITEMS_OUT), 1);
  assert.equal(ctx.telemetry.telemetry.total(DROPPED), 0);
});

test('events: insert sees attributes derived from the event; hash of a number hashes its text', () => {
  const ev = makeEvent({ kind: 'close', bytesSent: 512 });
  const { out } = run(
    [
      { key: 'tcp.bytes.sent', action: 'insert', value: 1 }, // derived attribute present: no-op
      { key: 'tcp.bytes.received', action: 'update', value: 0 }, // present: updated
      { key: 'network.local.port', action: 'hash' },
      { key: 'thread.id', action: 'update', from_attribute: 'process.pid' },
    ],
    [ev],
  );
  assert.deepEqual(out[0]!.attributes, { 'tcp.bytes.received': 0, 'network.local.port': sha('51234'), 'thread.id': 4242 });
});

test('events: a deleted attribute counts as absent for later actions', () => {
  const { out } = run(
    [
      { key: 'network.peer.address', action: 'delete' },
      { key: 'network.peer.address', action: 'update', value: 'x' },
      { key: 'network.peer.address', action: 'hash' },
      { key: 'network.local.address', action: 'delete' },
      { key: 'network.local.address', action: 'insert', value: 'masked' },
    ],
    [makeEvent()],
  );
  assert.deepEqual(out[0]!.attributes, { 'network.peer.address': undefined, 'network.local.address': 'masked' });
});

test('events: when nothing changes, the event is passed as it is', () => {
  const ev = makeEvent();
  const { out } = run([{ key: 'absent', action: 'update', value: 1 }, { key: 'absent', action: 'hash' }], [ev]);
  assert.equal(out[0], ev);
});

test('metrics: points are edited, their series key recomputed; the input is not changed', () => {
  const m = metricBatch([
    { name: 'tcp.connections.opened', attributes: { 'network.peer.address': '10.0.0.1', 'network.peer.port': 443 }, value: 3 },
    { name: 'tcp.connections.opened', attributes: { 'network.peer.port': 80 }, value: 1 },
  ]);
  const before = structuredClone(m);
  const ctx = testContext('attributes');
  const actions = [
    { key: 'network.peer.address', action: 'hash' },
    { key: 'env', action: 'insert', value: 'prod' },
    { key: 'network.peer.port', action: 'delete' },
    { key: 'peer', action: 'insert', from_attribute: 'network.peer.address' },
    { key: 'gone', action: 'update', value: 1 },
  ];
  const out = runSync(factory.create(configOf(factory, { actions }), ctx), [m]);
  const points = (out[0] as MetricBatch).points;
  const a0 = { 'network.peer.address': sha('10.0.0.1'), env: 'prod', peer: sha('10.0.0.1') };
  const a1 = { env: 'prod' };
  assert.deepEqual(points, [
    { type: 'sum', name: 'tcp.connections.opened', attributes: a0, seriesKey: seriesKey('tcp.connections.opened', a0), value: 3 },
    { type: 'sum', name: 'tcp.connections.opened', attributes: a1, seriesKey: seriesKey('tcp.connections.opened', a1), value: 1 },
  ]);
  assert.deepEqual(m, before);
  assert.equal(ctx.telemetry.telemetry.total(ITEMS_IN), 2);
  assert.equal(ctx.telemetry.telemetry.total(ITEMS_OUT), 2);
});

test('empty event batches are not passed on; state counts are', () => {
  const stateCounts = { v4: {}, v6: { listen: 1 } };
  const out = runSync(factory.create(configOf(factory, { actions: [{ key: 'a', action: 'upsert', value: 1 }] }), testContext('attributes')), [
    batchOf([]),
    batchOf([], { stateCounts }),
  ]);
  assert.deepEqual(out, [batchOf([], { stateCounts })]);
});

test('schema errors point at the action and key', () => {
  const cases: Array<[Record<string, unknown>, string, RegExp]> = [
    [{ actions: [{ key: 'a', action: 'insert' }] }, 'actions.0.value', /^insert needs either value or from_attribute$/],
    [{ actions: [{ key: 'a', action: 'delete' }, { key: 'b', action: 'upsert', value: 1, from_attribute: 'c' }] }, 'actions.1.from_attribute', /^upsert takes value or from_attribute, not both$/],
    [{ actions: [{ key: 'a', action: 'hash', value: 'x' }] }, 'actions.0.value', /^hash takes no value$/],
    [{ actions: [{ key: 'a', action: 'delete', from_attribute: 'x' }] }, 'actions.0.from_attribute', /^delete takes no from_attribute$/],
    [{ actions: [{ key: 'a', action: 'extract', value: 1 }] }, 'actions.0.action', /.+/],
    [{ actions: [{ key: '', action: 'delete' }] }, 'actions.0.key', /key cannot be empty/],
    [{ actions: [{ key: 'a', action: 'upsert', value: [1] }] }, 'actions.0.value', /value must be a string, a number or a boolean/],
    [{ actions: [{ key: 'a', action: 'upsert', value: 1, pattern: 'x' }] }, 'actions.0', /Unrecognized key: "pattern"/],
  ];
  for (const [bad, path, message] of cases) {
    const issues = issuesOf(factory, bad);
    assert.equal(issues.length, 1, `${JSON.stringify(bad)}: ${JSON.stringify(issues)}`);
    assert.equal(issues[0]!.path, path, JSON.stringify(bad));
    assert.match(issues[0]!.message, message);
  }
});
