import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  humanBytes,
  humanDuration,
  humanRate,
  isoSeconds,
  layoutScreen,
  lineText,
  parseSummaryLine,
  summaryLine,
  type ScreenState,
} from '../../../src/exporters/view/format.js';
import { ViewModel } from '../../../src/exporters/view/model.js';
import type { MetricPoint } from '../../../src/core/metrics.js';
import { eventBatch } from '../../../src/core/events.js';
import { makeEvent } from '../../support/events.js';
import { T0, active, closed, conn, io, opened, sockets, windowBatch } from './fixtures.js';

test('summary line: fixed field order, key=value with raw numbers and their units, UTC time to the second', () => {
  const totals = { connections: 12, active: 3, opened: 10, closed: 9, failed: 4, tx: 5_000_000, rx: 9_000_000, retransmits: 7, resets: 1 };
  const period = { opened: 2, closed: 1, failed: 0, tx: 2_400_000, rx: 6_800_000, retransmits: 0, resets: 0, startMs: T0, endMs: T0 + 2000, seconds: 2, windows: 2 };
  const line = summaryLine(totals, period, T0 + 1999);
  assert.equal(
    line,
    '2026-11-25T07:00:01Z conns total=12 active=3 new=2 closed=1 failed=0 tx_rate=1200000B/s rx_rate=3400000B/s retrans=0 resets=0 tx_total=5000000B rx_total=9000000B failed_total=4 retrans_total=7 resets_total=1 interval=2.00s',
  );
  const parsed = parseSummaryLine(line)!;
  assert.equal(parsed.time, '2026-11-25T07:00:01Z');
  assert.deepEqual(Object.keys(parsed.fields), ['total', 'active', 'new', 'closed', 'failed', 'tx_rate', 'rx_rate', 'retrans', 'resets', 'tx_total', 'rx_total', 'failed_total', 'retrans_total', 'resets_total', 'interval']);
  assert.equal(parsed.fields.tx_rate, 1_200_000);
  assert.deepEqual([parsed.units.tx_rate, parsed.units.tx_total, parsed.units.interval, parsed.units.total], ['B/s', 'B', 's', '']);
  assert.equal(parsed.fields.interval, 2);
  assert.equal(parseSummaryLine('not a summary line'), undefined);
  // Before any period: zeros, and the line still parses.
  const empty = summaryLine({ ...totals, connections: 0 }, undefined, T0);
  assert.ok(parseSummaryLine(empty), empty);
  assert.match(empty, / new=0 closed=0 failed=0 tx_rate=0B\/s rx_rate=0B\/s .* interval=0\.00s$/);
});

test('numbers for people', () => {
  assert.equal(humanBytes(0), '0 B');
  assert.equal(humanBytes(4321), '4321 B');
  assert.equal(humanBytes(9999), '9999 B');
  assert.equal(humanBytes(12_345), '12.3 kB');
  assert.equal(humanBytes(123_456), '123 kB');
  assert.equal(humanBytes(1_234_567), '1.23 MB');
  assert.equal(humanBytes(3.4e9), '3.40 GB');
  assert.equal(humanRate(2), '2');
  assert.equal(humanRate(0.5), '0.5');
  assert.equal(humanRate(1234.4), '1234');
  assert.equal(humanDuration(0.2), '<1ms');
  assert.equal(humanDuration(12), '12ms');
  assert.equal(humanDuration(1000), '1s');
  assert.equal(humanDuration(4200), '4.2s');
  assert.equal(humanDuration(45_000), '45s');
  assert.equal(humanDuration(187_000), '3m07s');
  assert.equal(humanDuration(2 * 3600_000 + 5 * 60_000), '2h05m');
  assert.equal(humanDuration(3 * 86400_000 + 4 * 3600_000), '3d04h');
  assert.equal(isoSeconds(T0 + 1999), '2026-11-25T07:00:01Z');
});

function model(): ViewModel {
  const m = new ViewModel({ intervalMs: 1000, maxRecent: 20, wallMs: (ns) => T0 + ns / 1e6 });
  const points: MetricPoint[] = [sockets('established', 'ipv4', 40), sockets('listen', 'ipv4', 6)];
  for (let i = 0; i < 30; i++) {
    const c = conn(40000 + i, 8080, 100 + i, 'client');
    points.push(opened(c), active(c, 1), io(c, 'transmit', 1000 * (i + 1)), io(c, 'receive', 7));
  }
  const done = conn(39999, 5432, 99, 'psql');
  points.push(opened(done), closed(done), io(done, 'receive', 123_456_789));
  m.addMetrics(windowBatch(T0, T0 + 1000, points));
  const evs = [];
  for (let i = 0; i < 8; i++) evs.push(makeEvent({ kind: 'failed', timeNs: (i + 1) * 1e6, errno: 111, localAddress: '127.0.0.1', localPort: 41000 + i, remoteAddress: '127.0.0.1', remotePort: 9, pid: 555, comm: 'curl' }));
  m.addEvents(eventBatch('ebpf', evs));
  return m;
}

