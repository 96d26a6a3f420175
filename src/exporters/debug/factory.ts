import type { ExporterFactory } from '../../core/component.js';
import { debugConfigSchema, defaultDebugConfig, type DebugConfig } from './config.js';
import { DebugExporter } from './debug.js';

export const debugExporterFactory: ExporterFactory<DebugConfig> = {
  type: 'debug',
  kind: 'exporter',
  description: 'human-readable output to stdout or stderr (verbosity basic, normal, detailed)',
  schema: debugConfigSchema,
  createDefaultConfig: defaultDebugConfig,
  signals: ['metrics', 'logs'],
  create: (config, ctx) => new DebugExporter(config, ctx),
};
