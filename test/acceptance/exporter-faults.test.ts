/**
 * Exporters on a bad day: the OTLP receiver down for 20 s, TLS, and authentication.
 * Nothing may be lost without being counted.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { OtlpReceiver } from '../support/otlp-receiver.js';
import { runClient, startServer, sleep } from '../support/peer.js';
import { latestValue, startService } from '../support/service.js';
import { makeCertificates } from '../support/certs.js';

async function server(n: number) {
  return startServer(['--addr', '127.0.0.1', '--port', '0', '--expect', '10', '--reply', '20', '--count', String(n)]);
}

async function drive(port: number, n: number) {
  const c = await runClient(['--addr', '127.0.0.1', '--port', String(port), '--count', String(n), '--send', '10', '--expect', '20']);
  assert.equal(c.code, 0, c.stderr);
}

function yaml(ports: number[], exporter: string, queueSize: number): string {
  return `
receivers:
  ebpf: {snapshot: false, sample_interval: 0s}
processors:
  filter/ports:
    include: {ports: [${ports.join(', ')}]}
  aggregate: {interval: 300ms, keys: none}
exporters:
  otlp:
${exporter.split('\n').map((l) => '    ' + l).join('\n')}
    retry_on_failure: {initial_interval: 500ms, max_interval: 2s, max_elapsed_time: 120s}
    sending_queue: {queue_size: ${queueSize}}
service:
  pipelines:
    metrics: {receivers: [ebpf], processors: [filter/ports, aggregate], exporters: [otlp]}
    logs: {receivers: [ebpf], processors: [filter/ports], exporters: [otlp]}
`;
}

for (const queueSize of [10_000, 10]) {
  test(`receiver down for 20 s, queue of ${queueSize} records: cumulative counters arrive complete, queued logs arrive, the rest is counted as dropped`, { timeout: 120_000 }, async () => {
    const rx = await OtlpReceiver.start();
    const N1 = 3;
    const N2 = 8;
    const s1 = await server(N1);
    const s2 = await server(N2);
    const service = await startService(yaml([s1.port, s2.port], `endpoint: ${rx.grpcEndpoint}\ntls: {insecure: true}`, queueSize));
    try {
      await drive(s1.port, N1);
      await rx.waitFor((r) => r.logRecords().length >= 4 * N1, 10_000, 'phase 1 logs');
      await rx.stop();
      await drive(s2.port, N2);
      await sleep(20_000);
      await rx.restart();
      await rx.waitFor((r) => latestValue(r.metricPoints(), 'tcp.connections.opened') === 2 * (N1 + N2), 40_000, 'cumulative counters after the outage');
      assert.equal(latestValue(rx.metricPoints(), 'tcp.connections.closed'), 2 * (N1 + N2));
      assert.equal(latestValue(rx.metricPoints(), 'tcp.io', { 'network.io.direction': 'transmit' }), (N1 + N2) * 30);
      const produced = 4 * (N1 + N2);
      const dropped = () => service.telemetry.total('tcpotel.component.items.dropped', { 'tcpotel.component.id': 'otlp', 'tcpotel.signal': 'logs' });
      if (queueSize >= produced) {
        await rx.waitFor((r) => r.logRecords().length >= produced, 20_000, 'every queued log record');
        assert.equal(rx.logRecords().length, produced);
        assert.equal(dropped(), 0);
      } else {
        await rx.waitFor((r) => r.logRecords().length + dropped() >= produced, 20_000, 'queued records or their drop counts');
        await sleep(1000);
        assert.ok(dropped() > 0, 'the small queue overflowed');
        assert.equal(service.telemetry.total('tcpotel.component.items.dropped', { 'tcpotel.component.id': 'otlp', 'tcpotel.signal': 'logs', 'tcpotel.drop.reason': 'queue_full' }), dropped());
        assert.equal(rx.logRecords().length + dropped(), produced, 'arrived + dropped = produced');
      }
      // The drop counts are exported too.
      await service.shutdown();
      const selfDrops = rx.metricPoints().filter((p) => p.name === 'tcpotel.component.items.dropped' && p.attributes['tcpotel.signal'] === 'logs');
      if (queueSize < produced) assert.ok(selfDrops.length > 0, 'tcpotel.component.items.dropped exported');
    } finally {
      await service.shutdown();
      await rx.stop();
    }
  });
}

test('TLS with a private CA, a client certificate, and header authentication (redacted in logs)', { timeout: 60_000 }, async () => {
  const certs = makeCertificates();
  const rx = await OtlpReceiver.start({
    tls: { cert: readFileSync(certs.serverCert, 'utf8'), key: readFileSync(certs.serverKey, 'utf8'), ca: readFileSync(certs.ca, 'utf8'), requireClientCert: true },
    requiredHeaders: { authorization: 'Bearer s3cret' },
  });
  const s = await server(2);
  const tls = `tls: {ca_file: ${certs.ca}, cert_file: ${certs.clientCert}, key_file: ${certs.clientKey}}`;
  const yamlText = `
receivers:
  ebpf: {snapshot: false, sample_interval: 0s}
processors:
  filter: {include: {ports: [${s.port}]}}
exporters:
  otlp/good:
    endpoint: ${rx.grpcEndpoint.replace('https://', '')}
    ${tls}
    headers: {authorization: Bearer s3cret}
  otlphttp/good:
    endpoint: ${rx.httpEndpoint}
    ${tls}
    headers: {authorization: Bearer s3cret}
  otlp/nokey:
    endpoint: ${rx.grpcEndpoint.replace('https://', '')}
    ${tls}
  otlphttp/nokey:
    endpoint: ${rx.httpEndpoint}
    ${tls}
service:
  pipelines:
    logs: {receivers: [ebpf], processors: [filter], exporters: [otlp/good, otlphttp/good, otlp/nokey, otlphttp/nokey]}
`;
  const service = await startService(yamlText);
  try {
    await drive(s.port, 2);
    await rx.waitFor((r) => r.logRecords().length >= 16, 15_000, 'records over TLS on both transports');
    await rx.waitFor((r) => r.rejected >= 2, 15_000, 'the unauthenticated exports');
    await sleep(500);
    const grpc = rx.logRecords().filter((l) => l.transport === 'grpc');
    const http = rx.logRecords().filter((l) => l.transport === 'http');
    assert.equal(grpc.length, 8);
    assert.equal(http.length, 8);
    for (const r of rx.requests) assert.equal(r.headers.authorization, 'Bearer s3cret');
    // Rejected for authentication: permanent, dropped at once and counted.
    const drops = (id: string) => service.telemetry.total('tcpotel.component.items.dropped', { 'tcpotel.component.id': id, 'tcpotel.drop.reason': 'export_failed' });
    assert.ok(drops('otlp/nokey') >= 1);
    assert.ok(drops('otlphttp/nokey') >= 1);
    assert.equal(drops('otlp/good'), 0);
  } finally {
    await service.shutdown();
    await rx.stop();
  }
});
