/**
 * Protocol detection end to end: real clients and servers on random high ports (never the
 * protocols' usual ones), over IPv4 and IPv6; each connection's close events, on both ends,
 * carry the protocol its first bytes say (and the TLS server name, the HTTP method and
 * Host). A connection that never sends, and garbage, are `unknown`; awkward first writes
 * (a truncated ClientHello, one split over segments, 1-byte writes, a 64 KiB write) break
 * nothing. And the loss of a flow through a lossy link equals what the kernel reports.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import http2 from 'node:http2';
import net from 'node:net';
import tls from 'node:tls';
import { startEbpf, type CollectingReceiver } from '../support/ebpf.js';
import { makeCertificates } from '../support/certs.js';
import { NetnsPair, runClient, startServer, waitUntil } from '../support/peer.js';
import type { TcpEvent } from '../../src/core/events.js';

const quiet = { snapshot: false, sample_interval: 0, detect_protocol: true, fallback: 'none' };

/** A TCP server on a random high port that runs `serve` per connection. */
async function server(host: string, serve: (s: net.Socket) => void): Promise<{ port: number; close: () => void }> {
  const srv = net.createServer(serve);
  await new Promise<void>((ok) => srv.listen(0, host, ok));
  return { port: (srv.address() as net.AddressInfo).port, close: () => srv.close() };
}

/** Connects, writes `chunks` (a pause between them), reads until the server closes. */
async function client(host: string, port: number, chunks: Buffer[], gapMs = 0): Promise<void> {
  await new Promise<void>((ok, fail) => {
    const s = net.connect({ host, port, noDelay: true }, async () => {
      for (const c of chunks) {
        s.write(c);
        if (gapMs) await new Promise((r) => setTimeout(r, gapMs));
      }
      s.end();
    });
    s.on('data', () => undefined);
    s.on('close', () => ok());
    s.on('error', fail);
  });
}

/** The close events of both ends of connections on `port`, once there are `n` of them. */
async function closes(r: CollectingReceiver, port: number, n: number): Promise<TcpEvent[]> {
  const mine = () => r.onPorts(port).filter((e) => e.kind === 'close');
  await waitUntil(() => mine().length >= n, 10_000, `${n} closes on port ${port}`);
  return mine();
}

const echoClose = (s: net.Socket) => {
  s.on('data', () => undefined);
  s.on('end', () => s.end());
  s.on('error', () => undefined);
};

/** First bytes of protocols spoken by a raw client (the server just reads). */
const RAW: Array<[string, Buffer]> = [
  ['ssh', Buffer.from('SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n')],
  // PostgreSQL StartupMessage, protocol 3.0: user=app database=app
  ['postgresql', (() => {
    const body = Buffer.concat([Buffer.from([0, 3, 0, 0]), Buffer.from('user\0app\0database\0app\0\0')]);
    const len = Buffer.alloc(4);
    len.writeUInt32BE(body.length + 4);
    return Buffer.concat([len, body]);
  })()],
  ['redis', Buffer.from('*1\r\n$4\r\nPING\r\n')],
  // A DNS query for example.test A over TCP: length, id, flags (RD), 1 question
  ['dns', (() => {
    const q = Buffer.concat([
      Buffer.from([0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]),
      Buffer.from([7, ...Buffer.from('example'), 4, ...Buffer.from('test'), 0, 0, 1, 0, 1]),
    ]);
    const len = Buffer.alloc(2);
    len.writeUInt16BE(q.length);
    return Buffer.concat([len, q]);
  })()],
  ['unknown', Buffer.from([0x9f, 0x00, 0xff, 0x13, 0x37, 0x42, 0xde, 0xad, 0xbe, 0xef, 0x01, 0x02])],
];

for (const [family, host] of [
  [4, '127.0.0.1'],
  [6, '::1'],
] as const) {
  test(`IPv${family}: HTTP/1.1, TLS with SNI, HTTP/2 and raw protocols on random ports: the right network.protocol.name on both ends`, { timeout: 120_000 }, async () => {
    const r = await startEbpf(quiet);
    const certs = makeCertificates();
    try {
      // HTTP/1.1 (Node's http), Host asked for explicitly.
      const web = http.createServer((_req, res) => res.end('ok'));
      await new Promise<void>((ok) => web.listen(0, host, ok));
      const webPort = (web.address() as net.AddressInfo).port;
      await new Promise<void>((ok) => http.get({ host, port: webPort, path: '/x', headers: { host: 'api.example.test:8443' }, agent: false }, (res) => res.resume().on('end', ok)));
      web.close();
      for (const e of await closes(r, webPort, 2)) {
        assert.deepEqual([e.protocol, e.httpMethod, e.httpHost], ['http', 'GET', 'api.example.test'], `http ${e.direction}`);
      }

      // TLS with SNI db.example.test (Node's tls; the name is only sent, not checked).
      const tlsSrv = tls.createServer({ cert: readFileSync(certs.serverCert), key: readFileSync(certs.serverKey) }, (s) => s.end('hi'));
      await new Promise<void>((ok) => tlsSrv.listen(0, host, ok));
      const tlsPort = (tlsSrv.address() as net.AddressInfo).port;
      await new Promise<void>((ok, fail) => {
        const s = tls.connect({ host, port: tlsPort, servername: 'db.example.test', rejectUnauthorized: false }, () => s.resume());
        s.on('close', () => ok());
        s.on('error', fail);
      });
      tlsSrv.close();
      for (const e of await closes(r, tlsPort, 2)) {
        assert.deepEqual([e.protocol, e.tlsServerName], ['tls', 'db.example.test'], `tls ${e.direction}`);
        assert.equal(e.tlsVersion, '1.2', `tls ${e.direction}: the hello's version (Node offers 1.2 and 1.3)`);
      }

      // HTTP/2 cleartext (Node's http2, prior knowledge).
      const h2 = http2.createServer();
      h2.on('stream', (stream) => stream.end('ok'));
      await new Promise<void>((ok) => h2.listen(0, host, ok));
      const h2Port = (h2.address() as net.AddressInfo).port;
      await new Promise<void>((ok, fail) => {
        const session = http2.connect(`http://${family === 6 ? `[${host}]` : host}:${h2Port}`);
        session.on('error', fail);
        const req = session.request({ ':path': '/' });
        req.resume();
        req.on('end', () => {
          session.close();
          ok();
        });
      });
      h2.close();
      for (const e of await closes(r, h2Port, 2)) assert.equal(e.protocol, 'http2', `http2 ${e.direction}`);

      // Raw first writes of other protocols; and a connection that never sends.
      for (const [name, bytes] of RAW) {
        const s = await server(host, echoClose);
        await client(host, s.port, [bytes]);
        s.close();
        for (const e of await closes(r, s.port, 2)) assert.equal(e.protocol, name, `${name} ${e.direction}`);
      }
      const silent = await server(host, echoClose);
      await client(host, silent.port, []);
      silent.close();
      for (const e of await closes(r, silent.port, 2)) assert.equal(e.protocol, 'unknown', 'a connection that never sends');
    } finally {
      await r.stop();
    }
  });
}

