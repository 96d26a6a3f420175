/**
 * Kernel timestamps are CLOCK_MONOTONIC nanoseconds (bpf_ktime_get_ns); so is
 * process.hrtime. One offset, taken at start-up, turns them into wall-clock time.
 */
import type { HrTime } from './metrics.js';

let offsetSec = 0;
let offsetNs = 0;
let ready = false;

export function monotonicNowNs(): number {
  return Number(process.hrtime.bigint());
}

/** Re-reads the offset between the wall clock and CLOCK_MONOTONIC. */
export function calibrateClock(): void {
  const mono = process.hrtime.bigint();
  const wallNs = BigInt(Math.round((performance.timeOrigin + performance.now()) * 1e6));
  const off = wallNs - mono;
  offsetSec = Number(off / 1_000_000_000n);
  offsetNs = Number(off % 1_000_000_000n);
  ready = true;
}

/** CLOCK_MONOTONIC ns to wall-clock [seconds, nanoseconds]. */
export function monotonicToHrTime(ns: number): HrTime {
  if (!ready) calibrateClock();
  const sec = Math.floor(ns / 1e9);
  let s = offsetSec + sec;
  let n = offsetNs + (ns - sec * 1e9);
  if (n >= 1e9) {
    s += 1;
    n -= 1e9;
  }
  return [s, n];
}

/** CLOCK_MONOTONIC ns to wall-clock milliseconds (sub-millisecond precision kept). */
export function monotonicToWallMs(ns: number): number {
  const [s, n] = monotonicToHrTime(ns);
  return s * 1000 + n / 1e6;
}
