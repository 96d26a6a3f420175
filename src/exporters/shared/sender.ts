/**
 * A bounded sending queue with retries, as the Collector's exporterhelper: retryable
 * failures back off exponentially up to max_elapsed_time (or wait as long as the server
 * asks with Retry-After / RetryInfo, within the same bound); permanent ones are dropped at
 * once; a full queue (in items or bytes) drops what arrives. Shutdown has a deadline: then
 * the request in flight is aborted and everything unsent is dropped. Every drop is
 * counted, by reason.
 */
import { z } from 'zod';
import type { Logger } from '../../core/logger.js';
import type { StatusReporter } from '../../core/status.js';
import { selfAttributes, type ComponentTelemetry } from '../../core/telemetry.js';
import { byteSize, duration, formatDuration } from '../../config/units.js';
import { SELF_METRICS_DEFS } from '../../semconv/metrics.js';

export const retrySchema = z.strictObject({
  enabled: z.boolean(),
  initial_interval: duration({ min: 1 }),
  max_interval: duration({ min: 1 }),
  max_elapsed_time: duration(),
  multiplier: z.number().min(1).max(100),
});
export const queueSchema = z.strictObject({
  enabled: z.boolean(),
  /** Items (log records, metric points) the queue holds at most. */
  queue_size: z.number().int().min(1).max(10_000_000),
  /** Encoded bytes the queue holds at most. */
  max_bytes: byteSize({ min: 64 * 1024, max: 1024 ** 3 }),
});
export type RetrySettings = z.output<typeof retrySchema>;
export type QueueSettings = z.output<typeof queueSchema>;

export function defaultRetry() {
  return { enabled: true, initial_interval: '5s', max_interval: '30s', max_elapsed_time: '300s', multiplier: 1.5 };
}
export function defaultQueue() {
  return { enabled: true, queue_size: 100_000, max_bytes: '64MiB' };
}

/** A failed export, as a transport reports it. */
export class ExportError extends Error {
  override readonly name = 'ExportError';
  constructor(
    message: string,
    readonly retryable: boolean,
    /** The server asked to wait this long before trying again. */
    readonly retryAfterMs?: number,
    /** HTTP status or gRPC status code. */
    readonly code?: number | string,
  ) {
    super(message);
  }
}

const RETRYABLE_GRPC = new Set([1, 4, 8, 10, 11, 14, 15]); // CANCELLED .. UNAVAILABLE, DATA_LOSS
const RETRYABLE_HTTP = new Set([408, 429, 502, 503, 504]);
const RETRYABLE_NET = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN', 'ENOTFOUND', 'ECONNABORTED', 'UND_ERR_SOCKET']);

/** Whether an export error is worth retrying (network trouble, overload), or permanent. */
export function isRetryable(err: unknown): boolean {
  if (err instanceof ExportError) return err.retryable;
  const e = err as { code?: unknown; message?: string; name?: string } | undefined;
  const code = e?.code;
  if (typeof code === 'number') return code < 100 ? RETRYABLE_GRPC.has(code) : RETRYABLE_HTTP.has(code);
  if (typeof code === 'string') {
    if (RETRYABLE_NET.has(code)) return true;
    if (/^\d+$/.test(code)) return RETRYABLE_HTTP.has(Number(code));
    return false;
  }
  const msg = e?.message ?? '';
  if (/retryable status|timed out|timeout|ECONNREFUSED|ECONNRESET|socket hang up|UNAVAILABLE/i.test(msg)) return true;
  return false;
}

export interface SenderOptions<T> {
  id: string;
  queue: Omit<QueueSettings, 'max_bytes'> & { max_bytes?: number };
  retry: RetrySettings;
  /** Sends one payload; `signal` aborts it (shutdown's deadline). */
  send: (item: T, signal: AbortSignal) => Promise<void>;
  /** Items in one payload (log records, metric points): what queue_size counts. */
  count: (item: T) => number;
  /** Bytes of one payload: what max_bytes counts (0 when not given). */
  bytes?: (item: T) => number;
  /** A newer payload makes older unsent ones obsolete (cumulative metrics). */
  latestWins?: boolean;
  telemetry: ComponentTelemetry;
  logger: Logger;
  /** Told of each send's outcome: failing since the first failure after a success (health_check). */
  status?: StatusReporter;
  /** Timer for back-off (tests shorten it). */
  sleep?: (ms: number) => Promise<void>;
}

const defaultSleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms).unref?.());

export class QueuedRetrySender<T> {
  private readonly queue: T[] = [];
  private queuedItems = 0;
  private queuedBytes = 0;
  private busy = false;
  private closing = false;
  private idleWaiters: Array<() => void> = [];
  private wake?: () => void;
  private inFlight?: AbortController;
  private delivering?: Promise<void>;
  /** The payload being delivered: counted once, by deliver() or by shutdown() if it gives up on it. */
  private current?: { n: number; counted: boolean };

  constructor(private readonly o: SenderOptions<T>) {
    const t = o.telemetry.telemetry;
    t.gauge(SELF_METRICS_DEFS.exporterQueueSize.name, selfAttributes({ id: o.id }), () => this.queue.length);
    t.gauge(SELF_METRICS_DEFS.exporterQueueCapacity.name, selfAttributes({ id: o.id }), () => o.queue.queue_size);
  }

  get pending(): number {
    return this.queue.length + (this.busy ? 1 : 0);
  }

  private size(item: T): number {
    return this.o.bytes?.(item) ?? 0;
  }

  /** Whether `items` more items would be taken now (to skip encoding what would be dropped). */
  fits(items: number): boolean {
    if (this.closing) return false;
    if (this.o.latestWins) return true;
    if (!this.o.queue.enabled) return !this.busy;
    return this.queuedItems + items <= this.o.queue.queue_size;
  }

  /** Counts `n` items as taken in and dropped: the queue is full (or closing). */
  refuse(n: number): void {
    this.o.telemetry.incoming(n);
    this.drop(n);
  }

  private drop(n: number): void {
    if (this.closing) {
      this.o.telemetry.dropped(n, 'shutdown');
      return;
    }
    this.o.telemetry.dropped(n, 'queue_full');
    this.o.logger.warn({ exporter: this.o.id, dropped: n, queued: this.queuedItems, queuedBytes: this.queuedBytes }, 'sending queue is full: dropping');
  }

  offer(item: T): void {
    const n = this.o.count(item);
    const b = this.size(item);
    this.o.telemetry.incoming(n);
    if (this.closing) {
      this.drop(n);
      return;
    }
    if (this.o.latestWins) {
      // The queued payload is superseded by this one, which contains all it had.
      this.queue.length = 0;
      this.queuedItems = 0;
      this.queuedBytes = 0;
    } else if (!this.o.queue.enabled && this.busy) {
      this.drop(n);
      return;
    } else if (this.queuedItems + n > this.o.queue.queue_size || (this.o.queue.max_bytes && this.queuedBytes + b > this.o.queue.max_bytes)) {
      this.drop(n);
      return;
    }
    this.queue.push(item);
    this.queuedItems += n;
    this.queuedBytes += b;
    this.pump();
  }

  private pump(): void {
    if (this.busy) {
      this.wake?.();
      return;
    }
    const item = this.queue.shift();
    if (item === undefined) {
      for (const w of this.idleWaiters.splice(0)) w();
      return;
    }
    this.queuedItems -= this.o.count(item);
    this.queuedBytes -= this.size(item);
    this.busy = true;
    this.delivering = this.deliver(item).finally(() => {
      this.busy = false;
      this.delivering = undefined;
      this.pump();
    });
  }

