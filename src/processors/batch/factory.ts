import { processorFactory } from '../../core/component.js';
import { batch } from './batch.js';
import { batchConfigSchema, defaultBatchConfig } from './config.js';

export const batchProcessorFactory = processorFactory({
  type: 'batch',
  description: 'joins event batches up to send_batch_size or timeout, split to send_batch_max_size (as the Collector’s batch)',
  schema: batchConfigSchema,
  createDefaultConfig: defaultBatchConfig,
  accepts: ['events', 'metrics'],
  create: batch,
});
