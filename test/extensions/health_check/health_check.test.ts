/**
 * health_check: its verdict from component statuses (pure), and the endpoint of a running
 * Service whose receiver starts when the test says and fails when the test says.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Subject } from 'rxjs';
import { pino } from 'pino';
import { defaultRegistry } from '../../../src/components.js';
import type { ReceiverFactory } from '../../../src/core/component.js';
import type { EventBatch } from '../../../src/core/events.js';
import type { ComponentStatusEntry } from '../../../src/core/status.js';
import { StatusHub } from '../../../src/core/status.js';
import { parseConfigText } from '../../../src/config/load.js';
import { resolveConfig } from '../../../src/config/validate.js';
import { evaluateHealth, type HealthCheck } from '../../../src/extensions/health_check/health_check.js';
import { Service } from '../../../src/pipeline/service.js';
import { z } from 'zod';

const T = Date.UTC(2026, 10, 25, 7, 0, 0);
const entry = (kind: string, id: string, status: ComponentStatusEntry['status'], since = T, error?: string): ComponentStatusEntry => ({ kind, id, status, since, ...(error ? { error } : {}) });

test('the verdict: starting, ready, an exporter failing past the window, a failed receiver, stopping', () => {
  const ok = [entry('receiver', 'ebpf', 'ok'), entry('exporter', 'otlp', 'ok')];
  assert.equal(evaluateHealth({ state: 'starting' }, [entry('receiver', 'ebpf', 'starting'), ok[1]!], 60_000, T, T).status, 'starting');
  assert.deepEqual(evaluateHealth({ state: 'starting' }, [entry('receiver', 'ebpf', 'starting'), ok[1]!], 60_000, T, T).reasons, ['starting: receiver/ebpf not started yet']);
  const ready = evaluateHealth({ state: 'running' }, ok, 60_000, T, T + 1500);
  assert.deepEqual([ready.status, ready.reasons, ready.uptime_seconds], ['ready', [], 1.5]);
  assert.deepEqual(ready.components['receiver/ebpf'], { status: 'ok', since: '2026-11-25T07:00:00.000Z' });
  // An exporter failing: fine within the window, unhealthy from its end on.
  const failing = [ok[0]!, { ...entry('exporter', 'otlp', 'recoverable_error', T, '14 UNAVAILABLE: No connection established'), signal: 'metrics' }];
  assert.equal(evaluateHealth({ state: 'running' }, failing, 60_000, T, T + 59_999).status, 'ready');
  const late = evaluateHealth({ state: 'running' }, failing, 60_000, T, T + 60_000);
  assert.deepEqual([late.status, late.reasons], ['unhealthy', ['exporter/otlp (metrics) has been failing for 60s: 14 UNAVAILABLE: No connection established']]);
  assert.equal(evaluateHealth({ state: 'running' }, failing, 0, T, T).status, 'unhealthy', 'window 0: at the first failure');
  // A receiver's recoverable error is not an exporter's: only permanent errors count there.
  assert.equal(evaluateHealth({ state: 'running' }, [entry('receiver', 'ebpf', 'recoverable_error', T, 'x')], 0, T, T + 1).status, 'ready');
  assert.deepEqual(evaluateHealth({ state: 'running' }, [entry('receiver', 'ebpf', 'permanent_error', T, 'ring buffer gone')], 60_000, T, T).reasons, ['receiver/ebpf failed: ring buffer gone']);
  assert.equal(evaluateHealth({ state: 'stopping' }, ok, 60_000, T, T).status, 'stopping');
});

test('status reporters: a run of errors keeps its first time; a success ends it; a permanent error stays', () => {
  let now = T;
  const hub = new StatusHub(() => now);
  const r = hub.reporter('exporter', 'otlp', 'logs');
  assert.equal(hub.components()[0]!.status, 'starting');
  now += 10;
  r.recoverableError(new Error('refused'));
  now += 1000;
  r.recoverableError(new Error('refused again'));
  assert.deepEqual(hub.components()[0], { kind: 'exporter', id: 'otlp', signal: 'logs', status: 'recoverable_error', since: T + 10, error: 'refused again' });
  r.ok();
  assert.deepEqual(hub.components()[0], { kind: 'exporter', id: 'otlp', signal: 'logs', status: 'ok', since: T + 1010 });
  const rx = hub.reporter('receiver', 'ebpf');
  rx.permanentError(new Error('gone'));
  rx.recoverableError(new Error('later'));
  assert.equal(hub.components()[1]!.status, 'permanent_error');
  assert.equal(hub.components()[1]!.error, 'gone');
});

/** A receiver that attaches when the test calls attach(), and whose stream the test can fail. */
function controlledReceiver() {
  const subject = new Subject<EventBatch>();
  let attach!: () => void;
  const attached = new Promise<void>((r) => (attach = r));
  const factory: ReceiverFactory<Record<string, never>> = {
    type: 'controlled',
    kind: 'receiver',
    description: 'test',
    schema: z.strictObject({}),
    createDefaultConfig: () => ({}),
    create: () => ({ output: subject.asObservable(), start: () => attached, shutdown: async () => subject.complete() }),
  };
  return { factory, attach, fail: (err: Error) => subject.error(err) };
}

