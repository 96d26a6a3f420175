import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ATTR, FIVE_TUPLE_ATTRS, eventAttribute, eventAttributes, fiveTupleAttributes } from '../../src/semconv/attributes.js';
import { makeEvent } from '../support/events.js';

test('fiveTupleAttributes spells the FIVE_TUPLE_ATTRS names, in order, with the values eventAttributes gives', () => {
  assert.deepEqual(FIVE_TUPLE_ATTRS, [ATTR.networkTransport, ATTR.networkType, ATTR.networkLocalAddress, ATTR.networkLocalPort, ATTR.networkPeerAddress, ATTR.networkPeerPort]);
  for (const ev of [makeEvent({ kind: 'close' }), makeEvent({ kind: 'open', family: 6, localAddress: '::1', remoteAddress: '::1' })]) {
    const five = fiveTupleAttributes(ev);
    assert.deepEqual(Object.keys(five), [...FIVE_TUPLE_ATTRS]);
    const all = eventAttributes(ev);
    for (const k of FIVE_TUPLE_ATTRS) {
      assert.equal(five[k], all[k], k);
      assert.equal(eventAttribute(ev, k), all[k], k);
    }
  }
});
