import { test } from 'node:test';
import assert from 'node:assert/strict';
import { defaultOtlpConfig, defaultOtlpHttpConfig, otlpConfigSchema, otlpHttpConfigSchema, parseHeaderList, redactHeaders, resolveOtlp } from '../../../src/exporters/otlp/config.js';

const grpc = (over: object = {}) => otlpConfigSchema.parse({ ...defaultOtlpConfig(), ...over });
const http = (over: object = {}) => otlpHttpConfigSchema.parse({ ...defaultOtlpHttpConfig(), ...over });

test('defaults: localhost, gzip, 10 s, cumulative; gRPC host:port means TLS unless insecure', () => {
  const r = resolveOtlp('grpc', grpc(), 'metrics', {});
  assert.equal(r.url, 'https://localhost:4317');
  assert.equal(r.secure, true);
  assert.equal(r.compression, 'gzip');
  assert.equal(r.timeoutMs, 10_000);
  assert.equal(r.temporality, 'cumulative');
  assert.equal(resolveOtlp('grpc', grpc({ tls: { ...defaultOtlpConfig().tls, insecure: true } }), 'logs', {}).url, 'http://localhost:4317');
  assert.equal(resolveOtlp('grpc', grpc({ endpoint: 'http://collector:4317' }), 'logs', {}).secure, false);
  assert.equal(resolveOtlp('http', http(), 'logs', {}).url, 'http://localhost:4318/v1/logs');
  assert.equal(resolveOtlp('http', http({ endpoint: 'https://otlp.example.com/' }), 'metrics', {}).url, 'https://otlp.example.com/v1/metrics');
  assert.equal(resolveOtlp('http', http({ logs_endpoint: 'https://x/logs' }), 'logs', {}).url, 'https://x/logs');
});

test('the standard OTEL_EXPORTER_OTLP_* variables fill what the YAML leaves empty', () => {
  const env = {
    OTEL_EXPORTER_OTLP_ENDPOINT: 'http://gw:4318',
    OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: 'http://metrics-gw:4318/custom',
    OTEL_EXPORTER_OTLP_HEADERS: 'api-key=abc%20def,x-tenant=t1',
    OTEL_EXPORTER_OTLP_LOGS_HEADERS: 'x-tenant=logs',
    OTEL_EXPORTER_OTLP_TIMEOUT: '2500',
    OTEL_EXPORTER_OTLP_COMPRESSION: 'none',
    OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE: 'delta',
  };
  const m = resolveOtlp('http', http(), 'metrics', env);
  assert.equal(m.url, 'http://metrics-gw:4318/custom');
  assert.deepEqual(m.headers, { 'api-key': 'abc def', 'x-tenant': 't1' });
  assert.equal(m.timeoutMs, 2500);
  assert.equal(m.compression, 'none');
  assert.equal(m.temporality, 'delta');
  const l = resolveOtlp('http', http(), 'logs', env);
  assert.equal(l.url, 'http://gw:4318/v1/logs');
  assert.deepEqual(l.headers, { 'x-tenant': 'logs' });
  // YAML wins over the environment.
  const y = resolveOtlp('http', http({ endpoint: 'http://yaml:4318', headers: { 'x-tenant': 'yaml' }, timeout: '1s', compression: 'gzip', temporality: 'cumulative' }), 'metrics', env);
  assert.equal(y.url, 'http://yaml:4318/v1/metrics');
  assert.equal(y.headers['x-tenant'], 'yaml');
  assert.equal(y.timeoutMs, 1000);
  assert.equal(y.compression, 'gzip');
  assert.equal(y.temporality, 'cumulative');
  assert.equal(resolveOtlp('grpc', grpc(), 'logs', { OTEL_EXPORTER_OTLP_ENDPOINT: 'collector:4317', OTEL_EXPORTER_OTLP_INSECURE: 'true' }).url, 'http://collector:4317');
});

test('headers are parsed per the spec and redacted for logs', () => {
  assert.deepEqual(parseHeaderList('a=1, b = two ,bad,c=x%3Dy'), { a: '1', b: 'two', c: 'x=y' });
  assert.deepEqual(redactHeaders({ authorization: 'Bearer secret' }), { authorization: '[redacted]' });
});

test('config errors speak in YAML keys', () => {
  const bad = otlpHttpConfigSchema.safeParse({ ...defaultOtlpHttpConfig(), endpoint: 'localhost:4318' });
  assert.equal(bad.success, false);
  assert.deepEqual(bad.error!.issues[0]!.path, ['endpoint']);
  const cert = otlpConfigSchema.safeParse({ ...defaultOtlpConfig(), tls: { ...defaultOtlpConfig().tls, cert_file: '/x.pem' } });
  assert.equal(cert.success, false);
  assert.match(cert.error!.issues[0]!.message, /cert_file and key_file go together/);
});
