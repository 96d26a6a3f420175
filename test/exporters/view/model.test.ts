import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ViewModel } from '../../../src/exporters/view/model.js';
import { summaryLine } from '../../../src/exporters/view/format.js';
import { Aggregator } from '../../../src/processors/aggregate/aggregator.js';
import { aggregateConfigSchema, defaultAggregateConfig } from '../../../src/processors/aggregate/config.js';
import { eventBatch } from '../../../src/core/events.js';
import { makeEvent } from '../../support/events.js';
import { T0, active, closed, conn, durationHist, failed, io, opened, resets, retrans, sockets, windowBatch } from './fixtures.js';

const A = conn(40000, 8080, 100, 'curl'); // client end
const B = conn(8080, 40000, 200, 'server'); // server end of the same connection
const E = conn(22, 50000, 300, 'sshd'); // open before start
const F = conn(41000, 9, 100, 'curl'); // a failed connect

function scenario() {
  const m = new ViewModel({ intervalMs: 1000, maxRecent: 20 });
  const done1 = m.addMetrics(
    windowBatch(T0, T0 + 1000, [
      opened(A),
      active(A, 1),
      opened(B),
      active(B, 1),
      active(E, 1),
      io(A, 'transmit', 700),
      io(A, 'receive', 900),
      io(B, 'transmit', 900),
      io(B, 'receive', 700),
      sockets('established', 'ipv4', 3),
      sockets('listen', 'ipv4', 2),
      sockets('listen', 'ipv6', 1),
    ]),
  );
  return { m, done1 };
}

function window2(m: ViewModel) {
  return m.addMetrics(
    windowBatch(T0 + 1000, T0 + 2000, [
      io(E, 'transmit', 5000),
      io(E, 'receive', 100),
      closed(A),
      active(A, -1),
      closed(B),
      active(B, -1),
      durationHist(A, [0.5]),
      durationHist(B, [0.5]),
      failed(F, 'connection_refused', 2),
      resets(F, 'received', 2),
      retrans(E, 3),
    ]),
  );
}

test('totals since start, counts and rates of the last period, socket states: exact', () => {
  const { m, done1 } = scenario();
  assert.equal(done1, true, 'a 1s window completes a 1s period');
  assert.equal(m.ready, true);
  assert.deepEqual(m.totals(), { opened: 2, closed: 0, failed: 0, tx: 1600, rx: 1600, retransmits: 0, resets: 0, active: 3, connections: 3 });
  assert.deepEqual(m.lastPeriod(), { opened: 2, closed: 0, failed: 0, tx: 1600, rx: 1600, retransmits: 0, resets: 0, startMs: T0, endMs: T0 + 1000, seconds: 1, windows: 1 });

  assert.equal(window2(m), true);
  assert.deepEqual(m.totals(), { opened: 2, closed: 2, failed: 2, tx: 6600, rx: 1700, retransmits: 3, resets: 2, active: 1, connections: 3 });
  const s = m.snapshot();
  assert.deepEqual(s.period, { opened: 0, closed: 2, failed: 2, tx: 5000, rx: 100, retransmits: 3, resets: 2, startMs: T0 + 1000, endMs: T0 + 2000, seconds: 1, windows: 1 });
  assert.deepEqual(s.rates, { opened: 0, closed: 2, failed: 2, tx: 5000, rx: 100, retransmits: 3, resets: 2 });
  assert.deepEqual(s.states, [
    { state: 'established', count: 3 },
    { state: 'listen', count: 3 },
  ]);
  assert.equal(s.nowMs, T0 + 2000);
  assert.equal(
    summaryLine(m.totals(), m.lastPeriod(), m.nowMs),
    '2026-11-25T07:00:02Z conns total=3 active=1 new=0 closed=2 failed=2 tx_rate=5000B/s rx_rate=100B/s retrans=3 resets=2 tx_total=6600B rx_total=1700B failed_total=2 retrans_total=3 resets_total=2 interval=1.00s',
  );
});

