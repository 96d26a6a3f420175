import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ReplayReceiver } from '../../../src/receivers/replay/replay.js';
import { replayConfigSchema, defaultReplayConfig } from '../../../src/receivers/replay/config.js';
import { parseRecording } from '../../../src/receivers/replay/recording.js';
import type { EventBatch } from '../../../src/core/events.js';
import { monotonicNowNs } from '../../../src/core/clock.js';
import { openEvent } from '../../support/events.js';
import { testContext } from '../../support/context.js';

function recording(): string {
  const dir = mkdtempSync(join(tmpdir(), 'tcpotel-replay-'));
  const path = join(dir, 'rec.jsonl');
  const lines = [
    { at: 0, events: [openEvent({ kind: 'open', timeNs: 5_000_000_000, socketId: 1 })] },
    { at: 40, events: [openEvent({ kind: 'close', timeNs: 5_040_000_000, socketId: 1, bytesSent: 9 })], stateCounts: { v4: { established: 1 }, v6: {} } },
  ];
  writeFileSync(path, lines.map((l) => JSON.stringify(l)).join('\n') + '\n');
  return path;
}

test('replays batches in order, at their pace, with times shifted to now', async () => {
  const path = recording();
  const rx = new ReplayReceiver(replayConfigSchema.parse({ ...defaultReplayConfig(), path }), testContext('replay', 'receiver'));
  const got: EventBatch[] = [];
  rx.output.subscribe((b) => got.push(b));
  const t0 = Date.now();
  const before = monotonicNowNs();
  await rx.start();
  await rx.whenFinished();
  assert.ok(Date.now() - t0 >= 35, 'the 40 ms gap is kept');
  assert.deepEqual(got.map((b) => b.events.map((e) => e.kind)), [['open'], ['close']]);
  assert.equal(got[1]!.events[0]!.bytesSent, 9);
  assert.deepEqual(got[1]!.stateCounts, { v4: { established: 1 }, v6: {} });
  const shifted = got[0]!.events[0]!.timeNs;
  assert.ok(shifted >= before && shifted - before < 1e9, 'rebased to now');
  assert.equal(got[1]!.events[0]!.timeNs - shifted, 40_000_000, 'spacing kept');
  await rx.shutdown();
});

test('a broken recording names the line', () => {
  assert.throws(() => parseRecording('{"at":0,"events":[]}\nnot json\n', 'r.jsonl'), /r\.jsonl:2: not JSON/);
  assert.throws(() => parseRecording('{"at":0,"events":[{"kind":"bogus"}]}', 'r.jsonl'), /r\.jsonl:1: events\[0\]: unknown event kind "bogus"/);
});

