/**
 * Exporters end to end: real eBPF programs, real loopback traffic, a real pipeline, and
 * what a real OTLP receiver (or Prometheus) decoded.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OtlpReceiver } from '../support/otlp-receiver.js';
import { runClient, startServer, sleep } from '../support/peer.js';
import { latestValue, startService } from '../support/service.js';
import type { PrometheusExporter } from '../../src/exporters/prometheus/prometheus.js';
import { TCP_METRICS } from '../../src/semconv/metrics.js';
import { prometheusMetricNames } from '../../src/semconv/prometheus.js';

/** A metric's Prometheus sample name (src/semconv/prometheus.ts: the one place names are made). */
const promName = (m: (typeof TCP_METRICS)[keyof typeof TCP_METRICS]) => prometheusMetricNames(m)!.name;

const N = 5;
const K = 700;
const M = 4321;

/** A server on an ephemeral port, then N clients: returns the port and the peers' pids. */
async function traffic(n = N) {
  const server = await startServer(['--addr', '127.0.0.1', '--port', '0', '--expect', String(K), '--reply', String(M), '--count', String(n)]);
  return {
    port: server.port,
    serverPid: server.pid,
    async drive() {
      const c = await runClient(['--addr', '127.0.0.1', '--port', String(server.port), '--count', String(n), '--send', String(K), '--expect', String(M)]);
      assert.equal(c.code, 0, c.stderr);
      await server.done;
      return c.pid;
    },
  };
}

function pipelineYaml(port: number, exporters: Record<string, string>, opts: { interval?: string; keys?: string } = {}): string {
  const names = Object.keys(exporters);
  const metricsExporters = names.filter((n) => !n.startsWith('logs:'));
  const body = Object.entries(exporters)
    .map(([name, cfg]) => `  ${name.replace(/^logs:/, '')}:\n${cfg.split('\n').map((l) => '    ' + l).join('\n')}`)
    .join('\n');
  const logExporters = names.filter((n) => !n.startsWith('prometheus')).map((n) => n.replace(/^logs:/, ''));
  return `
receivers:
  ebpf:
    snapshot: false
    sample_interval: 0s
processors:
  filter/port:
    include:
      ports: [${port}]
  aggregate:
    interval: ${opts.interval ?? '200ms'}
    keys: ${opts.keys ?? 'none'}
exporters:
${body}
service:
  pipelines:
    metrics:
      receivers: [ebpf]
      processors: [filter/port, aggregate]
      exporters: [${[...new Set(metricsExporters.map((n) => n.replace(/^logs:/, '')))].join(', ')}]
${logExporters.length ? `    logs:\n      receivers: [ebpf]\n      processors: [filter/port]\n      exporters: [${[...new Set(logExporters)].join(', ')}]\n` : ''}`;
}

test('OTLP over gRPC and HTTP: exact connection and byte counts in metrics, one log record per event with five-tuple and pid', async () => {
  const rx = await OtlpReceiver.start();
  const t = await traffic();
  const service = await startService(
    pipelineYaml(t.port, {
      'otlp/grpc': `endpoint: ${rx.grpcEndpoint}\ntls: {insecure: true}`,
      otlphttp: `endpoint: ${rx.httpEndpoint}`,
    }),
  );
  let clientPid = 0;
  try {
    clientPid = await t.drive();
    await sleep(500);
  } finally {
    await service.shutdown();
  }
  for (const transport of ['grpc', 'http'] as const) {
    const points = rx.metricPoints().filter((p) => p.transport === transport);
    assert.equal(latestValue(points, 'tcp.connections.opened'), 2 * N, `${transport}: opened (both ends)`);
    assert.equal(latestValue(points, 'tcp.connections.closed'), 2 * N, `${transport}: closed`);
    assert.equal(latestValue(points, 'tcp.connections.active'), 0, `${transport}: active`);
    assert.equal(latestValue(points, 'tcp.io', { 'network.io.direction': 'transmit' }), N * (K + M), `${transport}: bytes sent`);
    assert.equal(latestValue(points, 'tcp.io', { 'network.io.direction': 'receive' }), N * (K + M), `${transport}: bytes received`);
    assert.equal(latestValue(points, 'tcp.handshake.duration'), 2 * N, `${transport}: handshakes`);
    const opened = points.find((p) => p.name === 'tcp.connections.opened')!;
    assert.equal(opened.temporality, 'cumulative');
    assert.equal(opened.monotonic, true);
    assert.equal(opened.unit, '{connection}');
    assert.equal(opened.resource['service.name'], 'tcpotel');
    // tcpotel's own metrics travel along.
    assert.ok(points.some((p) => p.name === 'tcpotel.component.items.dropped' || p.name === 'tcpotel.component.items.in'));

    const logs = rx.logRecords().filter((l) => l.transport === transport);
    const opens = logs.filter((l) => l.eventName === 'tcp.connection.open');
    const closes = logs.filter((l) => l.eventName === 'tcp.connection.close');
    assert.equal(opens.length, 2 * N, `${transport}: open records`);
    assert.equal(closes.length, 2 * N, `${transport}: close records`);
    assert.equal(logs.length, 4 * N, `${transport}: nothing else on that port`);
    const clientCloses = closes.filter((l) => l.attributes['network.tcp.handshake.role'] === 'client');
    const serverCloses = closes.filter((l) => l.attributes['network.tcp.handshake.role'] === 'server');
    assert.equal(clientCloses.length, N);
    for (const l of clientCloses) {
      assert.equal(l.attributes['event.name'], 'tcp.connection.close');
      assert.equal(l.attributes['network.transport'], 'tcp');
      assert.equal(l.attributes['network.type'], 'ipv4');
      assert.equal(l.attributes['network.local.address'], '127.0.0.1');
      assert.equal(l.attributes['network.peer.address'], '127.0.0.1');
      assert.equal(l.attributes['network.peer.port'], t.port);
      assert.equal(l.attributes['server.port'], t.port);
      assert.equal(l.attributes['process.pid'], clientPid);
      assert.equal(l.attributes['process.executable.name'], 'tp-client');
      assert.equal(l.attributes['tcp.bytes.sent'], K);
      assert.equal(l.attributes['tcp.bytes.received'], M);
      assert.equal(l.severityText, 'INFO');
      const ms = Number(BigInt(l.timeUnixNano) / 1_000_000n);
      assert.ok(Math.abs(ms - Date.now()) < 60_000, 'kernel time converted to wall-clock time');
    }
    for (const l of serverCloses) {
      assert.equal(l.attributes['network.local.port'], t.port);
      assert.equal(l.attributes['process.pid'], t.serverPid);
      assert.equal(l.attributes['tcp.bytes.sent'], M);
    }
  }
  await rx.stop();
});

