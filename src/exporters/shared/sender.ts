/**
 * A bounded sending queue with retries, as the Collector's exporterhelper: retryable
 * failures back off exponentially up to max_elapsed_time; permanent ones are dropped at
 * once; a full queue drops what arrives. Every drop is counted, by reason.
 */
import { z } from 'zod';
import type { Logger } from '../../core/logger.js';
import type { StatusReporter } from '../../core/status.js';
import type { ComponentTelemetry } from '../../core/telemetry.js';
import { duration } from '../../config/units.js';
import { SELF_METRICS_DEFS } from '../../semconv/metrics.js';

export const retrySchema = z.strictObject({
  enabled: z.boolean(),
  initial_interval: duration(),
  max_interval: duration(),
  max_elapsed_time: duration(),
  multiplier: z.number().min(1),
});
export const queueSchema = z.strictObject({
  enabled: z.boolean(),
  /** Items (log records, metric points) the queue holds at most. */
  queue_size: z.number().int().min(1),
});
export type RetrySettings = z.output<typeof retrySchema>;
export type QueueSettings = z.output<typeof queueSchema>;

export function defaultRetry() {
  return { enabled: true, initial_interval: '5s', max_interval: '30s', max_elapsed_time: '300s', multiplier: 1.5 };
}
export function defaultQueue() {
  return { enabled: true, queue_size: 100_000 };
}

const RETRYABLE_GRPC = new Set([1, 4, 8, 10, 11, 14, 15]); // CANCELLED .. UNAVAILABLE, DATA_LOSS
const RETRYABLE_HTTP = new Set([408, 429, 502, 503, 504]);
const RETRYABLE_NET = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN', 'ENOTFOUND', 'ECONNABORTED', 'UND_ERR_SOCKET']);

/** Whether an export error is worth retrying (network trouble, overload), or permanent. */
export function isRetryable(err: unknown): boolean {
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
  queue: QueueSettings;
  retry: RetrySettings;
  send: (item: T) => Promise<void>;
  /** Items in one payload (log records, metric points): what queue_size counts. */
  count: (item: T) => number;
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
  private busy = false;
  private closing = false;
  private idleWaiters: Array<() => void> = [];
  private wake?: () => void;

  constructor(private readonly o: SenderOptions<T>) {
    const t = o.telemetry.telemetry;
    t.gauge(SELF_METRICS_DEFS.exporterQueueSize.name, { 'tcpotel.component.id': o.id }, () => this.queue.length);
    t.gauge(SELF_METRICS_DEFS.exporterQueueCapacity.name, { 'tcpotel.component.id': o.id }, () => o.queue.queue_size);
  }

  get pending(): number {
    return this.queue.length + (this.busy ? 1 : 0);
  }

  offer(item: T): void {
    const n = this.o.count(item);
    this.o.telemetry.incoming(n);
    if (this.closing) {
      this.o.telemetry.dropped(n, 'shutdown');
      return;
    }
    if (this.o.latestWins) {
      // The queued payload is superseded by this one, which contains all it had.
      this.queue.length = 0;
      this.queuedItems = 0;
    } else if (!this.o.queue.enabled && this.busy) {
      this.o.telemetry.dropped(n, 'queue_full');
      return;
    } else if (this.queuedItems + n > this.o.queue.queue_size) {
      this.o.telemetry.dropped(n, 'queue_full');
      this.o.logger.warn({ exporter: this.o.id, dropped: n, queued: this.queuedItems }, 'sending queue is full: dropping');
      return;
    }
    this.queue.push(item);
    this.queuedItems += n;
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
    this.busy = true;
    void this.deliver(item).finally(() => {
      this.busy = false;
      this.pump();
    });
  }

  private async deliver(item: T): Promise<void> {
    const n = this.o.count(item);
    const r = this.o.retry;
    const started = Date.now();
    let interval = r.initial_interval;
    for (let attempt = 1; ; attempt++) {
      try {
        await this.o.send(item);
        this.o.telemetry.outgoing(n);
        this.o.status?.ok();
        return;
      } catch (err) {
        this.o.status?.recoverableError(err);
        const retryable = isRetryable(err);
        const elapsed = Date.now() - started;
        if (!retryable) {
          this.o.telemetry.dropped(n, 'export_failed');
          this.o.logger.error({ exporter: this.o.id, err: String((err as Error)?.message ?? err), items: n }, 'export failed permanently: dropping');
          return;
        }
        if (!r.enabled || elapsed + interval > r.max_elapsed_time || this.closing) {
          this.o.telemetry.dropped(n, this.closing ? 'shutdown' : 'retries_exhausted');
          this.o.logger.error({ exporter: this.o.id, err: String((err as Error)?.message ?? err), attempts: attempt, items: n }, 'export failed after retries: dropping');
          return;
        }
        if (this.o.latestWins && this.queue.length) return; // a newer payload replaces this one
        this.o.logger.warn({ exporter: this.o.id, err: String((err as Error)?.message ?? err), attempt, retryInMs: Math.round(interval) }, 'export failed: will retry');
        const jittered = interval * (0.5 + Math.random());
        await Promise.race([
          (this.o.sleep ?? defaultSleep)(jittered),
          new Promise<void>((res) => (this.wake = () => (this.o.latestWins || this.closing ? res() : undefined))),
        ]);
        this.wake = undefined;
        if (this.o.latestWins && this.queue.length) return;
        interval = Math.min(interval * r.multiplier, r.max_interval);
      }
    }
  }

  /** Resolves once the queue is empty and nothing is in flight. */
  idle(): Promise<void> {
    if (!this.busy && this.queue.length === 0) return Promise.resolve();
    return new Promise((res) => this.idleWaiters.push(res));
  }

  /**
   * Sends what is queued within `timeoutMs` (no new back-off once the time is up), then
   * drops and counts the rest.
   */
  async shutdown(timeoutMs: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<'timeout'>((res) => (timer = setTimeout(() => res('timeout'), timeoutMs)));
    const r = await Promise.race([this.idle().then(() => 'idle' as const), timedOut]);
    clearTimeout(timer);
    this.closing = true;
    this.wake?.();
    if (r === 'timeout') {
      const left = this.queue.splice(0);
      for (const item of left) this.o.telemetry.dropped(this.o.count(item), 'shutdown');
      this.queuedItems = 0;
    }
  }
}
