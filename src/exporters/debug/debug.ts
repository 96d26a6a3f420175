/**
 * Human-readable output, as the Collector's debug exporter: basic (one line per batch),
 * normal (one line per log record or metric point), detailed (with every attribute).
 */
import type { Batch, Exporter, ExporterContext } from '../../core/component.js';
import type { DebugConfig } from './config.js';
import type { MetricPoint } from '../../core/metrics.js';
import { eventAttributes, EVENT_NAMES } from '../../semconv/attributes.js';
import { describeEvent, severityOf } from '../shared/logs.js';
import { monotonicToWallMs } from '../../core/clock.js';

function formatAttrs(a: Record<string, unknown>): string {
  return Object.entries(a)
    .map(([k, v]) => `${k}=${typeof v === 'string' ? JSON.stringify(v) : String(v)}`)
    .join(' ');
}

function formatPoint(p: MetricPoint, detailed: boolean): string {
  const attrs = Object.keys(p.attributes).length ? ` {${formatAttrs(p.attributes)}}` : '';
  const shown = detailed || Object.keys(p.attributes).length <= 6 ? attrs : ` {${Object.keys(p.attributes).length} attributes}`;
  if (p.type === 'histogram') {
    const buckets = detailed ? ` buckets=[${p.bucketCounts.join(',')}] bounds=[${p.bounds.join(',')}]` : '';
    return `${p.name}${shown} count=${p.count} sum=${+p.sum.toPrecision(6)} min=${+p.min.toPrecision(6)} max=${+p.max.toPrecision(6)}${buckets}`;
  }
  return `${p.name}${shown} ${p.type === 'sum' ? '+' : '='}${p.value}`;
}

/** Output not yet taken by a slow reader (a pipe nobody reads), at most: beyond it, batches are dropped, counted. */
export const DEBUG_MAX_PENDING_BYTES = 16 * 1024 * 1024;

export class DebugExporter implements Exporter {
  private readonly write: (s: string) => void;
  private readonly pending: () => number;
  constructor(
    private readonly config: DebugConfig,
    private readonly ctx: ExporterContext,
    write?: (s: string) => void,
    pending?: () => number,
  ) {
    const stream = config.output === 'stderr' ? process.stderr : process.stdout;
    this.write = write ?? ((s) => stream.write(s));
    this.pending = pending ?? (() => (write ? 0 : stream.writableLength));
  }

  async start(): Promise<void> {}

  consume(batch: Batch): void {
    const v = this.config.verbosity;
    if (this.pending() > DEBUG_MAX_PENDING_BYTES) {
      const n = batch.type === 'metrics' ? batch.points.length : batch.events.length;
      this.ctx.telemetry.incoming(n);
      this.ctx.telemetry.dropped(n, 'queue_full');
      return;
    }
    const lines: string[] = [];
    if (batch.type === 'metrics') {
      this.ctx.telemetry.incoming(batch.points.length);
      lines.push(`${this.ctx.id}: metrics: ${batch.points.length} points`);
      if (v !== 'basic') for (const p of batch.points) lines.push('  ' + formatPoint(p, v === 'detailed'));
      this.ctx.telemetry.outgoing(batch.points.length);
    } else {
      if (!batch.events.length) return;
      this.ctx.telemetry.incoming(batch.events.length);
      lines.push(`${this.ctx.id}: logs: ${batch.events.length} records`);
      if (v !== 'basic') {
        for (const ev of batch.events) {
          const when = new Date(monotonicToWallMs(ev.timeNs)).toISOString();
          let line = `  ${when} ${severityOf(ev).text} ${EVENT_NAMES[ev.kind]}: ${describeEvent(ev)}`;
          if (v === 'detailed') line += `\n    ${formatAttrs(eventAttributes(ev))}`;
          lines.push(line);
        }
      }
      this.ctx.telemetry.outgoing(batch.events.length);
    }
    this.write(lines.join('\n') + '\n');
  }

  async shutdown(): Promise<void> {}
}