test('wrong field types are rejected with their line and field; a null line too; nothing else reaches an event', () => {
  const good = JSON.stringify({ at: 0, events: [openEvent({ kind: 'open' })] });
  const bad = (patch: Record<string, unknown>) => JSON.stringify({ at: 5, events: [openEvent({ kind: 'close' }), { ...openEvent({ kind: 'close' }), ...patch }] });
  const cases: Array<[string, RegExp]> = [
    [bad({ localPort: 'abc' }), /r\.jsonl:2: events\[1\]\.localPort: expected an integer from 0 to 65535, got "abc"/],
    [bad({ bytesSent: -1 }), /r\.jsonl:2: events\[1\]\.bytesSent: expected an integer from 0 to 9007199254740991, got -1/],
    [bad({}).replace(/"bytesSent":0(?!.*"bytesSent")/, '"bytesSent":1e400'), /r\.jsonl:2: events\[1\]\.bytesSent: expected an integer from 0 to 9007199254740991, got Infinity/],
    [bad({ remoteAddress: '+Inf' }), /r\.jsonl:2: events\[1\]\.remoteAddress: expected an IPv4 or IPv6 address, got "\+Inf"/],
    [bad({ comm: { x: 1 } }), /r\.jsonl:2: events\[1\]\.comm: expected a process name/],
    [bad({ direction: 'sideways' }), /r\.jsonl:2: events\[1\]\.direction: expected one of "outbound", "inbound", "unknown", got "sideways"/],
    [bad({ family: '4' }), /events\[1\]\.family: expected one of 4, 6, got "4"/],
    [bad({ resetSent: 'yes' }), /events\[1\]\.resetSent: expected true or false/],
    [bad({ lost: 'x' }), /events\[1\]\.lost: expected an integer/],
    [bad({ protocol: 'gopher' }), /events\[1\]\.protocol: expected one of "unknown", "http"/],
    [bad({ tlsServerName: 'a b' }), /events\[1\]\.tlsServerName: expected a host name/],
    [bad({ httpMethod: 'get' }), /events\[1\]\.httpMethod: expected one of "GET"/],
    [bad({ attributes: { 'k8s.pod.name': [1, 2] } }), /events\[1\]\.attributes\.k8s\.pod\.name: expected a string, a finite number or a boolean, got a list/],
    ['null', /r\.jsonl:2: expected \{"at": ms, "events": \[\.\.\.\]\}, got null/],
    ['[1,2]', /r\.jsonl:2: expected \{"at": ms, "events": \[\.\.\.\]\}, got a list/],
    ['{"at":"0","events":[]}', /r\.jsonl:2: expected \{"at": ms, "events": \[\.\.\.\]\}/],
    ['{"at":0,"events":[null]}', /r\.jsonl:2: events\[0\]: expected an event object, got null/],
    ['{"at":0,"events":[],"stateCounts":{"v4":{"established":"many"}}}', /r\.jsonl:2: stateCounts\.v4\.established: expected an integer/],
    ['{"at":0,"events":[],"stateCounts":{"v4":{"bogus":1}}}', /r\.jsonl:2: stateCounts\.v4: unknown state "bogus"/],
  ];
  for (const [line, re] of cases) assert.throws(() => parseRecording(`${good}\n${line}\n`, 'r.jsonl'), re, line);
  // Unknown fields are not carried along.
  const [b] = parseRecording(JSON.stringify({ at: 0, events: [{ ...openEvent(), injected: 'x', __proto__x: 1 }] }));
  assert.equal((b!.events[0] as unknown as Record<string, unknown>).injected, undefined);
  assert.deepEqual(Object.keys(b!.events[0]!).sort(), Object.keys(openEvent()).sort());
});

test('the fields of protocol detection are replayed when recorded; a recording without loss reads lost as 0', () => {
  const e = { ...openEvent({ kind: 'close' }), protocol: 'tls', tlsServerName: 'db.example.test', tlsVersion: '1.2', lost: 3 };
  const [b] = parseRecording(JSON.stringify({ at: 0, events: [e] }));
  assert.deepEqual([b!.events[0]!.protocol, b!.events[0]!.tlsServerName, b!.events[0]!.tlsVersion, b!.events[0]!.lost], ['tls', 'db.example.test', '1.2', 3]);
  const { lost: _lost, ...old } = openEvent({ kind: 'close' });
  const [c] = parseRecording(JSON.stringify({ at: 0, events: [old] }));
  assert.equal(c!.events[0]!.lost, 0);
  assert.equal(c!.events[0]!.protocol, undefined);
});

test('speed 0 with loop: the event loop still turns (timers, signals), and shutdown stops it', { timeout: 30_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tcpotel-replay-'));
  const path = join(dir, 'rec.jsonl');
  writeFileSync(path, JSON.stringify({ at: 0, events: [openEvent({ kind: 'open' }), openEvent({ kind: 'close' })] }) + '\n');
  const rx = new ReplayReceiver(replayConfigSchema.parse({ ...defaultReplayConfig(), path, speed: 0, loop: true }), testContext('replay', 'receiver'));
  let batches = 0;
  rx.output.subscribe(() => batches++);
  await rx.start();
  // Would never run if the replay kept the event loop to itself.
  await new Promise((r) => setTimeout(r, 100));
  const seen = batches;
  assert.ok(seen > 10, `replaying as fast as possible (${seen} batches)`);
  await rx.shutdown();
  await new Promise((r) => setTimeout(r, 50));
  assert.ok(batches - seen < 1000, 'stopped');
  const after = batches;
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(batches, after, 'nothing after shutdown');
});

test('a recording that is not a regular file is refused, not read', async () => {
  const rx = new ReplayReceiver(replayConfigSchema.parse({ ...defaultReplayConfig(), path: '/dev/zero' }), testContext('replay', 'receiver'));
  await assert.rejects(rx.start(), /\/dev\/zero is not a regular file/);
});
