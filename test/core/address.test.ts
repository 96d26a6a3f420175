import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LISTEN_ENDPOINT, splitHostPort } from '../../src/core/address.js';

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
