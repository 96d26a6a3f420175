import { ebpfConfigSchema, defaultEbpfConfig } from '../../src/receivers/ebpf/config.js';
import { EbpfReceiver } from '../../src/receivers/ebpf/ebpf.js';
import type { TcpEvent, EventBatch } from '../../src/core/events.js';
import { testContext } from './context.js';

export interface CollectingReceiver {
  rx: EbpfReceiver;
  events: TcpEvent[];
  batches: EventBatch[];
  /** Errors that ended the receiver's output. */
  errors: Error[];
  /** Events touching one of these ports. */
  onPorts(...ports: number[]): TcpEvent[];
  stop(): Promise<void>;
}

/** Starts the real eBPF receiver and collects every batch it emits. */
export async function startEbpf(overrides: Record<string, unknown> = {}): Promise<CollectingReceiver> {
  const defaults = defaultEbpfConfig();
  const config = ebpfConfigSchema.parse({
    ...defaults,
    // Samples at the interval asked for, however many sockets this (busy) host has.
    sample_budget: 1,
    ...overrides,
    filter: { ...defaults.filter, ...(overrides.filter as object) },
    hooks: { ...defaults.hooks, ...(overrides.hooks as object) },
  });
  const rx = new EbpfReceiver(config, testContext('ebpf', 'receiver'));
  const events: TcpEvent[] = [];
  const batches: EventBatch[] = [];
  const errors: Error[] = [];
  rx.output.subscribe({
    next: (b) => {
      batches.push(b);
      for (const e of b.events) events.push(e);
    },
    error: (err: Error) => errors.push(err),
  });
  await rx.start();
  return {
    rx,
    events,
    batches,
    errors,
    onPorts: (...ports) => events.filter((e) => ports.includes(e.localPort) || ports.includes(e.remotePort)),
    stop: () => rx.shutdown(),
  };
}
