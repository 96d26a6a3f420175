import type { ExporterFactory } from '../../core/component.js';
import { defaultFileConfig, fileConfigSchema, type FileConfig } from './config.js';
import { FileExporter } from './file.js';

export const fileExporterFactory: ExporterFactory<FileConfig> = {
  type: 'file',
  kind: 'exporter',
  description: 'OTLP/JSON export requests, one per line, to a file rotated by size (bounded write queue)',
  schema: fileConfigSchema,
  createDefaultConfig: defaultFileConfig,
  signals: ['metrics', 'logs'],
  create: (config, ctx) => new FileExporter(config, ctx),
};
