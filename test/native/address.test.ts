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
