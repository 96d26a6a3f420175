import { processorFactory } from '../../core/component.js';
import { defaultSampleConfig, sampleConfigSchema } from './config.js';
import { sample } from './sample.js';

export const sampleProcessorFactory = processorFactory({
  type: 'sample',
  description: 'keeps a share of connections or events (deterministic, seeded) and caps the event rate',
  schema: sampleConfigSchema,
  createDefaultConfig: defaultSampleConfig,
  create: sample,
});
