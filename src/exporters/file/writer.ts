/**
 * Lines to one file, from a queue bounded in items and bytes: what does not fit is dropped
 * and counted (queue_full), never buffered without bound. The file itself is written on a
 * writer thread (writer-thread.ts, with the FileSink): the main thread hands lines over and
 * reads what became of them from shared counters. Every line that cannot be written is
 * counted as dropped (write_failed), each kind of failure logged once.
 */
import { Worker } from 'node:worker_threads';
import type { Logger } from '../../core/logger.js';
import { FileSink } from './sink.js';
import { COUNTER, COUNTERS, type FromThread, type ToThread, type WriterThreadData } from './writer-thread.js';

export interface WriterOptions {
  path: string;
  maxFileBytes: number;
  maxBackups: number;
  maxQueueItems: number;
  maxQueueBytes: number;
  logger: Logger;
  /** Items written. */
  written(n: number): void;
  /** Items that will never be written, and why. */
  dropped(n: number, reason: 'queue_full' | 'write_failed' | 'shutdown'): void;
}

/** How often the written/dropped counts are brought into the telemetry when nothing arrives. */
const SYNC_MS = 500;
/** After the deadline, how long the writer thread may take to stop. */
const CLOSE_GRACE_MS = 500;

export class FileWriter {
  private worker?: Worker;
  private readonly counters = new BigInt64Array(new SharedArrayBuffer(COUNTERS * 8));
  private pushedItems = 0;
  private pushedBytes = 0;
  private reported = { written: 0, failed: 0, shutdown: 0 };
  /** Items given up on by close() without the thread's word. */
  private abandoned = 0;
  private closed = false;
  private broken?: string;
  private syncTimer?: NodeJS.Timeout;
  private readonly failing = new Set<string>();
  private waiters: Array<{ m: (m: FromThread) => boolean; resolve: () => void }> = [];

  constructor(private readonly o: WriterOptions) {}

  /**
   * Opens (or creates) the file here first, so that a bad path is a start-up error; then
   * starts the writer thread, which opens it again for itself (a thread closes only the
   * descriptors it opened).
   */
  open(): void {
    const log = (level: 'error' | 'warn' | 'info', message: string, fields?: Record<string, unknown>) => this.o.logger[level](fields ?? {}, message);
    const check = new FileSink({ path: this.o.path, maxFileBytes: this.o.maxFileBytes, maxBackups: this.o.maxBackups, log });
    check.open();
    check.close();
    const data: WriterThreadData = { path: this.o.path, maxFileBytes: this.o.maxFileBytes, maxBackups: this.o.maxBackups, counters: this.counters.buffer as SharedArrayBuffer };
    const worker = new Worker(new URL('./writer-thread.js', import.meta.url), { workerData: { tcpotelFileSink: data }, name: 'tcpotel-file' });
    worker.unref();
    worker.on('message', (m: FromThread) => {
      if ('log' in m) log(m.log.level, m.log.message, m.log.fields);
      this.waiters = this.waiters.filter((w) => (w.m(m) ? (w.resolve(), false) : true));
    });
    worker.on('error', (err) => {
      this.broken = String(err?.message ?? err);
      this.o.logger.error({ path: this.o.path, err: this.broken }, 'file exporter: the writer thread failed: dropping lines (counted)');
    });
    worker.on('exit', () => {
      if (!this.closed && !this.broken) this.broken = 'the writer thread exited';
      for (const w of this.waiters.splice(0)) w.resolve();
    });
    this.worker = worker;
    this.syncTimer = setInterval(() => this.sync(), SYNC_MS);
    this.syncTimer.unref();
  }

  private count(slot: number): number {
    return Number(Atomics.load(this.counters, slot));
  }

  /** Brings what the thread did into the telemetry. */
  sync(): void {
    const written = this.count(COUNTER.written);
    const failed = this.count(COUNTER.failed);
    const shutdown = this.count(COUNTER.shutdown);
    if (written > this.reported.written) this.o.written(written - this.reported.written);
    if (failed > this.reported.failed) this.o.dropped(failed - this.reported.failed, 'write_failed');
    if (shutdown > this.reported.shutdown) this.o.dropped(shutdown - this.reported.shutdown, 'shutdown');
    this.reported = { written, failed, shutdown };
  }

