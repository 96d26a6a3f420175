import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createServer as createTcpServer, connect as tcpConnect, type AddressInfo } from 'node:net';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { gzipSync } from 'node:zlib';
import * as grpc from '@grpc/grpc-js';
import { context, trace, TraceFlags } from '@opentelemetry/api';
import { SeverityNumber } from '@opentelemetry/api-logs';
import type { ExportResult } from '@opentelemetry/core';
import { OTLPLogExporter as GrpcLogExporter } from '@opentelemetry/exporter-logs-otlp-grpc';
import { OTLPLogExporter as ProtoLogExporter } from '@opentelemetry/exporter-logs-otlp-proto';
import { OTLPMetricExporter as GrpcMetricExporter } from '@opentelemetry/exporter-metrics-otlp-grpc';
import { OTLPMetricExporter as ProtoMetricExporter } from '@opentelemetry/exporter-metrics-otlp-proto';
import { JsonLogsSerializer, JsonMetricsSerializer } from '@opentelemetry/otlp-transformer';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  InMemoryLogRecordExporter,
  LoggerProvider,
  SimpleLogRecordProcessor,
  type LogRecordExporter,
  type ReadableLogRecord,
} from '@opentelemetry/sdk-logs';
import { AggregationTemporality, MeterProvider, MetricReader, type ResourceMetrics } from '@opentelemetry/sdk-metrics';
import { OtlpReceiver, type FlatPoint } from './otlp-receiver.js';

// ---------------------------------------------------------------------------------------------
// fixtures

const RESOURCE = resourceFromAttributes({ 'service.name': 'otlp-receiver-test', 'host.cores': 4 });
const TRACE_ID = '0af7651916cd43dd8448eb211c80319c';
const SPAN_ID = 'b7ad6b7169203331';

class CollectingReader extends MetricReader {
  protected override async onForceFlush(): Promise<void> {}
  protected override async onShutdown(): Promise<void> {}
}

/** Real SDK metrics: counter 'test.counter' = 5 {a:'b'}, histogram 'test.histogram' [3, 7] with bounds [1,5,10]. */
async function makeMetrics(temporality = AggregationTemporality.CUMULATIVE): Promise<ResourceMetrics> {
  const reader = new CollectingReader({ aggregationTemporalitySelector: () => temporality });
  const mp = new MeterProvider({ resource: RESOURCE, readers: [reader] });
  const meter = mp.getMeter('receiver-test-meter', '1.2.3');
  meter.createCounter('test.counter', { unit: '{connection}', description: 'a counter' }).add(5, { a: 'b', n: 7, ok: true });
  const h = meter.createHistogram('test.histogram', { unit: 'ms', advice: { explicitBucketBoundaries: [1, 5, 10] } });
  h.record(3, { a: 'h' });
  h.record(7, { a: 'h' });
  meter.createObservableGauge('test.gauge').addCallback((r) => r.observe(2.5, { g: 'x' }));
  const { resourceMetrics, errors } = await reader.collect();
  assert.deepEqual(errors, []);
  await mp.shutdown();
  return resourceMetrics;
}

/** Real SDK log records (captured in memory) for driving exporters directly. */
async function makeLogRecords(): Promise<ReadableLogRecord[]> {
  const mem = new InMemoryLogRecordExporter();
  const lp = new LoggerProvider({ resource: RESOURCE, processors: [new SimpleLogRecordProcessor({ exporter: mem })] });
  emitTestEvent(lp);
  await lp.forceFlush();
  const recs = [...mem.getFinishedLogRecords()];
  await lp.shutdown();
  return recs;
}

function emitTestEvent(lp: LoggerProvider, extra: Record<string, string> = {}): void {
  const ctx = trace.setSpanContext(context.active(), { traceId: TRACE_ID, spanId: SPAN_ID, traceFlags: TraceFlags.SAMPLED });
  lp.getLogger('receiver-test-logger', '0.0.1').emit({
    eventName: 'test.event',
    severityNumber: SeverityNumber.WARN,
    severityText: 'WARN',
    timestamp: 1_700_000_000_123,
    body: { msg: 'hello', list: [1, 'two'] },
    attributes: { 'peer.port': 443, proto: 'tcp', retrans: 1.5, up: false, ...extra },
    context: ctx,
  });
}

