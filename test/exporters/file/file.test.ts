import { test } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, existsSync, fstatSync, mkdirSync, mkdtempSync, openSync, readFileSync, readdirSync, renameSync, rmSync, statSync, symlinkSync, unlinkSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileConfigSchema, defaultFileConfig } from '../../../src/exporters/file/config.js';
import { FileExporter, splitResourceMetrics } from '../../../src/exporters/file/file.js';
import { eventBatch } from '../../../src/core/events.js';
import { Telemetry } from '../../../src/core/telemetry.js';
import { metricBatch, openEvent } from '../../support/events.js';
import { testContext } from '../../support/context.js';
import { MetricsAccumulator } from '../../../src/exporters/shared/accumulator.js';
import { nowHrTime } from '../../../src/core/metrics.js';

function exporter(path: string, overrides: Record<string, unknown> = {}, signal: 'logs' | 'metrics' = 'logs') {
  const telemetry = new Telemetry();
  const config = fileConfigSchema.parse({ ...defaultFileConfig(), path, ...overrides });
  const e = new FileExporter(config, { ...testContext('file', 'exporter', { telemetry }), signal, selfMetrics: false });
  const count = (name: string, reason?: string) => telemetry.total(`tcpotel.component.items.${name}`, reason ? { 'tcpotel.drop.reason': reason } : {});
  return { e, written: () => count('out'), dropped: (reason?: string) => count('dropped', reason), taken: () => count('in') };
}

function tmp(): string {
  return mkdtempSync(join(tmpdir(), 'tcpotel-file-'));
}

/** Log records in a file, by local port. */
function ports(file: string): number[] {
  if (!existsSync(file)) return [];
  const out: number[] = [];
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    if (!line) continue;
    for (const rl of JSON.parse(line).resourceLogs) for (const sl of rl.scopeLogs) for (const r of sl.logRecords) {
      out.push(Number(r.attributes.find((a: { key: string }) => a.key === 'network.local.port').value.intValue));
    }
  }
  return out;
}

const batchOf = (from: number, n: number) => eventBatch('ebpf', Array.from({ length: n }, (_, i) => openEvent({ kind: 'close', localPort: from + i })));

test('one OTLP/JSON export request per line, rotated by size, keeping max_backups files', async () => {
  const dir = tmp();
  const path = join(dir, 'logs.jsonl');
  const { e } = exporter(path, { rotation: { max_megabytes: 0.004, max_backups: 2 } });
  await e.start();
  for (let i = 0; i < 12; i++) e.consume(eventBatch('ebpf', [openEvent({ kind: 'close', localPort: 1000 + i, bytesSent: i })]));
  await e.shutdown();
  assert.ok(existsSync(`${path}.1`) && existsSync(`${path}.2`), 'rotated files');
  assert.ok(!existsSync(`${path}.3`), 'no more than max_backups');
  const lines = readFileSync(path, 'utf8').trim().split('\n');
  const req = JSON.parse(lines.at(-1)!);
  const rec = req.resourceLogs[0].scopeLogs[0].logRecords[0];
  assert.equal(rec.eventName, 'tcp.connection.close');
  assert.equal(rec.severityText, 'INFO');
  assert.match(rec.timeUnixNano, /^\d+$/, 'protobuf JSON mapping: 64-bit integers as strings');
  const port = rec.attributes.find((a: { key: string }) => a.key === 'network.local.port');
  assert.equal(port.value.intValue, 1011);
  for (const f of [path, `${path}.1`, `${path}.2`]) assert.ok(readFileSync(f).length <= 0.004 * 1024 * 1024 + 2048);
  assert.deepEqual(readdirSync(dir).sort(), ['logs.jsonl', 'logs.jsonl.1', 'logs.jsonl.2'], 'no temporary file left');
});

test('files are created 0640; a symlink planted at the path is refused, its target untouched', async () => {
  const dir = tmp();
  const path = join(dir, 'logs.jsonl');
  const { e } = exporter(path);
  await e.start();
  e.consume(batchOf(1, 1));
  await e.shutdown();
  assert.equal(statSync(path).mode & 0o777, 0o640);

  const target = join(dir, 'precious');
  writeFileSync(target, 'secret\n', { mode: 0o600 });
  const link = join(dir, 'planted.jsonl');
  symlinkSync(target, link);
  const { e: e2 } = exporter(link);
  await assert.rejects(e2.start(), /is a symbolic link: tcpotel does not write through links/);
  assert.equal(readFileSync(target, 'utf8'), 'secret\n');
});

