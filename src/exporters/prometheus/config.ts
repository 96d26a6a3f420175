/** Settings of the prometheus exporter: where it listens, what it keeps, what a client may cost. */
import { z } from 'zod';
import { duration } from '../../config/units.js';
import { LISTEN_ENDPOINT } from '../../core/address.js';

const positiveDuration = (key: string) => duration().refine((ms) => ms > 0, { message: `${key} must be more than 0` });

export const prometheusConfigSchema = z.strictObject({
  /** host:port to listen on. */
  endpoint: z.string().regex(LISTEN_ENDPOINT, { message: 'endpoint must be host:port, e.g. 127.0.0.1:9464' }),
  /** Prefix for every metric name. */
  namespace: z.string().regex(/^([a-zA-Z_][a-zA-Z0-9_]*)?$/, { message: 'namespace must be a valid Prometheus name prefix' }),
  /** Series that nothing updates for this long disappear from the endpoint. */
  metric_expiration: duration(),
  max_series: z.number().int().min(1),
  /**
   * Client connections open at once. Beyond, a new connection closes the one that has
   * waited longest without a response under way (or whose response is stalled on a slow
   * reader); when every one is busy, the new one is closed. Bounds the descriptors and
   * memory clients can take.
   */
  max_connections: z.number().int().min(1).max(10_000),
  /** A connection that has not sent a complete request head this long after it opened is closed. */
  read_header_timeout: positiveDuration('read_header_timeout'),
  /** A kept-alive connection with no new request for this long is closed. */
  idle_timeout: positiveDuration('idle_timeout'),
  /** A response whose client has taken none of what is queued for it for this long is cut (a slow reader). */
  write_timeout: positiveDuration('write_timeout'),
});
export type PrometheusConfig = z.output<typeof prometheusConfigSchema>;

export function defaultPrometheusConfig() {
  return {
    endpoint: '127.0.0.1:9464',
    namespace: '',
    metric_expiration: '5m',
    max_series: 50_000,
    max_connections: 64,
    read_header_timeout: '10s',
    idle_timeout: '2m',
    write_timeout: '10s',
  };
}