  private async deliver(item: T): Promise<void> {
    const n = this.o.count(item);
    const token = { n, counted: false };
    this.current = token;
    const telemetry = {
      outgoing: (k: number) => {
        if (token.counted) return;
        token.counted = true;
        this.o.telemetry.outgoing(k);
      },
      dropped: (k: number, reason: string) => {
        if (token.counted) return;
        token.counted = true;
        this.o.telemetry.dropped(k, reason);
      },
    };
    const r = this.o.retry;
    const started = Date.now();
    let interval = r.initial_interval;
    for (let attempt = 1; ; attempt++) {
      const controller = new AbortController();
      this.inFlight = controller;
      try {
        await this.o.send(item, controller.signal);
        telemetry.outgoing(n);
        this.o.status?.ok();
        return;
      } catch (err) {
        this.o.status?.recoverableError(err);
        const message = String((err as Error)?.message ?? err);
        if (this.closing) {
          telemetry.dropped(n, 'shutdown');
          this.o.logger.error({ exporter: this.o.id, err: message, items: n }, 'shutting down: dropping what could not be sent in time');
          return;
        }
        if (!isRetryable(err)) {
          telemetry.dropped(n, 'export_failed');
          this.o.logger.error({ exporter: this.o.id, err: message, items: n }, 'export failed permanently: dropping');
          return;
        }
        const asked = (err as ExportError).retryAfterMs;
        const wait = asked !== undefined ? asked : interval * (0.5 + Math.random());
        const elapsed = Date.now() - started;
        if (!r.enabled || elapsed + wait > r.max_elapsed_time) {
          telemetry.dropped(n, 'retries_exhausted');
          const why = asked !== undefined && r.enabled ? `; the server asks to wait ${formatDuration(Math.round(asked))}, beyond max_elapsed_time` : '';
          this.o.logger.error({ exporter: this.o.id, err: message + why, attempts: attempt, items: n }, 'export failed after retries: dropping');
          return;
        }
        if (this.o.latestWins && this.queue.length) {
          token.counted = true; // a newer payload replaces this one
          return;
        }
        this.o.logger.warn({ exporter: this.o.id, err: message, attempt, retryInMs: Math.round(wait), ...(asked !== undefined ? { retryAfter: true } : {}) }, 'export failed: will retry');
        await Promise.race([
          (this.o.sleep ?? defaultSleep)(wait),
          new Promise<void>((res) => (this.wake = () => (this.o.latestWins || this.closing ? res() : undefined))),
        ]);
        this.wake = undefined;
        if (this.closing) {
          telemetry.dropped(n, 'shutdown');
          return;
        }
        if (this.o.latestWins && this.queue.length) {
          token.counted = true;
          return;
        }
        if (asked === undefined) interval = Math.min(interval * r.multiplier, r.max_interval);
      } finally {
        this.inFlight = undefined;
      }
    }
  }

  /** Resolves once the queue is empty and nothing is in flight. */
  idle(): Promise<void> {
    if (!this.busy && this.queue.length === 0) return Promise.resolve();
    return new Promise((res) => this.idleWaiters.push(res));
  }

  /**
   * Sends what is queued until `deadline` (ms since the epoch; no new back-off after it),
   * then aborts the request in flight and drops and counts the rest.
   */
  async shutdown(deadline: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<'timeout'>((res) => (timer = setTimeout(() => res('timeout'), Math.max(0, deadline - Date.now()))));
    await Promise.race([this.idle().then(() => 'idle' as const), timedOut]);
    clearTimeout(timer);
    this.closing = true;
    const left = this.queue.splice(0);
    for (const item of left) this.o.telemetry.dropped(this.o.count(item), 'shutdown');
    this.queuedItems = 0;
    this.queuedBytes = 0;
    this.inFlight?.abort();
    this.wake?.();
    // A send that ignores the abort is not waited for: its payload is counted as dropped now.
    const delivering = this.delivering;
    if (delivering) {
      let grace: NodeJS.Timeout | undefined;
      await Promise.race([delivering, new Promise<void>((r) => (grace = setTimeout(r, 500)))]);
      clearTimeout(grace);
      const c = this.current;
      if (this.busy && c && !c.counted) {
        c.counted = true;
        this.o.telemetry.dropped(c.n, 'shutdown');
      }
    }
  }
}