test('a batch is written as lines of at most max_items_per_line records, never one giant line', async () => {
  const path = join(tmp(), 'logs.jsonl');
  const { e, written, dropped } = exporter(path, { max_items_per_line: 1000 });
  await e.start();
  e.consume(batchOf(1, 2500));
  await e.shutdown();
  const lines = readFileSync(path, 'utf8').trim().split('\n');
  const records = (l: string) => JSON.parse(l).resourceLogs.flatMap((rl: any) => rl.scopeLogs.flatMap((sl: any) => sl.logRecords)).length;
  assert.deepEqual(lines.map(records), [1000, 1000, 500]);
  assert.equal(JSON.parse(lines[0]!).resourceLogs[0].scopeLogs.length, 1, 'one scope per request, not one per record');
  assert.deepEqual(ports(path), Array.from({ length: 2500 }, (_, i) => 1 + i), 'every record once, in order');
  assert.equal(written(), 2500);
  assert.equal(dropped(), 0);
});

test('a full write queue drops what does not fit, counted: written + dropped = produced', async () => {
  const path = join(tmp(), 'logs.jsonl');
  const { e, written, dropped, taken } = exporter(path, { max_items_per_line: 1, write_queue: { max_items: 10, max_bytes: '64MiB' } });
  await e.start();
  // 100 lines arrive while the disk takes nothing: 10 fit in the queue.
  await e.writer.pause();
  for (let i = 0; i < 100; i++) e.consume(batchOf(i, 1));
  await e.writer.pause(false);
  await e.shutdown();
  assert.equal(taken(), 100);
  assert.equal(written(), 10);
  assert.equal(dropped('queue_full'), 90);
  assert.deepEqual(ports(path), Array.from({ length: 10 }, (_, i) => i));
  // The queue is bounded in bytes too.
  const path2 = join(tmp(), 'logs.jsonl');
  const x = exporter(path2, { max_items_per_line: 100, write_queue: { max_items: 1_000_000, max_bytes: '64KiB' } });
  await x.e.start();
  await x.e.writer.pause();
  for (let i = 0; i < 20; i++) x.e.consume(batchOf(i * 100, 100));
  await x.e.writer.pause(false);
  await x.e.shutdown();
  assert.ok(x.dropped('queue_full') > 0, 'some lines did not fit in 64KiB');
  assert.equal(x.written() + x.dropped('queue_full'), 2000);
  assert.equal(ports(path2).length, x.written());
});

test('a failed rotation keeps writing in the current file and closes no one else’s descriptor', async () => {
  const dir = tmp();
  const path = join(dir, 'logs.jsonl');
  // path.1 is a directory with something in it: the rotation cannot make room for the backup.
  mkdirSync(`${path}.1`);
  writeFileSync(join(`${path}.1`, 'x'), 'x');
  const other = openSync(join(dir, 'other'), 'w');
  const { e, written, dropped } = exporter(path, { rotation: { max_megabytes: 0.002, max_backups: 1 }, max_items_per_line: 1 });
  await e.start();
  for (let i = 0; i < 30; i++) {
    e.consume(batchOf(i, 1));
    await new Promise((r) => setImmediate(r));
  }
  await e.shutdown();
  assert.equal(written(), 30);
  assert.equal(dropped(), 0);
  assert.deepEqual(ports(path), Array.from({ length: 30 }, (_, i) => i), 'everything in the current file');
  assert.ok(statSync(path).size > 0.002 * 1024 * 1024, 'past its size limit');
  assert.equal(fstatSync(other).isFile(), true, 'the other descriptor is still open');
  writeSync(other, 'still mine\n');
  closeSync(other);
  assert.equal(readFileSync(join(dir, 'other'), 'utf8'), 'still mine\n');
  assert.deepEqual(readdirSync(dir).sort(), ['logs.jsonl', 'logs.jsonl.1', 'other'], 'no temporary file left');
});

test('a file deleted or moved away is created again; nothing is lost', async () => {
  const dir = tmp();
  const path = join(dir, 'logs.jsonl');
  const { e, written, dropped } = exporter(path);
  await e.start();
  e.consume(batchOf(1, 3));
  await e.writer.idle();
  unlinkSync(path);
  e.consume(batchOf(4, 2));
  await e.writer.idle();
  assert.deepEqual(ports(path), [4, 5], 'a new file after the deletion');
  renameSync(path, `${path}.moved`);
  e.consume(batchOf(6, 1));
  await e.shutdown();
  assert.deepEqual(ports(`${path}.moved`), [4, 5]);
  assert.deepEqual(ports(path), [6]);
  assert.equal(statSync(path).mode & 0o777, 0o640);
  assert.equal(written(), 6);
  assert.equal(dropped(), 0);
});

