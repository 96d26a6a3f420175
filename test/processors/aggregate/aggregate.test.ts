import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TestScheduler } from 'rxjs/testing';
import { Subject, map } from 'rxjs';
import { aggregateProcessorFactory } from '../../../src/processors/aggregate/factory.js';
import { eventBatch, type TcpEvent } from '../../../src/core/events.js';
import type { Batch } from '../../../src/core/component.js';
import type { MetricBatch, MetricPoint } from '../../../src/core/metrics.js';
import { openEvent } from '../../support/events.js';
import { testContext } from '../../support/context.js';

function config(over: Record<string, unknown> = {}) {
  return aggregateProcessorFactory.schema.parse({ ...(aggregateProcessorFactory.createDefaultConfig() as object), ...over });
}

/** Runs events through aggregate (no timer fires: one window, flushed at completion). */
function run(events: TcpEvent[][], over: Record<string, unknown> = {}) {
  const ctx = testContext('aggregate', 'processor');
  const input = new Subject<Batch>();
  const out: MetricBatch[] = [];
  input.pipe(aggregateProcessorFactory.create(config({ interval: '1h', ...over }), ctx)).subscribe((b) => out.push(b as MetricBatch));
  for (const evs of events) input.next(eventBatch('test', evs));
  input.complete();
  return { out, ctx };
}

function value(points: MetricPoint[], name: string, match: Record<string, unknown> = {}): number {
  const hits = points.filter((p) => p.name === name && Object.entries(match).every(([k, v]) => p.attributes[k] === v));
  return hits.reduce((a, p) => a + (p.type === 'histogram' ? p.count : p.value), 0);
}

test('opens, closes, bytes and active connections per five-tuple, exactly', () => {
  const a = openEvent({ socketId: 1, localPort: 40001 });
  const b = openEvent({ socketId: 2, localPort: 40002 });
  const { out } = run([
    [a, b],
    [{ ...a, kind: 'close', bytesSent: 100, bytesReceived: 2000, durationNs: 5e6, oldState: 'fin_wait_2', newState: 'closed' }],
  ]);
  assert.equal(out.length, 1);
  const p = out[0]!.points;
  const tupleA = { 'network.local.port': 40001, 'network.peer.port': 8080, 'network.peer.address': '127.0.0.1', 'network.type': 'ipv4', 'network.transport': 'tcp' };
  assert.equal(value(p, 'tcp.connections.opened', tupleA), 1);
  assert.equal(value(p, 'tcp.connections.opened'), 2);
  assert.equal(value(p, 'tcp.connections.closed', tupleA), 1);
  assert.equal(value(p, 'tcp.connections.active', tupleA), 0, 'opened and closed in the window: no net change');
  assert.equal(value(p, 'tcp.connections.active', { 'network.local.port': 40002 }), 1);
  assert.equal(value(p, 'tcp.io', { ...tupleA, 'network.io.direction': 'transmit' }), 100);
  assert.equal(value(p, 'tcp.io', { ...tupleA, 'network.io.direction': 'receive' }), 2000);
  assert.equal(value(p, 'tcp.handshake.duration'), 2, 'two handshakes recorded');
  assert.equal(value(p, 'tcp.connection.duration'), 1);
  const h = p.find((x) => x.name === 'tcp.connection.duration')!;
  assert.equal(h.type, 'histogram');
  if (h.type === 'histogram') {
    assert.equal(h.sum, 0.005);
    assert.equal(h.bucketCounts.reduce((x, y) => x + y, 0), 1);
  }
});

test('live samples count only the growth; the close adds the rest; pre-existing bytes are not counted', () => {
  const existing = openEvent({ kind: 'existing', socketId: 7, preexisting: true, bytesSent: 5000, bytesReceived: 300 });
  const { out } = run([
    [existing],
    [{ ...existing, kind: 'sample', bytesSent: 5600, bytesReceived: 320, srttUs: 100 }],
    [{ ...existing, kind: 'sample', bytesSent: 5600, bytesReceived: 320 }],
    [{ ...existing, kind: 'close', bytesSent: 6000, bytesReceived: 400, retransmits: 3 }],
  ], { keys: 'none' });
  const p = out[0]!.points;
  assert.equal(value(p, 'tcp.io', { 'network.io.direction': 'transmit' }), 1000);
  assert.equal(value(p, 'tcp.io', { 'network.io.direction': 'receive' }), 100);
  assert.equal(value(p, 'tcp.retransmits'), 3);
  assert.equal(value(p, 'tcp.connections.opened'), 0, 'existing is not a new connection');
  assert.equal(value(p, 'tcp.connections.closed'), 1);
  assert.equal(value(p, 'tcp.connections.active'), 0, '+1 at the snapshot, -1 at close');
  assert.equal(value(p, 'tcp.rtt'), 3, 'each sample and the close');
});

