/**
 * Replays recorded event batches (JSON lines, as `tcpotel record` writes them), at their
 * recorded pace, faster, or as fast as possible. For tests, demos, and pipelines developed
 * on a machine without eBPF.
 */
import { readFileSync } from 'node:fs';
import { Subject, type Observable } from 'rxjs';
import { z } from 'zod';
import type { ComponentContext, Receiver, ReceiverFactory } from '../../core/component.js';
import { EVENT_KINDS, eventBatch, type EventBatch, type StateCounts, type TcpEvent } from '../../core/events.js';
import { monotonicNowNs } from '../../core/clock.js';

export const replayConfigSchema = z.strictObject({
  path: z.string().min(1, { message: 'path is required: a recording made with `tcpotel record`' }),
  /** 1: as recorded; 2: twice as fast; 0: as fast as possible. */
  speed: z.number().nonnegative(),
  /** Start again from the beginning at the end. */
  loop: z.boolean(),
  /** Shift event times so the recording looks like it is happening now. */
  rebase_time: z.boolean(),
});
export type ReplayConfig = z.output<typeof replayConfigSchema>;

export function defaultReplayConfig() {
  return { path: '', speed: 1, loop: false, rebase_time: true };
}

export interface RecordedBatch {
  /** Milliseconds since the recording started. */
  at: number;
  events: TcpEvent[];
  stateCounts?: StateCounts;
}

/** Parses a recording; errors name the line. */
export function parseRecording(text: string, file = 'recording'): RecordedBatch[] {
  const out: RecordedBatch[] = [];
  text.split('\n').forEach((line, i) => {
    if (!line.trim()) return;
    let b: RecordedBatch;
    try {
      b = JSON.parse(line) as RecordedBatch;
    } catch (err) {
      throw new Error(`${file}:${i + 1}: not JSON: ${(err as Error).message}`);
    }
    if (typeof b.at !== 'number' || !Array.isArray(b.events)) throw new Error(`${file}:${i + 1}: expected {"at": ms, "events": [...]}`);
    for (const e of b.events) {
      if (!EVENT_KINDS.includes(e.kind)) throw new Error(`${file}:${i + 1}: unknown event kind "${String(e.kind)}"`);
    }
    out.push(b);
  });
  return out;
}

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
    const batches = parseRecording(readFileSync(this.config.path, 'utf8'), this.config.path);
    this.finished = this.play(batches);
  }

  private async play(batches: RecordedBatch[]): Promise<void> {
    const firstTime = batches.find((b) => b.events.length)?.events[0]?.timeNs ?? 0;
    do {
      const shift = this.config.rebase_time ? monotonicNowNs() - firstTime : 0;
      const t0 = Date.now();
      for (const b of batches) {
        if (this.stopped) return;
        if (this.config.speed > 0) {
          const wait = t0 + b.at / this.config.speed - Date.now();
          if (wait > 0) await new Promise<void>((r) => (this.timer = setTimeout(r, wait)));
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

export const replayReceiverFactory: ReceiverFactory<ReplayConfig> = {
  type: 'replay',
  kind: 'receiver',
  description: 'replays event batches recorded with `tcpotel record` (JSON lines), at any speed',
  schema: replayConfigSchema,
  createDefaultConfig: defaultReplayConfig,
  create: (config, ctx) => new ReplayReceiver(config, ctx),
};