test('a deleted file that cannot be created again: lines dropped, counted as write_failed', async () => {
  const dir = tmp();
  const path = join(dir, 'logs.jsonl');
  const { e, written, dropped } = exporter(path);
  await e.start();
  e.consume(batchOf(1, 2));
  await e.writer.idle();
  // The path now leads through a symlink to somewhere else: refused, and ours is deleted.
  unlinkSync(path);
  symlinkSync(join(dir, 'elsewhere'), path);
  e.consume(batchOf(3, 5));
  await e.writer.idle();
  await e.shutdown();
  assert.equal(written(), 2);
  assert.equal(dropped('write_failed'), 5);
  assert.ok(!existsSync(join(dir, 'elsewhere')), 'nothing written through the link');
  rmSync(path);
});

test('cumulative metrics: a snapshot bigger than max_items_per_line is split into requests with every point once', async () => {
  const path = join(tmp(), 'metrics.jsonl');
  const { e, written } = exporter(path, { max_items_per_line: 7 }, 'metrics');
  await e.start();
  const points = Array.from({ length: 20 }, (_, i) => ({ name: 'tcp.connections.opened', attributes: { 'network.local.port': i }, value: i + 1 }));
  e.consume({ ...metricBatch(points), startTime: nowHrTime(), endTime: nowHrTime() });
  await e.shutdown();
  const lines = readFileSync(path, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  const values = new Map<number, number>();
  for (const l of lines) {
    let n = 0;
    for (const sm of l.resourceMetrics[0].scopeMetrics) for (const m of sm.metrics) for (const dp of m.sum.dataPoints) {
      n++;
      values.set(Number(dp.attributes[0].value.intValue), Number(dp.asInt ?? dp.asDouble));
    }
    assert.ok(n <= 7);
  }
  assert.equal(lines.length, 3);
  assert.equal(values.size, 20);
  for (let i = 0; i < 20; i++) assert.equal(values.get(i), i + 1);
  assert.equal(written(), 20);
});

test('splitResourceMetrics keeps empty metrics and scopes, and an unsplit snapshot as it is', () => {
  const acc = new MetricsAccumulator({ temporality: 'cumulative', maxSeries: 100, expiryMs: 0 }, [1, 0]);
  acc.add(metricBatch([{ name: 'tcp.connections.opened', attributes: { a: 1 }, value: 1 }, { name: 'tcp.connections.closed', attributes: { a: 1 }, value: 2 }]));
  const rm = acc.collect([2, 0]);
  assert.equal(splitResourceMetrics(rm, 10).length, 1);
  const pieces = splitResourceMetrics(rm, 1);
  assert.equal(pieces.length, 2);
  assert.deepEqual(pieces.map((p) => p.scopeMetrics.flatMap((s) => s.metrics.map((m) => m.descriptor.name))), [['tcp.connections.opened'], ['tcp.connections.closed']]);
});

test('the disk does not wait for the event loop: lines are written while JavaScript is busy', async () => {
  const path = join(tmp(), 'logs.jsonl');
  const { e, written } = exporter(path);
  await e.start();
  e.consume(batchOf(1, 500));
  // Busy, never yielding: the writer thread writes anyway, and the queue empties.
  const until = Date.now() + 10_000;
  while (e.writer.pendingItems > 0 && Date.now() < until) {
    /* the event loop is held */
  }
  assert.equal(e.writer.pendingItems, 0, 'written without an event-loop turn');
  await e.shutdown();
  assert.equal(written(), 500);
  assert.equal(ports(path).length, 500);
});

test('lines pushed as views into a larger buffer (pooled Buffers) are written whole and alone', async () => {
  const path = join(tmp(), 'lines.txt');
  const { e } = exporter(path);
  await e.start();
  // Small Buffer.from() results share one 8 KiB pool: each is a view at an offset.
  const lines = ['{"a":1}', '{"b":22}', '{"c":333}'].map((s) => Buffer.from(s));
  assert.ok(lines.every((b) => b.buffer.byteLength > b.byteLength), 'pooled views');
  for (const b of lines) e.writer.push(b, 1);
  await e.shutdown();
  assert.deepEqual(readFileSync(path, 'utf8').split('\n').filter(Boolean), ['{"a":1}', '{"b":22}', '{"c":333}']);
});
