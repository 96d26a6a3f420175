/**
 * Settings of the otlp (gRPC) and otlphttp exporters, with the Collector's names, and
 * the standard OTEL_EXPORTER_OTLP_* environment variables for what the YAML leaves unset.
 */
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import type { Signal } from '../../core/component.js';
import { duration, endpointPort, parseDuration } from '../../config/units.js';
import { defaultQueue, defaultRetry, queueSchema, retrySchema } from '../shared/sender.js';
import { RESOURCE_IDENTITY_ATTRS } from '../../semconv/attributes.js';

const tlsSchema = z.strictObject({
  /** gRPC: plaintext (no TLS). */
  insecure: z.boolean(),
  /** Do not verify the server's certificate. */
  insecure_skip_verify: z.boolean(),
  ca_file: z.string(),
  cert_file: z.string(),
  key_file: z.string(),
});

/** The longest request timeout: 10 minutes. */
const MAX_TIMEOUT_MS = 600_000;

/** A destination port: 1..65535 (the range check itself is the validator's, for every endpoint). */
function checkDestinationPorts(c: Record<string, unknown>, keys: readonly string[], ctx: z.RefinementCtx): void {
  for (const key of keys) {
    const v = c[key];
    if (typeof v === 'string' && endpointPort(v) === 0) ctx.addIssue({ code: 'custom', path: [key], message: `"${v}": port 0 is not a destination: ports go from 1 to 65535` });
  }
}

const common = {
  /** Empty: from OTEL_EXPORTER_OTLP_[SIGNAL_]ENDPOINT, else the default for the transport. */
  endpoint: z.string(),
  tls: tlsSchema,
  headers: z.record(z.string(), z.string()),
  /** Empty: from OTEL_EXPORTER_OTLP_COMPRESSION, else gzip. */
  compression: z.enum(['', 'gzip', 'none']),
  /** Empty: from OTEL_EXPORTER_OTLP_TIMEOUT, else 10s. The deadline of a whole request, answer included. */
  timeout: z.union([z.literal(''), duration({ min: 1, max: MAX_TIMEOUT_MS })]),
  /** Empty: from OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE, else cumulative. */
  temporality: z.enum(['', 'cumulative', 'delta']),
  /** Metric series kept for cumulative export; more fold into an overflow series (counted). */
  max_series: z.number().int().min(1),
  /** Cumulative series that nothing updates for this long are no longer exported. */
  series_expiry: duration(),
  retry_on_failure: retrySchema,
  sending_queue: queueSchema,
  /**
   * Attributes that move from points and log records to the resource, one resource per
   * distinct set of their values (as the Collector's groupbyattrs): by default container.id
   * and k8s.pod.uid, where a gateway's k8sattributes processor looks. []: left on the points.
   */
  group_by_attrs: z.array(z.string().min(1, { message: 'an attribute name cannot be empty' })),
};

export const otlpConfigSchema = z.strictObject(common).superRefine((c, ctx) => {
  checkDestinationPorts(c, ['endpoint'], ctx);
  if ((c.tls.cert_file === '') !== (c.tls.key_file === '')) {
    ctx.addIssue({ code: 'custom', path: ['tls'], message: 'tls: cert_file and key_file go together (client certificate)' });
  }
});

export const otlpHttpConfigSchema = z
  .strictObject({
    ...common,
    /** Full URLs for one signal; default: endpoint + /v1/metrics or /v1/logs. */
    metrics_endpoint: z.string(),
    logs_endpoint: z.string(),
  })
  .superRefine((c, ctx) => {
    for (const key of ['endpoint', 'metrics_endpoint', 'logs_endpoint'] as const) {
      if (c[key] && !/^https?:\/\//.test(c[key])) {
        ctx.addIssue({ code: 'custom', path: [key], message: `${key} must be an http:// or https:// URL` });
      }
    }
    checkDestinationPorts(c, ['endpoint', 'metrics_endpoint', 'logs_endpoint'], ctx);
    if ((c.tls.cert_file === '') !== (c.tls.key_file === '')) {
      ctx.addIssue({ code: 'custom', path: ['tls'], message: 'tls: cert_file and key_file go together (client certificate)' });
    }
  });

export type OtlpConfig = z.output<typeof otlpConfigSchema>;
export type OtlpHttpConfig = z.output<typeof otlpHttpConfigSchema>;

function commonDefaults() {
  return {
    endpoint: '',
    tls: { insecure: false, insecure_skip_verify: false, ca_file: '', cert_file: '', key_file: '' },
    headers: {} as Record<string, string>,
    compression: '',
    timeout: '',
    temporality: '',
    max_series: 50_000,
    series_expiry: '5m',
    retry_on_failure: defaultRetry(),
    sending_queue: defaultQueue(),
    group_by_attrs: [...RESOURCE_IDENTITY_ATTRS],
  };
}

export function defaultOtlpConfig() {
  return commonDefaults();
}

