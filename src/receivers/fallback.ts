/**
 * The eBPF receiver as the registry has it: where eBPF cannot run, it falls back to the
 * sockdiag receiver (`fallback: sockdiag`, the default). The two are wired here, above
 * both, so that neither receiver folder imports the other.
 */
import type { ReceiverFactory } from '../core/component.js';
import { createEbpfReceiverFactory } from './ebpf/factory.js';
import { sockdiagReceiverFactory } from './sockdiag/factory.js';

export const ebpfReceiverFactory = createEbpfReceiverFactory({ fallback: sockdiagReceiverFactory as ReceiverFactory });
