/**
 * One OTLP/JSON export request per line (the protobuf JSON mapping, as the Collector's
 * file exporter writes it), rotated by size.
 */
import { closeSync, existsSync, mkdirSync, openSync, renameSync, rmSync, statSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { z } from 'zod';
import { JsonLogsSerializer, JsonMetricsSerializer } from '@opentelemetry/otlp-transformer';
import type { Batch, Exporter, ExporterContext, ExporterFactory } from '../../core/component.js';
import { nowHrTime } from '../../core/metrics.js';
import { duration } from '../../config/units.js';
import { MetricsAccumulator } from '../shared/accumulator.js';
import { batchToLogRecords } from '../shared/logs.js';

export const fileConfigSchema = z.strictObject({
  path: z.string().min(1, { message: 'path is required: the file to write' }),
  rotation: z.strictObject({
    /** Start a new file once the current one reaches this size. */
    max_megabytes: z.number().positive(),
    /** Rotated files kept (path.1 is the newest). */
    max_backups: z.number().int().min(0),
  }),
  temporality: z.enum(['cumulative', 'delta']),
  max_series: z.number().int().min(1),
  series_expiry: duration(),
});
export type FileConfig = z.output<typeof fileConfigSchema>;

export function defaultFileConfig() {
  return { path: '', rotation: { max_megabytes: 100, max_backups: 3 }, temporality: 'cumulative', max_series: 50_000, series_expiry: '5m' };
}

export class FileExporter implements Exporter {
  private fd?: number;
  private size = 0;
  private readonly acc?: MetricsAccumulator;
  private readonly decoder = new TextDecoder();

  constructor(
    private readonly config: FileConfig,
    private readonly ctx: ExporterContext,
  ) {
    if (ctx.signal === 'metrics') {
      this.acc = new MetricsAccumulator({ temporality: config.temporality, maxSeries: config.max_series, expiryMs: config.series_expiry }, nowHrTime());
    }
  }

  async start(): Promise<void> {
    mkdirSync(dirname(this.config.path), { recursive: true });
    this.open();
  }

  private open(): void {
    this.fd = openSync(this.config.path, 'a');
    this.size = statSync(this.config.path).size;
  }

  private rotate(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    const { path } = this.config;
    const keep = this.config.rotation.max_backups;
    if (keep === 0) rmSync(path, { force: true });
    else {
      rmSync(`${path}.${keep}`, { force: true });
      for (let i = keep - 1; i >= 1; i--) if (existsSync(`${path}.${i}`)) renameSync(`${path}.${i}`, `${path}.${i + 1}`);
      renameSync(path, `${path}.1`);
    }
    this.open();
  }

  private writeLine(json: Uint8Array, items: number): void {
    if (this.fd === undefined) return;
    const line = this.decoder.decode(json) + '\n';
    const bytes = Buffer.byteLength(line);
    if (this.size > 0 && this.size + bytes > this.config.rotation.max_megabytes * 1024 * 1024) this.rotate();
    try {
      writeSync(this.fd, line);
      this.size += bytes;
      this.ctx.telemetry.outgoing(items);
    } catch (err) {
      this.ctx.telemetry.dropped(items, 'write_failed');
      this.ctx.logger.error({ err, path: this.config.path }, 'file exporter: write failed');
    }
  }

  consume(batch: Batch): void {
    if (batch.type === 'metrics') {
      if (!this.acc) return;
      this.ctx.telemetry.incoming(batch.points.length);
      this.acc.add(batch);
      if (this.ctx.selfMetrics) this.acc.setSelf(this.ctx.telemetry.telemetry.collect(), batch.endTime);
      if (this.config.temporality === 'delta' && !this.acc.hasUpdates) return;
      const rm = this.acc.collect(nowHrTime());
      const n = rm.scopeMetrics.reduce((a, sm) => a + sm.metrics.reduce((b, m) => b + m.dataPoints.length, 0), 0);
      this.writeLine(JsonMetricsSerializer.serializeRequest(rm)!, n);
      return;
    }
    if (this.ctx.signal !== 'logs' || !batch.events.length) return;
    this.ctx.telemetry.incoming(batch.events.length);
    this.writeLine(JsonLogsSerializer.serializeRequest(batchToLogRecords(batch))!, batch.events.length);
  }

  async shutdown(): Promise<void> {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }
}

export const fileExporterFactory: ExporterFactory<FileConfig> = {
  type: 'file',
  kind: 'exporter',
  description: 'OTLP/JSON export requests, one per line, to a file rotated by size',
  schema: fileConfigSchema,
  createDefaultConfig: defaultFileConfig,
  signals: ['metrics', 'logs'],
  create: (config, ctx) => new FileExporter(config, ctx),
};
