import type { ExporterFactory } from '../../core/component.js';
import { defaultPrometheusConfig, prometheusConfigSchema, type PrometheusConfig } from './config.js';
import { PrometheusExporter } from './prometheus.js';

export const prometheusExporterFactory: ExporterFactory<PrometheusConfig> = {
  type: 'prometheus',
  kind: 'exporter',
  description: 'Prometheus pull endpoint (/metrics) with cumulative metrics, on 127.0.0.1:9464 by default',
  schema: prometheusConfigSchema,
  createDefaultConfig: defaultPrometheusConfig,
  signals: ['metrics'],
  create: (config, ctx) => new PrometheusExporter(config, ctx),
};
