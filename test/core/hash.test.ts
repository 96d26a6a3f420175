import { test } from 'node:test';
import assert from 'node:assert/strict';
import { addressWords } from '../../src/native/address.js';
import type { TcpEvent } from '../../src/core/events.js';
import { combine, connectionHash, endpointHash, eventConnectionHash, fmix32, mulberry32, rawEndpointHash, tupleWordsHash } from '../../src/core/hash.js';
import { makeEvent } from '../support/events.js';

/** murmur3's fmix32, written again with BigInt arithmetic (no Math.imul). */
function fmix32Reference(h: number): number {
  const M = 0xffffffffn;
  let x = BigInt(h >>> 0);
  x ^= x >> 16n;
  x = (x * 0x85ebca6bn) & M;
  x ^= x >> 13n;
  x = (x * 0xc2b2ae35n) & M;
  x ^= x >> 16n;
  return Number(x);
}

test('fmix32 is murmur3\'s finaliser: unsigned 32-bit, 0 stays 0, agrees with a BigInt version', () => {
  assert.equal(fmix32(0), 0);
  for (const h of [1, 2, 0x7fffffff, 0x80000000, 0xffffffff, 0xdeadbeef, -1, 123456789]) {
    const v = fmix32(h);
    assert.ok(Number.isInteger(v) && v >= 0 && v <= 0xffffffff, `${h} -> ${v}`);
    assert.equal(v, fmix32Reference(h), `fmix32(${h})`);
  }
  assert.notEqual(fmix32(1), fmix32(2));
});

test('connectionHash is symmetric in its endpoints, and tells connections apart', () => {
  const a = connectionHash('10.0.0.5', 51234, '93.184.215.14', 443, 7);
  assert.equal(a, connectionHash('93.184.215.14', 443, '10.0.0.5', 51234, 7));
  assert.notEqual(a, connectionHash('10.0.0.5', 51235, '93.184.215.14', 443, 7), 'another port');
  assert.notEqual(a, connectionHash('10.0.0.6', 51234, '93.184.215.14', 443, 7), 'another address');
  assert.notEqual(a, connectionHash('10.0.0.5', 51234, '93.184.215.14', 443, 8), 'another seed');
  assert.equal(combine(1, 2), combine(2, 1));
  assert.notEqual(combine(1, 2), combine(1, 3));
});

test('endpointHash: an IPv4-mapped IPv6 address hashes as its IPv4 form; ports are 16 bits', () => {
  assert.equal(endpointHash('::ffff:127.0.0.1', 80, 0), endpointHash('127.0.0.1', 80, 0));
  assert.notEqual(endpointHash('::1', 80, 0), endpointHash('127.0.0.1', 80, 0));
  assert.equal(endpointHash('10.1.2.3', 80 + 65536, 3), endpointHash('10.1.2.3', 80, 3));
  assert.equal(endpointHash('10.1.2.3', 80, 3), endpointHash('10.1.2.3', 80, 3), 'cached: the same answer');
});

/** A record's address words as a Uint32Array reads them on this host. */
function recordWords(address: string): { w: Uint32Array; v6: boolean } {
  const words = addressWords(address);
  const bytes = new Uint8Array(16);
  const v6 = address.includes(':');
  if (v6 && words.length === 1) {
    // IPv4-mapped: ::ffff:a.b.c.d as the kernel stores it.
    bytes.set([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff]);
    new DataView(bytes.buffer).setUint32(12, words[0]!, true);
  } else {
    words.forEach((x, i) => new DataView(bytes.buffer).setUint32(i * 4, x, true));
  }
  return { w: new Uint32Array(bytes.buffer), v6 };
}

test('rawEndpointHash over record words equals endpointHash over the address text', () => {
  for (const address of ['127.0.0.1', '10.0.0.5', '255.1.2.3', '::1', '2001:db8::8a2e:370:7334', '::ffff:192.0.2.1', 'fe80::1']) {
    const { w, v6 } = recordWords(address);
    for (const seed of [0, 1, 0xdeadbeef]) {
      assert.equal(rawEndpointHash(w, 0, v6, 443, seed), endpointHash(address, 443, seed), `${address} seed ${seed}`);
    }
  }
  // At an offset into a longer record.
  const words = new Uint32Array(8);
  words.set(recordWords('2001:db8::1').w, 3);
  assert.equal(rawEndpointHash(words, 3, true, 9, 5), endpointHash('2001:db8::1', 9, 5));
});

test('eventConnectionHash: from the raw record when the event has one, else from its text', () => {
  const ev = makeEvent({ localAddress: '10.0.0.5', localPort: 51234, remoteAddress: '93.184.215.14', remotePort: 443 });
  assert.equal(eventConnectionHash(ev, 11), connectionHash('10.0.0.5', 51234, '93.184.215.14', 443, 11));
  const asked: Array<[boolean, number]> = [];
  const raw = Object.assign(makeEvent(), {
    endpointHash(remote: boolean, seed: number) {
      asked.push([remote, seed]);
      return remote ? 200 : 100;
    },
  }) as TcpEvent;
  assert.equal(eventConnectionHash(raw, 11), combine(100, 200));
  assert.deepEqual(asked, [[false, 11], [true, 11]]);
});

test('tupleWordsHash: over the first n words, in order (local and remote told apart)', () => {
  const w = new Uint32Array([9, 1, 2, 3, 4]);
  assert.equal(tupleWordsHash(w, 1, 4), tupleWordsHash(new Uint32Array([1, 2, 3, 4]), 0, 4));
  assert.notEqual(tupleWordsHash(new Uint32Array([1, 2]), 0, 2), tupleWordsHash(new Uint32Array([2, 1]), 0, 2));
  assert.notEqual(tupleWordsHash(w, 1, 3), tupleWordsHash(w, 1, 4));
  assert.equal(tupleWordsHash(w, 0, 0), 0, 'no words: fmix32(0)');
});

test('mulberry32: deterministic per seed, uniform in [0, 1)', () => {
  const a = mulberry32(42);
  const b = mulberry32(42);
  const c = mulberry32(43);
  const xs = Array.from({ length: 10_000 }, () => a());
  assert.deepEqual(Array.from({ length: 10_000 }, () => b()), xs);
  assert.notEqual(c(), xs[0]);
  assert.ok(xs.every((x) => x >= 0 && x < 1));
  const mean = xs.reduce((s, x) => s + x, 0) / xs.length;
  assert.ok(Math.abs(mean - 0.5) < 0.02, `mean ${mean}`);
  const tenths = new Array<number>(10).fill(0);
  for (const x of xs) tenths[Math.floor(x * 10)]!++;
  for (const n of tenths) assert.ok(n > 850 && n < 1150, `bucket of ${n}`);
});
