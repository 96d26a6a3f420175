import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CONNECTION_STATES, EVENT_KINDS, TCP_STATES, copyEvent, errorType, eventBatch, tcpStateName } from '../../src/core/events.js';
import { makeEvent, openEvent } from '../support/events.js';

test('tcpStateName: Linux state numbers (tcp_states.h) to network.connection.state values', () => {
  const named: Array<[number, string]> = [
    [1, 'established'],
    [2, 'syn_sent'],
    [3, 'syn_received'],
    [6, 'time_wait'],
    [7, 'closed'],
    [8, 'close_wait'],
    [10, 'listen'],
    [11, 'closing'],
    [12, 'new_syn_recv'],
  ];
  for (const [n, name] of named) assert.equal(tcpStateName(n), name, String(n));
  for (const n of [0, 13, 255, -1]) assert.equal(tcpStateName(n), 'unknown', String(n));
  assert.equal(CONNECTION_STATES.length, 11);
  assert.equal(TCP_STATES.length, 13);
  assert.equal(new Set(EVENT_KINDS).size, EVENT_KINDS.length);
});

test('errorType: the errno values sk_err carries to error.type, others as errno_N', () => {
  const types: Array<[number, string]> = [
    [111, 'connection_refused'],
    [110, 'timed_out'],
    [104, 'connection_reset'],
    [113, 'host_unreachable'],
    [101, 'network_unreachable'],
    [0, 'cancelled'],
    [42, 'errno_42'],
    [-5, 'errno_-5'],
  ];
  for (const [errno, type] of types) assert.equal(errorType(errno), type, String(errno));
});

test('eventBatch: an events batch of a receiver, with extra fields', () => {
  const evs = [openEvent(), openEvent({ localPort: 1 })];
  assert.deepEqual(eventBatch('ebpf', evs), { type: 'events', receiver: 'ebpf', events: evs });
  const counts = { v4: { established: 2 }, v6: {} };
  const b = eventBatch('sockdiag', [], { stateCounts: counts, resource: { 'host.name': 'h' } });
  assert.equal(b.type, 'events');
  assert.equal(b.receiver, 'sockdiag');
  assert.equal(b.stateCounts, counts);
  assert.deepEqual(b.resource, { 'host.name': 'h' });
});

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

test('copyEvent: without new attributes it keeps the event\'s own; protocol fields only with a protocol', () => {
  const ev = makeEvent({ attributes: { a: 1 } });
  assert.equal(copyEvent(ev).attributes, ev.attributes);
  const tls = makeEvent({ protocol: 'tls', tlsServerName: 'db.example.test', tlsVersion: '1.3' });
  assert.deepEqual(copyEvent(tls, undefined), { ...tls, attributes: undefined });
  const http = makeEvent({ protocol: 'http', httpMethod: 'GET', httpHost: 'example.test' });
  const h = copyEvent(http, {});
  assert.equal(h.httpMethod, 'GET');
  assert.equal(h.httpHost, 'example.test');
  assert.equal('tlsServerName' in h, false);
  // Protocol details without a protocol are not carried over (detection was off).
  const orphan = makeEvent({ httpMethod: 'GET' });
  assert.equal('httpMethod' in copyEvent(orphan, {}), false);
});
