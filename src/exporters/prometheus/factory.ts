import { exporterFactory } from '../../core/component.js';
import { defaultPrometheusConfig, prometheusConfigSchema } from './config.js';
import { PrometheusExporter } from './prometheus.js';

export const prometheusExporterFactory = exporterFactory({
  type: 'prometheus',
  description: 'Prometheus pull endpoint (/metrics) with cumulative metrics, on 127.0.0.1:9464 by default',
  schema: prometheusConfigSchema,
  createDefaultConfig: defaultPrometheusConfig,
  signals: ['metrics'],
  exporter: PrometheusExporter,
});
