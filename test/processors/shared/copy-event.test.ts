import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyEvent } from '../../../src/core/events.js';
import { makeEvent } from '../fixtures.js';

test('copyEvent copies every field and sets the new attributes; reset only when set', () => {
  const ev = makeEvent({ attributes: { a: 1 } });
  const attributes = { b: 2 };
  const c = copyEvent(ev, attributes);
  assert.notEqual(c, ev);
  assert.deepEqual(c, { ...ev, attributes });
  assert.equal(c.attributes, attributes);
  assert.equal('reset' in c, false);
  const r = makeEvent({ kind: 'reset', reset: 'received' });
  assert.deepEqual(copyEvent(r, {}), { ...r, attributes: {} });
});
