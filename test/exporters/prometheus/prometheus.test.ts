/**
 * The Prometheus exporter over HTTP: the streamed body holds exactly the samples of
 * scrape(), whatever the machine's speed (nothing here is timed); a render spread over
 * turns of the event loop shows one state even when batches arrive meanwhile.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { request, type IncomingHttpHeaders } from 'node:http';
import { connect, type Socket } from 'node:net';
import { Telemetry } from '../../../src/core/telemetry.js';
import { Aggregator } from '../../../src/processors/aggregate/aggregator.js';
import { aggregateProcessorFactory } from '../../../src/processors/aggregate/factory.js';
import { PrometheusExporter } from '../../../src/exporters/prometheus/exporter.js';
import { prometheusExporterFactory } from '../../../src/exporters/prometheus/factory.js';
import { eventBatch, type TcpEvent } from '../../../src/core/events.js';
import { makeEvent } from '../../support/events.js';
import { testContext } from '../../support/context.js';
import { assertSameSamples, parseExposition, sampleKeys } from './exposition.js';

/** An exporter holding `n` five-tuple series of every tcp metric (histograms included), and a way to add more windows. */
function exporterWith(n: number, overrides: Record<string, unknown> = {}, telemetry = new Telemetry()) {
  const aggConfig = aggregateProcessorFactory.schema.parse({ ...(aggregateProcessorFactory.createDefaultConfig() as object), max_series: 10 * n + 10 });
  let now = Date.now();
  const agg = new Aggregator(aggConfig, { overflow: () => undefined, evicted: () => undefined }, now - 1000);
  const window = (round: number, count = n) => {
    const events: TcpEvent[] = [];
    for (let i = 0; i < count; i++) {
      const t = { socketId: round * 1_000_000 + i + 1, localAddress: `10.0.${i >> 8}.${i & 255}`, localPort: 20000 + i, remotePort: 443 };
      events.push(makeEvent({ ...t, kind: 'open', handshakeNs: 1000 + i }));
      events.push(makeEvent({ ...t, kind: 'close', bytesSent: i + round, bytesReceived: 2 * i, srttUs: 10 + i, durationNs: 1e6 + i }));
    }
    agg.add(eventBatch('t', events));
    return agg.flush((now += 1000));
  };
  const config = prometheusExporterFactory.schema.parse({ ...(prometheusExporterFactory.createDefaultConfig() as object), endpoint: '127.0.0.1:0', ...overrides });
  const ex = new PrometheusExporter(config, { ...testContext('prometheus', 'exporter', { telemetry }), signal: 'metrics', selfMetrics: false });
  ex.consume(window(1));
  return { ex, window };
}

/** One request on its own connection (no keep-alive pool to race with), the whole body read. */
function fetchText(port: number, path: string, opts: { method?: string; headers?: Record<string, string> } = {}) {
  return new Promise<{ status: number; body: string; headers: IncomingHttpHeaders }>((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method: opts.method ?? 'GET', headers: opts.headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (d: Buffer) => chunks.push(d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8'), headers: res.headers }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

test('over HTTP the streamed body has the samples of scrape(), and other paths are 404', async () => {
  const { ex } = exporterWith(5000);
  await ex.start();
  try {
    const r = await fetchText(ex.port, '/metrics');
    assert.equal(r.status, 200);
    assert.equal(r.headers['content-type'], 'text/plain; version=0.0.4; charset=utf-8');
    assert.equal(Number(r.headers['content-length']), Buffer.byteLength(r.body), 'the whole body');
    // Nothing changed since: byte for byte what scrape() renders, and a valid exposition.
    const whole = ex.scrape();
    assert.ok(r.body === whole, `the body (${r.body.length} characters) is scrape() (${whole.length})`);
    const got = parseExposition(r.body);
    assert.equal(got.samples.filter((s) => s.name === 'tcp_connections_opened_total').length, 5000);
    assert.equal(got.samples.filter((s) => s.name === 'target_info').length, 1);
    assert.equal((await fetchText(ex.port, '/other')).status, 404);
  } finally {
    await ex.shutdown();
  }
});

test('a render spread over turns of the event loop shows one state: batches that arrive meanwhile wait for the next scrape', async () => {
  const { ex, window } = exporterWith(1500);
  const before = ex.scrape();
  const rendering = ex.exposition();
  // The render is under way (it takes many turns at this size) when a window arrives.
  ex.consume(window(2));
  const during = await rendering;
  assertSameSamples(sampleKeys(parseExposition(during.text()).samples), sampleKeys(parseExposition(before).samples));
  during.release();
  const after = parseExposition(ex.scrape());
  const opened = after.samples.filter((s) => s.name === 'tcp_connections_opened_total');
  assert.equal(opened.length, 1500);
  assert.ok(opened.every((s) => s.value === '2'), 'the window that arrived during the render is in the next scrape');
});

test('concurrent scrapes share one render and get the same body', async () => {
  const { ex } = exporterWith(2000);
  await ex.start();
  try {
    const bodies = await Promise.all([1, 2, 3, 4].map(() => fetchText(ex.port, '/metrics')));
    for (const b of bodies) assert.equal(b.body, bodies[0]!.body);
  } finally {
    await ex.shutdown();
  }
});

/** A client that asks for /metrics and then reads nothing. */
function nonReader(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port }, () => {
      s.pause();
      s.write('GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n');
      resolve(s);
    });
    s.on('error', () => undefined);
    s.once('error', reject);
  });
}

