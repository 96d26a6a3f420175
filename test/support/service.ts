import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { defaultRegistry } from '../../src/components.js';
import { loadAndResolve } from '../../src/config/validate.js';
import { Service } from '../../src/pipeline/service.js';
import type { FlatPoint } from './otlp-receiver.js';

/** Writes a config to a temp file and starts a Service from it. */
export async function startService(yaml: string, env: NodeJS.ProcessEnv = process.env): Promise<Service> {
  const dir = mkdtempSync(join(tmpdir(), 'tcpotel-test-'));
  const file = join(dir, 'config.yaml');
  writeFileSync(file, yaml);
  const resolved = loadAndResolve([file], defaultRegistry(), env);
  const service = new Service(resolved, { logger: pino({ level: process.env.TCPOTEL_TEST_LOG ?? 'silent' }) });
  await service.start();
  return service;
}

/** The newest value of a metric (summed over series matching `match`), from decoded OTLP points. */
export function latestValue(points: FlatPoint[], name: string, match: Record<string, unknown> = {}): number {
  const newest = new Map<string, FlatPoint>();
  for (const p of points) {
    if (p.name !== name) continue;
    if (!Object.entries(match).every(([k, v]) => p.attributes[k] === v)) continue;
    const key = JSON.stringify(Object.entries(p.attributes).sort());
    const cur = newest.get(key);
    if (!cur || BigInt(p.timeUnixNano) >= BigInt(cur.timeUnixNano)) newest.set(key, p);
  }
  let total = 0;
  for (const p of newest.values()) total += p.type === 'histogram' ? (p.count ?? 0) : (p.value ?? 0);
  return total;
}
