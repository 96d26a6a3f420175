import type { ProcessorFactory } from '../../core/component.js';
import { defaultFilterConfig, filterConfigSchema, type FilterConfig } from './config.js';
import { filter } from './filter.js';

export const filterProcessorFactory: ProcessorFactory<FilterConfig> = {
  type: 'filter',
  kind: 'processor',
  description: 'keeps or drops connection events by kind, direction, ports, CIDRs, process, cgroup, container or state',
  schema: filterConfigSchema,
  createDefaultConfig: defaultFilterConfig,
  accepts: ['events'],
  output: () => 'events',
  create: filter,
};
