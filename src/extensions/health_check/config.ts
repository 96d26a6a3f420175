/** Settings of the health_check extension: where it answers, and how long an exporter may fail. */
import { z } from 'zod';
import { duration } from '../../config/units.js';
import { LISTEN_ENDPOINT } from '../../core/address.js';

export const healthCheckConfigSchema = z.strictObject({
  /** host:port to listen on (the Collector's default port). */
  endpoint: z.string().regex(LISTEN_ENDPOINT, { message: 'endpoint must be host:port, e.g. 127.0.0.1:13133' }),
  /** The path that answers; GET and HEAD. */
  path: z.string().regex(/^\/[^\s?#]*$/, { message: 'path must start with / (e.g. /, /health)' }),
  /**
   * An exporter whose sends have failed without a success in between for longer than
   * this makes tcpotel unhealthy (0: at its first failure). A success makes it healthy again.
   */
  exporter_failure_window: duration(),
});

export type HealthCheckConfig = z.output<typeof healthCheckConfigSchema>;

export function defaultHealthCheckConfig() {
  return { endpoint: '127.0.0.1:13133', path: '/', exporter_failure_window: '5m' };
}
