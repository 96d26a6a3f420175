/**
 * The Prometheus exporter over HTTP: the streamed body holds exactly the samples of
 * scrape(), whatever the machine's speed (nothing here is timed); a render spread over
 * turns of the event loop shows one state even when batches arrive meanwhile.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { request, type IncomingHttpHeaders } from 'node:http';
import { connect, type Socket } from 'node:net';
import { spawnSync } from 'node:child_process';
import { Telemetry } from '../../../src/core/telemetry.js';
import { Aggregator } from '../../../src/processors/aggregate/aggregator.js';
import { aggregateProcessorFactory } from '../../../src/processors/aggregate/factory.js';
import { PrometheusExporter, negotiate } from '../../../src/exporters/prometheus/prometheus.js';
import { prometheusExporterFactory } from '../../../src/exporters/prometheus/factory.js';
import { eventBatch, type TcpEvent } from '../../../src/core/events.js';
import { openEvent } from '../../support/events.js';
import { testContext } from '../../support/context.js';
import { assertSameSamples, parseExposition, sampleKeys } from './exposition.js';

/** An exporter holding `n` five-tuple series of every tcp metric (histograms included), and a way to add more windows. */
function exporterWith(n: number, overrides: Record<string, unknown> = {}, telemetry = new Telemetry(), selfMetrics = false) {
  const aggConfig = aggregateProcessorFactory.schema.parse({ ...(aggregateProcessorFactory.createDefaultConfig() as object), max_series: 10 * n + 10 });
  let now = Date.now();
  const agg = new Aggregator(aggConfig, { overflow: () => undefined, evicted: () => undefined }, now - 1000);
  const window = (round: number, count = n) => {
    const events: TcpEvent[] = [];
    for (let i = 0; i < count; i++) {
      const t = { socketId: round * 1_000_000 + i + 1, localAddress: `10.0.${i >> 8}.${i & 255}`, localPort: 20000 + i, remotePort: 443 };
      events.push(openEvent({ ...t, kind: 'open', handshakeNs: 1000 + i }));
      events.push(openEvent({ ...t, kind: 'close', bytesSent: i + round, bytesReceived: 2 * i, srttUs: 10 + i, durationNs: 1e6 + i }));
    }
    agg.add(eventBatch('t', events));
    return agg.flush((now += 1000));
  };
  const config = prometheusExporterFactory.schema.parse({ ...(prometheusExporterFactory.createDefaultConfig() as object), endpoint: '127.0.0.1:0', ...overrides });
  const ex = new PrometheusExporter(config, { ...testContext('prometheus', 'exporter', { telemetry }), signal: 'metrics', selfMetrics });
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
  // The client reads in this same process, between the render's turns: on a slow, busy
  // machine that can take longer than the default write_timeout, which would cut it as a
  // slow reader. The limits have tests of their own.
  const { ex } = exporterWith(5000, { write_timeout: '10m', read_header_timeout: '10m', idle_timeout: '10m' });
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
  const { ex } = exporterWith(2000, { write_timeout: '10m', read_header_timeout: '10m', idle_timeout: '10m' });
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
    // Scrapes go on. (HEAD: a 30 MB body read in this same process could itself stall past
    // the 300 ms write_timeout on a busy machine, and be cut as a slow reader.)
    assert.equal((await fetchText(ex.port, '/metrics', { method: 'HEAD' })).status, 200);
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

/** What Prometheus 2.42 sends. */
const PROMETHEUS_ACCEPT = 'application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1';

test('the format a client asks for: OpenMetrics when it prefers it, else the text format', () => {
  const om = 'application/openmetrics-text; version=1.0.0; charset=utf-8';
  const text = 'text/plain; version=0.0.4; charset=utf-8';
  const cases: Array<[string | undefined, string]> = [
    [undefined, text],
    ['*/*', text],
    ['text/plain', text],
    ['text/html,application/xhtml+xml,*/*;q=0.8', text],
    [PROMETHEUS_ACCEPT, om],
    ['application/openmetrics-text', om],
    ['application/openmetrics-text;version=0.0.1', 'application/openmetrics-text; version=0.0.1; charset=utf-8'],
    ['application/openmetrics-text;version=2.0.0,text/plain;q=0.1', text],
    ['text/plain;version=0.0.4;q=0.9,application/openmetrics-text;q=0.5', text],
    ['application/openmetrics-text;q=0', text],
    ['application/openmetrics-text;q=0.5,text/plain;q=0.5', om],
  ];
  for (const [accept, want] of cases) assert.equal(negotiate(accept).contentType, want, String(accept));
});

test('GET and HEAD on /metrics, OpenMetrics text for a client that asks for it, 405 for other methods', async () => {
  const { ex } = exporterWith(50);
  await ex.start();
  try {
    const get = await fetchText(ex.port, '/metrics');
    const head = await fetchText(ex.port, '/metrics', { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(head.body, '');
    assert.equal(head.headers['content-type'], get.headers['content-type']);
    assert.equal(head.headers['content-length'], get.headers['content-length']);
    const om = await fetchText(ex.port, '/metrics', { headers: { accept: PROMETHEUS_ACCEPT } });
    assert.equal(om.headers['content-type'], 'application/openmetrics-text; version=1.0.0; charset=utf-8');
    assert.equal(om.headers.vary, 'Accept');
    const parsed = parseExposition(om.body);
    assert.ok(parsed.eof, '# EOF at the end');
    assertSameSamples(sampleKeys(parsed.samples), sampleKeys(parseExposition(get.body).samples));
    assert.equal(parsed.families.get('tcp_io_bytes')?.unit, 'bytes');
    const post = await fetchText(ex.port, '/metrics', { method: 'POST' });
    assert.equal(post.status, 405);
    assert.equal(post.headers.allow, 'GET, HEAD');
    assert.equal((await fetchText(ex.port, '/', { method: 'HEAD' })).status, 404);
  } finally {
    await ex.shutdown();
  }
});

test('promtool check metrics (Debian’s prometheus package) accepts a real scrape', async (t) => {
  if (spawnSync('promtool', ['--version'], { stdio: 'ignore' }).status !== 0) {
    t.skip('promtool is not installed (scripts/setup.sh installs the prometheus package)');
    return;
  }
  const telemetry = new Telemetry();
  // Every tcp metric with five-tuple keys, tcpotel's own metrics too.
  const { ex } = exporterWith(20, {}, telemetry, true);
  telemetry.counter('tcpotel.component.items.dropped', { 'tcpotel.component.id': 'x', 'tcpotel.drop.reason': 'queue_full' }).add(2);
  telemetry.gauge('tcpotel.exporter.queue.size', { 'tcpotel.component.id': 'otlp' }, () => 3);
  await ex.start();
  try {
    const body = (await fetchText(ex.port, '/metrics')).body;
    assert.match(body, /^tcp_rtt_seconds_bucket\{/m);
    assert.match(body, /^tcpotel_component_items_dropped_total\{/m);
    const r = spawnSync('promtool', ['check', 'metrics'], { input: body, encoding: 'utf8' });
    assert.equal(`${r.stdout}${r.stderr}`, '', 'no problem reported');
    assert.equal(r.status, 0);
  } finally {
    await ex.shutdown();
  }
});