export function defaultOtlpHttpConfig() {
  return { ...commonDefaults(), metrics_endpoint: '', logs_endpoint: '' };
}

/** What an exporter instance uses, every setting resolved. */
export interface ResolvedOtlp {
  transport: 'grpc' | 'http';
  /** gRPC: http(s)://host:port; HTTP: the full URL for the signal. */
  url: string;
  secure: boolean;
  headers: Record<string, string>;
  compression: 'gzip' | 'none';
  timeoutMs: number;
  temporality: 'cumulative' | 'delta';
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
  skipVerify: boolean;
}

/** "k1=v1,k2=v2" (values URL-encoded), as the OTLP exporter spec defines it. */
export function parseHeaderList(text: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (!text) return out;
  for (const part of text.split(',')) {
    const eq = part.indexOf('=');
    if (eq <= 0) continue;
    out[decodeURIComponent(part.slice(0, eq).trim())] = decodeURIComponent(part.slice(eq + 1).trim());
  }
  return out;
}

function envFor(env: NodeJS.ProcessEnv, signal: Signal, name: string): string | undefined {
  const s = signal.toUpperCase();
  return env[`OTEL_EXPORTER_OTLP_${s}_${name}`] || env[`OTEL_EXPORTER_OTLP_${name}`] || undefined;
}

function readPem(path: string, what: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new Error(`cannot read the ${what} ${path}: ${(err as NodeJS.ErrnoException).code ?? err}`);
  }
}

export function resolveOtlp(
  transport: 'grpc' | 'http',
  config: OtlpConfig | OtlpHttpConfig,
  signal: Signal,
  env: NodeJS.ProcessEnv = process.env,
): ResolvedOtlp {
  const path = signal === 'metrics' ? '/v1/metrics' : '/v1/logs';
  let url: string;
  if (transport === 'http') {
    const c = config as OtlpHttpConfig;
    const specific = signal === 'metrics' ? c.metrics_endpoint : c.logs_endpoint;
    const envSpecific = env[`OTEL_EXPORTER_OTLP_${signal.toUpperCase()}_ENDPOINT`];
    if (specific) url = specific;
    else if (c.endpoint) url = c.endpoint.replace(/\/+$/, '') + path;
    else if (envSpecific) url = envSpecific;
    else if (env.OTEL_EXPORTER_OTLP_ENDPOINT) url = env.OTEL_EXPORTER_OTLP_ENDPOINT.replace(/\/+$/, '') + path;
    else url = 'http://localhost:4318' + path;
  } else {
    const raw = config.endpoint || envFor(env, signal, 'ENDPOINT') || 'localhost:4317';
    if (/^https?:\/\//.test(raw)) url = raw.replace(/\/+$/, '');
    else {
      // The Collector's convention: host:port without a scheme is TLS unless tls.insecure.
      const insecureEnv = (env.OTEL_EXPORTER_OTLP_INSECURE ?? '').toLowerCase() === 'true';
      url = `${config.tls.insecure || insecureEnv ? 'http' : 'https'}://${raw}`;
    }
  }
  const secure = url.startsWith('https://');
  const headers = { ...parseHeaderList(envFor(env, signal, 'HEADERS')), ...config.headers };
  const compressionText = config.compression || envFor(env, signal, 'COMPRESSION') || 'gzip';
  const compression = compressionText === 'none' ? 'none' : 'gzip';
  let timeoutMs = 10_000;
  if (config.timeout !== '') timeoutMs = config.timeout as number;
  else {
    const t = envFor(env, signal, 'TIMEOUT');
    const fromEnv = t && /^\d+$/.test(t) ? Number(t) : t ? parseDuration(t) : undefined;
    // Out of range (0, or longer than a timer can wait): the default.
    if (fromEnv !== undefined && fromEnv >= 1 && fromEnv <= MAX_TIMEOUT_MS) timeoutMs = fromEnv;
  }
  const pref = (config.temporality || env.OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE || 'cumulative').toLowerCase();
  const temporality = pref === 'delta' || pref === 'lowmemory' ? 'delta' : 'cumulative';
  const caFile = config.tls.ca_file || envFor(env, signal, 'CERTIFICATE');
  const certFile = config.tls.cert_file || envFor(env, signal, 'CLIENT_CERTIFICATE');
  const keyFile = config.tls.key_file || envFor(env, signal, 'CLIENT_KEY');
  return {
    transport,
    url,
    secure,
    headers,
    compression,
    timeoutMs,
    temporality,
    ca: caFile ? readPem(caFile, 'CA certificate') : undefined,
    cert: certFile ? readPem(certFile, 'client certificate') : undefined,
    key: keyFile ? readPem(keyFile, 'client key') : undefined,
    skipVerify: config.tls.insecure_skip_verify,
  };
}

/** For logs: headers with their values hidden. */
export function redactHeaders(headers: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.keys(headers).map((k) => [k, '[redacted]']));
}
