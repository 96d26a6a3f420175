/**
 * Lines to one file, written in the background from a queue bounded in items and bytes.
 * The writer owns its file descriptor: it is closed once, only after a new one has taken
 * its place, and never used after. Rotation opens the new file first (exclusively, under a
 * temporary name), renames, then swaps; when any step fails, writing goes on in the current
 * file. A file deleted or moved away is noticed before the next write and created again.
 * Every line that cannot be written is counted as dropped, and each kind of failure is
 * logged once (and its end once).
 */
import { closeSync, fstatSync, lstatSync, mkdirSync, renameSync, unlinkSync, writev } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { basename, dirname, join } from 'node:path';
import type { Logger } from '../../core/logger.js';
import { createExclusive, openAppend } from '../../core/files.js';

export interface WriterOptions {
  path: string;
  maxFileBytes: number;
  maxBackups: number;
  maxQueueItems: number;
  maxQueueBytes: number;
  logger: Logger;
  /** Items written (after the write returned). */
  written(n: number): void;
  /** Items that will never be written, and why. */
  dropped(n: number, reason: 'queue_full' | 'write_failed' | 'shutdown'): void;
  /** Time source for the rotation retry back-off (tests). */
  now?: () => number;
}

interface Line {
  buf: Uint8Array;
  items: number;
}

const NEWLINE = Buffer.from('\n');
/** Lines and bytes per writev at most. */
const WRITE_LINES = 64;
const WRITE_BYTES = 8 * 1024 * 1024;
/** After a failed rotation, the next attempt waits this long (writing goes on meanwhile). */
const ROTATION_RETRY_MS = 5000;

export class FileWriter {
  private fd?: number;
  private ino = 0;
  private dev = 0;
  private size = 0;
  private readonly queue: Line[] = [];
  private head = 0;
  private queuedItems = 0;
  private queuedBytes = 0;
  private writing = false;
  private closed = false;
  private rotationBlockedUntil = 0;
  private readonly failing = new Map<string, string>();
  private idleWaiters: Array<() => void> = [];
  private readonly now: () => number;

  constructor(private readonly o: WriterOptions) {
    this.now = o.now ?? Date.now;
  }

  /** Opens (or creates) the file; throws when that is impossible (a config-time error). */
  open(): void {
    mkdirSync(dirname(this.o.path), { recursive: true, mode: 0o750 });
    this.adopt(openAppend(this.o.path));
  }

  private adopt(f: { fd: number; stat: { ino: number; dev: number; size: number } }): void {
    const old = this.fd;
    this.fd = f.fd;
    this.ino = f.stat.ino;
    this.dev = f.stat.dev;
    this.size = f.stat.size;
    if (old !== undefined) closeSync(old);
  }

  /** Whether `items` more items and `bytes` more bytes fit in the queue. */
  fits(items: number, bytes = 0): boolean {
    return this.queuedItems + items <= this.o.maxQueueItems && this.queuedBytes + bytes <= this.o.maxQueueBytes;
  }

  get pendingItems(): number {
    return this.queuedItems;
  }

  get pendingBytes(): number {
    return this.queuedBytes;
  }

  /** Counts `items` as dropped because the queue is full (or closed). */
  refuse(items: number): void {
    if (this.closed) {
      this.o.dropped(items, 'shutdown');
      return;
    }
    this.o.dropped(items, 'queue_full');
    this.fail('queue_full', `write queue full (${this.o.maxQueueItems} items, ${this.o.maxQueueBytes} bytes): dropping what does not fit until the disk catches up`);
  }

  /** Queues one line (without its newline); drops it, counted, when the queue is full or closed. */
  push(buf: Uint8Array, items: number): boolean {
    if (this.closed || !this.fits(items, buf.length + 1)) {
      this.refuse(items);
      return false;
    }
    this.queue.push({ buf, items });
    this.queuedItems += items;
    this.queuedBytes += buf.length + 1;
    this.pump();
    return true;
  }