  get pendingItems(): number {
    return this.pushedItems - this.count(COUNTER.written) - this.count(COUNTER.failed) - this.count(COUNTER.shutdown) - this.abandoned;
  }

  get pendingBytes(): number {
    return this.pushedBytes - this.count(COUNTER.doneBytes);
  }

  /** Whether `items` more items and `bytes` more bytes fit in the queue. */
  fits(items: number, bytes = 0): boolean {
    this.sync();
    const ok = this.pendingItems + items <= this.o.maxQueueItems && this.pendingBytes + bytes <= this.o.maxQueueBytes;
    if (ok && this.failing.delete('queue_full')) this.o.logger.info({ path: this.o.path }, 'file exporter: the write queue has room again');
    return ok;
  }

  /** Counts `items` as dropped: the queue is full (or the writer closed or broken). */
  refuse(items: number): void {
    if (this.closed) return this.o.dropped(items, 'shutdown');
    if (this.broken) return this.o.dropped(items, 'write_failed');
    this.o.dropped(items, 'queue_full');
    if (this.failing.has('queue_full')) return;
    this.failing.add('queue_full');
    this.o.logger.error({ path: this.o.path }, `file exporter: write queue full (${this.o.maxQueueItems} items, ${this.o.maxQueueBytes} bytes): dropping what does not fit until the disk catches up`);
  }

  /** Hands one line (without its newline) to the writer thread, or drops it, counted. */
  push(buf: Uint8Array, items: number): boolean {
    if (this.closed || this.broken || !this.worker || !this.fits(items, buf.length + 1)) {
      this.refuse(items);
      return false;
    }
    // Transferred, not copied: a view of a whole buffer of its own.
    // A view into a larger buffer (a pooled Buffer among them) is copied: transferring its
    // buffer would send, and detach, all of it. (Buffer#slice makes a view, not a copy.)
    const own = buf.byteOffset === 0 && buf.byteLength === buf.buffer.byteLength && !(buf.buffer instanceof SharedArrayBuffer) ? buf : Uint8Array.prototype.slice.call(buf);
    const line = own.buffer as ArrayBuffer;
    this.pushedItems += items;
    this.pushedBytes += buf.length + 1;
    this.worker.postMessage({ line, items } satisfies ToThread, [line]);
    return true;
  }

  private until(m: (m: FromThread) => boolean): Promise<void> {
    return new Promise((resolve) => this.waiters.push({ m, resolve }));
  }

  /** Tests: hold the writes (what arrives meanwhile queues up), and let them go. */
  async pause(paused = true): Promise<void> {
    const acked = this.until((m) => 'paused' in m && m.paused === paused);
    this.worker?.postMessage({ pause: paused } satisfies ToThread);
    await acked;
  }

  /** Resolves once everything handed over is written (or dropped). */
  async idle(): Promise<void> {
    while (this.pendingItems > 0 && !this.broken) await new Promise((r) => setTimeout(r, 5));
    this.sync();
  }

  /**
   * Writes what is queued until `deadline` (ms since the epoch), then drops the rest,
   * counted, and closes the file.
   */
  async close(deadline: number): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.syncTimer);
    const worker = this.worker;
    if (worker && !this.broken) {
      const closedMsg = this.until((m) => 'closed' in m);
      worker.postMessage({ close: true } satisfies ToThread);
      let timer: NodeJS.Timeout | undefined;
      const late = (ms: number) => new Promise<'late'>((r) => (timer = setTimeout(() => r('late'), Math.max(0, ms))));
      if ((await Promise.race([closedMsg, late(deadline - Date.now())])) === 'late') {
        // Past the deadline: the thread stops writing and counts what is left.
        Atomics.store(this.counters, COUNTER.stop, 1n);
        clearTimeout(timer);
        await Promise.race([closedMsg, late(CLOSE_GRACE_MS)]);
      }
      clearTimeout(timer);
    }
    this.sync();
    const left = this.pendingItems;
    if (left > 0) {
      // The thread is stuck (a disk that does not answer): what it holds is counted now.
      this.abandoned += left;
      this.o.dropped(left, this.broken ? 'write_failed' : 'shutdown');
    }
    // Not awaited: a thread inside a write that does not return cannot be stopped, only left.
    void worker?.terminate();
  }
}
