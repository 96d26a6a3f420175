import type { ProcessorFactory } from '../../core/component.js';
import { aggregate } from './aggregate.js';
import { aggregateConfigSchema, defaultAggregateConfig, keyReferences, type AggregateConfig } from './config.js';

export const aggregateProcessorFactory: ProcessorFactory<AggregateConfig> = {
  type: 'aggregate',
  kind: 'processor',
  description: 'turns connection events into metrics, per window, keyed by five-tuple or any attribute set; caps series',
  schema: aggregateConfigSchema,
  createDefaultConfig: defaultAggregateConfig,
  accepts: ['events'],
  output: () => 'metrics',
  create: aggregate,
  readsAttributes: (config) => keyReferences(config.keys),
};