test('top connections: rows with five-tuple, process, state, bytes, rates and age; sorted by bytes, rate, age', () => {
  const { m } = scenario();
  window2(m);
  const byBytes = m.snapshot({ sort: 'bytes' }).rows;
  assert.deepEqual(
    byBytes.map((r) => [r.local, r.peer, r.pid, r.comm, r.state, r.tx, r.rx, r.txRate, r.rxRate, r.ageMs, r.connections]),
    [
      ['127.0.0.1:22', '127.0.0.1:50000', 300, 'sshd', 'open', 5000, 100, 5000, 100, 2000, 1],
      ['127.0.0.1:40000', '127.0.0.1:8080', 100, 'curl', 'closed', 700, 900, 0, 0, 500, 1],
      ['127.0.0.1:8080', '127.0.0.1:40000', 200, 'server', 'closed', 900, 700, 0, 0, 500, 1],
      ['127.0.0.1:41000', '127.0.0.1:9', 100, 'curl', 'failed', 0, 0, 0, 0, 1000, 0],
    ],
  );
  assert.equal(byBytes[3]!.failed, 2);
  assert.equal(byBytes[3]!.resets, 2);
  assert.equal(byBytes[0]!.retransmits, 3);

  const byRate = m.snapshot({ sort: 'rate' }).rows.map((r) => r.local);
  assert.deepEqual(byRate, ['127.0.0.1:22', '127.0.0.1:40000', '127.0.0.1:8080', '127.0.0.1:41000']);
  const byAge = m.snapshot({ sort: 'age' }).rows.map((r) => r.local);
  assert.deepEqual(byAge, ['127.0.0.1:22', '127.0.0.1:41000', '127.0.0.1:40000', '127.0.0.1:8080']);
  assert.deepEqual(
    m.snapshot({ sort: 'bytes', limit: 2 }).rows.map((r) => r.local),
    ['127.0.0.1:22', '127.0.0.1:40000'],
  );
});

test('rates follow the last period: a row idle in it has rate 0; a busy one its bytes per second', () => {
  const m = new ViewModel({ intervalMs: 1000, maxRecent: 0 });
  m.addMetrics(windowBatch(T0, T0 + 1000, [io(A, 'transmit', 1000)]));
  assert.equal(m.rows()[0]!.txRate, 1000);
  m.addMetrics(windowBatch(T0 + 1000, T0 + 2000, [io(B, 'receive', 300)]));
  const rows = m.rows('rate');
  assert.deepEqual(
    rows.map((r) => [r.local, r.txRate, r.rxRate, r.tx, r.rx]),
    [
      ['127.0.0.1:8080', 0, 300, 0, 300],
      ['127.0.0.1:40000', 0, 0, 1000, 0],
    ],
  );
  // Idle for a period, then busy again: only the newest period counts.
  m.addMetrics(windowBatch(T0 + 2000, T0 + 3000, []));
  m.addMetrics(windowBatch(T0 + 3000, T0 + 4000, [io(A, 'transmit', 40)]));
  assert.equal(m.rows('rate')[0]!.txRate, 40);
  assert.equal(m.rows('rate')[0]!.tx, 1040);
});

test('short windows add up to one period: five 200ms windows make a 1s period with per-second rates', () => {
  const m = new ViewModel({ intervalMs: 1000, maxRecent: 0 });
  const done: boolean[] = [];
  for (let i = 0; i < 5; i++) {
    done.push(m.addMetrics(windowBatch(T0 + i * 200, T0 + (i + 1) * 200, [opened(A), active(A, 1), io(A, 'transmit', 100), io(A, 'receive', 30)])));
  }
  assert.deepEqual(done, [false, false, false, false, true]);
  const p = m.lastPeriod()!;
  assert.equal(p.windows, 5);
  assert.ok(Math.abs(p.seconds - 1) < 1e-9);
  assert.equal(p.opened, 5);
  assert.equal(p.tx, 500);
  const rates = m.snapshot().rates!;
  assert.ok(Math.abs(rates.tx - 500) < 1e-6 && Math.abs(rates.rx - 150) < 1e-6 && Math.abs(rates.opened - 5) < 1e-6);
  assert.ok(Math.abs(m.rows()[0]!.txRate - 500) < 1e-6);
  // A partial period at shutdown: completePeriod() closes it, and says when there was none.
  m.addMetrics(windowBatch(T0 + 1000, T0 + 1100, [closed(A, 5), active(A, -5)]));
  assert.equal(m.completePeriod(), true);
  assert.equal(m.lastPeriod()!.closed, 5);
  assert.equal(m.completePeriod(), false);
  assert.deepEqual(m.totals(), { opened: 5, closed: 5, failed: 0, tx: 500, rx: 150, retransmits: 0, resets: 0, active: 0, connections: 5 });
});

