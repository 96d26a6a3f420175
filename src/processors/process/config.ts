import { z } from 'zod';
import { duration } from '../../config/units.js';

export const processConfigSchema = z.strictObject({
  /** Add process.command_line (off by default: command lines can carry secrets). */
  command_line: z.boolean(),
  /** Processes remembered at once (LRU); evictions are counted. */
  cache_size: z.number().int().min(1, { message: 'cache_size must be at least 1' }),
  /** How long what was read about a process is reused. */
  cache_ttl: duration().refine((ms) => ms > 0, { message: 'cache_ttl must be more than 0' }),
  /** How long a failed lookup (the process has exited) is remembered. */
  negative_ttl: duration(),
});

export type ProcessConfig = z.output<typeof processConfigSchema>;

export function defaultProcessConfig() {
  return { command_line: false, cache_size: 4096, cache_ttl: '60s', negative_ttl: '5s' };
}