function exportMetrics(exp: { export(m: ResourceMetrics, cb: (r: ExportResult) => void): void }, rm: ResourceMetrics) {
  return new Promise<ExportResult>((resolve) => exp.export(rm, resolve));
}
function exportLogs(exp: LogRecordExporter, recs: ReadableLogRecord[]) {
  return new Promise<ExportResult>((resolve) => exp.export(recs, resolve));
}

function point(r: OtlpReceiver, name: string, pred: (p: FlatPoint) => boolean = () => true): FlatPoint {
  const p = r.metricPoints().find((x) => x.name === name && pred(x));
  assert.ok(p, `no point ${name}; ${r.summary()}`);
  return p;
}

function assertMetricPoints(r: OtlpReceiver, transport: 'grpc' | 'http', temporality: 'cumulative' | 'delta') {
  const pts = r.metricPoints().filter((p) => p.transport === transport);
  const c = pts.find((p) => p.name === 'test.counter');
  assert.ok(c, r.summary());
  assert.equal(c.type, 'sum');
  assert.equal(c.value, 5);
  assert.equal(c.monotonic, true);
  assert.equal(c.temporality, temporality);
  assert.deepEqual(c.attributes, { a: 'b', n: 7, ok: true });
  assert.equal(c.unit, '{connection}');
  assert.equal(c.description, 'a counter');
  assert.deepEqual(c.resource['service.name'], 'otlp-receiver-test');
  assert.equal(c.resource['host.cores'], 4);
  assert.equal(c.scope, 'receiver-test-meter');
  assert.equal(c.scopeVersion, '1.2.3');
  assert.match(c.timeUnixNano, /^\d{19}$/);
  assert.match(c.startTimeUnixNano, /^\d{19}$/);
  assert.ok(BigInt(c.timeUnixNano) >= BigInt(c.startTimeUnixNano));

  const h = pts.find((p) => p.name === 'test.histogram');
  assert.ok(h, r.summary());
  assert.equal(h.type, 'histogram');
  assert.equal(h.temporality, temporality);
  assert.equal(h.count, 2);
  assert.equal(h.sum, 10);
  assert.equal(h.min, 3);
  assert.equal(h.max, 7);
  assert.deepEqual(h.explicitBounds, [1, 5, 10]);
  assert.deepEqual(h.bucketCounts, [0, 1, 1, 0]);
  assert.deepEqual(h.attributes, { a: 'h' });
  assert.equal(h.unit, 'ms');

  const g = pts.find((p) => p.name === 'test.gauge');
  assert.ok(g, r.summary());
  assert.equal(g.type, 'gauge');
  assert.equal(g.value, 2.5);
  assert.equal(g.temporality, undefined);
  assert.deepEqual(g.attributes, { g: 'x' });
}

function assertTestEvent(r: OtlpReceiver, transport: 'grpc' | 'http', extra: Record<string, string> = {}) {
  const l = r.logRecords().find((x) => x.transport === transport && x.eventName === 'test.event');
  assert.ok(l, r.summary());
  assert.equal(l.severityNumber, SeverityNumber.WARN);
  assert.equal(l.severityText, 'WARN');
  assert.equal(l.timeUnixNano, '1700000000123000000');
  assert.match(l.observedTimeUnixNano, /^\d{19}$/);
  assert.deepEqual(l.body, { msg: 'hello', list: [1, 'two'] });
  assert.deepEqual(l.attributes, { 'peer.port': 443, proto: 'tcp', retrans: 1.5, up: false, ...extra });
  assert.equal(l.traceId, TRACE_ID);
  assert.equal(l.spanId, SPAN_ID);
  assert.equal(l.resource['service.name'], 'otlp-receiver-test');
  assert.equal(l.scope, 'receiver-test-logger');
  assert.equal(l.scopeVersion, '0.0.1');
}

// ---------------------------------------------------------------------------------------------