test('filter: a case-insensitive substring of address:port, pid or command; totals over the matching rows', () => {
  const { m } = scenario();
  window2(m);
  const s = m.snapshot({ filter: ':8080' });
  assert.deepEqual(
    s.rows.map((r) => r.local),
    ['127.0.0.1:40000', '127.0.0.1:8080'],
  );
  assert.deepEqual(s.filtered, { series: 2, connections: 2, open: 0, tx: 1600, rx: 1600, txRate: 0, rxRate: 0, retransmits: 0, resets: 0, failed: 0 });
  assert.deepEqual(
    m.snapshot({ filter: 'CURL' }).rows.map((r) => r.local),
    ['127.0.0.1:40000', '127.0.0.1:41000'],
  );
  assert.deepEqual(m.snapshot({ filter: '300' }).rows.map((r) => r.comm), ['sshd']);
  assert.equal(m.snapshot({ filter: 'nothing-like-this' }).rows.length, 0);
  assert.equal(m.snapshot().filtered, undefined, 'no filter: no filtered totals');
});

test('recent failed connects and resets from log events: newest first, capped, filtered; other kinds ignored', () => {
  const m = new ViewModel({ intervalMs: 1000, maxRecent: 2, wallMs: (ns) => T0 + ns / 1e6 });
  m.addEvents(
    eventBatch('ebpf', [
      makeEvent({ kind: 'open', timeNs: 1e6 }),
      makeEvent({ kind: 'failed', timeNs: 2e6, errno: 111, localPort: 41000, remoteAddress: '127.0.0.1', remotePort: 9, pid: 100, comm: 'curl' }),
      makeEvent({ kind: 'reset', timeNs: 3e6, reset: 'received', localPort: 41001, remoteAddress: '10.1.2.3', remotePort: 443, pid: 100, comm: 'curl' }),
    ]),
  );
  assert.deepEqual(m.recent(), [
    { kind: 'reset', timeMs: T0 + 3, local: '10.0.0.5:41001', peer: '10.1.2.3:443', arrow: '->', reason: 'received', pid: 100, comm: 'curl', pair: '10.0.0.5|41001|10.1.2.3|443' },
    { kind: 'failed', timeMs: T0 + 2, local: '10.0.0.5:41000', peer: '127.0.0.1:9', arrow: '->', reason: 'connection_refused', pid: 100, comm: 'curl', pair: '10.0.0.5|41000|127.0.0.1|9' },
  ]);
  m.addEvents(eventBatch('ebpf', [makeEvent({ kind: 'failed', timeNs: 4e6, errno: 110, family: 6, localAddress: 'fd00::1', remoteAddress: 'fd00::2', remotePort: 80, direction: 'outbound', pid: 7, comm: 'wget' })]));
  assert.deepEqual(
    m.recent().map((r) => [r.kind, r.reason, r.peer]),
    [
      ['failed', 'timed_out', '[fd00::2]:80'],
      ['reset', 'received', '10.1.2.3:443'],
    ],
  );
  assert.deepEqual(m.recent(':443').map((r) => r.kind), ['reset']);
  assert.deepEqual(m.snapshot({ filter: 'wget' }).recent.map((r) => r.comm), ['wget']);
});

test('series are capped: closed ones least recently updated go first; totals keep everything', () => {
  const m = new ViewModel({ intervalMs: 1000, maxRecent: 0, maxSeries: 10 });
  for (let i = 0; i < 12; i++) {
    const c = conn(30000 + i, 80, 1, 'x');
    m.addMetrics(windowBatch(T0 + i * 1000, T0 + (i + 1) * 1000, [opened(c), closed(c), io(c, 'transmit', 10)]));
  }
  const open = conn(20000, 80, 1, 'x');
  m.addMetrics(windowBatch(T0 + 12_000, T0 + 13_000, [opened(open), active(open, 1)]));
  assert.ok(m.seriesCount <= 11, `${m.seriesCount} series kept`);
  assert.equal(m.totals().tx, 120);
  assert.equal(m.totals().connections, 13);
  assert.ok(m.rows().some((r) => r.local === '127.0.0.1:20000'), 'the open connection is kept');
  assert.ok(!m.rows().some((r) => r.local === '127.0.0.1:30000'), 'the oldest closed one went first');
});

