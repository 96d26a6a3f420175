/** tcpotel as a library: its entry point, imported by the package name (package.json `exports`). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../src/core/paths.js';

test('import("tcpotel") gives the factories, the registry and the pipeline builder', async () => {
  const lib = await import('tcpotel');
  const pkg = JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as { main: string; types: string };
  assert.equal(pkg.main, 'dist/src/index.js');
  assert.equal(pkg.types, 'dist/src/index.d.ts');
  for (const f of ['defaultRegistry', 'loadAndResolve', 'resolveConfig', 'loadConfigFiles', 'runService', 'planPushdown'] as const) assert.equal(typeof lib[f], 'function', f);
  assert.equal(typeof lib.Service, 'function');
  const registry = lib.defaultRegistry();
  // Every registered factory is exported by name too.
  const exported = new Set<unknown>(Object.values(lib).filter((v) => typeof v === 'object' && v !== null && 'kind' in v && 'type' in v));
  for (const map of [registry.receivers, registry.processors, registry.exporters, registry.extensions]) {
    for (const f of map.values()) assert.ok(exported.has(f), `${f.kind} ${f.type} is exported`);
  }
  assert.equal(exported.size, registry.receivers.size + registry.processors.size + registry.exporters.size + registry.extensions.size);
  // A config resolves through the library alone.
  const resolved = lib.loadAndResolve([join(packageRoot(), 'pipelines', 'default.yaml')], registry, {});
  assert.ok(resolved.pipelines.length > 0);
});
