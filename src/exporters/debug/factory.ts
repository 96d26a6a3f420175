import { exporterFactory } from '../../core/component.js';
import { debugConfigSchema, defaultDebugConfig } from './config.js';
import { DebugExporter } from './debug.js';

export const debugExporterFactory = exporterFactory({
  type: 'debug',
  description: 'human-readable output to stdout or stderr (verbosity basic, normal, detailed)',
  schema: debugConfigSchema,
  createDefaultConfig: defaultDebugConfig,
  exporter: DebugExporter,
});
