import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ReplayReceiver, parseRecording, replayConfigSchema, defaultReplayConfig } from '../../../src/receivers/replay/receiver.js';
import type { EventBatch } from '../../../src/core/events.js';
import { monotonicNowNs } from '../../../src/core/clock.js';
import { makeEvent } from '../../support/events.js';
import { testContext } from '../../support/context.js';

function recording(): string {
  const dir = mkdtempSync(join(tmpdir(), 'tcpotel-replay-'));
  const path = join(dir, 'rec.jsonl');
  const lines = [
    { at: 0, events: [makeEvent({ kind: 'open', timeNs: 5_000_000_000, socketId: 1 })] },
    { at: 40, events: [makeEvent({ kind: 'close', timeNs: 5_040_000_000, socketId: 1, bytesSent: 9 })], stateCounts: { v4: { established: 1 }, v6: {} } },
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
  assert.throws(() => parseRecording('{"at":0,"events":[{"kind":"bogus"}]}', 'r.jsonl'), /r\.jsonl:1: unknown event kind "bogus"/);
});