describe('OtlpReceiver', { timeout: 60_000 }, () => {
  let rm: ResourceMetrics;
  let logs: ReadableLogRecord[];
  before(async () => {
    rm = await makeMetrics();
    logs = await makeLogRecords();
  });

  it('receives metrics from the real gRPC exporter (gzip, cumulative)', async () => {
    const r = await OtlpReceiver.start();
    const exp = new GrpcMetricExporter({ url: r.grpcEndpoint, compression: 'gzip' as any, timeoutMillis: 5000 });
    try {
      assert.match(r.grpcEndpoint, /^http:\/\/127\.0\.0\.1:\d+$/);
      const res = await exportMetrics(exp, rm);
      assert.equal(res.code, 0, String(res.error));
      assert.equal(r.requests.length, 1);
      const req = r.requests[0]!;
      assert.equal(req.signal, 'metrics');
      assert.equal(req.transport, 'grpc');
      assert.match(req.headers['user-agent'] ?? '', /OTel-OTLP-Exporter-JavaScript/);
      // raw body shape (documented in otlp-receiver.ts)
      const m0 = req.body.resourceMetrics[0].scopeMetrics[0].metrics.find((m: any) => m.name === 'test.counter');
      assert.equal(m0.data, 'sum');
      assert.equal(m0.sum.aggregationTemporality, 2);
      assert.equal(m0.sum.isMonotonic, true);
      assert.equal(m0.sum.dataPoints[0].value, 'asDouble'); // JS SDK counters default to ValueType.DOUBLE
      assert.equal(m0.sum.dataPoints[0].asDouble, 5);
      assert.match(m0.sum.dataPoints[0].timeUnixNano, /^\d{19}$/);
      assertMetricPoints(r, 'grpc', 'cumulative');
    } finally {
      await exp.shutdown();
      await r.stop();
    }
  });

  it('gRPC gzip really is compressed on the wire and decoded by grpc-js', async () => {
    const r = await OtlpReceiver.start();
    // byte-counting TCP proxy in front of the receiver's gRPC port
    let upBytes = 0;
    const proxy = createTcpServer((sock) => {
      const up = tcpConnect(r.grpcPort, '127.0.0.1');
      sock.on('data', (d) => (upBytes += d.length));
      sock.pipe(up).pipe(sock);
      sock.on('error', () => up.destroy());
      up.on('error', () => sock.destroy());
    });
    await new Promise<void>((res) => proxy.listen(0, '127.0.0.1', res));
    const url = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
    const big = 'x'.repeat(50_000);
    const reader = new CollectingReader();
    const mp = new MeterProvider({ resource: RESOURCE, readers: [reader] });
    mp.getMeter('big').createCounter('big.counter').add(1, { big });
    const { resourceMetrics: bigRm } = await reader.collect();
    await mp.shutdown();
    const sent: Record<string, number> = {};
    try {
      for (const compression of ['none', 'gzip'] as const) {
        const exp = new GrpcMetricExporter({ url, compression: compression as any });
        upBytes = 0;
        const res = await exportMetrics(exp, bigRm);
        assert.equal(res.code, 0, String(res.error));
        sent[compression] = upBytes;
        await exp.shutdown();
      }
      assert.ok(sent.none! > 50_000, JSON.stringify(sent));
      assert.ok(sent.gzip! < 5_000, JSON.stringify(sent));
      const pts = r.metricPoints().filter((p) => p.name === 'big.counter');
      assert.equal(pts.length, 2);
      for (const p of pts) assert.equal(p.attributes.big, big);
    } finally {
      await new Promise((res) => proxy.close(res));
      await r.stop();
    }
  });

  it('receives metrics from the real HTTP/protobuf exporter (gzip, delta)', async () => {
    const r = await OtlpReceiver.start();
    const exp = new ProtoMetricExporter({ url: r.httpEndpoint + '/v1/metrics', compression: 'gzip' as any, timeoutMillis: 5000 });
    try {
      const res = await exportMetrics(exp, await makeMetrics(AggregationTemporality.DELTA));
      assert.equal(res.code, 0, String(res.error));
      assert.equal(r.requests.length, 1);
      assert.equal(r.requests[0]!.headers['content-type'], 'application/x-protobuf');
      assert.equal(r.requests[0]!.headers['content-encoding'], 'gzip');
      assertMetricPoints(r, 'http', 'delta');
    } finally {
      await exp.shutdown();
      await r.stop();
    }
  });

  it('receives logs over gRPC and HTTP/protobuf through a LoggerProvider + SimpleLogRecordProcessor', async () => {
    const r = await OtlpReceiver.start();
    const grpcExp = new GrpcLogExporter({ url: r.grpcEndpoint, timeoutMillis: 5000 });
    const httpExp = new ProtoLogExporter({ url: r.httpEndpoint + '/v1/logs', timeoutMillis: 5000 });
    const lp = new LoggerProvider({
      resource: RESOURCE,
      processors: [new SimpleLogRecordProcessor({ exporter: grpcExp }), new SimpleLogRecordProcessor({ exporter: httpExp })],
    });
    try {
      emitTestEvent(lp);
      await lp.forceFlush();
      await r.waitFor((x) => x.logRecords().length >= 2, 5000, 'two log records');
      assertTestEvent(r, 'grpc');
      assertTestEvent(r, 'http');
      const raw = r.requests.find((q) => q.transport === 'grpc')!.body.resourceLogs[0].scopeLogs[0].logRecords[0];
      assert.equal(raw.eventName, 'test.event');
      assert.equal(raw.traceId, TRACE_ID);
      assert.equal(raw.flags, 1);
    } finally {
      await lp.shutdown();
      await r.stop();
    }
  });

  it('accepts OTLP/JSON (plain and gzip) produced by the OTel JSON serializers', async () => {
    const r = await OtlpReceiver.start();
    try {
      const metricsJson = JsonMetricsSerializer.serializeRequest(rm)!;
      const logsJson = JsonLogsSerializer.serializeRequest(logs)!;
      // OTLP/JSON: lowerCamelCase keys and hex trace ids
      assert.match(Buffer.from(logsJson).toString(), new RegExp(`"traceId":"${TRACE_ID}"`));
      const post = (p: string, body: Uint8Array, gzip: boolean) =>
        fetch(r.httpEndpoint + p, {
          method: 'POST',
          headers: { 'content-type': 'application/json', ...(gzip ? { 'content-encoding': 'gzip' } : {}) },
          body: gzip ? gzipSync(body) : body,
        });
      for (const gz of [false, true]) {
        const a = await post('/v1/metrics', metricsJson, gz);
        assert.equal(a.status, 200);
        assert.equal(a.headers.get('content-type'), 'application/json');
        assert.deepEqual(await a.json(), {});
        const b = await post('/v1/logs', logsJson, gz);
        assert.equal(b.status, 200);
        assert.deepEqual(await b.json(), {});
      }
      assertMetricPoints(r, 'http', 'cumulative');
      assertTestEvent(r, 'http');
      assert.equal(r.logRecords().length, 2);
      assert.equal(r.metricPoints().filter((p) => p.name === 'test.counter').length, 2);

      const bad = await post('/v1/logs', Buffer.from('{"resourceLogs": 5}'), false);
      assert.equal(bad.status, 400);
      assert.equal(r.malformed, 1);
      assert.equal((await fetch(r.httpEndpoint + '/v1/traces', { method: 'POST' })).status, 404);
    } finally {
      await r.stop();
    }
  });

  it('requiredHeaders: rejects without the header (gRPC 16 / HTTP 401), accepts with it', async () => {
    const token = 'Bearer s3cret';
    const r = await OtlpReceiver.start({ requiredHeaders: { Authorization: token } });
    const md = new grpc.Metadata();
    md.set('authorization', token);
    const exps = {
      grpcNone: new GrpcMetricExporter({ url: r.grpcEndpoint }),
      // the gRPC exporters accept `headers` in their option type but ignore it: metadata is what counts
      grpcHeaders: new GrpcMetricExporter({ url: r.grpcEndpoint, headers: { authorization: token } }),
      grpcOk: new GrpcMetricExporter({ url: r.grpcEndpoint, metadata: md }),
      grpcLogsOk: new GrpcLogExporter({ url: r.grpcEndpoint, metadata: md }),
      httpNone: new ProtoMetricExporter({ url: r.httpEndpoint + '/v1/metrics' }),
      httpOk: new ProtoMetricExporter({ url: r.httpEndpoint + '/v1/metrics', headers: { authorization: token } }),
      httpLogsOk: new ProtoLogExporter({ url: r.httpEndpoint + '/v1/logs', headers: { authorization: token } }),
    };
    try {
      const e1 = await exportMetrics(exps.grpcNone, rm);
      assert.equal(e1.code, 1);
      assert.equal((e1.error as any)?.code, grpc.status.UNAUTHENTICATED);
      assert.equal(r.rejected, 1);
      const e2 = await exportMetrics(exps.grpcHeaders, rm);
      assert.equal((e2.error as any)?.code, grpc.status.UNAUTHENTICATED);
      assert.equal(r.rejected, 2);
      const e3 = await exportMetrics(exps.httpNone, rm);
      assert.equal(e3.code, 1);
      assert.equal(e3.error?.name, 'OTLPExporterError');
      assert.equal((e3.error as any)?.code, 401);
      assert.equal(r.rejected, 3);
      assert.equal(r.requests.length, 0);

      assert.equal((await exportMetrics(exps.grpcOk, rm)).code, 0);
      assert.equal((await exportMetrics(exps.httpOk, rm)).code, 0);
      assert.equal((await exportLogs(exps.grpcLogsOk, logs)).code, 0);
      assert.equal((await exportLogs(exps.httpLogsOk, logs)).code, 0);
      assert.equal(r.rejected, 3);
      assert.equal(r.requests.length, 4);
      for (const q of r.requests) assert.equal(q.headers.authorization, token);
      assertMetricPoints(r, 'grpc', 'cumulative');
      assertMetricPoints(r, 'http', 'cumulative');
      assertTestEvent(r, 'grpc');
      assertTestEvent(r, 'http');
    } finally {
      await Promise.all(Object.values(exps).map((e) => e.shutdown()));
      await r.stop();
    }
  });

  it('failWith / setFailure: gRPC fails fast with the code, HTTP retries 503 and then succeeds', async () => {
    const r = await OtlpReceiver.start({ failWith: { grpcCode: grpc.status.UNAVAILABLE, count: 1 } });
    const g = new GrpcMetricExporter({ url: r.grpcEndpoint, timeoutMillis: 5000 });
    const h = new ProtoMetricExporter({ url: r.httpEndpoint + '/v1/metrics', timeoutMillis: 5000 });
    try {
      const e1 = await exportMetrics(g, rm);
      assert.equal(e1.code, 1);
      assert.equal((e1.error as any)?.code, grpc.status.UNAVAILABLE); // no retry in the gRPC exporter
      assert.equal(r.failed, 1);
      assert.equal((await exportMetrics(g, rm)).code, 0); // count exhausted

      r.setFailure({ httpStatus: 503, count: 1 });
      const t0 = Date.now();
      const e2 = await exportMetrics(h, rm); // retried by the HTTP exporter after ~1 s backoff
      assert.equal(e2.code, 0, String(e2.error));
      assert.ok(Date.now() - t0 >= 700, 'expected a retry backoff');
      assert.equal(r.failed, 2);
      assert.equal(r.requests.length, 2);

      r.setFailure({ httpStatus: 400 }); // non-retryable, until cleared
      const e3 = await exportMetrics(h, rm);
      assert.equal((e3.error as any)?.code, 400);
      r.setFailure(undefined);
      assert.equal((await exportMetrics(h, rm)).code, 0);
    } finally {
      await g.shutdown();
      await h.shutdown();
      await r.stop();
    }
  });

  it('delayMs makes exports time out', async () => {
    const r = await OtlpReceiver.start({ delayMs: 600 });
    const g = new GrpcMetricExporter({ url: r.grpcEndpoint, timeoutMillis: 200 });
    try {
      const e = await exportMetrics(g, rm);
      assert.equal((e.error as any)?.code, grpc.status.DEADLINE_EXCEEDED);
      r.delayMs = 0;
      assert.equal((await exportMetrics(g, rm)).code, 0);
    } finally {
      await g.shutdown();
      await r.stop();
    }
  });

  describe('TLS', () => {
    let dir: string;
    const pem: Record<string, string> = {};
    before(() => {
      dir = mkdtempSync(path.join(tmpdir(), 'otlp-receiver-tls-'));
      const ssl = (...args: string[]) => execFileSync('/usr/bin/openssl', args, { cwd: dir, stdio: 'pipe' });
      const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
      ssl('req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '1', '-subj', '/CN=otlp-receiver test CA');
      writeFileSync(path.join(dir, 'server.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n');
      writeFileSync(path.join(dir, 'client.ext'), 'basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n');
      for (const who of ['server', 'client']) {
        ssl('req', ...ec, '-keyout', `${who}.key`, '-out', `${who}.csr`, '-subj', `/CN=${who === 'server' ? '127.0.0.1' : 'test-client'}`);
        ssl('x509', '-req', '-in', `${who}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', `${who}.crt`, '-days', '1', '-extfile', `${who}.ext`);
      }
      for (const f of ['ca.crt', 'server.crt', 'server.key', 'client.crt', 'client.key']) pem[f] = readFileSync(path.join(dir, f), 'utf8');
    });
    after(() => rmSync(dir, { recursive: true, force: true }));

    it('serves gRPC over TLS and HTTPS; fails without the CA', async () => {
      const r = await OtlpReceiver.start({ tls: { cert: pem['server.crt']!, key: pem['server.key']! } });
      const ca = Buffer.from(pem['ca.crt']!);
      const exps = {
        grpcOk: new GrpcMetricExporter({ url: r.grpcEndpoint, credentials: grpc.credentials.createSsl(ca) }),
        grpcLogsOk: new GrpcLogExporter({ url: r.grpcEndpoint, credentials: grpc.credentials.createSsl(ca) }),
        grpcNoCa: new GrpcMetricExporter({ url: r.grpcEndpoint, timeoutMillis: 3000 }), // https:// → system roots
        httpOk: new ProtoMetricExporter({ url: r.httpEndpoint + '/v1/metrics', httpAgentOptions: { ca: pem['ca.crt'] } }),
        httpLogsOk: new ProtoLogExporter({ url: r.httpEndpoint + '/v1/logs', httpAgentOptions: { ca: pem['ca.crt'] } }),
        httpNoCa: new ProtoMetricExporter({ url: r.httpEndpoint + '/v1/metrics', timeoutMillis: 3000 }),
      };
      try {
        assert.match(r.grpcEndpoint, /^https:\/\/127\.0\.0\.1:\d+$/);
        assert.match(r.httpEndpoint, /^https:\/\/127\.0\.0\.1:\d+$/);
        assert.equal((await exportMetrics(exps.grpcOk, rm)).code, 0);
        assert.equal((await exportMetrics(exps.httpOk, rm)).code, 0);
        assert.equal((await exportLogs(exps.grpcLogsOk, logs)).code, 0);
        assert.equal((await exportLogs(exps.httpLogsOk, logs)).code, 0);
        assertMetricPoints(r, 'grpc', 'cumulative');
        assertMetricPoints(r, 'http', 'cumulative');
        assertTestEvent(r, 'grpc');
        assertTestEvent(r, 'http');

        const e1 = await exportMetrics(exps.grpcNoCa, rm);
        assert.equal(e1.code, 1);
        assert.equal((e1.error as any)?.code, grpc.status.UNAVAILABLE);
        const e2 = await exportMetrics(exps.httpNoCa, rm);
        assert.equal(e2.code, 1);
        assert.match(String((e2.error as any)?.code), /CERT|SELF_SIGNED|VERIFY/);
        assert.equal(r.requests.length, 4);
      } finally {
        await Promise.all(Object.values(exps).map((e) => e.shutdown()));
        await r.stop();
      }
    });

    it('mutual TLS: requireClientCert', async () => {
      const r = await OtlpReceiver.start({
        tls: { cert: pem['server.crt']!, key: pem['server.key']!, ca: pem['ca.crt']!, requireClientCert: true },
      });
      const ca = Buffer.from(pem['ca.crt']!);
      const key = Buffer.from(pem['client.key']!);
      const cert = Buffer.from(pem['client.crt']!);
      const exps = {
        grpcOk: new GrpcMetricExporter({ url: r.grpcEndpoint, credentials: grpc.credentials.createSsl(ca, key, cert) }),
        grpcNoCert: new GrpcMetricExporter({ url: r.grpcEndpoint, credentials: grpc.credentials.createSsl(ca), timeoutMillis: 3000 }),
        httpOk: new ProtoMetricExporter({ url: r.httpEndpoint + '/v1/metrics', httpAgentOptions: { ca: pem['ca.crt'], key: pem['client.key'], cert: pem['client.crt'] } }),
        httpNoCert: new ProtoMetricExporter({ url: r.httpEndpoint + '/v1/metrics', httpAgentOptions: { ca: pem['ca.crt'] }, timeoutMillis: 500 }),
      };
      try {
        assert.equal((await exportMetrics(exps.grpcOk, rm)).code, 0);
        assert.equal((await exportMetrics(exps.httpOk, rm)).code, 0);
        assert.equal((await exportMetrics(exps.grpcNoCert, rm)).code, 1);
        assert.equal((await exportMetrics(exps.httpNoCert, rm)).code, 1);
        assert.equal(r.requests.length, 2);
      } finally {
        await Promise.all(Object.values(exps).map((e) => e.shutdown()));
        await r.stop();
      }
    });
  });

  it('stop() refuses connections; restart() serves again on the same ports', async () => {
    const r = await OtlpReceiver.start();
    const { grpcPort, httpPort } = r;
    // the same exporter instances across the outage, as in production
    const g = new GrpcMetricExporter({ url: r.grpcEndpoint, timeoutMillis: 2000 });
    const h = new ProtoMetricExporter({ url: r.httpEndpoint + '/v1/metrics', timeoutMillis: 500 }); // too short for a retry
    const hl = new ProtoLogExporter({ url: r.httpEndpoint + '/v1/logs', timeoutMillis: 500 });
    try {
      assert.equal((await exportMetrics(g, rm)).code, 0);
      assert.equal((await exportMetrics(h, rm)).code, 0); // keep-alive connection now open
      await r.stop();
      assert.equal(r.isRunning, false);

      const e1 = await exportMetrics(g, rm);
      assert.equal(e1.code, 1);
      assert.equal((e1.error as any)?.code, grpc.status.UNAVAILABLE);
      const e2 = await exportMetrics(h, rm);
      assert.equal(e2.code, 1);
      assert.equal((e2.error as any)?.code, 'ECONNREFUSED');
      const e3 = await exportLogs(hl, logs);
      assert.equal((e3.error as any)?.code, 'ECONNREFUSED');
      await assert.rejects(fetch(r.httpEndpoint + '/v1/metrics', { method: 'POST' }));
      await assert.rejects(r.waitFor(() => false, 120, 'never'), /timed out after 120 ms waiting for: never/);

      await r.restart();
      assert.equal(r.grpcPort, grpcPort);
      assert.equal(r.httpPort, httpPort);
      assert.equal((await exportMetrics(h, rm)).code, 0);
      assert.equal((await exportLogs(hl, logs)).code, 0);
      // grpc-js reconnects with its own backoff (not configurable through the exporter): retry for a while
      const t0 = Date.now();
      let last: ExportResult | undefined;
      while (Date.now() - t0 < 10_000) {
        last = await exportMetrics(g, rm);
        if (last.code === 0) break;
        await new Promise((res) => setTimeout(res, 200));
      }
      assert.equal(last?.code, 0, `gRPC did not recover: ${String(last?.error)}`);
      assert.equal(r.requests.length, 5);
      assert.equal(point(r, 'test.counter', (p) => p.transport === 'grpc').value, 5);
    } finally {
      await g.shutdown();
      await h.shutdown();
      await hl.shutdown();
      await r.stop();
    }
  });
});
