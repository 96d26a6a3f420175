import { processorFactory } from '../../core/component.js';
import { defaultResourceConfig, resourceConfigSchema } from './config.js';
import { resource } from './resource.js';

export const resourceProcessorFactory = processorFactory({
  type: 'resource',
  description: 'detects host, OS and process resource attributes once and sets them (with insert/update/upsert/delete actions) on every batch',
  schema: resourceConfigSchema,
  createDefaultConfig: defaultResourceConfig,
  accepts: ['events', 'metrics'],
  create: (config, ctx) => resource(config, ctx),
});
