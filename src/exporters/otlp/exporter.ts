/**
 * The otlp (gRPC) and otlphttp (HTTP/protobuf) exporters, for metrics and logs. The
 * OpenTelemetry JS exporters do the encoding and the transport; this adds what users of
 * the Collector expect around them: a bounded queue, retries with back-off on retryable
 * failures, and counts of everything sent and dropped.
 */
import { credentials as grpcCredentials, Metadata } from '@grpc/grpc-js';
import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
import { CompressionAlgorithm } from '@opentelemetry/otlp-exporter-base';
import type { ReadableLogRecord } from '@opentelemetry/sdk-logs';
import type { ResourceMetrics } from '@opentelemetry/sdk-metrics';
import { ProtobufMetricsSerializer, type IExporterMetricsHelper, type IExportMetricsServiceResponse, type ISerializer } from '@opentelemetry/otlp-transformer';
import type { Batch, Exporter, ExporterContext, Signal } from '../../core/component.js';
import { nowHrTime } from '../../core/metrics.js';
import { MetricsAccumulator } from '../shared/accumulator.js';
import { batchToLogRecords } from '../shared/logs.js';
import { groupByAttributes } from '../shared/resource-groups.js';
import { QueuedRetrySender, type QueueSettings, type RetrySettings } from '../shared/sender.js';
import { SELF_METRICS_DEFS } from '../../semconv/metrics.js';
import { redactHeaders, type ResolvedOtlp } from './config.js';

/** What an OpenTelemetry JS exporter looks like from here. */
interface OtelExporter<T> {
  export(items: T, done: (r: ExportResult) => void): void;
  shutdown(): Promise<void>;
}

/** Log records per request at most. */
const MAX_RECORDS_PER_REQUEST = 4096;

function toPromise<T>(exporter: OtelExporter<T>, items: T): Promise<void> {
  return new Promise((resolve, reject) => {
    exporter.export(items, (r) => {
      if (r.code === ExportResultCode.SUCCESS) resolve();
      else reject(r.error ?? new Error('export failed'));
    });
  });
}

/**
 * Several ResourceMetrics in one ExportMetricsServiceRequest (one per pod, see
 * group_by_attrs). The JS exporters take one ResourceMetrics; their transports (the
 * same ones, through the delegates they are built on) take any serializer. A request is
 * `repeated ResourceMetrics resource_metrics = 1`, and protobuf messages concatenate:
 * each part serialized as a request of one, the bytes joined, is the request of all.
 */
const RESOURCES_SERIALIZER: ISerializer<ResourceMetrics[], IExportMetricsServiceResponse> = {
  serializeRequest: (parts) => Buffer.concat(parts.map((rm) => ProtobufMetricsSerializer.serializeRequest(rm)!)),
  deserializeResponse: (data) => ProtobufMetricsSerializer.deserializeResponse(data),
};
const RESOURCES_HELPER: IExporterMetricsHelper<ResourceMetrics[]> = {
  name: 'metric_data_point',
  countItems: (parts) => parts.reduce((n, rm) => n + pointCount(rm), 0),
};

async function createOtelExporter(r: ResolvedOtlp, signal: Signal): Promise<OtelExporter<unknown>> {
  const compression = r.compression === 'gzip' ? CompressionAlgorithm.GZIP : CompressionAlgorithm.NONE;
  if (r.transport === 'grpc') {
    const metadata = new Metadata();
    for (const [k, v] of Object.entries(r.headers)) metadata.set(k, v);
    const credentials = r.secure
      ? grpcCredentials.createSsl(r.ca ?? null, r.key ?? null, r.cert ?? null, r.skipVerify ? { checkServerIdentity: () => undefined } : undefined)
      : grpcCredentials.createInsecure();
    const options = { url: r.url, credentials, metadata, compression, timeoutMillis: r.timeoutMs };
    if (signal === 'metrics') {
      const { convertLegacyOtlpGrpcOptions, createOtlpGrpcExportDelegate } = await import('@opentelemetry/otlp-grpc-exporter-base');
      return createOtlpGrpcExportDelegate(
        convertLegacyOtlpGrpcOptions(options, 'METRICS'),
        RESOURCES_SERIALIZER,
        'otlp_grpc_metric_exporter',
        RESOURCES_HELPER,
        undefined,
        'MetricsExportService',
        '/opentelemetry.proto.collector.metrics.v1.MetricsService/Export',
      ) as OtelExporter<unknown>;
    }
    const { OTLPLogExporter } = await import('@opentelemetry/exporter-logs-otlp-grpc');
    return new OTLPLogExporter(options) as OtelExporter<unknown>;
  }
  const httpAgentOptions = r.secure ? { ca: r.ca, cert: r.cert, key: r.key, rejectUnauthorized: !r.skipVerify } : {};
  const options = { url: r.url, headers: r.headers, compression, timeoutMillis: r.timeoutMs, httpAgentOptions };
  if (signal === 'metrics') {
    const { convertLegacyHttpOptions, createOtlpHttpExportDelegate } = await import('@opentelemetry/otlp-exporter-base/node-http');
    return createOtlpHttpExportDelegate(
      convertLegacyHttpOptions(options, 'METRICS', 'v1/metrics', { 'Content-Type': 'application/x-protobuf' }),
      RESOURCES_SERIALIZER,
      'otlp_http_metric_exporter',
      RESOURCES_HELPER,
      undefined,
    ) as OtelExporter<unknown>;
  }
  const { OTLPLogExporter } = await import('@opentelemetry/exporter-logs-otlp-proto');
  return new OTLPLogExporter(options) as OtelExporter<unknown>;
}

