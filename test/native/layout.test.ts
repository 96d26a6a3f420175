import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadAddon } from '../../src/native/addon.js';
import { DIAG_FLAG, DIAG_OFFSETS, DIAG_RECORD_SIZE, FLAG, ITER_MODE, OFFSETS, RECORD_SIZE } from '../../src/native/records.js';
import { KIND_COUNT } from '../../src/receivers/ebpf/record.js';

test('the decoder layout matches the C struct the addon was compiled with', () => {
  const layout = loadAddon().layout();
  assert.equal(layout.eventSize, RECORD_SIZE);
  assert.equal(layout.kinds, KIND_COUNT);
  assert.deepEqual(layout.offsets, { ...OFFSETS });
});

test('the record flags and iterator modes are those of bpf/tcpotel.h', () => {
  const layout = loadAddon().layout();
  assert.deepEqual(layout.flags, { ...FLAG });
  assert.deepEqual(layout.iterModes, { ...ITER_MODE });
});

test('the sock_diag decoder layout matches the C++ struct the addon was compiled with', () => {
  const layout = loadAddon().sockdiagLayout();
  assert.equal(layout.recordSize, DIAG_RECORD_SIZE);
  assert.deepEqual(layout.offsets, { ...DIAG_OFFSETS });
  assert.deepEqual(layout.flags, { ...DIAG_FLAG });
});
