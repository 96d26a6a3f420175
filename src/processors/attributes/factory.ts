import { processorFactory } from '../../core/component.js';
import { attributes } from './attributes.js';
import { attributesConfigSchema, defaultAttributesConfig } from './config.js';

export const attributesProcessorFactory = processorFactory({
  type: 'attributes',
  description: 'inserts, updates, upserts, deletes or hashes attributes of events and metric points (as the Collector’s attributes)',
  schema: attributesConfigSchema,
  createDefaultConfig: defaultAttributesConfig,
  accepts: ['events', 'metrics'],
  create: attributes,
  setsAttributes: (config) => config.actions.filter((a) => a.action === 'insert' || a.action === 'upsert').map((a) => a.key),
});
