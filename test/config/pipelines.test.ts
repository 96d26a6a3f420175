/** Every example in pipelines/ is a valid config (overlays merged over default.yaml). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../../src/core/paths.js';
import { defaultRegistry } from '../../src/components.js';
import { loadAndResolve } from '../../src/config/validate.js';

const dir = join(packageRoot(), 'pipelines');
const files = readdirSync(dir).filter((f) => f.endsWith('.yaml')).sort();

test('pipelines/ holds the documented examples', () => {
  for (const name of ['default.yaml', 'otlp.yaml', 'prometheus.yaml', 'top-talkers.yaml', 'failed-connections.yaml', 'per-process.yaml', 'protocols.yaml']) {
    assert.ok(files.includes(name), `pipelines/${name}`);
  }
});

for (const name of files) {
  test(`pipelines/${name} validates`, () => {
    const paths = name.endsWith('-overlay.yaml') ? [join(dir, 'default.yaml'), join(dir, name)] : [join(dir, name)];
    const resolved = loadAndResolve(paths, defaultRegistry(), { ...process.env, OTEL_EXPORTER_OTLP_ENDPOINT: 'http://localhost:4317' });
    assert.ok(resolved.pipelines.length > 0);
    assert.deepEqual(resolved.warnings, [], 'no unused components');
  });
}
