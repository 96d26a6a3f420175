import { z } from 'zod';
import { byteSize, duration } from '../../config/units.js';

export const fileConfigSchema = z.strictObject({
  path: z.string().min(1, { message: 'path is required: the file to write' }),
  rotation: z.strictObject({
    /** Start a new file once the current one reaches this size. */
    max_megabytes: z.number().positive().max(1024 * 1024, { message: 'max_megabytes must be at most 1048576 (1TiB)' }),
    /** Rotated files kept (path.1 is the newest). */
    max_backups: z.number().int().min(0).max(1000),
  }),
  temporality: z.enum(['cumulative', 'delta']),
  max_series: z.number().int().min(1).max(10_000_000),
  series_expiry: duration(),
  /**
   * Lines waiting to be written, bounded in items (log records, metric points) and bytes:
   * what does not fit while the disk is behind is dropped and counted (queue_full).
   */
  write_queue: z.strictObject({
    max_items: z.number().int().min(1).max(10_000_000),
    max_bytes: byteSize({ min: 64 * 1024, max: 1024 ** 3 }),
  }),
  /**
   * Records (or metric points) per line at most: a bigger batch is written as several
   * requests. Small lines keep memory low (a line is one allocation, and glibc keeps the
   * arenas that large ones grow).
   */
  max_items_per_line: z.number().int().min(1).max(100_000),
});
export type FileConfig = z.output<typeof fileConfigSchema>;

export function defaultFileConfig() {
  return {
    path: '',
    rotation: { max_megabytes: 100, max_backups: 3 },
    temporality: 'cumulative',
    max_series: 50_000,
    series_expiry: '5m',
    write_queue: { max_items: 100_000, max_bytes: '64MiB' },
    max_items_per_line: 100,
  };
}