test('awkward first writes: a truncated ClientHello, one split over segments, 1-byte writes, a 64 KiB write: no harm, unknown where it cannot tell', { timeout: 120_000 }, async () => {
  const r = await startEbpf(quiet);
  try {
    // A real ClientHello (from openssl), to cut and split.
    const hello = await captureClientHello();
    const cases: Array<[string, Buffer[], number, (e: TcpEvent) => void]> = [
      ['truncated ClientHello', [hello.subarray(0, 40)], 0, (e) => assert.equal(e.tlsServerName, undefined)],
      ['ClientHello split over segments', [hello.subarray(0, 20), hello.subarray(20)], 200, (e) => assert.equal(e.protocol, 'tls')],
      ['1-byte writes', [...Buffer.from('GET / HTTP/1.1\r\nHost: a\r\n\r\n')].map((b) => Buffer.from([b])), 20, (e) => assert.ok(e.protocol === 'unknown' || e.protocol === 'http')],
      ['64 KiB first write', [Buffer.alloc(65536, 0x41)], 0, (e) => assert.equal(e.protocol, 'unknown')],
    ];
    for (const [what, chunks, gap, check] of cases) {
      const s = await server('127.0.0.1', echoClose);
      await client('127.0.0.1', s.port, chunks, gap);
      s.close();
      for (const e of await closes(r, s.port, 2)) check(e);
      assert.ok(what);
    }
  } finally {
    await r.stop();
  }
});

/** The first bytes a TLS client (Node's) sends with SNI db.example.test. */
async function captureClientHello(): Promise<Buffer> {
  let got: Buffer | undefined;
  const s = await server('127.0.0.1', (sock) => {
    sock.once('data', (d) => {
      got = d;
      sock.destroy();
    });
  });
  await new Promise<void>((ok) => {
    const c = tls.connect({ host: '127.0.0.1', port: s.port, servername: 'db.example.test', rejectUnauthorized: false });
    c.on('error', () => ok());
    c.on('close', () => ok());
  });
  s.close();
  assert.ok(got && got[0] === 0x16, 'a TLS record');
  return got;
}

test('loss per flow: through a lossy link, the close carries retransmits / segments out as the kernel reports them (ss -ti)', { timeout: 120_000 }, async () => {
  const ns = new NetnsPair('ls').setup();
  const r = await startEbpf(quiet);
  try {
    ns.dropOneIn(ns.b, 5);
    const flow = await ns.transfer(2_000_000);
    const close = await waitFor(() => r.onPorts(flow.port).find((e) => e.kind === 'close' && e.localAddress === ns.addrA));
    assert.ok(close.retransmits > 0, 'the link lost segments');
    assert.equal(close.lost >= 0, true);
    // The loss ratio on the log is retransmits / segments out, exactly.
    const attrs = (await import('../../src/semconv/attributes.js')).eventAttributes(close);
    assert.equal(attrs['tcp.loss.ratio'], close.retransmits / close.segmentsOut);
    // The namespace's own counters agree (nstat: the client's namespace saw this flow only).
    // The kernel counts a retransmission in the socket's segments out, not in OutSegs; and
    // the namespace also counts the last ACK, sent by the TIME_WAIT socket that replaced
    // the closed one (after its close was reported).
    const nstat = execFileSync('ip', ['netns', 'exec', ns.a, 'nstat', '-az', 'TcpRetransSegs', 'TcpOutSegs'], { encoding: 'utf8' });
    const read = (name: string) => Number(new RegExp(`${name}\\s+(\\d+)`).exec(nstat)?.[1]);
    assert.equal(read('TcpRetransSegs'), close.retransmits, 'retransmitted segments');
    const after = read('TcpOutSegs') + read('TcpRetransSegs') - close.segmentsOut;
    assert.ok(after === 0 || after === 1, `segments out: ${close.segmentsOut} at close, ${nstat.trim()}`);
  } finally {
    await r.stop();
    ns.cleanup();
  }
});

async function waitFor<T>(get: () => T | undefined): Promise<T> {
  let v: T | undefined;
  await waitUntil(() => (v = get()) !== undefined, 10_000, 'the event');
  return v!;
}
