import type { ExtensionFactory } from '../../core/component.js';
import { defaultHealthCheckConfig, healthCheckConfigSchema, type HealthCheckConfig } from './config.js';
import { HealthCheck } from './health_check.js';

export const healthCheckExtensionFactory: ExtensionFactory<HealthCheckConfig> = {
  type: 'health_check',
  kind: 'extension',
  description: 'answers HTTP GET with 200 once every receiver is attached and every exporter started, 503 while starting, stopping, or when a receiver failed or an exporter has failed for longer than exporter_failure_window',
  schema: healthCheckConfigSchema,
  createDefaultConfig: defaultHealthCheckConfig,
  create: (config, ctx) => new HealthCheck(config, ctx),
};