  /** Logs a kind of failure the first time it happens (until it recovers). */
  private fail(kind: string, message: string, err?: unknown): void {
    if (this.failing.has(kind)) return;
    this.failing.set(kind, message);
    const code = (err as NodeJS.ErrnoException | undefined)?.code;
    this.o.logger.error({ path: this.o.path, ...(code ? { code } : {}), ...(err ? { err: String((err as Error).message ?? err) } : {}) }, `file exporter: ${message}`);
  }

  private recovered(kind: string): void {
    if (!this.failing.delete(kind)) return;
    this.o.logger.info({ path: this.o.path }, `file exporter: ${kind.replace(/_/g, ' ')}: working again`);
  }

  /** The next lines to write at once: at least one, then as many as fit in `room` bytes. */
  private take(room: number): Line[] {
    const out: Line[] = [];
    let bytes = 0;
    const limit = Math.min(WRITE_BYTES, room);
    while (this.head < this.queue.length && out.length < WRITE_LINES && (out.length === 0 || bytes + this.queue[this.head]!.buf.length + 1 <= limit)) {
      const l = this.queue[this.head++]!;
      bytes += l.buf.length + 1;
      out.push(l);
    }
    if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue.splice(0, this.head);
      this.head = 0;
    }
    return out;
  }

  private release(lines: Line[]): void {
    for (const l of lines) {
      this.queuedItems -= l.items;
      this.queuedBytes -= l.buf.length + 1;
    }
  }

  private pump(): void {
    if (this.writing) return;
    if (this.head >= this.queue.length) {
      this.queue.length = 0;
      this.head = 0;
      for (const w of this.idleWaiters.splice(0)) w();
      return;
    }
    const fd = this.prepare(this.queue[this.head]!.buf.length + 1);
    // Lines up to the size limit go to this file; the next write rotates first.
    const lines = this.take(this.o.maxFileBytes - this.size);
    if (fd === undefined) {
      this.release(lines);
      this.o.dropped(lines.reduce((s, l) => s + l.items, 0), 'write_failed');
      queueMicrotask(() => this.pump());
      return;
    }
    this.writing = true;
    const bufs: Uint8Array[] = [];
    for (const l of lines) bufs.push(l.buf, NEWLINE);
    this.writeAll(fd, bufs, (err, wrote) => {
      this.writing = false;
      this.size += wrote;
      this.release(lines);
      const items = lines.reduce((s, l) => s + l.items, 0);
      if (err) {
        // Lines wholly written before the error are written; the rest are not.
        let done = 0;
        let at = 0;
        for (const l of lines) {
          at += l.buf.length + 1;
          if (at <= wrote) done += l.items;
        }
        if (done) this.o.written(done);
        this.o.dropped(items - done, 'write_failed');
        this.fail(`write_${(err as NodeJS.ErrnoException).code ?? 'error'}`, 'write failed: dropping lines (counted)', err);
      } else {
        for (const k of [...this.failing.keys()]) if (k.startsWith('write_')) this.recovered(k);
        this.recovered('queue_full');
        this.o.written(items);
      }
      this.pump();
    });
  }

  /** writev until everything is written (a regular file may take less than asked) or an error. */
  private writeAll(fd: number, bufs: Uint8Array[], done: (err: Error | null, wrote: number) => void, wrote = 0): void {
    writev(fd, bufs, (err, n) => {
      if (err) return done(err, wrote);
      wrote += n;
      let skip = n;
      const rest: Uint8Array[] = [];
      for (const b of bufs) {
        if (skip >= b.length) {
          skip -= b.length;
          continue;
        }
        rest.push(skip ? b.subarray(skip) : b);
        skip = 0;
      }
      if (!rest.length) return done(null, wrote);
      if (n === 0) return done(Object.assign(new Error('the file takes no more bytes'), { code: 'ENOSPC' }), wrote);
      this.writeAll(fd, rest, done, wrote);
    });
  }

  /**
   * The fd to write `bytes` more to: the file at the path (created again when it was deleted
   * or moved away), rotated first when it would grow past the limit. Undefined when there is
   * nowhere to write.
   */
  private prepare(bytes: number): number | undefined {
    const { path } = this.o;
    let st: { ino: number; dev: number } | undefined;
    try {
      st = lstatSync(path);
    } catch {
      st = undefined;
    }
    if (!st || st.ino !== this.ino || st.dev !== this.dev) {
      // Ours has no name left (deleted), or lives on under another one (moved).
      let gone = true;
      try {
        gone = this.fd === undefined || fstatSync(this.fd).nlink === 0;
      } catch {
        /* a closed fd is gone too */
      }
      try {
        try {
          this.adopt(openAppend(path));
        } catch (err) {
          if ((err as { code?: string }).code !== 'ENOENT') throw err;
          mkdirSync(dirname(path), { recursive: true, mode: 0o750 });
          this.adopt(openAppend(path));
        }
        this.recovered('reopen');
        this.o.logger.warn({ path }, gone ? 'file exporter: the file was deleted: writing to a new one' : 'file exporter: the file was moved or replaced: writing to the one at the path now');
      } catch (err) {
        this.fail('reopen', gone ? 'the file was deleted and cannot be created again: dropping lines (counted)' : 'the file was moved and the path cannot be opened: still writing to the moved file', err);
        // A deleted file is read by no one: what would go there is lost.
        if (gone) return undefined;
      }
    }
    if (this.size > 0 && this.size + bytes > this.o.maxFileBytes && this.now() >= this.rotationBlockedUntil) this.rotate();
    return this.fd;
  }

  /** New file first (exclusive, temporary name), then the renames, then the swap. */
  private rotate(): void {
    const { path, maxBackups } = this.o;
    const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(6).toString('hex')}.new`);
    let next: ReturnType<typeof createExclusive>;
    try {
      next = createExclusive(tmp);
    } catch (err) {
      this.rotationFailed(err);
      return;
    }
    try {
      if (maxBackups > 0) {
        unlinkIfThere(`${path}.${maxBackups}`);
        for (let i = maxBackups - 1; i >= 1; i--) renameIfThere(`${path}.${i}`, `${path}.${i + 1}`);
        renameIfThere(path, `${path}.1`);
      }
      renameSync(tmp, path); // with no backups, this replaces the full file
    } catch (err) {
      closeSync(next.fd);
      unlinkIfThere(tmp);
      this.rotationFailed(err);
      return;
    }
    this.adopt({ fd: next.fd, stat: fstatSync(next.fd) });
    this.recovered('rotation');
  }

  private rotationFailed(err: unknown): void {
    this.rotationBlockedUntil = this.now() + ROTATION_RETRY_MS;
    this.fail('rotation', 'rotation failed: writing on in the current file, past its size limit, and trying again later', err);
  }

  /** Resolves once everything queued is written (or dropped). */
  idle(): Promise<void> {
    if (!this.writing && this.head >= this.queue.length) return Promise.resolve();
    return new Promise((r) => this.idleWaiters.push(r));
  }

  /**
   * Writes what is queued until `deadline` (ms since the epoch), then drops the rest,
   * counted, and closes the file once no write is in flight.
   */
  async close(deadline: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), Math.max(0, deadline - Date.now()))));
    await Promise.race([this.idle(), timeout]);
    clearTimeout(timer);
    this.closed = true;
    const left = this.queue.slice(this.head);
    this.queue.length = 0;
    this.head = 0;
    this.release(left);
    const n = left.reduce((s, l) => s + l.items, 0);
    if (n) this.o.dropped(n, 'shutdown');
    const closeFd = () => {
      if (this.fd !== undefined) closeSync(this.fd);
      this.fd = undefined;
    };
    if (!this.writing) closeFd();
    else this.idleWaiters.push(closeFd);
  }
}

function unlinkIfThere(p: string): void {
  try {
    unlinkSync(p);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}

function renameIfThere(from: string, to: string): void {
  try {
    renameSync(from, to);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}
