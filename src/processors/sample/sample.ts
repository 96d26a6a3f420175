import { defer, filter, map, type OperatorFunction } from 'rxjs';
import type { Batch, ComponentContext } from '../../core/component.js';
import type { TcpEvent } from '../../core/events.js';
import type { SampleConfig } from './config.js';
import { eventConnectionHash, mulberry32 } from '../../core/hash.js';

/**
 * Keeps a share of the events (whole connections, by five-tuple hash, or single events,
 * by a seeded PRNG), then lets at most `rate_limit` events per second through (a token
 * bucket of `burst` tokens on ctx.scheduler's clock). Drops are counted as "sampled_out"
 * and "rate_limited". Only the configured kinds are subject to either.
 */
export function sample(config: SampleConfig, ctx: ComponentContext): OperatorFunction<Batch, Batch> {
  const t = ctx.telemetry;
  const { ratio, seed, rate_limit: rate } = config;
  const burst = config.burst > 0 ? config.burst : Math.max(1, Math.ceil(rate));
  const byRatio = ratio < 1;
  const byConnection = config.mode === 'connection';
  // A hash below the threshold is kept: ratio of the 2^32 values.
  const threshold = ratio * 4294967296;
  const subject: Record<string, boolean> | undefined = config.kinds.length
    ? Object.fromEntries(config.kinds.map((k) => [k, true]))
    : undefined;

  return (source) =>
    defer(() => {
      // Per subscription: the PRNG sequence and the bucket start afresh.
      const random = mulberry32(seed);
      let tokens = burst;
      let last = ctx.scheduler.now();

      const apply = (batch: Batch): Batch | null => {
        if (batch.type !== 'events') return batch;
        const events = batch.events;
        const n = events.length;
        t.incoming(n);
        if (rate > 0) {
          const now = ctx.scheduler.now();
          if (now > last) tokens = Math.min(burst, tokens + ((now - last) * rate) / 1000);
          last = now; // (a clock that steps back refills nothing)
        }
        let kept: TcpEvent[] | undefined;
        let sampledOut = 0;
        let limited = 0;
        for (let i = 0; i < n; i++) {
          const ev = events[i]!;
          let keep = true;
          if (subject === undefined || subject[ev.kind] === true) {
            if (byRatio) {
              keep = byConnection
                ? eventConnectionHash(ev, seed) < threshold
                : random() < ratio;
              if (!keep) sampledOut++;
            }
            if (keep && rate > 0) {
              if (tokens >= 1) tokens -= 1;
              else {
                keep = false;
                limited++;
              }
            }
          }
          if (keep) {
            if (kept) kept.push(ev);
          } else if (!kept) {
            kept = events.slice(0, i);
          }
        }
        if (sampledOut) t.dropped(sampledOut, 'sampled_out');
        if (limited) t.dropped(limited, 'rate_limited');
        if (!kept) {
          t.outgoing(n);
          return n > 0 || batch.stateCounts ? batch : null;
        }
        t.outgoing(kept.length);
        if (kept.length === 0 && !batch.stateCounts) return null;
        return { ...batch, events: kept };
      };
      return source.pipe(map(apply), filter((b): b is Batch => b !== null));
    });
}
