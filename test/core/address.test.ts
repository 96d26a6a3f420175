import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LISTEN_ENDPOINT, addressWords, parseIPv6, splitHostPort } from '../../src/core/address.js';

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

test('LISTEN_ENDPOINT: host:port with a name, IPv4, nothing or [IPv6]; port of 1 to 5 digits', () => {
  for (const ok of [':4317', '0.0.0.0:4317', 'localhost:9464', '[::1]:8080', '[::]:1', 'collector.example:65535']) {
    assert.ok(LISTEN_ENDPOINT.test(ok), ok);
  }
  for (const bad of ['4317', 'localhost', '::1:8080', 'host:', 'host:123456', 'a b:80', '[::1]', 'host:port', '[::1:80']) {
    assert.ok(!LISTEN_ENDPOINT.test(bad), bad);
  }
});

test('splitHostPort: every interface when the host is empty; IPv6 without brackets', () => {
  assert.deepEqual(splitHostPort(':4317'), { host: '0.0.0.0', port: 4317 });
  assert.deepEqual(splitHostPort('127.0.0.1:9464'), { host: '127.0.0.1', port: 9464 });
  assert.deepEqual(splitHostPort('localhost:80'), { host: 'localhost', port: 80 });
  assert.deepEqual(splitHostPort('[::1]:8080'), { host: '::1', port: 8080 });
  assert.deepEqual(splitHostPort('[fe80::1]:0'), { host: 'fe80::1', port: 0 });
});
