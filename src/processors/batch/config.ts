import { z } from 'zod';
import { crossCheck, duration } from '../../config/units.js';

/** Events a batch (and the buffer) holds at most. */
export const MAX_BATCH = 1_000_000;

/** The Collector's batch processor settings. */
export const batchConfigSchema = z
  .strictObject({
    /** Send once this many events are buffered: also what the buffer holds at most. */
    send_batch_size: z.number().int().nonnegative().max(MAX_BATCH, { message: `send_batch_size must be at most ${MAX_BATCH}` }),
    /** Send what is buffered this long after the first event came in; 0: send at once. */
    timeout: duration({ max: 60_000 }),
    /** Split sends to at most this many events; 0: no limit. */
    send_batch_max_size: z.number().int().nonnegative().max(MAX_BATCH, { message: `send_batch_max_size must be at most ${MAX_BATCH}` }),
  })
  .superRefine(crossCheck('send_batch_max_size', (c) => c.send_batch_max_size > 0 && c.send_batch_max_size < c.send_batch_size, 'send_batch_max_size must be >= send_batch_size'));

export type BatchConfig = z.output<typeof batchConfigSchema>;

export function defaultBatchConfig() {
  return {
    send_batch_size: 8192,
    timeout: '200ms',
    send_batch_max_size: 0,
  };
}
