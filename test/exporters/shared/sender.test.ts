import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { QueuedRetrySender, isRetryable } from '../../../src/exporters/shared/sender.js';
import { testContext } from '../../support/context.js';

const retry = { enabled: true, initial_interval: 10, max_interval: 40, max_elapsed_time: 1000, multiplier: 2 };
const logger = pino({ level: 'silent' });

function sender(send: (n: number[]) => Promise<void>, opts: { queueSize?: number; latestWins?: boolean; retry?: typeof retry } = {}) {
  const ctx = testContext('otlp', 'exporter');
  const s = new QueuedRetrySender<number[]>({
    id: 'otlp',
    queue: { enabled: true, queue_size: opts.queueSize ?? 100 },
    retry: opts.retry ?? retry,
    send,
    count: (x) => x.length,
    latestWins: opts.latestWins,
    telemetry: ctx.telemetry,
    logger,
    sleep: (ms) => new Promise((r) => setTimeout(r, Math.min(ms, 5))),
  });
  const dropped = (reason: string) => ctx.telemetry.telemetry.total('tcpotel.component.items.dropped', { 'tcpotel.drop.reason': reason });
  const sent = () => ctx.telemetry.telemetry.total('tcpotel.component.items.out');
  return { s, dropped, sent };
}

test('retryable and permanent failures are told apart', () => {
  assert.equal(isRetryable({ code: 14, message: '14 UNAVAILABLE' }), true);
  assert.equal(isRetryable({ code: 4 }), true);
  assert.equal(isRetryable({ code: 16, message: 'UNAUTHENTICATED' }), false);
  assert.equal(isRetryable({ code: 3 }), false);
  assert.equal(isRetryable({ code: 503 }), true);
  assert.equal(isRetryable({ code: 429 }), true);
  assert.equal(isRetryable({ code: 401 }), false);
  assert.equal(isRetryable({ code: 400 }), false);
  assert.equal(isRetryable({ code: 'ECONNREFUSED' }), true);
  assert.equal(isRetryable(new Error('Export failed with retryable status')), true);
  assert.equal(isRetryable(new Error('Request timed out')), true);
  assert.equal(isRetryable(new Error('bad request')), false);
});

test('retries with back-off until it succeeds; nothing is dropped', async () => {
  let calls = 0;
  const { s, dropped, sent } = sender(async () => {
    if (++calls < 4) throw Object.assign(new Error('down'), { code: 14 });
  });
  s.offer([1, 2, 3]);
  await s.idle();
  assert.equal(calls, 4);
  assert.equal(sent(), 3);
  assert.equal(dropped('retries_exhausted') + dropped('export_failed') + dropped('queue_full'), 0);
});

test('a permanent failure is dropped at once and counted', async () => {
  let calls = 0;
  const { s, dropped } = sender(async () => {
    calls++;
    throw Object.assign(new Error('nope'), { code: 401 });
  });
  s.offer([1, 2]);
  await s.idle();
  assert.equal(calls, 1);
  assert.equal(dropped('export_failed'), 2);
});

test('retries stop at max_elapsed_time; what could not be sent is counted', async () => {
  const { s, dropped } = sender(
    async () => {
      throw Object.assign(new Error('down'), { code: 'ECONNREFUSED' });
    },
    { retry: { ...retry, max_elapsed_time: 50 } },
  );
  s.offer([1, 2, 3, 4]);
  await s.idle();
  assert.equal(dropped('retries_exhausted'), 4);
});

test('a full queue drops what arrives, counted in items; arrived + dropped = offered', async () => {
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const { s, dropped, sent } = sender(() => gate, { queueSize: 5 });
  s.offer([1, 2]); // in flight
  s.offer([3, 4, 5]); // queued: 3
  s.offer([6, 7]); // queued: 5
  s.offer([8]); // full
  s.offer([9, 10]); // full
  release();
  await s.idle();
  assert.equal(sent(), 7);
  assert.equal(dropped('queue_full'), 3);
});

test('latest wins: a newer cumulative snapshot replaces the unsent one, without a drop', async () => {
  const seen: number[][] = [];
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const { s, dropped } = sender(
    async (x) => {
      if (seen.length === 0) await gate;
      seen.push(x);
    },
    { latestWins: true },
  );
  s.offer([1]);
  s.offer([2]);
  s.offer([3]);
  release();
  await s.idle();
  assert.deepEqual(seen, [[1], [3]]);
  assert.equal(dropped('queue_full'), 0);
});

test('shutdown sends what it can in time, then drops and counts the rest', async () => {
  const { s, dropped } = sender(async () => {
    throw Object.assign(new Error('down'), { code: 14 });
  }, { retry: { ...retry, initial_interval: 1000, max_interval: 1000, max_elapsed_time: 60_000 } });
  s.offer([1, 2]);
  s.offer([3]);
  await s.shutdown(30);
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(dropped('shutdown'), 3);
});
