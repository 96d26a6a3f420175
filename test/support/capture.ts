/**
 * A test-only exporter that keeps every batch it is given, by component id: for tests
 * that compare what pipelines produce, point by point, without a wire format between.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { z } from 'zod';
import type { Batch, ExporterFactory } from '../../src/core/component.js';
import type { MetricBatch, MetricPoint } from '../../src/core/metrics.js';
import { defaultRegistry } from '../../src/components.js';
import { loadAndResolve } from '../../src/config/validate.js';
import { Service } from '../../src/pipeline/service.js';

export const captured = new Map<string, Batch[]>();

export const captureExporterFactory: ExporterFactory<Record<string, never>> = {
  type: 'capture',
  kind: 'exporter',
  description: 'keeps every batch (tests)',
  schema: z.strictObject({}),
  createDefaultConfig: () => ({}),
  signals: ['metrics', 'logs'],
  create: (_config, ctx) => ({
    start: async () => undefined,
    consume: (batch: Batch) => {
      const list = captured.get(ctx.id) ?? [];
      list.push(batch);
      captured.set(ctx.id, list);
    },
    shutdown: async () => undefined,
  }),
};

/** Starts a Service from YAML with the capture exporter available. */
export async function startCapturing(yaml: string, env: NodeJS.ProcessEnv = process.env): Promise<Service> {
  const dir = mkdtempSync(join(tmpdir(), 'tcpotel-test-'));
  const file = join(dir, 'config.yaml');
  writeFileSync(file, yaml);
  const registry = defaultRegistry();
  (registry.exporters as Map<string, ExporterFactory>).set('capture', captureExporterFactory as ExporterFactory);
  const resolved = loadAndResolve([file], registry, env);
  const service = new Service(resolved, { logger: pino({ level: process.env.TCPOTEL_TEST_LOG ?? 'silent' }) });
  await service.start();
  return service;
}

/** Every metric point a capture exporter got. */
export function capturedPoints(id: string): MetricPoint[] {
  return (captured.get(id) ?? []).filter((b): b is MetricBatch => b.type === 'metrics').flatMap((b) => b.points);
}

/**
 * Points summed over windows, by name and attributes: what a cumulative exporter would
 * show. Series that sum to nothing (an up-down counter back at 0) are left out: whether
 * they appear depends on how the windows fell, not on what was counted.
 */
export function cumulative(points: MetricPoint[]): Map<string, { count: number; sum: number; min: number; max: number; buckets: number[] }> {
  const out = new Map<string, { count: number; sum: number; min: number; max: number; buckets: number[] }>();
  for (const p of points) {
    if (p.type === 'gauge') continue;
    const key = `${p.name} ${JSON.stringify(Object.entries(p.attributes).sort(([a], [b]) => (a < b ? -1 : 1)))}`;
    const cur = out.get(key) ?? { count: 0, sum: 0, min: Infinity, max: -Infinity, buckets: [] };
    if (p.type === 'sum') {
      cur.count += p.value;
    } else {
      cur.count += p.count;
      cur.sum += p.sum;
      cur.min = Math.min(cur.min, p.min);
      cur.max = Math.max(cur.max, p.max);
      p.bucketCounts.forEach((n, i) => (cur.buckets[i] = (cur.buckets[i] ?? 0) + n));
    }
    out.set(key, cur);
  }
  for (const [key, v] of out) if (v.count === 0 && v.sum === 0) out.delete(key);
  return out;
}
