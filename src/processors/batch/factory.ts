import type { ProcessorFactory } from '../../core/component.js';
import { batch } from './batch.js';
import { batchConfigSchema, defaultBatchConfig, type BatchConfig } from './config.js';

export const batchProcessorFactory: ProcessorFactory<BatchConfig> = {
  type: 'batch',
  kind: 'processor',
  description: 'joins event batches up to send_batch_size or timeout, split to send_batch_max_size (as the Collector’s batch)',
  schema: batchConfigSchema,
  createDefaultConfig: defaultBatchConfig,
  accepts: ['events', 'metrics'],
  output: (input) => input,
  create: batch,
};
