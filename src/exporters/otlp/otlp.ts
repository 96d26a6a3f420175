/**
 * The otlp (gRPC) and otlphttp (HTTP/protobuf) exporters, for metrics and logs. Requests
 * are encoded with the OpenTelemetry JS protobuf serializers when they are queued (so that
 * the queue is bounded in bytes as well as items) and sent by our own transports, which
 * give every request a deadline for the whole exchange. Around them, what users of the
 * Collector expect: a bounded queue, retries with back-off on retryable failures (or the
 * server's Retry-After), and counts of everything sent and dropped.
 */
import { ProtobufLogsSerializer, ProtobufMetricsSerializer } from '@opentelemetry/otlp-transformer';
import type { ResourceMetrics } from '@opentelemetry/sdk-metrics';
import type { Batch, Exporter, ExporterContext } from '../../core/component.js';
import { nowHrTime } from '../../core/metrics.js';
import { MetricsAccumulator } from '../shared/accumulator.js';
import { batchToLogRecords } from '../shared/logs.js';
import { groupByAttributes } from '../shared/resource-groups.js';
import { QueuedRetrySender, type QueueSettings, type RetrySettings } from '../shared/sender.js';
import { SELF_METRICS_DEFS } from '../../semconv/metrics.js';
import { redactHeaders, type ResolvedOtlp } from './config.js';
import { createGrpcTransport, createHttpTransport, type OtlpTransport } from './transport.js';
import { selfAttributes } from '../../core/telemetry.js';

/** Log records per request at most. */
const MAX_RECORDS_PER_REQUEST = 4096;

/** One encoded request and the items it carries. */
interface Payload {
  body: Uint8Array;
  items: number;
}

/** Serialized requests joined into one; undefined when any failed to encode. */
function concatRequests(bodies: (Uint8Array | undefined)[]): Uint8Array | undefined {
  if (bodies.length === 1) return bodies[0];
  if (bodies.some((b) => b === undefined)) return undefined;
  return Buffer.concat(bodies as Uint8Array[]);
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

export class OtlpExporter implements Exporter {
  private transport?: OtlpTransport;
  private readonly metrics?: MetricsAccumulator;
  private readonly sender: QueuedRetrySender<Payload>;

  constructor(
    private readonly settings: OtlpExporterSettings,
    private readonly ctx: ExporterContext,
  ) {
    const r = settings.resolved;
    const cumulative = ctx.signal === 'metrics' && r.temporality === 'cumulative';
    if (ctx.signal === 'metrics') {
      const overflow = ctx.telemetry.telemetry.counter(SELF_METRICS_DEFS.seriesOverflow.name, selfAttributes({ id: ctx.id }));
      this.metrics = new MetricsAccumulator(
        { temporality: r.temporality, maxSeries: settings.maxSeries, expiryMs: settings.seriesExpiryMs, onOverflow: (n) => overflow.add(n) },
        nowHrTime(),
      );
    }
    this.sender = new QueuedRetrySender<Payload>({
      id: ctx.id,
      queue: settings.queue,
      retry: settings.retry,
      latestWins: cumulative,
      count: (p) => p.items,
      bytes: (p) => p.body.length,
      send: (p, signal) => this.transport!.send(p.body, signal),
      telemetry: ctx.telemetry,
      logger: ctx.logger,
      status: ctx.status,
    });
  }

  async start(): Promise<void> {
    const r = this.settings.resolved;
    this.transport = r.transport === 'grpc' ? createGrpcTransport(r, this.ctx.signal) : createHttpTransport(r);
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
      // One resource per pod / container (group_by_attrs), all in one request: a request is
      // `repeated ResourceMetrics resource_metrics = 1`, and protobuf messages concatenate, so
      // each part serialized as a request of one, the bytes joined, is the request of all.
      const parts = groupByAttributes(this.metrics.collect(nowHrTime()), this.settings.groupBy);
      const items = parts.reduce((n, rm) => n + pointCount(rm), 0);
      if (!this.sender.fits(items)) return this.sender.refuse(items);
      this.offer(items, () => concatRequests(parts.map((rm) => ProtobufMetricsSerializer.serializeRequest(rm))));
      return;
    }
    if (this.ctx.signal !== 'logs' || batch.events.length === 0) return;
    // Requests never exceed the queue, so that a big batch is not refused as a whole.
    const size = Math.min(MAX_RECORDS_PER_REQUEST, this.settings.queue.queue_size);
    const events = batch.events;
    for (let i = 0; i < events.length; i += size) {
      const slice = events.length <= size ? events : events.slice(i, i + size);
      // Encoded only when the queue will take it.
      if (!this.sender.fits(slice.length)) {
        this.sender.refuse(slice.length);
        continue;
      }
      this.offer(slice.length, () => ProtobufLogsSerializer.serializeRequest(batchToLogRecords({ ...batch, events: slice }, this.settings.groupBy)));
    }
  }

  private offer(items: number, encode: () => Uint8Array | undefined): void {
    const body = encode();
    if (!body) {
      this.ctx.telemetry.incoming(items);
      this.ctx.telemetry.dropped(items, 'export_failed');
      return;
    }
    this.sender.offer({ body, items });
  }

  /** Queued items (for tests and self-telemetry). */
  get pending(): number {
    return this.sender.pending;
  }

  /** Sends what it can by `deadline`; then what is unsent is dropped and counted. */
  async shutdown(deadline = Date.now() + Math.max(this.settings.resolved.timeoutMs, 1000)): Promise<void> {
    await this.sender.shutdown(deadline);
    this.transport?.close();
  }
}
