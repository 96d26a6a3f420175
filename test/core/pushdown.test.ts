import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EVENT_KINDS } from '../../src/core/events.js';
import { TRACKING_KINDS, admittedKinds, isPushdownReceiver } from '../../src/core/pushdown.js';

test('admittedKinds: no condition lets every kind through', () => {
  assert.deepEqual(admittedKinds({ conds: [] }), [...EVENT_KINDS]);
});

test('admittedKinds: an include of kinds lets those through, with or without other fields', () => {
  assert.deepEqual(admittedKinds({ conds: [{ negate: false, kinds: ['close', 'open'] }] }), ['open', 'close']);
  assert.deepEqual(admittedKinds({ conds: [{ negate: false, kinds: ['failed'], ports: [[443, 443]] }] }), ['failed']);
  assert.deepEqual(admittedKinds({ conds: [{ negate: false, ports: [[1, 1024]] }] }), [...EVENT_KINDS], 'a port condition alone: any kind, for some connection');
});

test('admittedKinds: an exclude removes a kind only when nothing else narrows it', () => {
  assert.deepEqual(admittedKinds({ conds: [{ negate: true, kinds: ['retransmit', 'state'] }] }), EVENT_KINDS.filter((k) => k !== 'retransmit' && k !== 'state'));
  assert.deepEqual(admittedKinds({ conds: [{ negate: true, kinds: ['retransmit'], family: 6 }] }), [...EVENT_KINDS], 'IPv4 retransmits still pass');
  assert.deepEqual(admittedKinds({ conds: [{ negate: true, kinds: ['open'], directions: ['inbound'] }] }), [...EVENT_KINDS]);
  assert.deepEqual(admittedKinds({ conds: [{ negate: true }] }), [], 'an exclude of everything');
  assert.deepEqual(admittedKinds({ conds: [{ negate: true, remote: [[53, 53]] }] }), [...EVENT_KINDS]);
});

test('admittedKinds: every condition must pass', () => {
  const kinds = admittedKinds({
    conds: [
      { negate: false, kinds: ['open', 'close', 'failed'] },
      { negate: true, kinds: ['failed'] },
    ],
  });
  assert.deepEqual(kinds, ['open', 'close']);
});

test('TRACKING_KINDS are event kinds; isPushdownReceiver looks for plan()', () => {
  for (const k of TRACKING_KINDS) assert.ok(EVENT_KINDS.includes(k), k);
  assert.deepEqual([...TRACKING_KINDS].sort(), ['close', 'existing', 'open', 'retransmit', 'sample']);
  assert.equal(isPushdownReceiver({ plan: () => [] }), true);
  assert.equal(isPushdownReceiver({ plan: 1 }), false);
  assert.equal(isPushdownReceiver({ start() {} }), false);
});