function pointCount(rm: ResourceMetrics): number {
  let n = 0;
  for (const sm of rm.scopeMetrics) for (const m of sm.metrics) n += m.dataPoints.length;
  return n;
}

export interface OtlpExporterSettings {
  resolved: ResolvedOtlp;
  retry: RetrySettings;
  queue: QueueSettings;
  maxSeries: number;
  seriesExpiryMs: number;
  /** Add tcpotel's own metrics to every metrics export. */
  includeSelfMetrics: boolean;
  /** Attributes that move to the resource (group_by_attrs). */
  groupBy: readonly string[];
}

/** One export of metrics: a ResourceMetrics per resource, in one request. */
interface MetricsPayload {
  parts: ResourceMetrics[];
}

export class OtlpExporter implements Exporter {
  private otel?: OtelExporter<unknown>;
  private readonly metrics?: MetricsAccumulator;
  private readonly sender: QueuedRetrySender<MetricsPayload | ReadableLogRecord[]>;

  constructor(
    private readonly settings: OtlpExporterSettings,
    private readonly ctx: ExporterContext,
  ) {
    const r = settings.resolved;
    const cumulative = ctx.signal === 'metrics' && r.temporality === 'cumulative';
    if (ctx.signal === 'metrics') {
      const overflow = ctx.telemetry.telemetry.counter(SELF_METRICS_DEFS.seriesOverflow.name, { 'tcpotel.component.id': ctx.id });
      this.metrics = new MetricsAccumulator(
        { temporality: r.temporality, maxSeries: settings.maxSeries, expiryMs: settings.seriesExpiryMs, onOverflow: (n) => overflow.add(n) },
        nowHrTime(),
      );
    }
    this.sender = new QueuedRetrySender<MetricsPayload | ReadableLogRecord[]>({
      id: ctx.id,
      queue: settings.queue,
      retry: settings.retry,
      latestWins: cumulative,
      count: (item) => (Array.isArray(item) ? item.length : item.parts.reduce((n, rm) => n + pointCount(rm), 0)),
      send: (item) => toPromise(this.otel!, Array.isArray(item) ? item : item.parts),
      telemetry: ctx.telemetry,
      logger: ctx.logger,
      status: ctx.status,
    });
  }

  async start(): Promise<void> {
    const r = this.settings.resolved;
    this.otel = await createOtelExporter(r, this.ctx.signal);
    this.ctx.logger.info(
      { exporter: this.ctx.id, signal: this.ctx.signal, url: r.url, tls: r.secure, headers: redactHeaders(r.headers), compression: r.compression, temporality: this.ctx.signal === 'metrics' ? r.temporality : undefined },
      'otlp exporter ready',
    );
  }

  consume(batch: Batch): void {
    if (batch.type === 'metrics') {
      if (!this.metrics) return;
      this.metrics.add(batch);
      if (this.settings.includeSelfMetrics) this.metrics.setSelf(this.ctx.telemetry.telemetry.collect(), batch.endTime);
      if (this.settings.resolved.temporality === 'delta' && !this.metrics.hasUpdates) return;
      this.sender.offer({ parts: groupByAttributes(this.metrics.collect(nowHrTime()), this.settings.groupBy) });
      return;
    }
    if (this.ctx.signal !== 'logs' || batch.events.length === 0) return;
    const records = batchToLogRecords(batch, this.settings.groupBy);
    // Requests never exceed the queue, so that a big batch is not refused as a whole.
    const size = Math.min(MAX_RECORDS_PER_REQUEST, this.settings.queue.queue_size);
    for (let i = 0; i < records.length; i += size) this.sender.offer(records.slice(i, i + size));
  }

  /** Queued items (for tests and self-telemetry). */
  get pending(): number {
    return this.sender.pending;
  }

  async shutdown(): Promise<void> {
    await this.sender.shutdown(Math.max(this.settings.resolved.timeoutMs, 1000));
    await this.otel?.shutdown().catch(() => undefined);
  }
}
