/**
 * The health_check extension, as in the Collector: an HTTP endpoint for liveness and
 * readiness probes (Kubernetes, systemd, load balancers).
 *
 * 200 `{"status":"ready"}` once the service runs (every receiver attached, every exporter
 * started) and nothing is wrong; 503 otherwise, with why: `starting`, `stopping`, or
 * `unhealthy` when a receiver or pipeline failed (permanent) or an exporter has been
 * failing, with no success since, for longer than exporter_failure_window. The body lists
 * every component's status either way.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Extension, ExtensionContext } from '../../core/component.js';
import { UserFacingError } from '../../core/errors.js';
import type { ComponentStatusEntry } from '../../core/status.js';
import { splitHostPort } from '../../core/address.js';
import type { HealthCheckConfig } from './config.js';

export type HealthStatus = 'starting' | 'ready' | 'unhealthy' | 'stopping';

export interface HealthReport {
  status: HealthStatus;
  /** Why not ready, in a few words each. */
  reasons: string[];
  up_since: string;
  uptime_seconds: number;
  components: Record<string, { status: string; since: string; error?: string }>;
}

function label(e: ComponentStatusEntry): string {
  return `${e.kind}/${e.id}${e.signal ? ` (${e.signal})` : ''}`;
}

/** The health of a service from its components' statuses, at `now`. Pure: the unit of the extension. */
export function evaluateHealth(
  service: { state: string },
  components: ComponentStatusEntry[],
  windowMs: number,
  startedAt: number,
  now: number,
): HealthReport {
  const reasons: string[] = [];
  for (const c of components) {
    if (c.status === 'permanent_error') reasons.push(`${label(c)} failed: ${c.error ?? 'error'}`);
    else if (c.status === 'recoverable_error' && c.kind === 'exporter' && now - c.since >= windowMs) {
      reasons.push(`${label(c)} has been failing for ${Math.round((now - c.since) / 1000)}s: ${c.error ?? 'error'}`);
    }
  }
  let status: HealthStatus;
  if (service.state === 'starting') status = 'starting';
  else if (service.state === 'stopping' || service.state === 'stopped') status = 'stopping';
  else status = reasons.length ? 'unhealthy' : 'ready';
  if (status === 'starting') reasons.unshift(`starting: ${components.filter((c) => c.status === 'starting').map(label).join(', ') || 'the pipelines'} not started yet`);
  if (status === 'stopping') reasons.unshift('stopping');
  const out: HealthReport['components'] = {};
  for (const c of components) out[label(c)] = { status: c.status, since: new Date(c.since).toISOString(), ...(c.error ? { error: c.error } : {}) };
  return { status, reasons, up_since: new Date(startedAt).toISOString(), uptime_seconds: Math.round((now - startedAt) / 100) / 10, components: out };
}

export class HealthCheck implements Extension {
  private server?: Server;

  constructor(
    private readonly config: HealthCheckConfig,
    private readonly ctx: ExtensionContext,
  ) {}

  /** The health now. */
  report(now = Date.now()): HealthReport {
    const hub = this.ctx.status;
    return evaluateHealth(hub.service, hub.components(), this.config.exporter_failure_window, hub.startedAt, now);
  }

  /** Where it listens (the port chosen when the endpoint says :0). */
  address(): { host: string; port: number } | undefined {
    const a = this.server?.address() as AddressInfo | null | undefined;
    return a ? { host: a.address, port: a.port } : undefined;
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const path = (req.url ?? '/').split('?')[0];
    if (path !== this.config.path) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end(`not found: the health check answers on ${this.config.path}\n`);
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain' }).end('method not allowed\n');
      return;
    }
    const report = this.report();
    const body = JSON.stringify(report) + '\n';
    res.writeHead(report.status === 'ready' ? 200 : 503, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store' });
    res.end(req.method === 'HEAD' ? undefined : body);
  }

  async start(): Promise<void> {
    const { host, port } = splitHostPort(this.config.endpoint);
    const server = createServer((req, res) => this.handle(req, res));
    server.keepAliveTimeout = 5000;
    server.headersTimeout = 10_000;
    server.requestTimeout = 10_000;
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err: NodeJS.ErrnoException) =>
        reject(new UserFacingError(`extensions::${this.ctx.id}: cannot listen on ${this.config.endpoint}: ${err.code ?? err.message}`, err.code === 'EADDRINUSE' ? 'another process uses that port: choose another endpoint' : undefined)),
      );
      server.listen(port, host, () => resolve());
    });
    server.unref();
    this.server = server;
    const a = this.address()!;
    this.ctx.logger.info({ extension: this.ctx.id, endpoint: `${a.host.includes(':') ? `[${a.host}]` : a.host}:${a.port}`, path: this.config.path }, 'health_check listening');
  }

  async shutdown(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  }
}
