import { Observable, type OperatorFunction } from 'rxjs';
import type { Batch, ComponentContext, ProcessorFactory } from '../../core/component.js';
import type { MetricBatch } from '../../core/metrics.js';
import { SELF_METRICS_DEFS } from '../../semconv/metrics.js';
import { Aggregator } from './aggregator.js';
import { aggregateConfigSchema, defaultAggregateConfig, type AggregateConfig } from './config.js';

/**
 * Connection events in, one batch of metric points (deltas) per window out. The last,
 * partial window is emitted when the input completes.
 */
export function aggregate(config: AggregateConfig, ctx: ComponentContext): OperatorFunction<Batch, Batch> {
  return (source) =>
    new Observable<Batch>((subscriber) => {
      const t = ctx.telemetry.telemetry;
      const base = { 'tcpotel.component.id': ctx.id, ...(ctx.pipeline ? { 'tcpotel.pipeline.id': ctx.pipeline } : {}) };
      const overflow = t.counter(SELF_METRICS_DEFS.seriesOverflow.name, base);
      const evicted = t.counter(SELF_METRICS_DEFS.connectionsEvicted.name, base);
      const agg = new Aggregator(config, { overflow: (n) => overflow.add(n), evicted: (n) => evicted.add(n) }, ctx.scheduler.now());
      const emit = () => {
        const batch: MetricBatch = agg.flush(ctx.scheduler.now());
        ctx.telemetry.outgoing(batch.points.length);
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

export const aggregateProcessorFactory: ProcessorFactory<AggregateConfig> = {
  type: 'aggregate',
  kind: 'processor',
  description: 'turns connection events into metrics, per window, keyed by five-tuple or any attribute set; caps series',
  schema: aggregateConfigSchema,
  createDefaultConfig: defaultAggregateConfig,
  accepts: ['events'],
  output: () => 'metrics',
  create: aggregate,
};
