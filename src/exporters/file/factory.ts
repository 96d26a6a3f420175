import { exporterFactory } from '../../core/component.js';
import { defaultFileConfig, fileConfigSchema } from './config.js';
import { FileExporter } from './file.js';

export const fileExporterFactory = exporterFactory({
  type: 'file',
  description: 'OTLP/JSON export requests, one per line, to a file rotated by size (bounded write queue)',
  schema: fileConfigSchema,
  createDefaultConfig: defaultFileConfig,
  exporter: FileExporter,
});
