/**
 * Replays recorded event batches (JSON lines, as `tcpotel record` writes them), at their
 * recorded pace, faster, or as fast as possible. For tests, demos, and pipelines developed
 * on a machine without eBPF.
 */
import { Subject, type Observable } from 'rxjs';
import type { ComponentContext, Receiver } from '../../core/component.js';
import { eventBatch, type EventBatch } from '../../core/events.js';
import { UserFacingError } from '../../core/errors.js';
import { monotonicNowNs } from '../../core/clock.js';
import type { ReplayConfig } from './config.js';
import { parseRecording, readRecording, type RecordedBatch } from './recording.js';

/** Longest stretch of replaying without letting the event loop run. */
const YIELD_EVERY_MS = 10;

export class ReplayReceiver implements Receiver {
  private readonly subject = new Subject<EventBatch>();
  readonly output: Observable<EventBatch> = this.subject.asObservable();
  private timer?: NodeJS.Timeout;
  private stopped = false;
  private finished!: Promise<void>;

  constructor(
    private readonly config: ReplayConfig,
    private readonly ctx: ComponentContext,
  ) {}

  async start(): Promise<void> {
    let batches: RecordedBatch[];
    try {
      batches = parseRecording(readRecording(this.config.path), this.config.path);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      throw new UserFacingError(code ? `cannot read the recording ${this.config.path}: ${code}` : (err as Error).message, 'record one with `tcpotel record --out FILE`');
    }
    this.finished = this.play(batches);
  }

  private async play(batches: RecordedBatch[]): Promise<void> {
    if (!batches.length) return;
    const firstTime = batches.find((b) => b.events.length)?.events[0]?.timeNs ?? 0;
    let turn = Date.now();
    do {
      const shift = this.config.rebase_time ? monotonicNowNs() - firstTime : 0;
      const t0 = Date.now();
      for (const b of batches) {
        if (this.stopped) return;
        if (this.config.speed > 0) {
          const wait = t0 + b.at / this.config.speed - Date.now();
          if (wait > 0) {
            await new Promise<void>((r) => (this.timer = setTimeout(r, wait)));
            turn = Date.now();
          }
        }
        // As fast as possible is still a few milliseconds at a time: signals, timers and
        // exporters get their turn (a SIGTERM is handled, sockets are written).
        if (Date.now() - turn >= YIELD_EVERY_MS) {
          await new Promise<void>((r) => setImmediate(r));
          turn = Date.now();
        }
        if (this.stopped) return;
        const events = shift ? b.events.map((e) => ({ ...e, timeNs: e.timeNs + shift })) : b.events;
        this.ctx.telemetry.incoming(events.length);
        this.ctx.telemetry.outgoing(events.length);
        this.subject.next(eventBatch(this.ctx.id, events, b.stateCounts ? { stateCounts: b.stateCounts } : undefined));
      }
    } while (this.config.loop && !this.stopped);
  }

  /** Resolves when the whole recording has been played (never, with loop). */
  whenFinished(): Promise<void> {
    return this.finished;
  }

  async shutdown(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.subject.complete();
  }
}