const UI: ScreenState = { width: 160, height: 40, intervalMs: 1000, top: 10, paused: false, editing: false, status: 'starting', tick: 0 };

test('screen: fits the terminal; totals, rates, states, top rows in order, recent failures, keys', () => {
  const m = model();
  const lines = layoutScreen(m.snapshot({ sort: 'bytes' }), UI).map(lineText);
  assert.ok(lines.length <= UI.height - 1, `${lines.length} lines`);
  for (const l of lines) assert.ok(l.length <= UI.width, l);
  const text = lines.join('\n');
  assert.match(lines[0]!, /tcpotel +2026-11-25 07:00:01Z +every 1s +sort: bytes/);
  assert.match(text, /Totals +connections 31 +active 30 +failed 0/);
  assert.match(text, /Bytes +sent 465 kB \(465000 B\) +received 123 MB \(123456999 B\)/);
  assert.match(text, /Last 1s +new 31 \(31\/s\) +closed 1 \(1\/s\)/);
  assert.match(text, /Sockets +established 40 +listen 6/);
  const rows = lines.filter((l) => /^\s+\d+ (client|psql)/.test(l));
  assert.equal(rows.length, 10, 'top 10');
  assert.match(rows[0]!, /99 psql +127\.0\.0\.1:39999 +127\.0\.0\.1:5432 +closed +0 B +123 MB/);
  assert.match(rows[1]!, /129 client +127\.0\.0\.1:40029 +127\.0\.0\.1:8080 +open +30\.0 kB +7 B/);
  assert.match(text, /Recent failed connects and resets \(8\)/);
  assert.match(text, /07:00:00\.008 +failed +127\.0\.0\.1:41007 -> 127\.0\.0\.1:9 +connection_refused +pid 555 curl/);
  assert.match(lines.at(-1)!, /q quit +p pause +\/ filter/);
});

test('screen: a short or narrow terminal gets fewer rows and columns, never more lines than it has', () => {
  const m = model();
  for (const [width, height] of [
    [80, 24],
    [60, 12],
    [200, 50],
  ] as const) {
    const lines = layoutScreen(m.snapshot(), { ...UI, width, height }).map(lineText);
    assert.ok(lines.length <= height - 1, `${width}x${height}: ${lines.length} lines`);
    for (const l of lines) assert.ok(l.length <= width, `${width}x${height}: ${l}`);
  }
  const narrow = layoutScreen(m.snapshot(), { ...UI, width: 80, height: 24 }).map(lineText).join('\n');
  assert.match(narrow, /PID/);
  assert.match(narrow, /LOCAL/);
  assert.match(narrow, /SENT/);
});

test('screen: filter line with exact bytes, editing footer, pause marker, spinner before data', () => {
  const m = model();
  const filtered = layoutScreen(m.snapshot({ filter: ':8080' }), { ...UI, editing: true }).map(lineText);
  assert.match(filtered[0]!, /filter: ":8080"/);
  const f = filtered.find((l) => l.startsWith('Filter'))!;
  assert.match(f, /connections 30 +open 30 +sent 465000 B +received 210 B/);
  assert.match(filtered.at(-1)!, /filter: :8080█ +enter keeps it, esc clears it/);
  assert.match(layoutScreen(m.snapshot(), { ...UI, paused: true }).map(lineText)[0]!, /PAUSED/);
  const none = layoutScreen(m.snapshot({ filter: 'zzz' }), UI).map(lineText).join('\n');
  assert.match(none, /no connection matches "zzz"/);

  const empty = new ViewModel({ intervalMs: 1000, maxRecent: 5 });
  const starting = layoutScreen(empty.snapshot(), { ...UI, status: 'loading the eBPF programs', tick: 3 }).map(lineText);
  assert.match(starting[0]!, /tcpotel +starting/);
  assert.match(starting[1]!, /^⠸ loading the eBPF programs$/);
});
