import type { ProcessorFactory } from '../../core/component.js';
import { defaultSampleConfig, sampleConfigSchema, type SampleConfig } from './config.js';
import { sample } from './sample.js';

export const sampleProcessorFactory: ProcessorFactory<SampleConfig> = {
  type: 'sample',
  kind: 'processor',
  description: 'keeps a share of connections or events (deterministic, seeded) and caps the event rate',
  schema: sampleConfigSchema,
  createDefaultConfig: defaultSampleConfig,
  accepts: ['events'],
  output: () => 'events',
  create: sample,
};