test('the overflow series and series keyed without addresses still make rows', () => {
  const m = new ViewModel({ intervalMs: 1000, maxRecent: 0 });
  m.addMetrics(
    windowBatch(T0, T0 + 1000, [
      io({ 'otel.metric.overflow': true }, 'transmit', 50),
      io({ 'server.address': '10.0.0.1', 'server.port': 443, 'network.tcp.handshake.role': 'client' }, 'receive', 70),
    ]),
  );
  const rows = m.rows();
  assert.equal(rows[0]!.label, 'network.tcp.handshake.role=client server.address=10.0.0.1 server.port=443');
  assert.equal(rows[0]!.local, undefined);
  assert.equal(rows[1]!.overflow, true);
  assert.deepEqual(m.snapshot({ filter: '10.0.0.1' }).rows.length, 1);
});

test('end to end with the real aggregator (five_tuple + process keys): exact connection and byte totals', () => {
  const config = aggregateConfigSchema.parse({ ...defaultAggregateConfig(), interval: '1s', keys: ['five_tuple', 'process.pid', 'process.executable.name'] });
  const agg = new Aggregator(config, { overflow: () => undefined, evicted: () => undefined }, T0);
  const m = new ViewModel({ intervalMs: 1000, maxRecent: 10 });
  const N = 3;
  const K = 700;
  const R = 4321;
  const events = [];
  for (let i = 0; i < N; i++) {
    const port = 50000 + i;
    const client = { localAddress: '127.0.0.1', localPort: port, remoteAddress: '127.0.0.1', remotePort: 8080, pid: 11, comm: 'client' };
    const server = { localAddress: '127.0.0.1', localPort: 8080, remoteAddress: '127.0.0.1', remotePort: port, pid: 22, comm: 'server', direction: 'inbound' as const };
    events.push(makeEvent({ kind: 'open', socketId: 1000 + i, ...client, bytesSent: 0, bytesReceived: 0 }));
    events.push(makeEvent({ kind: 'open', socketId: 2000 + i, ...server, bytesSent: 0, bytesReceived: 0 }));
    events.push(makeEvent({ kind: 'close', socketId: 1000 + i, ...client, bytesSent: K, bytesReceived: R }));
    events.push(makeEvent({ kind: 'close', socketId: 2000 + i, ...server, bytesSent: R, bytesReceived: K }));
  }
  agg.add(eventBatch('ebpf', events));
  assert.equal(m.addMetrics(agg.flush(T0 + 1000)), true);
  const t = m.totals();
  assert.deepEqual([t.connections, t.opened, t.closed, t.active, t.tx, t.rx], [2 * N, 2 * N, 2 * N, 0, N * (K + R), N * (K + R)]);
  const s = m.snapshot({ filter: ':8080' });
  assert.equal(s.rows.length, 2 * N);
  assert.equal(s.filtered!.connections, 2 * N);
  assert.equal(s.filtered!.tx, N * (K + R));
  assert.deepEqual(
    s.rows.filter((r) => r.comm === 'server').map((r) => [r.pid, r.tx, r.rx]),
    Array.from({ length: N }, () => [22, R, K]),
  );
});

test('the resets that answer a refused connect are folded into its failed line', () => {
  const m = new ViewModel({ intervalMs: 1000, maxRecent: 10, wallMs: (ns) => T0 + ns / 1e6 });
  const client = { localAddress: '127.0.0.1', localPort: 42094, remoteAddress: '127.0.0.1', remotePort: 5433 };
  const server = { localAddress: '127.0.0.1', localPort: 5433, remoteAddress: '127.0.0.1', remotePort: 42094 };
  m.addEvents(
    eventBatch('ebpf', [
      makeEvent({ kind: 'reset', timeNs: 1e6, reset: 'sent', ...server, pid: 0, comm: '' }),
      makeEvent({ kind: 'failed', timeNs: 1e6, errno: 111, ...client, pid: 9, comm: 'cron' }),
      makeEvent({ kind: 'reset', timeNs: 1e6, reset: 'received', ...client, pid: 9, comm: 'cron' }),
      makeEvent({ kind: 'reset', timeNs: 2e6, reset: 'received', ...client, localPort: 42095, pid: 9, comm: 'cron' }),
    ]),
  );
  // A late reset of the same pair, in the next batch.
  m.addEvents(eventBatch('ebpf', [makeEvent({ kind: 'reset', timeNs: 3e6, reset: 'sent', ...server })]));
  assert.deepEqual(
    m.recent().map((r) => [r.kind, r.local, r.reason]),
    [
      ['reset', '127.0.0.1:42095', 'received'],
      ['failed', '127.0.0.1:42094', 'connection_refused'],
    ],
  );
});

