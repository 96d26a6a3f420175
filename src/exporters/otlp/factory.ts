import type { ExporterFactory } from '../../core/component.js';
import { OtlpExporter } from './otlp.js';
import {
  defaultOtlpConfig,
  defaultOtlpHttpConfig,
  otlpConfigSchema,
  otlpHttpConfigSchema,
  resolveOtlp,
  type OtlpConfig,
  type OtlpHttpConfig,
} from './config.js';

/** The factory of one OTLP transport: otlp (gRPC) or otlphttp. */
function otlpFactory<C extends OtlpConfig | OtlpHttpConfig>(
  type: string,
  transport: 'grpc' | 'http',
  description: string,
  schema: ExporterFactory<C>['schema'],
  createDefaultConfig: () => unknown,
): ExporterFactory<C> {
  return {
    type,
    kind: 'exporter',
    description,
    schema,
    createDefaultConfig,
    signals: ['metrics', 'logs'],
    create: (config, ctx) =>
      new OtlpExporter(
        {
          resolved: resolveOtlp(transport, config, ctx.signal),
          retry: config.retry_on_failure,
          queue: config.sending_queue,
          maxSeries: config.max_series,
          seriesExpiryMs: config.series_expiry,
          includeSelfMetrics: ctx.selfMetrics,
          groupBy: config.group_by_attrs,
        },
        ctx,
      ),
  };
}

export const otlpExporterFactory = otlpFactory<OtlpConfig>(
  'otlp',
  'grpc',
  'OTLP over gRPC to a Collector or backend (metrics and logs); queue, retry, TLS, headers, gzip',
  otlpConfigSchema,
  defaultOtlpConfig,
);

export const otlpHttpExporterFactory = otlpFactory<OtlpHttpConfig>('otlphttp', 'http', 'OTLP over HTTP/protobuf (metrics and logs); queue, retry, TLS, headers, gzip', otlpHttpConfigSchema, defaultOtlpHttpConfig);
