/**
 * The file itself: one descriptor, owned here and closed once, only after a new one has
 * taken its place and never used after. Rotation opens the new file first (exclusively,
 * under a temporary name), renames, then swaps; when any step fails, writing goes on in the
 * current file. A file deleted or moved away is noticed before the next write and created
 * again. Writes are synchronous: the sink runs on the writer thread (writer-thread.ts), so
 * that a slow disk does not hold the event loop, nor a busy event loop the disk.
 */
import { closeSync, fstatSync, lstatSync, mkdirSync, renameSync, unlinkSync, writevSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { basename, dirname, join } from 'node:path';
import { createExclusive, openAppend } from '../../core/files.js';

export interface SinkOptions {
  path: string;
  maxFileBytes: number;
  maxBackups: number;
  /** A kind of failure, said once until it recovers; `recovered` says when it has. */
  log(level: 'error' | 'warn' | 'info', message: string, fields?: Record<string, unknown>): void;
  /** Time source for the rotation retry back-off (tests). */
  now?: () => number;
}

/** After a failed rotation, the next attempt waits this long (writing goes on meanwhile). */
const ROTATION_RETRY_MS = 5000;
const NEWLINE = Buffer.from('\n');

export class FileSink {
  private fd?: number;
  private ino = 0;
  private dev = 0;
  private size = 0;
  private rotationBlockedUntil = 0;
  private readonly failing = new Set<string>();
  private readonly now: () => number;

  constructor(private readonly o: SinkOptions) {
    this.now = o.now ?? Date.now;
  }

  /** Opens (or creates) the file; throws when that is impossible (a config-time error). */
  open(): void {
    mkdirSync(dirname(this.o.path), { recursive: true, mode: 0o750 });
    this.adopt(openAppend(this.o.path));
  }

  get descriptor(): number | undefined {
    return this.fd;
  }

  private adopt(f: { fd: number; stat: { ino: number; dev: number; size: number } }): void {
    const old = this.fd;
    this.fd = f.fd;
    this.ino = f.stat.ino;
    this.dev = f.stat.dev;
    this.size = f.stat.size;
    if (old !== undefined) closeSync(old);
  }

  private fail(kind: string, message: string, err?: unknown): void {
    if (this.failing.has(kind)) return;
    this.failing.add(kind);
    const code = (err as NodeJS.ErrnoException | undefined)?.code;
    this.o.log('error', `file exporter: ${message}`, { path: this.o.path, ...(code ? { code } : {}), ...(err ? { err: String((err as Error).message ?? err) } : {}) });
  }

  private recovered(kind: string, what: string): void {
    if (!this.failing.delete(kind)) return;
    this.o.log('info', `file exporter: ${what}: working again`, { path: this.o.path });
  }

  /**
   * Writes lines (each without its newline). Returns how many of them were written whole;
   * the rest could not be (counted as dropped by the caller).
   */
  write(lines: Uint8Array[]): number {
    let done = 0;
    while (done < lines.length) {
      const fd = this.prepare(lines[done]!.length + 1);
      if (fd === undefined) return done;
      // Lines up to the size limit go to this file; the next write rotates first.
      const room = this.o.maxFileBytes - this.size;
      const bufs: Uint8Array[] = [];
      let bytes = 0;
      let n = 0;
      for (let i = done; i < lines.length; i++) {
        const len = lines[i]!.length + 1;
        if (n > 0 && bytes + len > room) break;
        bufs.push(lines[i]!, NEWLINE);
        bytes += len;
        n++;
      }
      const wrote = this.writeAll(fd, bufs);
      this.size += wrote.bytes;
      if (wrote.err) {
        let whole = 0;
        let at = 0;
        for (let i = done; i < done + n; i++) {
          at += lines[i]!.length + 1;
          if (at <= wrote.bytes) whole++;
        }
        this.fail(`write_${(wrote.err as NodeJS.ErrnoException).code ?? 'error'}`, 'write failed: dropping lines (counted)', wrote.err);
        return done + whole;
      }
      for (const k of [...this.failing]) if (k.startsWith('write_')) this.recovered(k, 'writing');
      done += n;
    }
    return done;
  }

  /** writev until everything is written (a regular file may take less than asked) or an error. */
  private writeAll(fd: number, bufs: Uint8Array[]): { bytes: number; err?: Error } {
    let bytes = 0;
    let rest = bufs;
    while (rest.length) {
      let n: number;
      try {
        n = writevSync(fd, rest);
      } catch (err) {
        return { bytes, err: err as Error };
      }
      if (n === 0) return { bytes, err: Object.assign(new Error('the file takes no more bytes'), { code: 'ENOSPC' }) };
      bytes += n;
      let skip = n;
      const next: Uint8Array[] = [];
      for (const b of rest) {
        if (skip >= b.length) {
          skip -= b.length;
          continue;
        }
        next.push(skip ? b.subarray(skip) : b);
        skip = 0;
      }
      rest = next;
    }
    return { bytes };
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
        this.recovered('reopen', 'opening the file');
        this.o.log('warn', gone ? 'file exporter: the file was deleted: writing to a new one' : 'file exporter: the file was moved or replaced: writing to the one at the path now', { path });
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
      try {
        unlinkIfThere(tmp);
      } catch {
        /* left for whoever can remove it */
      }
      this.rotationFailed(err);
      return;
    }
    this.adopt({ fd: next.fd, stat: fstatSync(next.fd) });
    this.recovered('rotation', 'rotation');
  }

  private rotationFailed(err: unknown): void {
    this.rotationBlockedUntil = this.now() + ROTATION_RETRY_MS;
    this.fail('rotation', 'rotation failed: writing on in the current file, past its size limit, and trying again later', err);
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
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
