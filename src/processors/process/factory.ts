import type { ProcessorFactory } from '../../core/component.js';
import { defaultProcessConfig, processConfigSchema, type ProcessConfig } from './config.js';
import { enrichWithProcess } from './process.js';
import { PROCESS_ATTRS } from '../../semconv/attributes.js';

export const processProcessorFactory: ProcessorFactory<ProcessConfig> = {
  type: 'process',
  kind: 'processor',
  description: 'adds the owning process’s executable, owner, container and pod ids (and opt-in command line) from /proc, cached per pid',
  schema: processConfigSchema,
  createDefaultConfig: defaultProcessConfig,
  accepts: ['events'],
  output: () => 'events',
  create: (config, ctx) => enrichWithProcess(config, ctx),
  setsAttributes: () => PROCESS_ATTRS,
};
