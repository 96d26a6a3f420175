import type { ReceiverFactory } from '../../core/component.js';
import { defaultReplayConfig, replayConfigSchema, type ReplayConfig } from './config.js';
import { ReplayReceiver } from './replay.js';

export const replayReceiverFactory: ReceiverFactory<ReplayConfig> = {
  type: 'replay',
  kind: 'receiver',
  description: 'replays event batches recorded with `tcpotel record` (JSON lines), at any speed',
  schema: replayConfigSchema,
  createDefaultConfig: defaultReplayConfig,
  create: (config, ctx) => new ReplayReceiver(config, ctx),
};
