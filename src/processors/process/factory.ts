import { processorFactory } from '../../core/component.js';
import { defaultProcessConfig, processConfigSchema } from './config.js';
import { enrichWithProcess } from './process.js';
import { PROCESS_ATTRS } from '../../semconv/attributes.js';

export const processProcessorFactory = processorFactory({
  type: 'process',
  description: 'adds the owning process’s executable, owner, container and pod ids (and opt-in command line) from /proc, cached per pid',
  schema: processConfigSchema,
  createDefaultConfig: defaultProcessConfig,
  create: (config, ctx) => enrichWithProcess(config, ctx),
  setsAttributes: () => PROCESS_ATTRS,
});
