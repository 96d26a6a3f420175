/**
 * Prometheus pull endpoint: cumulative metrics in the text exposition format (0.0.4), or in
 * OpenMetrics text (1.0.0) to a client that asks for it (Accept), GET and HEAD on /metrics,
 * served on 127.0.0.1 by default. The exposition is written by ExpositionWriter (writer.ts), which
 * re-renders only the series that changed since the last scrape, a slice per turn of the
 * event loop; the result is shared by every response and streamed to each client as fast
 * as it takes it.
 *
 * The endpoint limits what clients can cost (connections.ts): max_connections at once,
 * read_header_timeout and idle_timeout for connections that do not ask, write_timeout for
 * responses nobody reads, and a bound on the old expositions slow responses keep alive.
 * Each cut is counted (tcpotel.exporter.connections.closed by reason; the data points of a
 * cut response in tcpotel.component.items.dropped, reason slow_reader).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Batch, Exporter, ExporterContext } from '../../core/component.js';
import { UserFacingError } from '../../core/errors.js';
import { nowHrTime, type MetricBatch } from '../../core/metrics.js';
import { SELF_METRICS_DEFS } from '../../semconv/metrics.js';
import { MetricsAccumulator } from '../shared/accumulator.js';
import { instrumentationScope, selfScope } from '../shared/resource.js';
import { splitHostPort } from '../../core/address.js';
import type { PrometheusConfig } from './config.js';
import { Connections, type Connection, type CloseReason } from './connections.js';
import type { Exposition, ExpositionFormat } from './exposition.js';
import { ExpositionWriter } from './writer.js';
import { selfAttributes } from '../../core/telemetry.js';
import { SELF_ATTR } from '../../semconv/attributes.js';


/** Series rendered per turn of the event loop: a few milliseconds of work. */
const RENDER_SLICE_SERIES = 1000;
/**
 * A response writes at most this much per write() call (a view of the shared exposition,
 * not a copy): what can be queued for one connection besides the kernel's socket buffer...
 */
const WRITE_PIECE = 4 * 1024 * 1024;
/** ...and this much per turn of the event loop before it lets other work run. */
const WRITE_TURN = 16 * 1024 * 1024;

/**
 * The format to answer in, from an Accept header: OpenMetrics text when the client prefers
 * it (the highest q, the first listed on a tie; versions 1.0.0 and 0.0.1 are the same text
 * here), else the text format, which every client takes. Prometheus asks for
 * `application/openmetrics-text;version=1.0.0,...,text/plain;version=0.0.4;q=0.5,*\/*;q=0.1`.
 */
export function negotiate(accept: string | undefined): { format: ExpositionFormat; contentType: string } {
  const text = { format: 'text' as const, contentType: 'text/plain; version=0.0.4; charset=utf-8' };
  if (!accept) return text;
  let best: { q: number; format: ExpositionFormat; version: string } | undefined;
  for (const range of accept.split(',')) {
    const [type = '', ...params] = range.split(';').map((p) => p.trim());
    let q = 1;
    let version = '';
    for (const p of params) {
      const eq = p.indexOf('=');
      const key = p.slice(0, eq).trim().toLowerCase();
      const value = p.slice(eq + 1).trim().replace(/^"|"$/g, '');
      if (key === 'q') q = Number(value);
      else if (key === 'version') version = value;
    }
    if (!(q > 0)) continue;
    const t = type.toLowerCase();
    let format: ExpositionFormat;
    if (t === 'application/openmetrics-text' && (version === '' || version === '1.0.0' || version === '0.0.1')) format = 'openmetrics';
    else if (t === 'text/plain' || t === 'text/*' || t === '*/*') format = 'text';
    else continue;
    if (!best || q > best.q) best = { q, format, version };
  }
  if (best?.format !== 'openmetrics') return text;
  return { format: 'openmetrics', contentType: `application/openmetrics-text; version=${best.version || '1.0.0'}; charset=utf-8` };
}

export class PrometheusExporter implements Exporter {
  private server?: Server;
  private readonly acc: MetricsAccumulator;
  private readonly writer: ExpositionWriter;
  /** The render in progress, which every scrape arriving meanwhile shares. */
  private rendering?: Promise<Exposition>;
  /** Batches that arrived during a render: added once it is done, so that it sees one state. */
  private held: MetricBatch[] = [];
  private readonly connections: Connections;
  /** The port actually bound (endpoint port 0 picks one). */
  port = 0;

