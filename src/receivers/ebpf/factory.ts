import { asyncScheduler } from 'rxjs';
import type { ReceiverFactory } from '../../core/component.js';
import { defaultEbpfConfig, ebpfConfigSchema, type EbpfConfig } from './config.js';
import { EbpfReceiver } from './receiver.js';

export const ebpfReceiverFactory: ReceiverFactory<EbpfConfig> = {
  type: 'ebpf',
  kind: 'receiver',
  description: 'every TCP connection from eBPF tracepoints and iterators (needs root or CAP_BPF+CAP_PERFMON)',
  schema: ebpfConfigSchema,
  createDefaultConfig: defaultEbpfConfig,
  create: (config, ctx) => new EbpfReceiver(config, { ...ctx, scheduler: ctx.scheduler ?? asyncScheduler }),
};
