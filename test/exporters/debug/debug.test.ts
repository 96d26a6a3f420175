import { test } from 'node:test';
import assert from 'node:assert/strict';
import { debugConfigSchema, defaultDebugConfig } from '../../../src/exporters/debug/config.js';
import { DEBUG_MAX_PENDING_BYTES, DebugExporter } from '../../../src/exporters/debug/debug.js';
import { Telemetry } from '../../../src/core/telemetry.js';
import { eventBatch } from '../../../src/core/events.js';
import { seriesKey } from '../../../src/core/metrics.js';
import { openEvent } from '../../support/events.js';
import { testContext } from '../../support/context.js';

function run(verbosity: string, signal: 'logs' | 'metrics') {
  const out: string[] = [];
  const e = new DebugExporter(debugConfigSchema.parse({ verbosity, output: 'stdout' }), { ...testContext('debug', 'exporter'), signal, selfMetrics: false }, (s) => out.push(s));
  if (signal === 'logs') {
    e.consume(eventBatch('ebpf', [openEvent({ kind: 'close', bytesSent: 12, bytesReceived: 34, pid: 77, comm: 'curl' }), openEvent({ kind: 'failed', errno: 111 })]));
  } else {
    const attrs = { 'network.peer.port': 443 };
    e.consume({ type: 'metrics', startTime: [0, 0], endTime: [1, 0], points: [{ type: 'sum', name: 'tcp.connections.opened', attributes: attrs, seriesKey: seriesKey('tcp.connections.opened', attrs), value: 3 }] });
  }
  return out.join('');
}

test('basic: one line per batch', () => {
  assert.equal(run('basic', 'logs'), 'debug: logs: 2 records\n');
  assert.equal(run('basic', 'metrics'), 'debug: metrics: 1 points\n');
});

test('normal: one line per record or point', () => {
  const logs = run('normal', 'logs').split('\n');
  assert.equal(logs.length, 4);
  assert.match(logs[1]!, / INFO tcp\.connection\.close: close 127\.0\.0\.1:40000 -> 127\.0\.0\.1:8080 sent=12 received=34 .* pid=77 \(curl\)$/);
  assert.match(logs[2]!, / WARN tcp\.connection\.failed: failed .*: connection_refused/);
  assert.equal(run('normal', 'metrics'), 'debug: metrics: 1 points\n  tcp.connections.opened {network.peer.port=443} +3\n');
});

test('detailed: every attribute', () => {
  const out = run('detailed', 'logs');
  assert.match(out, /tcp\.bytes\.sent=12/);
  assert.match(out, /network\.tcp\.handshake\.role="client"/);
});

test('a reader that does not keep up: beyond 16 MiB of pending output, batches are dropped and counted', () => {
  const telemetry = new Telemetry();
  const out: string[] = [];
  let pending = 0;
  const e = new DebugExporter(debugConfigSchema.parse(defaultDebugConfig()), { ...testContext('debug', 'exporter', { telemetry }), signal: 'logs', selfMetrics: false }, (s) => out.push(s), () => pending);
  e.consume(eventBatch('ebpf', [openEvent(), openEvent()]));
  pending = DEBUG_MAX_PENDING_BYTES + 1;
  e.consume(eventBatch('ebpf', [openEvent(), openEvent(), openEvent()]));
  assert.equal(out.length, 1);
  assert.equal(telemetry.total('tcpotel.component.items.dropped', { 'tcpotel.drop.reason': 'queue_full' }), 3);
  assert.equal(telemetry.total('tcpotel.component.items.out'), 2);
});
