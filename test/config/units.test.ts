import { test } from 'node:test';
import assert from 'node:assert/strict';
import { z } from 'zod';
import { byteSize, duration, endpointPort, formatDuration, parseDuration, parseSize, port } from '../../src/config/units.js';

const issue = (schema: z.ZodType, v: unknown) => {
  const r = schema.safeParse(v);
  return r.success ? undefined : r.error.issues.map((i) => i.message).join('; ');
};

test('sizes are computed on 64 bits: nothing wraps to a small number', () => {
  assert.equal(parseSize('4GiB'), 4 * 1024 ** 3);
  assert.equal(parseSize('6GiB'), 6 * 1024 ** 3);
  assert.equal(parseSize('4194308KiB'), 4 * 1024 ** 3 + 4096);
  assert.equal(parseSize('1.5KiB'), 1536);
  assert.equal(parseSize('99999999999999999999'), Infinity);
  assert.equal(parseSize('16 megs'), undefined);
});

test('a size beyond its maximum is refused with the allowed range, whether written with a unit or as a number', () => {
  const s = byteSize();
  assert.equal(s.parse('16MiB'), 16 * 1024 ** 2);
  assert.equal(s.parse('2GiB'), 2 * 1024 ** 3);
  for (const v of ['4GiB', '6GiB', 4 * 1024 ** 3 + 4096, '99999999999999999999', -1]) {
    assert.match(issue(s, v)!, /is out of range: sizes go from 0 to 2GiB \(2147483648 bytes\)/, String(v));
  }
  assert.match(issue(byteSize({ min: 4096 }), 100)!, /sizes go from 4KiB to 2GiB/);
  assert.match(issue(s, 1.5)!, /not a whole number of bytes/);
});

test('durations are bounded: 1e12 ms or 100000h are refused, saying the range', () => {
  const d = duration();
  assert.equal(d.parse('24h'), 86_400_000);
  assert.equal(d.parse(0), 0);
  assert.match(issue(d, 1e12)!, /1000000000000 is out of range: must be between 0s and 24h/);
  assert.match(issue(d, '100000h')!, /"100000h" is out of range: must be between 0s and 24h/);
  assert.match(issue(d, -5)!, /out of range/);
  const i = duration({ min: 100, zeroOff: true });
  assert.equal(i.parse('0s'), 0);
  assert.match(issue(i, '1ms')!, /must be between 100ms and 24h \(or 0 to turn it off\)/);
  assert.match(issue(duration({ min: 100, max: 60_000 }), '2m')!, /between 100ms and 1m/);
  assert.equal(parseDuration('1h30m'), 5_400_000);
  assert.equal(formatDuration(5_400_000), '1h30m');
  assert.equal(formatDuration(250), '250ms');
});

test('ports go from 1 to 65535; endpoint ports are found in host:port, [v6]:port and URLs', () => {
  assert.match(issue(port(), 0)!, /ports go from 1 to 65535/);
  assert.match(issue(port(), 99999)!, /ports go from 1 to 65535/);
  assert.equal(port().parse(443), 443);
  assert.equal(endpointPort('127.0.0.1:99999'), 99999);
  assert.equal(endpointPort('[::1]:4317'), 4317);
  assert.equal(endpointPort('http://collector:4318/v1/logs'), 4318);
  assert.equal(endpointPort('https://collector/v1/logs'), undefined);
  assert.equal(endpointPort('collector'), undefined);
  assert.ok(Number.isNaN(endpointPort('host:http')!));
});
