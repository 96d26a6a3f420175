/**
 * The service's bounds: shutdown_timeout (an exporter that never finishes does not hold the
 * process), and memory_limit (new data shed at the entry of each pipeline, counted).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { z } from 'zod';
import type { Batch, Exporter, ExporterFactory } from '../../src/core/component.js';
import { defaultRegistry } from '../../src/components.js';
import { loadConfigFiles } from '../../src/config/load.js';
import { resolveConfig, type Registry } from '../../src/config/validate.js';
import { Service } from '../../src/pipeline/service.js';
import { openEvent } from '../support/events.js';

const logger = pino({ level: process.env.TCPOTEL_TEST_LOG ?? 'silent' });

/** An exporter that records what it gets and whose shutdown can be made to hang. */
class Capture implements Exporter {
  static last?: Capture;
  batches: Batch[] = [];
  deadline?: number;
  hang = false;
  constructor() {
    Capture.last = this;
  }
  async start() {}
  consume(b: Batch) {
    this.batches.push(b);
  }
  shutdown(deadline?: number): Promise<void> {
    this.deadline = deadline;
    return this.hang ? new Promise(() => undefined) : Promise.resolve();
  }
}

const captureFactory: ExporterFactory<Record<string, never>> = {
  type: 'capture',
  kind: 'exporter',
  description: 'test',
  schema: z.strictObject({}) as unknown as z.ZodType<Record<string, never>, unknown>,
  createDefaultConfig: () => ({}),
  signals: ['logs', 'metrics'],
  create: () => new Capture(),
};

function registry(): Registry {
  const r = defaultRegistry();
  return { ...r, exporters: new Map([...r.exporters, ['capture', captureFactory as ExporterFactory]]) };
}

function service(serviceYaml: string, events = 3): Service {
  const dir = mkdtempSync(join(tmpdir(), 'tcpotel-service-'));
  const rec = join(dir, 'rec.jsonl');
  writeFileSync(rec, JSON.stringify({ at: 0, events: Array.from({ length: events }, (_, i) => openEvent({ localPort: 1000 + i })) }) + '\n');
  const file = join(dir, 'c.yaml');
  writeFileSync(file, `receivers:\n  replay: {path: ${rec}, speed: 0}\nexporters:\n  capture:\nservice:\n${serviceYaml}  pipelines:\n    logs: {receivers: [replay], exporters: [capture]}\n`);
  return new Service(resolveConfig(loadConfigFiles([file]), registry()), { logger });
}

test('shutdown_timeout: exporters get the deadline, and one that never finishes is left behind', { timeout: 30_000 }, async () => {
  const s = service('  shutdown_timeout: 300ms\n');
  await s.start();
  await new Promise((r) => setTimeout(r, 50));
  const cap = Capture.last!;
  cap.hang = true;
  const t0 = Date.now();
  await s.shutdown();
  assert.ok(cap.deadline! >= t0 + 300 && cap.deadline! <= Date.now(), 'the deadline is shutdown_timeout after the shutdown began');
  assert.equal(cap.batches.reduce((n, b) => n + (b.type === 'events' ? b.events.length : 0), 0), 3);
});

test('memory_limit: above it, new data is shed at the pipeline entry and counted as memory_limit', { timeout: 30_000 }, async () => {
  // 1 MiB of RSS is always exceeded: everything is shed.
  const s = service('  memory_limit: {limit: 1MiB, check_interval: 100ms}\n', 5);
  await s.start();
  await new Promise((r) => setTimeout(r, 100));
  await s.shutdown();
  assert.equal(s.memory.shedding, true);
  assert.equal(Capture.last!.batches.length, 0);
  assert.equal(s.telemetry.total('tcpotel.component.items.dropped', { 'tcpotel.component.id': 'memory_limiter', 'tcpotel.pipeline.id': 'logs', 'tcpotel.drop.reason': 'memory_limit' }), 5);
  assert.deepEqual(s.droppedTotals(), { 'memory_limiter (logs): memory_limit': 5 });
  assert.equal(s.telemetry.total('tcpotel.process.memory.shedding'), 1);
  // Without a limit, the same data goes through.
  const ok = service('', 5);
  await ok.start();
  await new Promise((r) => setTimeout(r, 100));
  await ok.shutdown();
  assert.equal(Capture.last!.batches.reduce((n, b) => n + (b.type === 'events' ? b.events.length : 0), 0), 5);
});
