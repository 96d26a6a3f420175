/**
 * One OTLP/JSON export request per line (the protobuf JSON mapping, as the Collector's
 * file exporter writes it), rotated by size. A batch becomes lines of at most
 * max_items_per_line records (or metric points), serialized one at a time and only while
 * the write queue has room: what does not fit is dropped and counted, never buffered
 * without bound, and no line is one giant string.
 */
import { JsonMetricsSerializer } from '@opentelemetry/otlp-transformer';
import type { ResourceMetrics } from '@opentelemetry/sdk-metrics';
import type { Batch, Exporter, ExporterContext } from '../../core/component.js';
import { nowHrTime } from '../../core/metrics.js';
import { MetricsAccumulator } from '../shared/accumulator.js';
import { logsRequestJson } from '../shared/logs-json.js';
import type { FileConfig } from './config.js';
import { FileWriter } from './writer.js';

const utf8 = new TextEncoder();

/** A cumulative snapshot split into requests of at most `max` data points each (same times, resource, scopes). */
export function splitResourceMetrics(rm: ResourceMetrics, max: number): ResourceMetrics[] {
  const out: ResourceMetrics[] = [];
  let cur: ResourceMetrics | undefined;
  let n = 0;
  const room = () => {
    if (!cur || n >= max) {
      cur = { resource: rm.resource, scopeMetrics: [] };
      out.push(cur);
      n = 0;
    }
    return cur;
  };
  for (const sm of rm.scopeMetrics) {
    for (const metric of sm.metrics) {
      const points = metric.dataPoints as unknown[];
      for (let i = 0; i === 0 || i < points.length; ) {
        const target = room();
        let scope = target.scopeMetrics.at(-1);
        if (!scope || scope.scope !== sm.scope) {
          scope = { scope: sm.scope, metrics: [] };
          target.scopeMetrics.push(scope);
        }
        const take = Math.max(Math.min(max - n, points.length - i), points.length === 0 ? 0 : 1);
        scope.metrics.push({ ...metric, dataPoints: points.slice(i, i + take) } as typeof metric);
        n += take;
        i += take;
        if (points.length === 0) break;
      }
    }
  }
  return out.length ? out : [rm];
}

function pointCount(rm: ResourceMetrics): number {
  let n = 0;
  for (const sm of rm.scopeMetrics) for (const m of sm.metrics) n += m.dataPoints.length;
  return n;
}

export class FileExporter implements Exporter {
  private readonly acc?: MetricsAccumulator;
  readonly writer: FileWriter;

  constructor(
    private readonly config: FileConfig,
    private readonly ctx: ExporterContext,
  ) {
    if (ctx.signal === 'metrics') {
      this.acc = new MetricsAccumulator({ temporality: config.temporality, maxSeries: config.max_series, expiryMs: config.series_expiry }, nowHrTime());
    }
    this.writer = new FileWriter({
      path: config.path,
      maxFileBytes: config.rotation.max_megabytes * 1024 * 1024,
      maxBackups: config.rotation.max_backups,
      maxQueueItems: config.write_queue.max_items,
      maxQueueBytes: config.write_queue.max_bytes,
      logger: ctx.logger,
      written: (n) => ctx.telemetry.outgoing(n),
      dropped: (n, reason) => ctx.telemetry.dropped(n, reason),
    });
  }

  async start(): Promise<void> {
    this.writer.open();
  }

  /** Serializes and queues one request of `items` items, unless the queue is full (then counted as dropped). */
  private line(items: number, serialize: () => Uint8Array | undefined): void {
    if (!this.writer.fits(items)) {
      this.writer.refuse(items);
      return;
    }
    const json = serialize();
    if (!json) {
      this.ctx.telemetry.dropped(items, 'export_failed');
      return;
    }
    this.writer.push(json, items);
  }

  consume(batch: Batch): void {
    const per = this.config.max_items_per_line;
    if (batch.type === 'metrics') {
      if (!this.acc) return;
      this.ctx.telemetry.incoming(batch.points.length);
      this.acc.add(batch);
      if (this.ctx.selfMetrics) this.acc.setSelf(this.ctx.telemetry.telemetry.collect(), batch.endTime);
      if (this.config.temporality === 'delta' && !this.acc.hasUpdates) return;
      for (const piece of splitResourceMetrics(this.acc.collect(nowHrTime()), per)) {
        const n = pointCount(piece);
        this.line(n, () => JsonMetricsSerializer.serializeRequest(piece));
      }
      return;
    }
    if (this.ctx.signal !== 'logs' || !batch.events.length) return;
    const events = batch.events;
    this.ctx.telemetry.incoming(events.length);
    for (let i = 0; i < events.length; i += per) {
      const slice = events.length <= per ? events : events.slice(i, i + per);
      // The narrow fast path (shared/logs-json.ts), tested against JsonLogsSerializer's output.
      this.line(slice.length, () => utf8.encode(logsRequestJson(slice === events ? batch : { ...batch, events: slice })));
    }
  }

  async shutdown(deadline = Date.now() + 10_000): Promise<void> {
    await this.writer.close(deadline);
  }
}
