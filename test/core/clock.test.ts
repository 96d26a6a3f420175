import { test } from 'node:test';
import assert from 'node:assert/strict';
import { calibrateClock, monotonicNowNs, monotonicToHrTime, monotonicToWallMs } from '../../src/core/clock.js';

test('monotonicNowNs: CLOCK_MONOTONIC nanoseconds, never going back', () => {
  const a = monotonicNowNs();
  const h = Number(process.hrtime.bigint());
  const b = monotonicNowNs();
  assert.ok(Number.isInteger(a) && a > 0);
  assert.ok(a <= h && h <= b);
});

test('monotonicToWallMs: a kernel timestamp of now is the wall clock of now', () => {
  calibrateClock();
  const before = Date.now();
  const wall = monotonicToWallMs(monotonicNowNs());
  const after = Date.now();
  // performance's time origin and Date.now() may part by a few milliseconds: not by more.
  assert.ok(wall >= before - 100 && wall <= after + 100, `${wall} within [${before}, ${after}]`);
});

test('monotonicToHrTime: [seconds, nanoseconds] with nanoseconds in [0, 1e9), and differences kept', () => {
  const t = monotonicNowNs();
  for (const ns of [0, 1, 999_999_999, 1e9, t, t + 999_999_999]) {
    const [s, n] = monotonicToHrTime(ns);
    assert.ok(Number.isInteger(s), `seconds of ${ns}`);
    assert.ok(n >= 0 && n < 1e9, `nanoseconds of ${ns}: ${n}`);
  }
  const [s0, n0] = monotonicToHrTime(t);
  const [s1, n1] = monotonicToHrTime(t + 1_500_000_000);
  assert.equal((s1 - s0) * 1e9 + (n1 - n0), 1_500_000_000);
  assert.ok(Math.abs(monotonicToWallMs(t + 2_000_000) - monotonicToWallMs(t) - 2) < 1e-3, 'sub-millisecond precision kept');
});

test('calibrateClock: calibrating again moves the mapping by no more than clock noise', () => {
  const t = monotonicNowNs();
  calibrateClock();
  const a = monotonicToWallMs(t);
  calibrateClock();
  const b = monotonicToWallMs(t);
  assert.ok(Math.abs(a - b) < 50, `${a} vs ${b}`);
});