/** Windows of the real aggregator: `n` connections each, opened and closed, connection i moving 100 * (i + 1) bytes. */
function tableWindows(windows: number, n: number) {
  const config = aggregateConfigSchema.parse({ ...defaultAggregateConfig(), interval: '1s', keys: ['five_tuple', 'process.pid', 'process.executable.name'] });
  const agg = new Aggregator(config, { overflow: () => undefined, evicted: () => undefined }, T0);
  const out = [];
  // One long-lived connection, open in the first window, sampled in each, closed in the last.
  const longLived = { localAddress: '127.0.0.1', localPort: 40000, remoteAddress: '127.0.0.1', remotePort: 9000, pid: 7, comm: 'longlived', socketId: 7 };
  for (let w = 0; w < windows; w++) {
    const events = [];
    if (w === 0) events.push(makeEvent({ kind: 'open', ...longLived, bytesSent: 0, bytesReceived: 0 }));
    events.push(makeEvent({ kind: w === windows - 1 ? 'close' : 'sample', ...longLived, bytesSent: 10 * (w + 1), bytesReceived: 0 }));
    for (let i = 0; i < n; i++) {
      const c = { localAddress: '127.0.0.1', localPort: 50000 + w * n + i, remoteAddress: '127.0.0.1', remotePort: 8080, pid: 11, comm: 'client', socketId: 100000 + w * n + i };
      events.push(makeEvent({ kind: 'open', ...c, bytesSent: 0, bytesReceived: 0 }));
      events.push(makeEvent({ kind: 'close', ...c, bytesSent: 100 * (i + 1), bytesReceived: 0 }));
    }
    agg.add(eventBatch('ebpf', events));
    out.push(agg.flush(T0 + 1000 * (w + 1)));
  }
  return out;
}

test('summary lines (rows: false) take totals and rates from the window tables, and keep no row', () => {
  const m = new ViewModel({ intervalMs: 1000, maxRecent: 10, rows: false });
  const batches = tableWindows(3, 50);
  for (const b of batches) {
    assert.ok(b.table, 'the aggregator hands a table');
    m.addMetrics(b);
  }
  const t = m.totals();
  const perWindow = (50 * 51 * 100) / 2;
  assert.deepEqual([t.opened, t.closed, t.active, t.tx], [151, 151, 0, 3 * perWindow + 30]);
  assert.equal(m.lastPeriod()!.tx, perWindow + 10);
  assert.equal(m.seriesCount, 0, 'no per-series entry');
  // The points were never built.
  assert.ok(batches.every((b) => Object.getOwnPropertyDescriptor(b, 'points')!.get !== undefined));
});

test('the live view keeps a bounded top-N: the biggest connections, and every open one, however many series arrive', () => {
  const m = new ViewModel({ intervalMs: 1000, maxRecent: 10, maxSeries: 20 });
  for (const b of tableWindows(6, 100)) m.addMetrics(b);
  assert.ok(m.seriesCount <= 22, `at most maxSeries (and the 10% slack before a prune): ${m.seriesCount}`);
  const rows = m.rows('bytes');
  // The biggest closed connections of each window are there...
  assert.equal(rows[0]!.tx, 10_000);
  // ...and the long-lived one, with every window's bytes and its close.
  const ll = rows.find((r) => r.comm === 'longlived')!;
  assert.ok(ll, 'the long-lived connection has a row');
  assert.deepEqual([ll.tx, ll.state, ll.open], [60, 'closed', 0]);
  // Totals count every connection, kept in a row or not.
  const t = m.totals();
  assert.deepEqual([t.opened, t.closed, t.active], [601, 601, 0]);
});
