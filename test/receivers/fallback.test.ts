/**
 * The eBPF receiver's fallback to sockdiag is wired in src/receivers/fallback.ts: the
 * registry's ebpf factory carries it; an EbpfReceiver without it fails as eBPF failed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Subject } from 'rxjs';
import type { Receiver, ReceiverFactory } from '../../src/core/component.js';
import { eventBatch, type EventBatch } from '../../src/core/events.js';
import { SetupError } from '../../src/core/errors.js';
import { defaultRegistry } from '../../src/components.js';
import { ebpfReceiverFactory } from '../../src/receivers/fallback.js';
import { sockdiagReceiverFactory } from '../../src/receivers/sockdiag/factory.js';
import { EbpfReceiver } from '../../src/receivers/ebpf/ebpf.js';
import { defaultEbpfConfig, ebpfConfigSchema } from '../../src/receivers/ebpf/config.js';
import { makeEvent } from '../support/events.js';
import { testContext } from '../support/context.js';

const refused = new SetupError('loading the BPF programs was refused (load: EPERM)', 'run as root');

/** An EbpfReceiver whose eBPF start fails as on a host without privileges. */
function failingEbpf(over: Record<string, unknown>, fallback?: ReceiverFactory): EbpfReceiver {
  const config = ebpfConfigSchema.parse({ ...defaultEbpfConfig(), ...over });
  const rx = new EbpfReceiver(config, testContext('ebpf', 'receiver'), { fallback });
  (rx as unknown as { startEbpf(): Promise<void> }).startEbpf = async () => {
    throw refused;
  };
  return rx;
}

/** A stand-in for the sockdiag factory: records the config it was given, emits one batch. */
function fakeSockdiag() {
  const configs: unknown[] = [];
  const factory: ReceiverFactory = {
    ...(sockdiagReceiverFactory as ReceiverFactory),
    create(config): Receiver {
      configs.push(config);
      const subject = new Subject<EventBatch>();
      return {
        output: subject,
        start: async () => subject.next(eventBatch('ebpf', [makeEvent({ localPort: 80 }), makeEvent({ localPort: 81, remotePort: 9 })])),
        shutdown: async () => subject.complete(),
      };
    },
  };
  return { factory, configs };
}

test('the registry lists the ebpf factory that falls back to sockdiag', () => {
  const registry = defaultRegistry();
  assert.equal(registry.receivers.get('ebpf'), ebpfReceiverFactory);
  assert.equal(registry.receivers.get('sockdiag'), sockdiagReceiverFactory);
});

test('eBPF refused, fallback: sockdiag: the sockdiag receiver polls instead, with the receiver filter applied', async () => {
  const { factory, configs } = fakeSockdiag();
  const rx = failingEbpf({ filter: { ...defaultEbpfConfig().filter, family: 'ipv6', ports: [80] }, sample_interval: '250ms' }, factory);
  const batches: EventBatch[] = [];
  rx.output.subscribe((b) => batches.push(b));
  await rx.start();
  assert.ok(rx.fallback);
  assert.deepEqual(configs.map((c) => ({ poll: (c as { poll_interval: number }).poll_interval, families: (c as { families: string[] }).families })), [{ poll: 250, families: ['ipv6'] }]);
  assert.deepEqual(batches.flatMap((b) => b.events.map((e) => e.localPort)), [80]);
});

test('eBPF refused, fallback: none, or no fallback wired: the error says what to do', async () => {
  const { factory } = fakeSockdiag();
  await assert.rejects(failingEbpf({ fallback: 'none' }, factory).start(), (err) => err === refused);
  await assert.rejects(failingEbpf({}, undefined).start(), (err) => err === refused);
});
