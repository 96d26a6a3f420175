import { z } from 'zod';
import { duration } from '../../config/units.js';

export const sockdiagConfigSchema = z.strictObject({
  /** How often every TCP socket is dumped and compared with the previous dump. */
  poll_interval: duration().refine((ms) => ms >= 10 && ms <= 3_600_000, {
    message: 'poll_interval must be between 10ms and 1h',
  }),
  /** Address families to dump. */
  families: z
    .array(z.enum(['ipv4', 'ipv6']))
    .min(1, { message: 'families needs at least one of ipv4, ipv6' })
    .refine((f) => new Set(f).size === f.length, { message: 'families lists a family twice' }),
  /** Find each socket's process (pid, comm) through /proc/<pid>/fd; only the user's own processes unless root. */
  resolve_processes: z.boolean(),
  /** Sockets tracked at once; sockets beyond it get no events and are counted as dropped (tracking_cap). */
  max_tracked: z.number().int().min(16).max(16_777_216),
});

export type SockdiagConfig = z.output<typeof sockdiagConfigSchema>;

export function defaultSockdiagConfig() {
  return {
    poll_interval: '1s',
    families: ['ipv4', 'ipv6'] as Array<'ipv4' | 'ipv6'>,
    resolve_processes: true,
    max_tracked: 262144,
  };
}
