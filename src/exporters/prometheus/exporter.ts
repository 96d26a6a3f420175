/**
 * Prometheus pull endpoint: cumulative metrics in the text exposition format, served on
 * 127.0.0.1 by default. The exposition is written by ExpositionWriter (writer.ts), which
 * re-renders only the series that changed since the last scrape, a slice per turn of the
 * event loop; the result is shared by every response and streamed to each client as fast
 * as it takes it.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Batch, Exporter, ExporterContext } from '../../core/component.js';
import { UserFacingError } from '../../core/errors.js';
import { nowHrTime, type MetricBatch } from '../../core/metrics.js';
import { SELF_METRICS_DEFS } from '../../semconv/metrics.js';
import { MetricsAccumulator } from '../shared/accumulator.js';
import { instrumentationScope, selfScope } from '../shared/resource.js';
import { splitHostPort, type PrometheusConfig } from './config.js';
import { CONTENT_TYPE, ExpositionWriter, type Exposition, type ExpositionFormat } from './writer.js';

export { defaultPrometheusConfig, prometheusConfigSchema, splitHostPort, type PrometheusConfig } from './config.js';

/** Series rendered per turn of the event loop: a few milliseconds of work. */
const RENDER_SLICE_SERIES = 1000;
/** A response writes at most this much per write() call... */
const WRITE_PIECE = 4 * 1024 * 1024;
/** ...and this much per turn of the event loop before it lets other work run. */
const WRITE_TURN = 16 * 1024 * 1024;

export class PrometheusExporter implements Exporter {
  private server?: Server;
  private readonly acc: MetricsAccumulator;
  private readonly writer: ExpositionWriter;
  /** The render in progress, which every scrape arriving meanwhile shares. */
  private rendering?: Promise<Exposition>;
  /** Batches that arrived during a render: added once it is done, so that it sees one state. */
  private held: MetricBatch[] = [];
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
    this.writer = new ExpositionWriter(config.namespace, { tcp: instrumentationScope(), self: selfScope() });
  }

  private input() {
    if (this.ctx.selfMetrics) this.acc.setSelf(this.ctx.telemetry.telemetry.collect(), nowHrTime());
    return this.acc.collectSeries(nowHrTime());
  }

  /** The exposition text as a scrape would get it now, rendered in one go. */
  scrape(format: ExpositionFormat = 'text'): string {
    return this.writer.renderNow(this.input()).text(format);
  }

  /**
   * The current exposition, held for the caller (release() it when done): rendered a
   * slice per turn of the event loop, or the render already under way.
   */
  exposition(): Promise<Exposition> {
    if (!this.rendering) {
      const render = this.writer.render(this.input(), RENDER_SLICE_SERIES);
      this.rendering = new Promise<Exposition>((resolve, reject) => {
        const step = () => {
          try {
            const r = render.next();
            if (r.done) resolve(r.value);
            else setImmediate(step);
          } catch (err) {
            reject(err as Error);
          }
        };
        step();
      }).finally(() => {
        this.rendering = undefined;
        const held = this.held;
        this.held = [];
        for (const b of held) this.acc.add(b);
      });
    }
    return this.rendering.then((e) => e.hold());
  }

  private async respond(req: IncomingMessage, res: ServerResponse): Promise<void> {
    let exposition: Exposition;
    try {
      exposition = await this.exposition();
    } catch (err) {
      this.ctx.logger.error({ err }, 'prometheus scrape failed');
      if (!res.headersSent) res.writeHead(500).end();
      return;
    }
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      exposition.release();
    };
    res.once('close', release);
    if (res.destroyed) return release();
    const format: ExpositionFormat = 'text';
    const body = exposition.body(format);
    res.writeHead(200, { 'content-type': CONTENT_TYPE[format], 'content-length': exposition.byteLength(format) });
    let piece = 0;
    let offset = 0;
    const pump = () => {
      if (res.destroyed) return;
      let turn = WRITE_TURN;
      res.cork();
      try {
        while (piece < body.length) {
          const b = body[piece]!;
          const n = Math.min(WRITE_PIECE, b.length - offset);
          const ok = res.write(n === b.length ? b : b.subarray(offset, offset + n));
          offset += n;
          if (offset === b.length) {
            piece++;
            offset = 0;
          }
          turn -= n;
          if (!ok) {
            res.once('drain', pump);
            return;
          }
          if (turn <= 0 && piece < body.length) {
            setImmediate(pump);
            return;
          }
        }
        res.end();
      } finally {
        res.uncork();
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
      void this.respond(req, res);
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
    if (this.rendering) this.held.push(batch);
    else this.acc.add(batch);
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