  constructor(
    private readonly config: PrometheusConfig,
    private readonly ctx: ExporterContext,
  ) {
    const telemetry = ctx.telemetry.telemetry;
    const overflow = telemetry.counter(SELF_METRICS_DEFS.seriesOverflow.name, selfAttributes({ id: ctx.id }));
    this.acc = new MetricsAccumulator(
      { temporality: 'cumulative', maxSeries: config.max_series, expiryMs: config.metric_expiration, onOverflow: (n) => overflow.add(n) },
      nowHrTime(),
    );
    this.writer = new ExpositionWriter(config.namespace, { tcp: instrumentationScope(), self: selfScope() });
    const closed = new Map<CloseReason, { add(n: number): void }>();
    this.connections = new Connections(
      { maxConnections: config.max_connections, readHeaderMs: config.read_header_timeout, idleMs: config.idle_timeout, writeMs: config.write_timeout },
      (conn, reason) => {
        let c = closed.get(reason);
        if (!c) closed.set(reason, (c = telemetry.counter(SELF_METRICS_DEFS.exporterConnectionsClosed.name, { ...selfAttributes({ id: ctx.id }), [SELF_ATTR.dropReason]: reason })));
        c.add(1);
        // A response cut short: its scraper lost that scrape's data points.
        if (conn.points > 0) ctx.telemetry.dropped(conn.points, 'slow_reader');
      },
    );
  }

  private input() {
    if (this.ctx.selfMetrics) this.acc.setSelf(this.ctx.telemetry.telemetry.collect(), nowHrTime());
    return this.acc.collectSeries(nowHrTime());
  }

  /** The exposition text as a scrape would get it now, rendered in one go. */
  scrape(format: ExpositionFormat = 'text'): string {
    return this.writer.renderNow(this.input()).text(format);
  }

  /** Connections open now, and the bytes of replaced expositions that responses still hold. */
  stats(): { connections: number; heldBytes: number } {
    return { connections: this.connections.size, heldBytes: this.writer.memory().heldBytes };
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
      // Old expositions that slow responses still hold: at most about one more exposition.
      void this.rendering.then((e) => this.connections.limitHeld(e, this.writer), () => undefined);
    }
    return this.rendering.then((e) => e.hold());
  }

  private async respond(conn: Connection, req: IncomingMessage, res: ServerResponse): Promise<void> {
    let exposition: Exposition;
    try {
      exposition = await this.exposition();
    } catch (err) {
      this.ctx.logger.error({ err }, 'prometheus scrape failed');
      if (!res.headersSent && !res.destroyed) res.writeHead(500).end();
      return;
    }
    if (res.destroyed) return exposition.release();
    const { format, contentType } = negotiate(req.headers.accept);
    const body = exposition.body(format);
    conn.serving(exposition);
    res.writeHead(200, { 'content-type': contentType, 'content-length': exposition.byteLength(format), vary: 'Accept' });
    if (req.method === 'HEAD') {
      res.end();
      return;
    }
    let piece = 0;
    let offset = 0;
    const pump = () => {
      if (res.destroyed) return;
      conn.progress();
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
            conn.stalled();
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

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const conn = this.connections.of(req.socket);
    if (!conn) {
      res.destroy();
      return;
    }
    conn.request(res);
    if (!(req.url === '/metrics' || req.url?.startsWith('/metrics?'))) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('tcpotel: metrics are at /metrics\n');
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      // What it may have sent is not read: the connection closes after the answer.
      res.writeHead(405, { 'content-type': 'text/plain', allow: 'GET, HEAD', connection: 'close' }).end('tcpotel: /metrics answers GET and HEAD\n');
      return;
    }
    void this.respond(conn, req, res);
  }

  async start(): Promise<void> {
    const { host, port } = splitHostPort(this.config.endpoint);
    // Node's own timers are off: the connection table applies the configured ones (and counts what it closes).
    const server = createServer({ requestTimeout: 0, headersTimeout: 0, keepAliveTimeout: 0 }, (req, res) => this.handle(req, res));
    server.on('connection', (socket) => this.connections.accept(socket));
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err: NodeJS.ErrnoException) =>
        reject(new UserFacingError(`exporters::${this.ctx.id}: cannot listen on ${this.config.endpoint}: ${err.code ?? err.message}`, err.code === 'EADDRINUSE' ? 'another process uses that port: choose another endpoint' : undefined)),
      );
      server.listen(port, host, () => resolve());
    });
    this.server = server;
    this.connections.start();
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
    this.connections.stop();
    s.closeAllConnections();
    await new Promise<void>((r) => s.close(() => r()));
  }
}
