import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeRecords, encodeRecord } from '../../../src/receivers/ebpf/record.js';
import { OFFSETS, RECORD_SIZE } from '../../../src/native/records.js';
import { copyEvent, type TcpEvent } from '../../../src/core/events.js';

const sample: TcpEvent = {
  kind: 'close',
  timeNs: 123456789012345,
  socketId: 2 ** 52 + 7,
  family: 6,
  localAddress: '::1',
  localPort: 443,
  remoteAddress: 'fd77::2',
  remotePort: 50123,
  direction: 'inbound',
  pid: 4242,
  tid: 4243,
  comm: 'nginx',
  cgroupId: 9876,
  netns: 4026531840,
  durationNs: 5_000_000_000,
  bytesSent: 2 ** 40 + 3,
  bytesReceived: 17,
  bytesRetransmitted: 1448,
  handshakeNs: 51234,
  segmentsIn: 10,
  segmentsOut: 12,
  retransmits: 1,
  srttUs: 250,
  oldState: 'last_ack',
  newState: 'closed',
  errno: 0,
  reset: undefined,
  preexisting: false,
  resetSent: false,
  resetReceived: true,
  flags: 2 | 16 | 32,
  lost: 3,
};

test('protocol fields: the name, method and TLS version decode as encoded; detection off leaves them out', () => {
  const buf = Buffer.alloc(RECORD_SIZE * 3);
  encodeRecord({ ...sample, protocol: 'tls', tlsServerName: 'db.example.test', tlsVersion: '1.0' }, buf, 0);
  encodeRecord({ ...sample, protocol: 'http', httpMethod: 'POST', httpHost: 'api.example.test:8443' }, buf, RECORD_SIZE);
  encodeRecord(sample, buf, 2 * RECORD_SIZE);
  const [tls, http, off] = decodeRecords(buf).events.map((e) => JSON.parse(JSON.stringify(e)));
  assert.deepEqual([tls.protocol, tls.tlsServerName, tls.tlsVersion, tls.httpHost], ['tls', 'db.example.test', '1.0', undefined]);
  assert.deepEqual([http.protocol, http.httpMethod, http.httpHost, http.tlsServerName], ['http', 'POST', 'api.example.test:8443', undefined]);
  assert.equal(off.protocol, undefined);
  assert.equal(off.lost, 3);
});

test('records decode exactly what was encoded, u64 values above 2^32 included', () => {
  const buf = Buffer.alloc(RECORD_SIZE * 2 + 5);
  encodeRecord(sample, buf, 0);
  encodeRecord({ ...sample, kind: 'reset', flags: 1 | 8, direction: 'outbound', reset: 'sent', resetSent: true, resetReceived: false, family: 4, localAddress: '10.0.0.1', remoteAddress: '192.168.1.200' }, buf, RECORD_SIZE);
  const { events, unknown, truncatedBytes } = decodeRecords(buf);
  assert.equal(unknown, 0);
  assert.equal(truncatedBytes, 5);
  const { attributes, ...plain } = copyEvent(events[0]!);
  assert.equal(attributes, undefined);
  const { reset, ...expected } = sample;
  assert.equal(reset, undefined);
  assert.deepEqual(plain, expected, 'copyEvent leaves out an undefined reset');
  assert.deepEqual(JSON.parse(JSON.stringify(events[0])), JSON.parse(JSON.stringify(sample)), 'JSON sees a plain event');
  assert.equal(events[1]!.kind, 'reset');
  assert.equal(events[1]!.reset, 'sent');
  assert.equal(events[1]!.localAddress, '10.0.0.1');
  assert.equal(events[1]!.remoteAddress, '192.168.1.200');
  assert.equal(events[1]!.direction, 'outbound');
});

test('a record of an unknown kind is counted, not decoded', () => {
  const buf = Buffer.alloc(RECORD_SIZE);
  encodeRecord(sample, buf, 0);
  buf[OFFSETS.kind] = 200;
  const r = decodeRecords(buf);
  assert.equal(r.events.length, 0);
  assert.equal(r.unknown, 1);
});

test('a record hashes its raw endpoints to the same connection hash as the address text does', async () => {
  const { connectionHash, eventConnectionHash } = await import('../../../src/core/hash.js');
  const cases: Array<[4 | 6, string, number, string, number]> = [
    [4, '127.0.0.1', 40000, '127.0.0.1', 80],
    [4, '10.1.2.3', 1, '192.168.255.254', 65535],
    [6, '::1', 5000, '::1', 443],
    [6, '2001:db8::1:0:0:1', 33000, 'fd00:1::2a', 8443],
    [6, '::ffff:10.0.0.2', 80, '::ffff:10.0.0.1', 1234],
  ];
  const seen = new Set<number>();
  for (const [family, la, lp, ra, rp] of cases) {
    const buf = Buffer.alloc(RECORD_SIZE);
    encodeRecord({ ...sample, family, localAddress: la, localPort: lp, remoteAddress: ra, remotePort: rp }, buf, 0);
    const [ev] = decodeRecords(buf).events;
    for (const seed of [0, 7, 0x7fffffff]) {
      const text = connectionHash(la, lp, ra, rp, seed);
      assert.equal(eventConnectionHash(ev!, seed), text, `${la} ${lp} ${ra} ${rp} seed ${seed}`);
      // A plain copy (as processors make) hashes the same, and so does the other end.
      assert.equal(eventConnectionHash(copyEvent(ev!), seed), text);
      assert.equal(connectionHash(ra, rp, la, lp, seed), text);
      seen.add(text);
    }
  }
  assert.equal(seen.size, cases.length * 3, 'distinct tuples and seeds hash apart');
  // A mapped address hashes as its IPv4 form.
  assert.equal(connectionHash('::ffff:10.0.0.2', 80, '::ffff:10.0.0.1', 1234, 3), connectionHash('10.0.0.2', 80, '10.0.0.1', 1234, 3));
});
