import { test } from 'node:test';
import assert from 'node:assert/strict';
import { NO_STATUS, StatusHub } from '../../src/core/status.js';

function hub() {
  const clock = { t: 1000 };
  return { clock, hub: new StatusHub(() => clock.t) };
}

test('a reporter starts in `starting`; changes move `since`, repeats do not', () => {
  const { clock, hub: h } = hub();
  assert.equal(h.startedAt, 1000);
  const r = h.reporter('receiver', 'ebpf');
  assert.deepEqual(h.components(), [{ kind: 'receiver', id: 'ebpf', status: 'starting', since: 1000 }]);
  clock.t = 2000;
  r.ok();
  clock.t = 3000;
  r.ok();
  assert.deepEqual(h.components(), [{ kind: 'receiver', id: 'ebpf', status: 'ok', since: 2000 }]);
});

test('errors carry their message; a run of errors keeps its first time; ok clears the error', () => {
  const { clock, hub: h } = hub();
  const r = h.reporter('exporter', 'otlp', 'metrics');
  clock.t = 2000;
  r.recoverableError(new Error('connection refused'));
  clock.t = 3000;
  r.recoverableError({ message: 'deadline exceeded' });
  let [e] = h.components();
  assert.deepEqual(e, { kind: 'exporter', id: 'otlp', signal: 'metrics', status: 'recoverable_error', since: 2000, error: 'deadline exceeded' });
  r.recoverableError('plain text');
  assert.equal(h.components()[0]!.error, 'plain text');
  clock.t = 4000;
  r.ok();
  [e] = h.components();
  assert.equal(e!.status, 'ok');
  assert.equal(e!.since, 4000);
  assert.equal('error' in e!, false);
});

test('a permanent error stays through later recoverable errors, and through stopped', () => {
  const { clock, hub: h } = hub();
  const r = h.reporter('receiver', 'ebpf');
  clock.t = 2000;
  r.permanentError(new Error('ring buffer gone'));
  clock.t = 3000;
  r.recoverableError(new Error('retry'));
  assert.deepEqual(h.components()[0], { kind: 'receiver', id: 'ebpf', status: 'permanent_error', since: 2000, error: 'ring buffer gone' });
  r.stopped();
  assert.deepEqual(h.components()[0], { kind: 'receiver', id: 'ebpf', status: 'stopped', since: 3000, error: 'ring buffer gone' });
  // A component that was well stops without an error.
  const ok = h.reporter('exporter', 'debug', 'logs');
  ok.recoverableError(new Error('x'));
  ok.stopped();
  assert.equal('error' in h.components()[1]!, false);
});

test('components: in registration order, one entry per kind, id and signal, as copies', () => {
  const { hub: h } = hub();
  h.reporter('exporter', 'otlp', 'logs').ok();
  h.reporter('exporter', 'otlp', 'metrics');
  h.reporter('pipeline', 'otlp');
  assert.deepEqual(h.components().map((c) => [c.kind, c.id, c.signal, c.status]), [
    ['exporter', 'otlp', 'logs', 'ok'],
    ['exporter', 'otlp', 'metrics', 'starting'],
    ['pipeline', 'otlp', undefined, 'starting'],
  ]);
  h.components()[0]!.status = 'stopped';
  assert.equal(h.components()[0]!.status, 'ok', 'a copy: the hub is not changed through it');
});

test('the service state and when it last changed', () => {
  const { clock, hub: h } = hub();
  assert.deepEqual(h.service, { state: 'starting', since: 1000 });
  clock.t = 2000;
  h.setService('running');
  clock.t = 3000;
  h.setService('running');
  assert.deepEqual(h.service, { state: 'running', since: 2000 });
  h.setService('stopping');
  assert.deepEqual(h.service, { state: 'stopping', since: 3000 });
});

test('NO_STATUS takes every call and keeps nothing', () => {
  NO_STATUS.ok();
  NO_STATUS.recoverableError(new Error('x'));
  NO_STATUS.permanentError(new Error('y'));
  NO_STATUS.stopped();
  assert.deepEqual(Object.keys(NO_STATUS).sort(), ['ok', 'permanentError', 'recoverableError', 'stopped']);
});
