/**
 * The writer thread of a file exporter: takes lines from the main thread (transferred, not
 * copied), writes them with the FileSink, and counts what became of them in counters shared
 * with the main thread, which reads them without waiting for a message: a busy event loop
 * does not stall the disk, and a slow disk does not stall the event loop.
 */
import { isMainThread, parentPort, workerData } from 'node:worker_threads';
import { FileSink } from './sink.js';

/** Slots of the shared counters (BigInt64Array). */
export const COUNTER = { written: 0, failed: 1, shutdown: 2, doneBytes: 3, stop: 4 } as const;
export const COUNTERS = 5;

export interface WriterThreadData {
  path: string;
  maxFileBytes: number;
  maxBackups: number;
  counters: SharedArrayBuffer;
}

export type ToThread = { line: ArrayBuffer; items: number } | { pause: boolean } | { close: true };
export type FromThread = { log: { level: 'error' | 'warn' | 'info'; message: string; fields?: Record<string, unknown> } } | { paused: boolean } | { closed: true };

/** Lines and bytes per write at most. */
const WRITE_LINES = 64;
const WRITE_BYTES = 8 * 1024 * 1024;

function run(d: WriterThreadData): void {
  const port = parentPort!;
  const c = new BigInt64Array(d.counters);
  const send = (m: FromThread) => port.postMessage(m);
  const sink = new FileSink({ path: d.path, maxFileBytes: d.maxFileBytes, maxBackups: d.maxBackups, log: (level, message, fields) => send({ log: { level, message, fields } }) });
  try {
    sink.open();
  } catch (err) {
    send({ log: { level: 'error', message: `file exporter: cannot open the file: dropping lines (counted)`, fields: { path: d.path, err: String((err as Error).message ?? err) } } });
  }
  let pending: Array<{ buf: Uint8Array; items: number }> = [];
  let paused = false;
  let scheduled = false;

  const flush = () => {
    scheduled = false;
    if (paused) return;
    const lines = pending;
    pending = [];
    for (let i = 0; i < lines.length; ) {
      // Past the main thread's deadline: what is left is counted, not written.
      if (Atomics.load(c, COUNTER.stop)) {
        for (const l of lines.slice(i)) {
          Atomics.add(c, COUNTER.shutdown, BigInt(l.items));
          Atomics.add(c, COUNTER.doneBytes, BigInt(l.buf.length + 1));
        }
        return;
      }
      let bytes = 0;
      let j = i;
      while (j < lines.length && j - i < WRITE_LINES && (j === i || bytes + lines[j]!.buf.length < WRITE_BYTES)) bytes += lines[j++]!.buf.length + 1;
      const chunk = lines.slice(i, j);
      const whole = sink.write(chunk.map((l) => l.buf));
      chunk.forEach((l, k) => {
        Atomics.add(c, k < whole ? COUNTER.written : COUNTER.failed, BigInt(l.items));
        Atomics.add(c, COUNTER.doneBytes, BigInt(l.buf.length + 1));
      });
      i = j;
    }
  };

  port.on('message', (m: ToThread) => {
    if ('line' in m) {
      pending.push({ buf: new Uint8Array(m.line), items: m.items });
      if (!scheduled) {
        scheduled = true;
        setImmediate(flush);
      }
    } else if ('pause' in m) {
      paused = m.pause;
      send({ paused });
      if (!paused) setImmediate(flush);
    } else if ('close' in m) {
      paused = false;
      flush();
      sink.close();
      send({ closed: true });
      port.close();
    }
  });
}

if (!isMainThread && parentPort && (workerData as { tcpotelFileSink?: WriterThreadData } | undefined)?.tcpotelFileSink) {
  run((workerData as { tcpotelFileSink: WriterThreadData }).tcpotelFileSink);
}
