import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseComponentId } from '../../src/core/component.js';

test('parseComponentId: "type" has no name', () => {
  assert.deepEqual(parseComponentId('aggregate'), { type: 'aggregate' });
  assert.equal('name' in parseComponentId('otlp'), false);
});

test('parseComponentId: "type/name" splits at the first slash; the name keeps later slashes', () => {
  assert.deepEqual(parseComponentId('aggregate/flows'), { type: 'aggregate', name: 'flows' });
  assert.deepEqual(parseComponentId('file/logs/v2'), { type: 'file', name: 'logs/v2' });
  assert.deepEqual(parseComponentId('otlp/'), { type: 'otlp', name: '' });
  assert.deepEqual(parseComponentId('/x'), { type: '', name: 'x' });
});
