import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { ExportError, QueuedRetrySender, isRetryable } from '../../../src/exporters/shared/sender.js';
import { testContext } from '../../support/context.js';

const retry = { enabled: true, initial_interval: 10, max_interval: 40, max_elapsed_time: 1000, multiplier: 2 };
const logger = pino({ level: 'silent' });

function sender(
  send: (n: number[], signal: AbortSignal) => Promise<void>,
  opts: { queueSize?: number; maxBytes?: number; latestWins?: boolean; retry?: typeof retry; slept?: number[] } = {},
) {
  const ctx = testContext('otlp', 'exporter');
  const s = new QueuedRetrySender<number[]>({
    id: 'otlp',
    queue: { enabled: true, queue_size: opts.queueSize ?? 100, max_bytes: opts.maxBytes },
    retry: opts.retry ?? retry,
    send,
    count: (x) => x.length,
    bytes: (x) => x.length * 100,
    latestWins: opts.latestWins,
    telemetry: ctx.telemetry,
    logger,
    sleep: (ms) => {
      opts.slept?.push(ms);
      return new Promise((r) => setTimeout(r, Math.min(ms, 5)));
    },
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
  await s.shutdown(Date.now() + 30);
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(dropped('shutdown'), 3);
});

test('the queue is bounded in bytes too', async () => {
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const { s, dropped, sent } = sender(() => gate, { queueSize: 1000, maxBytes: 500 });
  s.offer([1]); // in flight
  s.offer([2, 3, 4]); // 300 bytes queued
  s.offer([5, 6]); // 500
  s.offer([7]); // 600 > 500: dropped
  release();
  await s.idle();
  assert.equal(sent(), 6);
  assert.equal(dropped('queue_full'), 1);
});

test('Retry-After: the next attempt waits what the server asked (no jitter), within max_elapsed_time', async () => {
  const slept: number[] = [];
  let calls = 0;
  const { s, sent } = sender(
    async () => {
      if (++calls === 1) throw new ExportError('HTTP 503', true, 800, 503);
    },
    { slept },
  );
  s.offer([1, 2]);
  await s.idle();
  assert.deepEqual(slept, [800]);
  assert.equal(sent(), 2);
  // Asked to wait longer than max_elapsed_time allows: given up at once, counted.
  const slept2: number[] = [];
  const b = sender(async () => {
    throw new ExportError('HTTP 429', true, 5000, 429);
  }, { slept: slept2 });
  b.s.offer([1, 2, 3]);
  await b.s.idle();
  assert.deepEqual(slept2, []);
  assert.equal(b.dropped('retries_exhausted'), 3);
});

test('shutdown at its deadline aborts the request in flight: it and the queue are counted as dropped', async () => {
  let aborted = 0;
  const { s, dropped, sent } = sender(
    (_x, signal) =>
      new Promise<void>((_resolve, reject) => {
        signal.addEventListener('abort', () => {
          aborted++;
          reject(new ExportError('aborted', false));
        });
      }),
  );
  s.offer([1, 2]);
  s.offer([3]);
  await s.shutdown(Date.now() + 20);
  assert.equal(aborted, 1);
  assert.equal(dropped('shutdown'), 3);
  assert.equal(dropped('export_failed'), 0);
  assert.equal(sent(), 0);
  s.offer([4]);
  assert.equal(dropped('shutdown'), 4, 'after shutdown, what arrives is counted too');
});

test('a send that ignores the abort is not waited for: counted once, as dropped', async () => {
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const { s, dropped, sent } = sender(() => gate);
  s.offer([1, 2]);
  await s.shutdown(Date.now() + 10);
  assert.equal(dropped('shutdown'), 2);
  release();
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(sent(), 0, 'its late success is not counted again');
  assert.equal(dropped('shutdown'), 2);
});
