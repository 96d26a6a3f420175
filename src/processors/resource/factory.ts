import type { ProcessorFactory } from '../../core/component.js';
import { defaultResourceConfig, resourceConfigSchema, type ResourceConfig } from './config.js';
import { resource } from './resource.js';

export const resourceProcessorFactory: ProcessorFactory<ResourceConfig> = {
  type: 'resource',
  kind: 'processor',
  description: 'detects host, OS and process resource attributes once and sets them (with insert/update/upsert/delete actions) on every batch',
  schema: resourceConfigSchema,
  createDefaultConfig: defaultResourceConfig,
  accepts: ['events', 'metrics'],
  output: (input) => input,
  create: (config, ctx) => resource(config, ctx),
};
