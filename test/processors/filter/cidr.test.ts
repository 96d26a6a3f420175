import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cidrMatcher, parseAddress, parseCidr } from '../../../src/processors/filter/cidr.js';
import { globToRegExp } from '../../../src/processors/filter/glob.js';
import { parsePortSpec } from '../../../src/processors/filter/ports.js';

test('addresses parse to IPv4-mapped 128-bit words', () => {
  const w = new Uint32Array(4);
  const words = (s: string) => {
    const f = parseAddress(s, w);
    return f === 0 ? 'invalid' : `${f}:${[...w].map((x) => x.toString(16)).join(',')}`;
  };
  assert.equal(words('10.1.2.3'), '4:0,0,ffff,a010203');
  assert.equal(words('255.255.255.255'), '4:0,0,ffff,ffffffff');
  assert.equal(words('::ffff:10.1.2.3'), '6:0,0,ffff,a010203');
  assert.equal(words('::1'), '6:0,0,0,1');
  assert.equal(words('::'), '6:0,0,0,0');
  assert.equal(words('2001:db8::1:0:0:1'), '6:20010db8,0,10000,1');
  assert.equal(words('1:2:3:4:5:6:7:8'), '6:10002,30004,50006,70008');
  assert.equal(words('fe80::1%eth0'), '6:fe800000,0,0,1');
  assert.equal(words('FD00::A'), '6:fd000000,0,0,a');
  for (const bad of ['', '1.2.3', '1.2.3.4.5', '256.1.1.1', '1..2.3', 'a.b.c.d', ':::', '1:2:3:4:5:6:7:8:9', '1::2::3', ':1::', '1:', '12345::', '::1.2.3', 'example.com']) {
    assert.equal(words(bad), 'invalid', bad);
  }
});

test('CIDRs: prefixes, bare addresses, invalid ones', () => {
  for (const ok of ['10.0.0.0/8', '0.0.0.0/0', '1.2.3.4', '1.2.3.4/32', '::/0', '::1/128', 'fd00::/8', '::ffff:0:0/96']) assert.ok(parseCidr(ok), ok);
  for (const bad of ['10.0.0.0/33', '::/129', '10.0.0.0/', '10.0.0.0/-1', '10.0.0.0/8/8', 'x/8', '']) assert.equal(parseCidr(bad), undefined, bad);
  const m = cidrMatcher(['10.0.0.0/8', '::ffff:0:0/96', 'fd00::/8'].map((c) => parseCidr(c)!));
  assert.equal(m('10.255.0.1'), true);
  assert.equal(m('11.0.0.1'), true); // every IPv4 address is in ::ffff:0:0/96
  assert.equal(m('fd12::1'), true);
  assert.equal(m('fe80::1'), false);
  assert.equal(m('not an address'), false);
  const v4 = cidrMatcher([parseCidr('192.168.0.0/16')!]);
  assert.equal(v4('192.168.200.1'), true);
  assert.equal(v4('::ffff:192.168.200.1'), true);
  assert.equal(v4('192.169.0.1'), false);
  assert.equal(v4('::192.168.0.1'), false); // IPv4-compatible, not mapped
});

test('port specs and globs', () => {
  assert.deepEqual(parsePortSpec(443), [443, 443]);
  assert.deepEqual(parsePortSpec('443'), [443, 443]);
  assert.deepEqual(parsePortSpec('8000-8999'), [8000, 8999]);
  assert.deepEqual(parsePortSpec(' 1 - 2 '), [1, 2]);
  assert.equal(typeof parsePortSpec('2-1'), 'string');
  assert.equal(typeof parsePortSpec('1-70000'), 'string');
  assert.equal(typeof parsePortSpec(1.5), 'string');
  assert.equal(typeof parsePortSpec(-1), 'string');
  const re = globToRegExp(['ngin?', '*.sh', 'a+b']);
  assert.ok(re.test('nginx'));
  assert.ok(!re.test('nginx2'));
  assert.ok(re.test('run.sh'));
  assert.ok(!re.test('runsh'));
  assert.ok(re.test('a+b'));
  assert.ok(!re.test('aab'));
});
