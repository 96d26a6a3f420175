import { test } from 'node:test';
import assert from 'node:assert/strict';
import { addressWords, formatAddress, formatIPv4, formatIPv6, parseIPv6, writeAddress } from '../../src/native/address.js';

function ipv6(text: string): Buffer {
  const b = Buffer.alloc(16);
  parseIPv6(text).forEach((g, i) => b.writeUInt16BE(g, i * 2));
  return b;
}

test('IPv6 addresses print in RFC 5952 form', () => {
  for (const [input, expected] of [
    ['::1', '::1'],
    ['::', '::'],
    ['fd77::2', 'fd77::2'],
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
    ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'],
    ['fe80::1:2', 'fe80::1:2'],
    ['::ffff:127.0.0.1', '::ffff:127.0.0.1'],
    ['1:0:0:2:0:0:0:3', '1:0:0:2::3'],
  ]) {
    assert.equal(formatIPv6(ipv6(input!), 0), expected, input);
  }
});

test('parseIPv6: "::" anywhere, a dotted IPv4 tail, always eight groups', () => {
  assert.deepEqual(parseIPv6('::'), [0, 0, 0, 0, 0, 0, 0, 0]);
  assert.deepEqual(parseIPv6('fd77::2'), [0xfd77, 0, 0, 0, 0, 0, 0, 2]);
  assert.deepEqual(parseIPv6('1::'), [1, 0, 0, 0, 0, 0, 0, 0]);
  assert.deepEqual(parseIPv6('::ffff:10.1.2.3'), [0, 0, 0, 0, 0, 0xffff, 0x0a01, 0x0203]);
  assert.deepEqual(parseIPv6('64:ff9b::192.0.2.1'), [0x64, 0xff9b, 0, 0, 0, 0, 0xc000, 0x0201]);
  assert.deepEqual(parseIPv6('1:2:3:4:5:6:7:8'), [1, 2, 3, 4, 5, 6, 7, 8]);
});

test('writeAddress and formatAddress round-trip both families at an offset', () => {
  const buf = Buffer.alloc(40, 0xee);
  for (const [family, text] of [
    [4, '10.1.2.3'],
    [4, '255.255.255.255'],
    [6, '2001:db8::1'],
    [6, '::ffff:192.168.0.1'],
    [6, 'fe80::1:2'],
  ] as const) {
    buf.fill(0, 8, 24);
    writeAddress(family, text, buf, 8);
    assert.equal(formatAddress(family, buf, 8), text);
    assert.equal(buf[7], 0xee, 'nothing written before the address');
    assert.equal(buf[24], 0xee, 'nothing written after the address');
  }
  writeAddress(4, '1.2.3.4', buf, 0);
  assert.equal(formatIPv4(buf, 0), '1.2.3.4');
  assert.deepEqual([...buf.subarray(0, 4)], [1, 2, 3, 4], 'network order');
});

test('addressWords reads as a Uint32Array over the written bytes does (little-endian hosts); mapped IPv4 as IPv4', () => {
  const buf = Buffer.alloc(16);
  writeAddress(6, '2001:db8::7', buf, 0);
  const words = new Uint32Array(buf.buffer, buf.byteOffset, 4);
  assert.deepEqual(addressWords('2001:db8::7'), [...words]);
  assert.deepEqual(addressWords('::ffff:10.0.0.1'), addressWords('10.0.0.1'));
  assert.equal(addressWords('10.0.0.1').length, 1);
  assert.deepEqual(addressWords('not an address'), []);
});

test('parseIPv6: "::" expands to the missing zero groups, wherever it is', () => {
  assert.deepEqual(parseIPv6('::'), [0, 0, 0, 0, 0, 0, 0, 0]);
  assert.deepEqual(parseIPv6('::1'), [0, 0, 0, 0, 0, 0, 0, 1]);
  assert.deepEqual(parseIPv6('fe80::'), [0xfe80, 0, 0, 0, 0, 0, 0, 0]);
  assert.deepEqual(parseIPv6('2001:db8::8a2e:370:7334'), [0x2001, 0xdb8, 0, 0, 0, 0x8a2e, 0x370, 0x7334]);
  assert.deepEqual(parseIPv6('1:2:3:4:5:6:7:8'), [1, 2, 3, 4, 5, 6, 7, 8]);
  assert.deepEqual(parseIPv6('ABCD:ef01::'), [0xabcd, 0xef01, 0, 0, 0, 0, 0, 0], 'hex digits in either case');
});

test('parseIPv6: a dotted IPv4 tail gives the last two groups', () => {
  assert.deepEqual(parseIPv6('::ffff:192.0.2.1'), [0, 0, 0, 0, 0, 0xffff, 0xc000, 0x0201]);
  assert.deepEqual(parseIPv6('64:ff9b::10.0.0.1'), [0x64, 0xff9b, 0, 0, 0, 0, 0x0a00, 0x0001]);
  assert.deepEqual(parseIPv6('::1.2.3.4'), [0, 0, 0, 0, 0, 0, 0x0102, 0x0304]);
});

test('parseIPv6: never more than eight groups; bad hex shows as NaN', () => {
  assert.equal(parseIPv6('1:2:3:4:5:6:7:8:9').length, 8);
  assert.ok(parseIPv6('zz::1').some((g) => Number.isNaN(g)));
});

test('addressWords: IPv4 is one word with the first byte lowest', () => {
  assert.deepEqual(addressWords('127.0.0.1'), [0x0100007f]);
  assert.deepEqual(addressWords('10.0.0.5'), [0x0500000a]);
  assert.deepEqual(addressWords('255.255.255.255'), [0xffffffff]);
  assert.deepEqual(addressWords('0.0.0.0'), [0]);
});

test('addressWords: IPv6 is four words; an IPv4-mapped address is its IPv4 word', () => {
  assert.deepEqual(addressWords('::1'), [0, 0, 0, 0x01000000]);
  assert.deepEqual(addressWords('2001:db8::1'), [0xb80d0120, 0, 0, 0x01000000]);
  assert.deepEqual(addressWords('::ffff:127.0.0.1'), addressWords('127.0.0.1'));
  assert.deepEqual(addressWords('::ffff:7f00:1'), addressWords('127.0.0.1'), 'the mapped form in hex too');
  // Not mapped (the sixth group is not ffff): four words.
  assert.equal(addressWords('::fffe:127.0.0.1').length, 4);
});

test('addressWords: text that is no address gives no words', () => {
  for (const bad of ['', 'localhost', '1.2.3', '1.2.3.4.5', '1.2.x.4', '1.2.3.4.', 'zz::1', 'g::']) {
    assert.deepEqual(addressWords(bad), [], JSON.stringify(bad));
  }
});
