/** Settings of the prometheus exporter: where it listens and what it keeps. */
import { z } from 'zod';
import { duration } from '../../config/units.js';

export const prometheusConfigSchema = z.strictObject({
  /** host:port to listen on. */
  endpoint: z.string().regex(/^(\[[0-9a-fA-F:]+\]|[^:\s]*):\d{1,5}$/, { message: 'endpoint must be host:port, e.g. 127.0.0.1:9464' }),
  /** Prefix for every metric name. */
  namespace: z.string().regex(/^([a-zA-Z_][a-zA-Z0-9_]*)?$/, { message: 'namespace must be a valid Prometheus name prefix' }),
  /** Series that nothing updates for this long disappear from the endpoint. */
  metric_expiration: duration(),
  max_series: z.number().int().min(1),
});
export type PrometheusConfig = z.output<typeof prometheusConfigSchema>;

export function defaultPrometheusConfig() {
  return { endpoint: '127.0.0.1:9464', namespace: '', metric_expiration: '5m', max_series: 50_000 };
}

export function splitHostPort(endpoint: string): { host: string; port: number } {
  const i = endpoint.lastIndexOf(':');
  let host = endpoint.slice(0, i);
  if (host.startsWith('[')) host = host.slice(1, -1);
  return { host: host || '0.0.0.0', port: Number(endpoint.slice(i + 1)) };
}
