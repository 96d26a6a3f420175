/**
 * Prometheus pull endpoint: cumulative metrics in the text exposition format, served on
 * 127.0.0.1 by default. Encoding is the OpenTelemetry Prometheus serializer's.
 */
import { createServer, type Server, type ServerResponse } from 'node:http';
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

/** Data points per piece of a streamed scrape: a few milliseconds of serializing each. */
const SCRAPE_PIECE_POINTS = 2000;
/** What the serializer writes when there is nothing. */
const NO_METRICS = '# no registered metrics';

/** A piece's text without its leading comment lines (HELP, UNIT, TYPE already written). */
function withoutComments(text: string): string {
  let at = 0;
  while (text.startsWith('#', at)) {
    const nl = text.indexOf('\n', at);
    if (nl < 0) return '';
    at = nl + 1;
  }
  return text.slice(at);
}

export class PrometheusExporter implements Exporter {
  private server?: Server;
  private readonly acc: MetricsAccumulator;
  private readonly serializer: PrometheusSerializer;
  /** The same, without target_info: for every piece of a streamed scrape but the first. */
  private readonly serializerNoTarget: PrometheusSerializer;
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
    this.serializerNoTarget = new PrometheusSerializer(config.namespace || undefined, false, undefined, true);
  }

  /** The exposition text as a scrape would get it now. */
  scrape(): string {
    if (this.ctx.selfMetrics) this.acc.setSelf(this.ctx.telemetry.telemetry.collect(), nowHrTime());
    return this.serializer.serialize(this.acc.collect(nowHrTime()));
  }

  /**
   * The exposition of one consistent collect(), in pieces of at most `points` data points
   * (a metric's points may span pieces; its HELP, UNIT and TYPE lines come once, before
   * its first point): the same samples as scrape(), so that a large scrape can be written
   * a piece per turn of the event loop instead of in one block.
   */
  *scrapePieces(points = SCRAPE_PIECE_POINTS): Generator<string> {
    if (this.ctx.selfMetrics) this.acc.setSelf(this.ctx.telemetry.telemetry.collect(), nowHrTime());
    const rm = this.acc.collect(nowHrTime());
    let first = true;
    for (const sm of rm.scopeMetrics) {
      for (const metric of sm.metrics) {
        const all = metric.dataPoints as unknown[];
        for (let i = 0; i === 0 || i < all.length; i += points) {
          const piece = { ...metric, dataPoints: all.slice(i, i + points) } as typeof metric;
          let text = (first ? this.serializer : this.serializerNoTarget).serialize({ resource: rm.resource, scopeMetrics: [{ scope: sm.scope, metrics: [piece] }] });
          if (text.endsWith(NO_METRICS)) continue; // (a name the serializer refused)
          if (i > 0) text = withoutComments(text);
          first = false;
          yield text;
        }
      }
    }
    if (first) yield this.serializer.serialize(rm);
  }

  /** Writes a scrape to the response a piece per turn of the event loop, minding backpressure. */
  private respond(res: ServerResponse): void {
    const pieces = this.scrapePieces();
    let head: IteratorResult<string>;
    try {
      head = pieces.next();
    } catch (err) {
      this.ctx.logger.error({ err }, 'prometheus scrape failed');
      res.writeHead(500).end();
      return;
    }
    res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' });
    let next = head;
    const pump = () => {
      if (res.destroyed) return; // the client went away, or shutdown closed it
      try {
        for (;;) {
          if (next.done) {
            res.end();
            return;
          }
          const ok = res.write(next.value);
          next = pieces.next();
          if (!ok) {
            res.once('drain', pump);
            return;
          }
          if (!next.done) {
            setImmediate(pump);
            return;
          }
        }
      } catch (err) {
        this.ctx.logger.error({ err }, 'prometheus scrape failed');
        res.destroy(err as Error);
      }
    };
    pump();
  }

  async start(): Promise<void> {
    const { host, port } = splitHostPort(this.config.endpoint);
    const server = createServer((req, res) => {
      if (req.method !== 'GET' || !(req.url === '/metrics' || req.url?.startsWith('/metrics?'))) {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('tcpotel: metrics are at /metrics\n');
        return;
      }
      this.respond(res);
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