test('retransmits count from the running total: lost events and the close never count twice', () => {
  const open = openEvent({ socketId: 9 });
  const { out } = run([[open, { ...open, kind: 'retransmit', retransmits: 1 }, { ...open, kind: 'retransmit', retransmits: 4 }, { ...open, kind: 'close', retransmits: 6, bytesSent: 10 }]], { keys: 'none' });
  assert.equal(value(out[0]!.points, 'tcp.retransmits'), 6);
});

test('failed connects by error.type; resets by direction', () => {
  const { out } = run([[
    openEvent({ kind: 'failed', errno: 111 }),
    openEvent({ kind: 'failed', errno: 111 }),
    openEvent({ kind: 'failed', errno: 110 }),
    openEvent({ kind: 'reset', reset: 'sent' }),
    openEvent({ kind: 'reset', reset: 'received' }),
    openEvent({ kind: 'reset', reset: 'received' }),
  ]], { keys: 'none' });
  const p = out[0]!.points;
  assert.equal(value(p, 'tcp.connections.failed', { 'error.type': 'connection_refused' }), 2);
  assert.equal(value(p, 'tcp.connections.failed', { 'error.type': 'timed_out' }), 1);
  assert.equal(value(p, 'tcp.resets', { 'tcp.reset.direction': 'sent' }), 1);
  assert.equal(value(p, 'tcp.resets', { 'tcp.reset.direction': 'received' }), 2);
});

test('key presets and attribute lists decide the series', () => {
  const evs = [openEvent({ localPort: 1, remotePort: 443, remoteAddress: '10.0.0.1' }), openEvent({ localPort: 2, remotePort: 443, remoteAddress: '10.0.0.1' }), openEvent({ localPort: 3, remotePort: 80, remoteAddress: '10.0.0.2' })];
  const series = (keys: unknown) => new Set(run([evs], { keys }).out[0]!.points.filter((p) => p.name === 'tcp.connections.opened').map((p) => JSON.stringify(p.attributes)));
  assert.equal(series('five_tuple').size, 3);
  assert.equal(series('remote').size, 2);
  assert.equal(series('none').size, 1);
  assert.deepEqual([...series(['network.peer.port'])].sort(), ['{"network.peer.port":443}', '{"network.peer.port":80}']);
  assert.deepEqual([...series('server')].sort(), [
    '{"server.address":"10.0.0.1","server.port":443,"network.tcp.handshake.role":"client"}',
    '{"server.address":"10.0.0.2","server.port":80,"network.tcp.handshake.role":"client"}',
  ]);
});

test('the series cap folds the rest into one otel.metric.overflow series, and counts it', () => {
  const evs = [1, 2, 3, 4, 5].map((port) => openEvent({ localPort: port }));
  const { out, ctx } = run([evs], { max_series: 2 });
  const opened = out[0]!.points.filter((p) => p.name === 'tcp.connections.opened');
  assert.equal(opened.length, 3);
  const overflow = opened.find((p) => p.attributes['otel.metric.overflow'] === true)!;
  assert.equal(overflow.type === 'sum' && overflow.value, 3);
  assert.equal(ctx.telemetry.telemetry.total('tcpotel.aggregate.series.overflow'), 3, 'three events folded');
});

test('tracked connections are capped; evictions are counted', () => {
  const evs = [1, 2, 3].map((id) => openEvent({ socketId: id }));
  const { ctx } = run([evs], { max_connections: 2 });
  assert.equal(ctx.telemetry.telemetry.total('tcpotel.aggregate.connections.evicted'), 1);
});

test('socket counts by state become system.network.connection.count', () => {
  const ctx = testContext('aggregate');
  const input = new Subject<Batch>();
  const out: MetricBatch[] = [];
  input.pipe(aggregateProcessorFactory.create(config({ interval: '1h' }), ctx)).subscribe((b) => out.push(b as MetricBatch));
  input.next(eventBatch('t', [], { stateCounts: { v4: { established: 3, listen: 2 }, v6: { time_wait: 1 } } }));
  input.complete();
  const g = out[0]!.points.filter((p) => p.name === 'system.network.connection.count');
  assert.deepEqual(
    g.map((p) => [p.attributes['network.type'], p.attributes['network.connection.state'], p.type === 'gauge' && p.value]).sort(),
    [['ipv4', 'established', 3], ['ipv4', 'listen', 2], ['ipv6', 'time_wait', 1]],
  );
});

test('windows (marble): one metric batch per interval, the partial last one at completion', () => {
  const scheduler = new TestScheduler((a, b) => assert.deepEqual(a, b));
  scheduler.run(({ cold, expectObservable }) => {
    const e1 = eventBatch('t', [openEvent({ socketId: 1 })]);
    const e2 = eventBatch('t', [openEvent({ socketId: 2 }), openEvent({ socketId: 3 })]);
    const ctx = testContext('aggregate', 'processor', { scheduler });
    const source = cold<Batch>('a 5ms b 8ms |', { a: e1, b: e2 });
    const opened = (b: Batch) => (b.type === 'metrics' ? value(b.points, 'tcp.connections.opened') : -1);
    const result = source.pipe(aggregateProcessorFactory.create(config({ interval: '10ms', keys: 'none' }), ctx));
    // a at 0, b at 6, window ends at 10 (a+b: 3 opens), input completes at 15: empty last window.
    expectObservable(result.pipe(map(opened))).toBe('10ms x 4ms (y|)', { x: 3, y: 0 });
  });
});

