import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { MemoryGuard, readMemory, type MemoryReading } from '../../src/core/memory.js';
import type { Logger } from '../../src/core/logger.js';
import { Telemetry } from '../../src/core/telemetry.js';

const logger = pino({ level: process.env.TCPOTEL_TEST_LOG ?? 'silent' });

/** A logger that keeps what was said, by level. */
function recordingLogger() {
  const said: Array<[string, string]> = [];
  const l = { warn: (_f: unknown, m: string) => said.push(['warn', m]), info: (_f: unknown, m: string) => said.push(['info', m]) };
  return { said, logger: l as unknown as Logger };
}

test('the memory guard: soft limit = limit - spike_limit (20% by default), and V8 heap fullness', () => {
  let m = { rss: 0, heapUsed: 10, heapLimit: 100 };
  const g = new MemoryGuard({ limit: 1000, spike_limit: 0, max_heap_percent: 85, check_interval: 1000 }, logger, undefined, () => m);
  assert.equal(g.softLimit, 800);
  m = { rss: 801, heapUsed: 10, heapLimit: 100 };
  assert.equal(g.check(), true);
  m = { rss: 799, heapUsed: 10, heapLimit: 100 };
  assert.equal(g.check(), false);
  m = { rss: 100, heapUsed: 86, heapLimit: 100 };
  assert.equal(g.check(), true, 'the heap is fuller than max_heap_percent');
  const noRss = new MemoryGuard({ limit: 0, spike_limit: 0, max_heap_percent: 85, check_interval: 1000 }, logger, undefined, () => ({ rss: 1e12, heapUsed: 1, heapLimit: 100 }));
  assert.equal(noRss.check(), false, 'limit 0: no RSS limit');
});

test('the memory guard: an explicit spike_limit; exactly at the soft limit is not over', () => {
  let m: MemoryReading = { rss: 900, heapUsed: 0, heapLimit: 100 };
  const g = new MemoryGuard({ limit: 1000, spike_limit: 100, max_heap_percent: 50, check_interval: 1000 }, logger, undefined, () => m);
  assert.equal(g.softLimit, 900);
  assert.equal(g.check(), false);
  m = { rss: 901, heapUsed: 0, heapLimit: 100 };
  assert.equal(g.check(), true);
  m = { rss: 0, heapUsed: 50, heapLimit: 100 };
  assert.equal(g.check(), false, 'exactly max_heap_percent is not over');
});

test('the memory guard: shedding starts and stops once each (logged once), and is a gauge', () => {
  const { said, logger: l } = recordingLogger();
  const t = new Telemetry();
  let rss = 0;
  const g = new MemoryGuard({ limit: 1000, spike_limit: 0, max_heap_percent: 95, check_interval: 1000 }, l, t, () => ({ rss, heapUsed: 0, heapLimit: 100 }));
  assert.equal(t.total('tcpotel.process.memory.shedding'), 0);
  rss = 900;
  g.check();
  g.check();
  assert.equal(g.shedding, true);
  assert.equal(t.total('tcpotel.process.memory.shedding'), 1);
  rss = 100;
  g.check();
  g.check();
  assert.equal(g.shedding, false);
  assert.equal(t.total('tcpotel.process.memory.shedding'), 0);
  assert.deepEqual(said.map(([level]) => level), ['warn', 'info']);
  assert.match(said[0]![1], /resident memory is above limit - spike_limit/);
});

test('sheddingNow looks at memory again only once check_interval has passed', async () => {
  let reads = 0;
  let rss = 0;
  const g = new MemoryGuard({ limit: 1000, spike_limit: 0, max_heap_percent: 95, check_interval: 60 }, logger, undefined, () => {
    reads++;
    return { rss, heapUsed: 0, heapLimit: 100 };
  });
  assert.equal(g.sheddingNow(), false);
  assert.equal(reads, 1);
  rss = 2000;
  assert.equal(g.sheddingNow(), false, 'within check_interval: the last reading holds');
  assert.equal(reads, 1);
  await new Promise((r) => setTimeout(r, 80));
  assert.equal(g.sheddingNow(), true);
  assert.equal(reads, 2);
});

test('start looks at once and then every check_interval; stop ends it', async () => {
  let reads = 0;
  const g = new MemoryGuard({ limit: 0, spike_limit: 0, max_heap_percent: 95, check_interval: 20 }, logger, undefined, () => {
    reads++;
    return { rss: 0, heapUsed: 0, heapLimit: 100 };
  });
  g.start();
  assert.equal(reads, 1);
  await new Promise((r) => setTimeout(r, 110));
  g.stop();
  const n = reads;
  assert.ok(n >= 3, `${n} reads`);
  await new Promise((r) => setTimeout(r, 60));
  assert.equal(reads, n, 'no reads after stop');
  g.stop();
});

test('readMemory: this process\'s resident set and V8 heap', () => {
  const m = readMemory();
  assert.ok(m.rss > 1024 * 1024);
  assert.ok(m.heapUsed > 0 && m.heapUsed < m.heapLimit);
});
