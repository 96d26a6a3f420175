import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as processors from '../../src/processors/index.js';
import type { ProcessorFactory } from '../../src/core/component.js';

const factories: ProcessorFactory<unknown>[] = [
  processors.filterProcessorFactory,
  processors.sampleProcessorFactory,
  processors.batchProcessorFactory,
  processors.attributesProcessorFactory,
  processors.resourceProcessorFactory,
  processors.processProcessorFactory,
];

test('the index exports the six processor factories, each complete and valid by default', () => {
  assert.deepEqual(
    factories.map((f) => f.type),
    ['filter', 'sample', 'batch', 'attributes', 'resource', 'process'],
  );
  for (const f of factories) {
    assert.equal(f.kind, 'processor', f.type);
    assert.ok(f.description.length > 10 && !f.description.includes('\n'), f.type);
    assert.ok(f.accepts.length > 0, f.type);
    for (const t of f.accepts) assert.equal(f.output(t), t, f.type);
    const parsed = f.schema.safeParse(f.createDefaultConfig());
    assert.ok(parsed.success, `${f.type}: ${JSON.stringify(parsed.error?.issues)}`);
    // Defaults are fresh objects: changing one does not change the next.
    assert.notEqual(f.createDefaultConfig(), f.createDefaultConfig());
  }
  assert.equal(typeof processors.parseContainerId, 'function');
});
