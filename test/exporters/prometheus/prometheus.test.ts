/**
 * The Prometheus exporter's streamed scrape: the pieces hold exactly the samples of the
 * one-block exposition, with each metric's HELP/TYPE once and before its samples; over
 * HTTP the body is the same.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { get } from 'node:http';
import { Aggregator } from '../../../src/processors/aggregate/aggregator.js';
import { aggregateProcessorFactory } from '../../../src/processors/aggregate/factory.js';
import { PrometheusExporter, prometheusExporterFactory } from '../../../src/exporters/prometheus/exporter.js';
import { eventBatch, type TcpEvent } from '../../../src/core/events.js';
import { makeEvent } from '../../support/events.js';
import { testContext } from '../../support/context.js';

/** An exporter holding `n` five-tuple series of every tcp metric (histograms included). */
function exporterWith(n: number): PrometheusExporter {
  const aggConfig = aggregateProcessorFactory.schema.parse({ ...(aggregateProcessorFactory.createDefaultConfig() as object), max_series: n + 10 });
  const agg = new Aggregator(aggConfig, { overflow: () => undefined, evicted: () => undefined }, Date.now() - 1000);
  const events: TcpEvent[] = [];
  for (let i = 0; i < n; i++) {
    const t = { socketId: i + 1, localAddress: `10.0.${i >> 8}.${i & 255}`, localPort: 20000 + i, remotePort: 443 };
    events.push(makeEvent({ ...t, kind: 'open', handshakeNs: 1000 + i }));
    events.push(makeEvent({ ...t, kind: 'close', bytesSent: i, bytesReceived: 2 * i, srttUs: 10 + i, durationNs: 1e6 + i }));
  }
  agg.add(eventBatch('t', events));
  const config = prometheusExporterFactory.schema.parse({ ...(prometheusExporterFactory.createDefaultConfig() as object), endpoint: '127.0.0.1:0' });
  const ex = new PrometheusExporter(config, { ...testContext('prometheus', 'exporter'), signal: 'metrics', selfMetrics: false });
  ex.consume(agg.flush(Date.now()));
  return ex;
}

const samples = (text: string) => text.split('\n').filter((l) => l !== '' && !l.startsWith('#')).sort();

function checkComments(text: string) {
  const typed = new Set<string>();
  for (const line of text.split('\n')) {
    const m = /^# TYPE (\S+)/.exec(line);
    if (m) {
      assert.ok(!typed.has(m[1]!), `one TYPE line for ${m[1]}`);
      typed.add(m[1]!);
    } else if (line && !line.startsWith('#')) {
      const name = /^[^{ ]+/.exec(line)![0];
      const family = [...typed].find((f) => name === f || name.startsWith(`${f}_`));
      assert.ok(family, `the TYPE of ${name} comes before its samples`);
    }
  }
  return typed;
}

test('a scrape in pieces holds exactly the samples of the one-block exposition, HELP/TYPE once each', () => {
  const ex = exporterWith(1500);
  const whole = ex.scrape();
  const pieces = [...ex.scrapePieces(100)];
  assert.ok(pieces.length > 50, `many pieces (${pieces.length})`);
  const joined = pieces.join('');
  assert.deepEqual(samples(joined), samples(whole));
  assert.equal(samples(whole).filter((l) => l.startsWith('tcp_connections_opened_total{')).length, 1500);
  assert.deepEqual(checkComments(joined), checkComments(whole));
  assert.equal(joined.split('\n').filter((l) => l.startsWith('target_info')).length, 1);
});

test('an empty exporter scrapes as the serializer says so, in one piece', () => {
  const ex = exporterWith(0);
  const pieces = [...ex.scrapePieces(100)];
  assert.equal(pieces.join(''), ex.scrape());
});

test('over HTTP the streamed body has the samples of scrape(), and other paths are 404', async () => {
  const ex = exporterWith(5000);
  await ex.start();
  try {
    const fetchText = (path: string) =>
      new Promise<{ status: number; body: string; chunked: boolean }>((resolve, reject) => {
        get({ host: '127.0.0.1', port: ex.port, path }, (res) => {
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (d: string) => (body += d));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body, chunked: res.headers['transfer-encoding'] === 'chunked' }));
        }).on('error', reject);
      });
    const r = await fetchText('/metrics');
    assert.equal(r.status, 200);
    assert.ok(r.chunked, 'streamed');
    assert.deepEqual(samples(r.body), samples(ex.scrape()));
    checkComments(r.body);
    assert.equal((await fetchText('/other')).status, 404);
  } finally {
    await ex.shutdown();
  }
});