async function until(what: string, ok: () => boolean): Promise<void> {
  // Generous: the machine may be slow; nothing here measures time.
  const deadline = Date.now() + 120_000;
  while (!ok()) {
    if (Date.now() > deadline) assert.fail(`waited too long for: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

test('a client that reads nothing is cut after write_timeout, counted with the data points it lost; scrapes go on', async () => {
  const telemetry = new Telemetry();
  const { ex } = exporterWith(2500, { write_timeout: '300ms' }, telemetry);
  await ex.start();
  try {
    const e = await ex.exposition();
    const points = e.points;
    assert.ok(e.byteLength('text') > 30e6, 'larger than what the kernel buffers for one socket');
    e.release();
    const s = await nonReader(ex.port);
    const closedBy = new Promise((r) => s.once('close', r));
    const cuts = () => telemetry.total('tcpotel.exporter.connections.closed', { 'tcpotel.drop.reason': 'slow_reader' });
    await until('the slow reader is cut', () => cuts() === 1);
    s.resume(); // reading again, it learns the connection was reset
    await closedBy;
    assert.equal(telemetry.total('tcpotel.component.items.dropped', { 'tcpotel.drop.reason': 'slow_reader' }), points);
    assert.equal((await fetchText(ex.port, '/metrics')).status, 200);
    assert.equal(cuts(), 1);
    assert.equal(ex.stats().heldBytes, 0);
  } finally {
    await ex.shutdown();
  }
});

test('at max_connections, a scrape gets in: the connection that waited longest without asking is closed, and counted', async () => {
  const telemetry = new Telemetry();
  const { ex } = exporterWith(10, { max_connections: 3 }, telemetry);
  await ex.start();
  try {
    const idle: Socket[] = [];
    const closedByServer: number[] = [];
    for (let i = 0; i < 3; i++) {
      const s = connect({ host: '127.0.0.1', port: ex.port });
      s.on('error', () => undefined);
      s.on('close', () => closedByServer.push(i));
      await new Promise((r) => s.once('connect', r));
      idle.push(s);
      await until('the server has it', () => ex.stats().connections === i + 1);
    }
    const r = await fetchText(ex.port, '/metrics');
    assert.equal(r.status, 200);
    await until('the oldest idle connection is closed', () => closedByServer.length === 1);
    assert.deepEqual(closedByServer, [0]);
    assert.equal(telemetry.total('tcpotel.exporter.connections.closed', { 'tcpotel.drop.reason': 'connection_limit' }), 1);
    assert.equal(telemetry.total('tcpotel.component.items.dropped'), 0, 'no data lost: nobody had asked');
    for (const s of idle) s.destroy();
  } finally {
    await ex.shutdown();
  }
});
