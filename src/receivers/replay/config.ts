/** The replay receiver's config: which recording, how fast, looped or not. */
import { z } from 'zod';

export const replayConfigSchema = z.strictObject({
  path: z.string().min(1, { message: 'path is required: a recording made with `tcpotel record`' }),
  /** 1: as recorded; 2: twice as fast; 0: as fast as possible (still yielding to the event loop). */
  speed: z.number().nonnegative().max(1_000_000),
  /** Start again from the beginning at the end. */
  loop: z.boolean(),
  /** Shift event times so the recording looks like it is happening now. */
  rebase_time: z.boolean(),
});
export type ReplayConfig = z.output<typeof replayConfigSchema>;

export function defaultReplayConfig() {
  return { path: '', speed: 1, loop: false, rebase_time: true };
}