/** Parses Prometheus text exposition into { 'name{labels}': value }. */
function parseExposition(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})? (\S+)$/.exec(line);
    assert.ok(m, `unparseable line: ${line}`);
    out.set(m[1]! + (m[2] ?? ''), Number(m[3]));
  }
  return out;
}

function sumOf(samples: Map<string, number>, name: string, labelFragment = ''): number {
  let s = 0;
  for (const [k, v] of samples) if ((k === name || k.startsWith(name + '{')) && k.includes(labelFragment)) s += v;
  return s;
}

test('Prometheus: a scrape parses and shows the same counts; a real Prometheus server scrapes it too', async () => {
  const t = await traffic();
  const service = await startService(pipelineYaml(t.port, { prometheus: 'endpoint: 127.0.0.1:0' }));
  const exporter = [...service.exporters.values()][0] as PrometheusExporter;
  const url = `http://127.0.0.1:${exporter.port}/metrics`;
  const dir = mkdtempSync(join(tmpdir(), 'tcpotel-prom-'));
  writeFileSync(join(dir, 'prometheus.yml'), `global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: tcpotel\n    static_configs:\n      - targets: ['127.0.0.1:${exporter.port}']\n`);
  const promPort = 19090 + (process.pid % 500);
  const prom = spawn('prometheus', [`--config.file=${join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${promPort}`], { stdio: 'ignore' });
  try {
    await t.drive();
    await sleep(600);
    const res = await fetch(url);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /text\/plain/);
    const samples = parseExposition(await res.text());
    assert.equal(promName(TCP_METRICS.io), 'tcp_io_bytes_total');
    assert.equal(sumOf(samples, promName(TCP_METRICS.opened)), 2 * N);
    assert.equal(sumOf(samples, promName(TCP_METRICS.closed)), 2 * N);
    assert.equal(sumOf(samples, promName(TCP_METRICS.io), 'network_io_direction="transmit"'), N * (K + M));
    assert.equal(sumOf(samples, promName(TCP_METRICS.io), 'network_io_direction="receive"'), N * (K + M));
    assert.equal(sumOf(samples, `${promName(TCP_METRICS.handshake)}_count`), 2 * N);

    // The real thing: Prometheus scrapes the endpoint and answers a query with the same count.
    let value = -1;
    const end = Date.now() + 20_000;
    while (value !== 2 * N && Date.now() < end) {
      try {
        const q = await fetch(`http://127.0.0.1:${promPort}/api/v1/query?query=sum(tcp_connections_opened_total)`);
        const body = (await q.json()) as { data?: { result?: Array<{ value: [number, string] }> } };
        value = Number(body.data?.result?.[0]?.value[1] ?? -1);
      } catch {
        /* not up yet */
      }
      if (value !== 2 * N) await sleep(500);
    }
    assert.equal(value, 2 * N, 'sum(tcp_connections_opened_total) as Prometheus sees it');
    // It scraped OpenMetrics text (it asks for it first): the units of # UNIT lines reached it.
    const meta = (await (await fetch(`http://127.0.0.1:${promPort}/api/v1/targets/metadata?metric=tcp_io_bytes`)).json()) as { data: Array<{ type: string; unit: string }> };
    assert.deepEqual(meta.data.map((m) => [m.type, m.unit]), [['counter', 'bytes']]);
    const up = (await (await fetch(`http://127.0.0.1:${promPort}/api/v1/query?query=up`)).json()) as { data: { result: Array<{ value: [number, string] }> } };
    assert.equal(up.data.result[0]?.value[1], '1', 'every scrape parsed');
  } finally {
    prom.kill('SIGTERM');
    await service.shutdown();
  }
});
