/**
 * Prometheus pull endpoint: cumulative metrics in the text exposition format, served on
 * 127.0.0.1 by default. Encoding is the OpenTelemetry Prometheus serializer's.
 */
import { createServer, type Server } from 'node:http';
import { z } from 'zod';
import { PrometheusSerializer } from '@opentelemetry/exporter-prometheus';
import type { Batch, Exporter, ExporterContext, ExporterFactory } from '../../core/component.js';
import { UserFacingError } from '../../core/errors.js';
import { nowHrTime } from '../../core/metrics.js';
import { duration } from '../../config/units.js';
import { SELF_METRICS_DEFS } from '../../semconv/metrics.js';
import { MetricsAccumulator } from '../shared/accumulator.js';

export const prometheusConfigSchema = z.strictObject({
  /** host:port to listen on. */
  endpoint: z.string().regex(/^(\[[0-9a-fA-F:]+\]|[^:\s]*):\d{1,5}$/, { message: 'endpoint must be host:port, e.g. 127.0.0.1:9464' }),
  /** Prefix for every metric name. */
  namespace: z.string().regex(/^([a-zA-Z_][a-zA-Z0-9_]*)?$/, { message: 'namespace must be a valid Prometheus name prefix' }),
  /** Series that nothing updates for this long disappear from the endpoint. */
  metric_expiration: duration(),
  max_series: z.number().int().min(1),
});
export type PrometheusConfig = z.output<typeof prometheusConfigSchema>;

export function defaultPrometheusConfig() {
  return { endpoint: '127.0.0.1:9464', namespace: '', metric_expiration: '5m', max_series: 50_000 };
}

export function splitHostPort(endpoint: string): { host: string; port: number } {
  const i = endpoint.lastIndexOf(':');
  let host = endpoint.slice(0, i);
  if (host.startsWith('[')) host = host.slice(1, -1);
  return { host: host || '0.0.0.0', port: Number(endpoint.slice(i + 1)) };
}

export class PrometheusExporter implements Exporter {
  private server?: Server;
  private readonly acc: MetricsAccumulator;
  private readonly serializer: PrometheusSerializer;
  /** The port actually bound (endpoint port 0 picks one). */
  port = 0;

  constructor(
    private readonly config: PrometheusConfig,
    private readonly ctx: ExporterContext,
  ) {
    const overflow = ctx.telemetry.telemetry.counter(SELF_METRICS_DEFS.seriesOverflow.name, { 'tcpotel.component.id': ctx.id });
    this.acc = new MetricsAccumulator(
      { temporality: 'cumulative', maxSeries: config.max_series, expiryMs: config.metric_expiration, onOverflow: (n) => overflow.add(n) },
      nowHrTime(),
    );
    this.serializer = new PrometheusSerializer(config.namespace || undefined);
  }

  /** The exposition text as a scrape would get it now. */
  scrape(): string {
    if (this.ctx.selfMetrics) this.acc.setSelf(this.ctx.telemetry.telemetry.collect(), nowHrTime());
    return this.serializer.serialize(this.acc.collect(nowHrTime()));
  }

  async start(): Promise<void> {
    const { host, port } = splitHostPort(this.config.endpoint);
    const server = createServer((req, res) => {
      if (req.method !== 'GET' || !(req.url === '/metrics' || req.url?.startsWith('/metrics?'))) {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('tcpotel: metrics are at /metrics\n');
        return;
      }
      try {
        const body = this.scrape();
        res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' }).end(body);
      } catch (err) {
        this.ctx.logger.error({ err }, 'prometheus scrape failed');
        res.writeHead(500).end();
      }
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err: NodeJS.ErrnoException) =>
        reject(new UserFacingError(`exporters::${this.ctx.id}: cannot listen on ${this.config.endpoint}: ${err.code ?? err.message}`, err.code === 'EADDRINUSE' ? 'another process uses that port: choose another endpoint' : undefined)),
      );
      server.listen(port, host, () => resolve());
    });
    this.server = server;
    this.port = (server.address() as { port: number }).port;
    this.ctx.logger.info({ exporter: this.ctx.id, url: `http://${host.includes(':') ? `[${host}]` : host}:${this.port}/metrics` }, 'prometheus endpoint ready');
  }

  consume(batch: Batch): void {
    if (batch.type !== 'metrics') return;
    this.ctx.telemetry.incoming(batch.points.length);
    this.acc.add(batch);
    this.ctx.telemetry.outgoing(batch.points.length);
  }

  async shutdown(): Promise<void> {
    const s = this.server;
    this.server = undefined;
    if (!s) return;
    s.closeAllConnections();
    await new Promise<void>((r) => s.close(() => r()));
  }
}

export const prometheusExporterFactory: ExporterFactory<PrometheusConfig> = {
  type: 'prometheus',
  kind: 'exporter',
  description: 'Prometheus pull endpoint (/metrics) with cumulative metrics, on 127.0.0.1:9464 by default',
  schema: prometheusConfigSchema,
  createDefaultConfig: defaultPrometheusConfig,
  signals: ['metrics'],
  create: (config, ctx) => new PrometheusExporter(config, ctx),
};
