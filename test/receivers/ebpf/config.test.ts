import { test } from 'node:test';
import assert from 'node:assert/strict';
import { defaultEbpfConfig, ebpfConfigSchema } from '../../../src/receivers/ebpf/config.js';
import { createEbpfReceiverFactory } from '../../../src/receivers/ebpf/factory.js';
import { EbpfReceiver } from '../../../src/receivers/ebpf/ebpf.js';
import { testContext } from '../../support/context.js';

test('the defaults are complete: the sizes the native side receives come from here', () => {
  const c = ebpfConfigSchema.parse(defaultEbpfConfig());
  assert.equal(c.ring_buffer_size, 16 * 1024 * 1024);
  assert.equal(c.max_sockets, 131072);
  assert.equal(c.fallback, 'sockdiag');
});

test('rejects what the kernel would refuse', () => {
  const ok = (over: Record<string, unknown>) => ebpfConfigSchema.safeParse({ ...defaultEbpfConfig(), ...over }).success;
  assert.equal(ok({ ring_buffer_size: '4MiB' }), true);
  assert.equal(ok({ ring_buffer_size: '3MiB' }), false, 'not a power of two');
  assert.equal(ok({ wakeup_batch: '8MiB' }), false, 'half of the ring or more');
  assert.equal(ok({ fallback: 'maybe' }), false);
});

test('the factory: type, kind, defaults; create makes an EbpfReceiver (nothing loaded before start)', () => {
  const factory = createEbpfReceiverFactory();
  assert.equal(factory.type, 'ebpf');
  assert.equal(factory.kind, 'receiver');
  assert.deepEqual(factory.createDefaultConfig(), defaultEbpfConfig());
  const rx = factory.create(ebpfConfigSchema.parse(defaultEbpfConfig()), testContext('ebpf', 'receiver'));
  assert.ok(rx instanceof EbpfReceiver);
});
