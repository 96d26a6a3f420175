import { test } from 'node:test';
import assert from 'node:assert/strict';
import { defaultRegistry, EXPORTER_FACTORIES, EXTENSION_FACTORIES, PROCESSOR_FACTORIES, RECEIVER_FACTORIES } from '../src/components.js';

test('the registry lists the seven processor factories, each complete and valid by default', () => {
  assert.deepEqual(
    PROCESSOR_FACTORIES.map((f) => f.type),
    ['filter', 'sample', 'aggregate', 'batch', 'attributes', 'resource', 'process'],
  );
  for (const f of PROCESSOR_FACTORIES) {
    assert.equal(f.kind, 'processor', f.type);
    assert.ok(f.accepts.length > 0, f.type);
    // Every processor keeps the batch type, except aggregate: events in, metrics out.
    for (const t of f.accepts) assert.equal(f.output(t), f.type === 'aggregate' ? 'metrics' : t, f.type);
  }
});

test('every registered factory has its kind, a one-line description and fresh, valid defaults', () => {
  const kinds = [
    ['receiver', RECEIVER_FACTORIES],
    ['processor', PROCESSOR_FACTORIES],
    ['exporter', EXPORTER_FACTORIES],
    ['extension', EXTENSION_FACTORIES],
  ] as const;
  for (const [kind, list] of kinds) {
    assert.ok(list.length > 0, kind);
    for (const f of list) {
      assert.equal(f.kind, kind, f.type);
      assert.ok(f.description.length > 10 && !f.description.includes('\n'), f.type);
      // replay and file name no default file: a config must give its path.
      if (f.type !== 'replay' && f.type !== 'file') {
        const parsed = f.schema.safeParse(f.createDefaultConfig());
        assert.ok(parsed.success, `${f.type}: ${JSON.stringify(parsed.error?.issues)}`);
      }
      // Defaults are fresh objects: changing one does not change the next.
      assert.notEqual(f.createDefaultConfig(), f.createDefaultConfig());
    }
  }
  const reg = defaultRegistry();
  assert.deepEqual([...reg.exporters.keys()], ['otlp', 'otlphttp', 'prometheus', 'debug', 'file', 'view']);
  assert.deepEqual([...reg.extensions.keys()], ['health_check']);
  assert.equal(reg.processors.size, 7);
  assert.equal(reg.receivers.size, RECEIVER_FACTORIES.length);
});
