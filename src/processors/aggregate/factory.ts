import { processorFactory } from '../../core/component.js';
import { aggregate } from './aggregate.js';
import { aggregateConfigSchema, defaultAggregateConfig, keyReferences } from './config.js';

export const aggregateProcessorFactory = processorFactory({
  type: 'aggregate',
  description: 'turns connection events into metrics, per window, keyed by five-tuple or any attribute set; caps series',
  schema: aggregateConfigSchema,
  createDefaultConfig: defaultAggregateConfig,
  output: () => 'metrics',
  create: aggregate,
  readsAttributes: (config) => keyReferences(config.keys),
});
