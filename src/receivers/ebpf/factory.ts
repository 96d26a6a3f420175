import { asyncScheduler } from 'rxjs';
import type { ReceiverFactory } from '../../core/component.js';
import { defaultEbpfConfig, ebpfConfigSchema, type EbpfConfig } from './config.js';
import { EbpfReceiver, type EbpfDeps } from './ebpf.js';

/**
 * The eBPF receiver's factory, given what it falls back to where eBPF cannot run
 * (src/receivers/fallback.ts wires the sockdiag receiver in: the registry's ebpf).
 */
export function createEbpfReceiverFactory(deps: EbpfDeps = {}): ReceiverFactory<EbpfConfig> {
  return {
    type: 'ebpf',
    kind: 'receiver',
    description: 'every TCP connection from eBPF tracepoints and iterators (needs root or CAP_BPF+CAP_PERFMON)',
    schema: ebpfConfigSchema,
    createDefaultConfig: defaultEbpfConfig,
    create: (config, ctx) => new EbpfReceiver(config, { ...ctx, scheduler: ctx.scheduler ?? asyncScheduler }, deps),
  };
}
