/**
 * The OTLP transports against real servers: a whole-request deadline that a trickling
 * server cannot stretch, Retry-After and RetryInfo, aborts, and gRPC's insecure_skip_verify
 * against a self-signed server.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer as createNetServer, type Socket } from 'node:net';
import { createServer as createHttpServer } from 'node:http';
import { gunzipSync } from 'node:zlib';
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { ProtobufLogsSerializer } from '@opentelemetry/otlp-transformer';
import { createGrpcTransport, createHttpTransport, parseRetryAfter, retryInfoDelay } from '../../../src/exporters/otlp/transport.js';
import { defaultOtlpConfig, defaultOtlpHttpConfig, otlpConfigSchema, otlpHttpConfigSchema, resolveOtlp } from '../../../src/exporters/otlp/config.js';
import { ExportError } from '../../../src/exporters/shared/sender.js';
import { batchToLogRecords } from '../../../src/exporters/shared/logs.js';
import { eventBatch } from '../../../src/core/events.js';
import { openEvent } from '../../support/events.js';
import { OtlpReceiver } from '../../support/otlp-receiver.js';
import { makeCertificates } from '../../support/certs.js';

const body = () => ProtobufLogsSerializer.serializeRequest(batchToLogRecords(eventBatch('ebpf', [openEvent({ localPort: 4242 }), openEvent({ localPort: 4243 })])))!;

function http(endpoint: string, extra: Record<string, unknown> = {}) {
  return resolveOtlp('http', otlpHttpConfigSchema.parse({ ...defaultOtlpHttpConfig(), endpoint, ...extra }), 'logs', {});
}

async function listen(server: { listen(port: number, host: string, cb: () => void): unknown; address(): unknown }): Promise<number> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return (server.address() as { port: number }).port;
}

test('a server that trickles its answer a byte at a time is cut at the request deadline', { timeout: 30_000 }, async () => {
  const sockets: Socket[] = [];
  let closedByClient = false;
  const server = createNetServer((s) => {
    sockets.push(s);
    const answer = 'HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n';
    let i = 0;
    s.once('data', () => {
      const t = setInterval(() => (i < answer.length ? s.write(answer[i++]!) : clearInterval(t)), 100);
      s.on('close', () => {
        clearInterval(t);
        closedByClient = i < answer.length;
      });
    });
    s.on('error', () => undefined);
  });
  const port = await listen(server);
  const t = createHttpTransport(http(`http://127.0.0.1:${port}`, { timeout: '700ms', compression: 'none' }));
  try {
    const err = await t.send(body(), new AbortController().signal).then(() => undefined, (e: unknown) => e);
    assert.ok(err instanceof ExportError, String(err));
    assert.equal(err.retryable, true);
    assert.match(err.message, /no complete answer within the request timeout \(700 ms\)/);
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(closedByClient, true, 'the connection was closed before the answer ended');
  } finally {
    t.close();
    for (const s of sockets) s.destroy();
    server.close();
  }
});

test('HTTP statuses: 2xx sent (gzip body), 503 retryable with Retry-After, 400 permanent; abort ends a request at once', { timeout: 30_000 }, async () => {
  let next = 200;
  const received: Buffer[] = [];
  const server = createHttpServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks);
      received.push(req.headers['content-encoding'] === 'gzip' ? gunzipSync(raw) : raw);
      if (next === 0) return; // never answer
      if (next === 503) res.writeHead(503, { 'retry-after': '7' }).end('busy');
      else res.writeHead(next).end(next === 400 ? 'bad request: field x' : '');
    });
  });
  const port = await listen(server);
  const t = createHttpTransport(http(`http://127.0.0.1:${port}`));
  const request = body();
  const send = () => t.send(request, new AbortController().signal).then(() => undefined, (e: unknown) => e as ExportError);
  try {
    assert.equal(await send(), undefined);
    assert.deepEqual(received[0], Buffer.from(request), 'the server gets the request, gzip undone');
    next = 503;
    const busy = (await send())!;
    assert.equal(busy.retryable, true);
    assert.equal(busy.retryAfterMs, 7000);
    assert.equal(busy.code, 503);
    next = 400;
    const bad = (await send())!;
    assert.equal(bad.retryable, false);
    assert.match(bad.message, /HTTP 400 Bad Request: bad request: field x/);
    next = 0;
    const ac = new AbortController();
    const pending = t.send(body(), ac.signal).then(() => undefined, (e: unknown) => e as ExportError);
    setTimeout(() => ac.abort(), 100);
    const aborted = (await pending)!;
    assert.match(aborted.message, /aborted: shutting down/);
    assert.equal(aborted.retryable, false);
  } finally {
    t.close();
    server.closeAllConnections();
    server.close();
  }
});

test('Retry-After as seconds or as a date; gRPC RetryInfo from grpc-status-details-bin', () => {
  assert.equal(parseRetryAfter('120'), 120_000);
  assert.equal(parseRetryAfter(new Date(Date.UTC(2030, 0, 1, 0, 0, 30)).toUTCString(), Date.UTC(2030, 0, 1)), 30_000);
  assert.equal(parseRetryAfter('soon'), undefined);
  // google.rpc.Status{code: 8, details: [Any{type_url: RetryInfo, value: RetryInfo{retry_delay: {seconds: 1, nanos: 500000000}}}]}
  const duration = Buffer.from([0x08, 0x01, 0x10, 0x80, 0xca, 0xb5, 0xee, 0x01]);
  const retryInfo = Buffer.concat([Buffer.from([0x0a, duration.length]), duration]);
  const typeUrl = Buffer.from('type.googleapis.com/google.rpc.RetryInfo');
  const any = Buffer.concat([Buffer.from([0x0a, typeUrl.length]), typeUrl, Buffer.from([0x12, retryInfo.length]), retryInfo]);
  const status = Buffer.concat([Buffer.from([0x08, 0x08, 0x1a, any.length]), any]);
  assert.equal(retryInfoDelay(status), 1500);
  assert.equal(retryInfoDelay(Buffer.from([0xff, 0xff])), undefined, 'garbage is no delay');
  assert.equal(retryInfoDelay(undefined), undefined);
});

test('gRPC with insecure_skip_verify: true exports to a self-signed server; without it, the certificate is refused', { timeout: 60_000 }, async () => {
  const certs = makeCertificates();
  // The CA's own certificate: self-signed, and not issued for 127.0.0.1.
  const rx = await OtlpReceiver.start({ tls: { cert: readFileSync(certs.ca, 'utf8'), key: readFileSync(join(certs.dir, 'ca.key'), 'utf8') } });
  const grpc = (skip: boolean) =>
    createGrpcTransport(resolveOtlp('grpc', otlpConfigSchema.parse({ ...defaultOtlpConfig(), endpoint: rx.grpcEndpoint.replace('https://', ''), tls: { ...defaultOtlpConfig().tls, insecure_skip_verify: skip }, timeout: '5s' }), 'logs', {}), 'logs');
  const skipping = grpc(true);
  const verifying = grpc(false);
  try {
    await skipping.send(body(), new AbortController().signal);
    await rx.waitFor((r) => r.logRecords().length === 2, 10_000, 'the two records');
    assert.deepEqual(rx.logRecords().map((l) => l.attributes['network.local.port']).sort(), [4242, 4243]);
    const err = await verifying.send(body(), new AbortController().signal).then(() => undefined, (e: unknown) => e as ExportError);
    assert.ok(err, 'refused without insecure_skip_verify');
    assert.equal(rx.logRecords().length, 2);
  } finally {
    skipping.close();
    verifying.close();
    await rx.stop();
  }
});

test('gRPC: a server that never answers is cut at the deadline (DEADLINE_EXCEEDED, retryable)', { timeout: 30_000 }, async () => {
  const sockets: Socket[] = [];
  const server = createNetServer((s) => {
    sockets.push(s);
    s.on('error', () => undefined);
    const t = setInterval(() => s.write('\0'), 1000);
    s.on('close', () => clearInterval(t));
  });
  const port = await listen(server);
  const t = createGrpcTransport(resolveOtlp('grpc', otlpConfigSchema.parse({ ...defaultOtlpConfig(), endpoint: `127.0.0.1:${port}`, tls: { ...defaultOtlpConfig().tls, insecure: true }, timeout: '800ms' }), 'logs', {}), 'logs');
  try {
    const err = (await t.send(body(), new AbortController().signal).then(() => undefined, (e: unknown) => e as ExportError))!;
    assert.ok(err instanceof ExportError, String(err));
    assert.equal(err.retryable, true);
  } finally {
    t.close();
    for (const s of sockets) s.destroy();
    server.close();
  }
});
