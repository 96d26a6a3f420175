import { z } from 'zod';
import { EVENT_KINDS, type EventKind } from '../../core/events.js';
import { crossCheck } from '../../config/units.js';

export const sampleConfigSchema = z
  .strictObject({
    /** Share of events (or connections) kept: 0 < ratio <= 1. */
    ratio: z
      .number()
      .gt(0, { message: 'ratio must be more than 0 (to drop everything, use a filter processor)' })
      .max(1, { message: 'ratio must be at most 1 (1 keeps everything)' }),
    /** connection: keep or drop whole connections (by five-tuple hash); event: each event on its own. */
    mode: z.enum(['connection', 'event']),
    /** Seed of the hash (connection mode) or of the random generator (event mode). */
    seed: z.number().int().min(-(2 ** 31)).max(2 ** 32 - 1),
    /** Events per second let through after the ratio; 0: no limit. */
    rate_limit: z.number().nonnegative({ message: 'rate_limit must be 0 (no limit) or a positive number of events per second' }),
    /** Events that may pass at once after a quiet period; 0: the same as rate_limit. */
    burst: z.number().int().nonnegative(),
    /** Only these kinds are sampled and rate limited; others always pass. Empty: all kinds. */
    kinds: z.array(z.enum(EVENT_KINDS as [EventKind, ...EventKind[]])),
  })
  .superRefine(crossCheck('burst', (c) => c.burst > 0 && c.rate_limit === 0, 'burst only applies with a rate_limit: set rate_limit too, or remove burst'));

export type SampleConfig = z.output<typeof sampleConfigSchema>;

export function defaultSampleConfig() {
  return {
    ratio: 1,
    mode: 'connection',
    seed: 0,
    rate_limit: 0,
    burst: 0,
    kinds: [] as string[],
  };
}
