import { test } from 'node:test';
import assert from 'node:assert/strict';
import { OWNER_WORD, TUPLE_WORDS, TWO_32, readU64, writeU64 } from '../../src/native/records.js';

test('u64 fields: exact up to 2^53, little-endian words', () => {
  const buf = Buffer.alloc(24);
  for (const v of [0, 1, TWO_32 - 1, TWO_32, TWO_32 + 1, 2 ** 52 + 7, Number.MAX_SAFE_INTEGER]) {
    writeU64(buf, 8, v);
    assert.equal(readU64(buf, 8), v);
    assert.equal(buf.readBigUInt64LE(8), BigInt(v));
  }
  assert.equal(buf.readUInt32LE(0), 0, 'nothing written before the field');
  assert.equal(buf.readUInt32LE(16), 0, 'nothing written after the field');
});

test('the raw tuple: ten tuple words, then the owner (pid and 16 bytes of name)', () => {
  assert.equal(OWNER_WORD, 10);
  assert.equal(TUPLE_WORDS, OWNER_WORD + 1 + 16 / 4);
});
