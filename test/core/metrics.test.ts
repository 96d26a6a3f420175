import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyBatch, hrTimeFromMs, nowHrTime, pointCount, seriesKey, stringHash, type MetricBatch } from '../../src/core/metrics.js';

test('seriesKey: name and attributes, whatever their order; values are part of it', () => {
  const a = seriesKey('tcp.io', { 'network.io.direction': 'transmit', 'network.peer.port': 443 });
  assert.equal(a, seriesKey('tcp.io', { 'network.peer.port': 443, 'network.io.direction': 'transmit' }));
  assert.notEqual(a, seriesKey('tcp.io', { 'network.io.direction': 'receive', 'network.peer.port': 443 }));
  assert.notEqual(a, seriesKey('tcp.rtt', { 'network.io.direction': 'transmit', 'network.peer.port': 443 }));
  assert.equal(seriesKey('tcp.io', {}), 'tcp.io');
  assert.notEqual(seriesKey('m', { a: 1 }), seriesKey('m', { a: 1, b: '' }));
});

test('hrTimeFromMs: [seconds, nanoseconds] with sub-millisecond precision', () => {
  assert.deepEqual(hrTimeFromMs(0), [0, 0]);
  assert.deepEqual(hrTimeFromMs(1500), [1, 500_000_000]);
  assert.deepEqual(hrTimeFromMs(1500.25), [1, 500_250_000]);
  assert.deepEqual(hrTimeFromMs(1_700_000_000_999), [1_700_000_000, 999_000_000]);
  const [s, n] = nowHrTime();
  const ms = s * 1000 + n / 1e6;
  assert.ok(Math.abs(ms - Date.now()) < 50, `${ms} is now`);
});

test('stringHash is 32-bit FNV-1a (published test vectors)', () => {
  assert.equal(stringHash(''), 0x811c9dc5);
  assert.equal(stringHash('a'), 0xe40c292c);
  assert.equal(stringHash('foobar'), 0xbf9cf968);
  assert.notEqual(stringHash('ab'), stringHash('ba'));
});

test('copyBatch changes fields without building lazily built points', () => {
  let built = 0;
  const batch = {
    type: 'metrics',
    startTime: [1, 0],
    endTime: [2, 0],
    get points() {
      built++;
      return [];
    },
    pointCount: 7,
  } as unknown as MetricBatch;
  const copy = copyBatch(batch, { resource: { 'service.name': 'tcpotel' } });
  assert.equal(built, 0, 'no points built');
  assert.notEqual(copy, batch);
  assert.deepEqual(copy.resource, { 'service.name': 'tcpotel' });
  assert.equal(batch.resource, undefined, 'the original is unchanged');
  assert.equal(pointCount(copy), 7);
  assert.equal(built, 0);
  void copy.points;
  assert.equal(built, 1, 'the getter is carried over');
});

test('pointCount: the count a table batch knows, else the points', () => {
  const plain: MetricBatch = { type: 'metrics', startTime: [0, 0], endTime: [1, 0], points: [{ type: 'gauge', name: 'g', attributes: {}, seriesKey: 'g', value: 1 }] };
  assert.equal(pointCount(plain), 1);
  assert.equal(pointCount({ ...plain, points: [] }), 0);
});