test('raw kernel records (five-tuple index) and plain events aggregate to exactly the same points, over windows, growth and overflow', async () => {
  const { Aggregator } = await import('../../../src/processors/aggregate/aggregator.js');
  const { decodeRecords, encodeRecord } = await import('../../../src/receivers/ebpf/record.js');
  const { RECORD_SIZE } = await import('../../../src/native/records.js');
  const { copyEvent } = await import('../../../src/core/events.js');
  const { mulberry32 } = await import('../../../src/core/hash.js');
  const rnd = mulberry32(5);
  // 700 tuples (the tables start at 256 rows and grow), IPv4, IPv6 and IPv4-mapped.
  const tuples = Array.from({ length: 700 }, (_, i) => {
    // Few addresses: many tuples differ only in a port.
    const kind = i % 3;
    const a = i % 7;
    const local = kind === 0 ? `10.0.0.${a}` : kind === 1 ? `fd00::${a.toString(16)}` : `::ffff:10.9.0.${a}`;
    return { family: (kind === 0 ? 4 : 6) as 4 | 6, localAddress: local, localPort: 30000 + i, remoteAddress: kind === 0 ? '10.1.1.1' : kind === 1 ? 'fd00::1' : '::ffff:10.1.1.1', remotePort: 443 + (i % 5) };
  });
  const events: TcpEvent[] = [];
  let id = 1;
  for (let round = 0; round < 3; round++) {
    for (const t of tuples) {
      if (rnd() < 0.3) continue;
      const socketId = id++;
      const sent = Math.floor(rnd() * 1e6);
      const received = Math.floor(rnd() * 1e6);
      // Owners vary: the same tuple from two processes is two series when keyed on them.
      const owner = { pid: 100 + Math.floor(rnd() * 3), comm: ['curl', 'nginx', 'a-very-long-name'][Math.floor(rnd() * 3)]! };
      events.push(openEvent({ ...t, ...owner, kind: 'open', socketId, handshakeNs: 1000 + Math.floor(rnd() * 1e6) }));
      events.push(openEvent({ ...t, ...owner, kind: 'sample', socketId, bytesSent: sent >> 1, bytesReceived: received >> 1, srttUs: 1 + Math.floor(rnd() * 5000) }));
      if (rnd() < 0.8) events.push(openEvent({ ...t, ...owner, kind: 'close', socketId, bytesSent: sent, bytesReceived: received, durationNs: 1e6, srttUs: 100, oldState: 'last_ack', newState: 'closed' }));
      if (rnd() < 0.1) events.push(openEvent({ ...t, ...owner, kind: 'existing', socketId: id++, bytesSent: 5, bytesReceived: 6 }));
    }
  }
  const buf = Buffer.alloc(events.length * RECORD_SIZE);
  events.forEach((e, i) => encodeRecord(e, buf, i * RECORD_SIZE));
  const raw = decodeRecords(buf).events;
  const plain = raw.map((e) => copyEvent(e));
  assert.equal(raw.length, events.length);
  assert.equal(typeof (raw[0] as unknown as { copyTuple?: unknown }).copyTuple, 'function', 'the records take the raw path');

  for (const [max_series, keys] of [
    [10000, 'five_tuple'],
    [300, 'five_tuple'],
    [10000, ['five_tuple', 'process.pid', 'process.executable.name']],
    [300, ['five_tuple', 'process.executable.name']],
  ] as const) {
    const cfg = config({ interval: '1h', max_series, keys });
    const outputs = [raw, plain].map((evs) => {
      let overflow = 0;
      const agg = new Aggregator(cfg, { overflow: (n) => (overflow += n), evicted: () => undefined }, 0);
      const windows: MetricPoint[][] = [];
      // Three windows of uneven size: rows are found again after each flush.
      const cuts = [0, Math.floor(evs.length * 0.4), Math.floor(evs.length * 0.7), evs.length];
      for (let w = 0; w < 3; w++) {
        for (let i = cuts[w]!; i < cuts[w + 1]!; i += 97) agg.add(eventBatch('t', evs.slice(i, Math.min(i + 97, cuts[w + 1]!))));
        windows.push(agg.flush(1000 * (w + 1)).points);
      }
      return { windows, overflow };
    });
    assert.deepEqual(outputs[0]!.windows, outputs[1]!.windows, `max_series ${max_series}, keys ${String(keys)}`);
    assert.equal(outputs[0]!.overflow, outputs[1]!.overflow);
    if (max_series === 300) assert.ok(outputs[0]!.overflow > 0, 'the cap was reached');
    const opened = outputs[0]!.windows.flat().filter((p) => p.name === 'tcp.connections.opened').reduce((a, p) => a + (p.type === 'sum' ? p.value : 0), 0);
    assert.equal(opened, events.filter((e) => e.kind === 'open').length);
  }
});
