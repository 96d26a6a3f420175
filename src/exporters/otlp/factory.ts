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

function settings(transport: 'grpc' | 'http', config: OtlpConfig | OtlpHttpConfig, signal: 'logs' | 'metrics', selfMetrics: boolean) {
  return {
    resolved: resolveOtlp(transport, config, signal),
    retry: config.retry_on_failure,
    queue: config.sending_queue,
    maxSeries: config.max_series,
    seriesExpiryMs: config.series_expiry,
    includeSelfMetrics: selfMetrics,
    groupBy: config.group_by_attrs,
  };
}

export const otlpExporterFactory: ExporterFactory<OtlpConfig> = {
  type: 'otlp',
  kind: 'exporter',
  description: 'OTLP over gRPC to a Collector or backend (metrics and logs); queue, retry, TLS, headers, gzip',
  schema: otlpConfigSchema,
  createDefaultConfig: defaultOtlpConfig,
  signals: ['metrics', 'logs'],
  create: (config, ctx) => new OtlpExporter(settings('grpc', config, ctx.signal, ctx.selfMetrics), ctx),
};

export const otlpHttpExporterFactory: ExporterFactory<OtlpHttpConfig> = {
  type: 'otlphttp',
  kind: 'exporter',
  description: 'OTLP over HTTP/protobuf (metrics and logs); queue, retry, TLS, headers, gzip',
  schema: otlpHttpConfigSchema,
  createDefaultConfig: defaultOtlpHttpConfig,
  signals: ['metrics', 'logs'],
  create: (config, ctx) => new OtlpExporter(settings('http', config, ctx.signal, ctx.selfMetrics), ctx),
};