async function get(port: number, path = '/', method = 'GET') {
  const res = await fetch(`http://127.0.0.1:${port}${path}`, { method });
  const text = await res.text();
  return { code: res.status, body: text ? JSON.parse(text.startsWith('{') ? text : '{}') : undefined, text, headers: res.headers };
}

test('the endpoint of a running service: 503 until the receiver attaches, 200 then, 503 once its stream fails; GET and HEAD only', { timeout: 30_000 }, async () => {
  const rx = controlledReceiver();
  const registry = defaultRegistry({ receivers: [rx.factory as ReceiverFactory] });
  const yaml = `
receivers: {controlled: {}}
processors: {aggregate: {interval: 1h, keys: none}}
exporters: {debug: {verbosity: basic}}
extensions: {health_check: {endpoint: "127.0.0.1:0", path: /health}}
service:
  extensions: [health_check]
  pipelines:
    metrics: {receivers: [controlled], processors: [aggregate], exporters: [debug]}
`;
  const { source } = parseConfigText('t.yaml', yaml);
  const resolved = resolveConfig({ value: source.doc.toJS(), sources: [source], issues: [] }, registry);
  const service = new Service(resolved, { logger: pino({ level: 'silent' }) });
  const starting = service.start();
  const hc = service.extensions.get('health_check') as HealthCheck;
  // The extension is up before any pipeline component.
  for (let i = 0; i < 100 && !hc.address(); i++) await new Promise((r) => setTimeout(r, 20));
  const port = hc.address()!.port;
  const before = await get(port, '/health');
  assert.equal(before.code, 503);
  assert.equal(before.body.status, 'starting');
  assert.equal(before.body.components['receiver/controlled'].status, 'starting');
  assert.equal(before.body.components['exporter/debug (metrics)'].status, 'ok', 'exporters start before receivers');
  rx.attach();
  await starting;
  const ready = await get(port, '/health');
  assert.equal(ready.code, 200);
  assert.equal(ready.body.status, 'ready');
  assert.equal(ready.headers.get('content-type'), 'application/json');
  const head = await get(port, '/health', 'HEAD');
  assert.deepEqual([head.code, head.text], [200, '']);
  assert.equal((await get(port, '/health', 'POST')).code, 405);
  assert.equal((await get(port, '/')).code, 404);
  rx.fail(new Error('the ring buffer went away'));
  const failed = await get(port, '/health');
  assert.equal(failed.code, 503);
  assert.equal(failed.body.status, 'unhealthy');
  assert.ok(failed.body.reasons.includes('receiver/controlled failed: the ring buffer went away'), failed.text);
  await service.shutdown();
  await assert.rejects(get(port, '/health'), 'the endpoint is closed after shutdown');
});
