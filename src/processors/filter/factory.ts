import { processorFactory } from '../../core/component.js';
import { defaultFilterConfig, filterConfigSchema } from './config.js';
import { filter } from './filter.js';

export const filterProcessorFactory = processorFactory({
  type: 'filter',
  description: 'keeps or drops connection events by kind, direction, ports, CIDRs, process, cgroup, container or state',
  schema: filterConfigSchema,
  createDefaultConfig: defaultFilterConfig,
  create: filter,
});
