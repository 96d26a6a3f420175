import { Observable, type OperatorFunction } from 'rxjs';
import type { Batch, ComponentContext } from '../../core/component.js';
import type { StateCounts } from '../../core/events.js';
import { pointCount, type MetricBatch } from '../../core/metrics.js';
import { SELF_METRICS_DEFS } from '../../semconv/metrics.js';
import { Aggregator } from './aggregator.js';
import type { AggregateConfig } from './config.js';
import { stateCountPoints, tableBatch } from './window.js';
import { selfAttributes } from '../../core/telemetry.js';

/**
 * Connection events in, one batch of metric points (deltas) per window out. The last,
 * partial window is emitted when the input completes.
 *
 * When the pipeline pushed the aggregate down (src/pipeline/pushdown.ts), the kernel
 * counts and this operator only ends its windows: each tick reads the kernel's window
 * (ctx.aggregate.kernel) and takes socket counts from the batches that carry them; the
 * events it is still given are ignored (the kernel counted them). If the receiver could
 * not compute it after all (e.g. it fell back to sock_diag), it aggregates the events here.
 */
export function aggregate(config: AggregateConfig, ctx: ComponentContext): OperatorFunction<Batch, Batch> {
  // Keys the pipeline decided (none when its exporters only read totals).
  const cfg: AggregateConfig = ctx.aggregate ? { ...config, keys: ctx.aggregate.keys } : config;
  const kernel = ctx.aggregate?.kernel;
  return (source) =>
    new Observable<Batch>((subscriber) => {
      const t = ctx.telemetry.telemetry;
      const base = selfAttributes({ id: ctx.id, pipeline: ctx.pipeline });
      const overflow = t.counter(SELF_METRICS_DEFS.seriesOverflow.name, base);
      const evicted = t.counter(SELF_METRICS_DEFS.connectionsEvicted.name, base);
      const agg = new Aggregator(cfg, { overflow: (n) => overflow.add(n), evicted: (n) => evicted.add(n) }, ctx.scheduler.now());
      let windowStart = ctx.scheduler.now();
      let stateCounts: StateCounts | undefined;
      let overflowSeen = 0;
      let lostSeen = 0;
      const emit = () => {
        const now = ctx.scheduler.now();
        let batch: MetricBatch;
        if (kernel?.active) {
          batch = tableBatch(kernel.collect(), windowStart, now, stateCountPoints(stateCounts));
          stateCounts = undefined;
          // What the kernel folded into overflow or could not store, since the last window.
          const o = kernel.overflowed();
          const l = kernel.lost();
          if (o > overflowSeen) overflow.add(o - overflowSeen);
          if (l > lostSeen) ctx.telemetry.dropped(l - lostSeen, 'kernel_map_full');
          overflowSeen = o;
          lostSeen = l;
        } else {
          batch = agg.flush(now);
        }
        windowStart = now;
        ctx.telemetry.outgoing(pointCount(batch));
        subscriber.next(batch);
      };
      const timer = ctx.scheduler.schedule(function tick() {
        emit();
        this.schedule(undefined, config.interval);
      }, config.interval);
      const sub = source.subscribe({
        next: (batch) => {
          if (batch.type !== 'events') {
            subscriber.next(batch);
            return;
          }
          if (kernel?.active) {
            if (batch.stateCounts) stateCounts = batch.stateCounts;
            return;
          }
          ctx.telemetry.incoming(batch.events.length);
          agg.add(batch);
        },
        error: (err) => subscriber.error(err),
        complete: () => {
          emit();
          subscriber.complete();
        },
      });
      return () => {
        timer.unsubscribe();
        sub.unsubscribe();
      };
    });
}
