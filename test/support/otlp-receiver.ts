/**
 * A real OTLP receiver (gRPC + HTTP) for tests.
 *
 * - gRPC (@grpc/grpc-js): `opentelemetry.proto.collector.metrics.v1.MetricsService/Export` and
 *   `opentelemetry.proto.collector.logs.v1.LogsService/Export`. grpc-encoding gzip is handled by grpc-js.
 * - HTTP (node:http, or node:https when `tls` is set): POST /v1/metrics and /v1/logs with
 *   `application/x-protobuf` or `application/json` (OTLP/JSON), optionally `Content-Encoding: gzip`.
 *   The reply is an empty Export*ServiceResponse encoded like the request (protobuf or `{}`).
 *
 * Protobuf handling uses the official .proto files installed by Debian's `opentelemetry-proto` package
 * (include root /usr/include, overridable with OTLP_PROTO_INCLUDE), loaded at run time with protobufjs.
 *
 * Shape of `ReceivedRequest.body`: the protobufjs `toObject` of the decoded Export*ServiceRequest with
 * lowerCamelCase field names (`resourceMetrics[].scopeMetrics[].metrics[]`, `timeUnixNano`, `eventName`, ...),
 * options `{ longs: String, enums: Number, defaults: true, arrays: true, objects: true, oneofs: true }`:
 *   - 64-bit integers (timestamps, `asInt`, counts) are decimal strings,
 *   - enums are numbers (`severityNumber`, `aggregationTemporality`),
 *   - unset scalars have their proto3 defaults ('' / 0 / false), unset oneof members are absent,
 *   - each set oneof gets a discriminator property naming the member, e.g. `metric.data === 'sum'`,
 *     `dataPoint.value === 'asInt'`, `anyValue.value === 'stringValue'`,
 *   - bytes fields (traceId, spanId, AnyValue.bytesValue) are lowercase hex strings.
 * The flat helpers `metricPoints()` / `logRecords()` convert further (numbers, plain attribute maps).
 */
import { createServer as createHttpServer } from 'node:http';
import type { IncomingMessage, Server as HttpServer, ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { gunzipSync, inflateSync } from 'node:zlib';
import * as grpc from '@grpc/grpc-js';
import protobuf from 'protobufjs';

export interface OtlpReceiverOptions {
  /** Interface to bind both servers to. Default 127.0.0.1. */
  host?: string;
  /** 0 = ephemeral (default). */
  grpcPort?: number;
  /** 0 = ephemeral (default). */
  httpPort?: number;
  /** PEM strings. When set, gRPC uses TLS and HTTP becomes HTTPS. `ca` is used to verify client certs. */
  tls?: { cert: string; key: string; ca?: string; requireClientCert?: boolean };
  /** Requests lacking any of these headers (name case-insensitive, value exact) get
   *  UNAUTHENTICATED (gRPC 16) / HTTP 401 and are counted in `rejected`. */
  requiredHeaders?: Record<string, string>;
  /** Fail the next `count` requests (default: every request until cleared) with grpcCode (default 14
   *  UNAVAILABLE) / httpStatus (default 503). Failed requests are not recorded, but counted in `failed`. */
  failWith?: { grpcCode?: number; httpStatus?: number; count?: number };
  /** Respond after this many milliseconds. */
  delayMs?: number;
}

export interface ReceivedRequest {
  signal: 'metrics' | 'logs';
  transport: 'grpc' | 'http';
  /** Lower-cased header / metadata names; repeated values joined with ', '; binary metadata base64. */
  headers: Record<string, string>;
  /** Decoded ExportMetricsServiceRequest / ExportLogsServiceRequest (see module comment for the shape). */
  body: any;
  /** Date.now() when the request was accepted. */
  at: number;
}

export type AttrValue = string | number | boolean;
export type Attrs = Record<string, AttrValue>;

export interface FlatPoint {
  name: string;
  unit: string;
  description: string;
  type: 'sum' | 'gauge' | 'histogram' | 'exponentialHistogram' | 'summary';
  /** sum only */
  monotonic?: boolean;
  /** sum / histogram / exponentialHistogram */
  temporality?: 'cumulative' | 'delta';
  attributes: Attrs;
  /** sum / gauge: asInt or asDouble as a number */
  value?: number;
  /** histogram / exponentialHistogram / summary */
  count?: number;
  sum?: number;
  /** histogram */
  bucketCounts?: number[];
  explicitBounds?: number[];
  min?: number;
  max?: number;
  /** exponentialHistogram */
  scale?: number;
  zeroCount?: number;
  positive?: { offset: number; bucketCounts: number[] };
  negative?: { offset: number; bucketCounts: number[] };
  /** summary */
  quantileValues?: { quantile: number; value: number }[];
  startTimeUnixNano: string;
  timeUnixNano: string;
  resource: Attrs;
  scope: string;
  scopeVersion: string;
  transport: 'grpc' | 'http';
}

export interface FlatLog {
  eventName: string;
  timeUnixNano: string;
  observedTimeUnixNano: string;
  severityNumber: number;
  severityText: string;
  /** AnyValue converted to a plain JS value (arrays and objects stay structured here). */
  body: unknown;
  attributes: Attrs;
  /** Lowercase hex, '' when unset. */
  traceId: string;
  spanId: string;
  resource: Attrs;
  scope: string;
  scopeVersion: string;
  transport: 'grpc' | 'http';
}

// ---------------------------------------------------------------------------------------------
// Proto loading (once per process)

const METRICS_SERVICE = 'opentelemetry.proto.collector.metrics.v1.MetricsService';
const LOGS_SERVICE = 'opentelemetry.proto.collector.logs.v1.LogsService';

interface SignalTypes {
  request: protobuf.Type;
  response: protobuf.Type;
}
interface Protos {
  metrics: SignalTypes;
  logs: SignalTypes;
}

let protos: Protos | undefined;

function protoIncludeRoot(): string {
  const root = process.env.OTLP_PROTO_INCLUDE ?? '/usr/include';
  const probe = path.join(root, 'opentelemetry/proto/collector/metrics/v1/metrics_service.proto');
  if (!existsSync(probe)) {
    throw new Error(`OTLP .proto files not found at ${probe} (install Debian's opentelemetry-proto package or set OTLP_PROTO_INCLUDE)`);
  }
  return root;
}

function loadProtos(): Protos {
  if (protos) return protos;
  const include = protoIncludeRoot();
  const root = new protobuf.Root();
  root.resolvePath = (_origin: string, target: string) => (path.isAbsolute(target) ? target : path.join(include, target));
  root.loadSync(
    [
      'opentelemetry/proto/collector/metrics/v1/metrics_service.proto',
      'opentelemetry/proto/collector/logs/v1/logs_service.proto',
    ],
    { keepCase: false },
  );
  root.resolveAll();
  protos = {
    metrics: {
      request: root.lookupType('opentelemetry.proto.collector.metrics.v1.ExportMetricsServiceRequest'),
      response: root.lookupType('opentelemetry.proto.collector.metrics.v1.ExportMetricsServiceResponse'),
    },
    logs: {
      request: root.lookupType('opentelemetry.proto.collector.logs.v1.ExportLogsServiceRequest'),
      response: root.lookupType('opentelemetry.proto.collector.logs.v1.ExportLogsServiceResponse'),
    },
  };
  return protos;
}

const TO_OBJECT: protobuf.IConversionOptions = {
  longs: String,
  enums: Number,
  defaults: true,
  arrays: true,
  objects: true,
  oneofs: true,
  // bytes left as Buffer here, turned into hex by bytesToHex()
};

/** Replace every Buffer / Uint8Array in a toObject() tree with a lowercase hex string. */
function bytesToHex(v: any): any {
  if (v instanceof Uint8Array) return Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('hex');
  if (Array.isArray(v)) return v.map(bytesToHex);
  if (v !== null && typeof v === 'object') {
    const out: Record<string, any> = {};
    for (const [k, x] of Object.entries(v)) out[k] = bytesToHex(x);
    return out;
  }
  return v;
}

const HEX_ID_KEYS = new Set(['traceId', 'spanId', 'trace_id', 'span_id']);

/** OTLP/JSON encodes trace/span ids as hex; protobufjs fromObject expects base64 or bytes. */
function hexIdsToBytes(v: any): any {
  if (Array.isArray(v)) return v.map(hexIdsToBytes);
  if (v !== null && typeof v === 'object') {
    const out: Record<string, any> = {};
    for (const [k, x] of Object.entries(v)) {
      if (HEX_ID_KEYS.has(k) && typeof x === 'string' && /^([0-9a-fA-F]{2})*$/.test(x)) out[k] = Buffer.from(x, 'hex');
      else out[k] = hexIdsToBytes(x);
    }
    return out;
  }
  return v;
}

function decodeProto(type: protobuf.Type, buf: Uint8Array): any {
  return bytesToHex(type.toObject(type.decode(buf), TO_OBJECT));
}

function decodeJson(type: protobuf.Type, text: string): any {
  // fromObject accepts lowerCamelCase names, int64 as strings or numbers, enums as numbers or names,
  // and throws TypeError on structurally invalid input.
  const msg = type.fromObject(hexIdsToBytes(JSON.parse(text)));
  return bytesToHex(type.toObject(msg, TO_OBJECT));
}

// ---------------------------------------------------------------------------------------------
// Value conversion helpers

function int64(v: unknown): number {
  if (v == null || v === '') return 0;
  return typeof v === 'number' ? v : Number(v);
}

/** AnyValue → plain JS (arrays and kvlists stay structured). */
export function anyValueToJs(av: any): unknown {
  if (av == null) return undefined;
  const which: string | undefined =
    typeof av.value === 'string' ? av.value : ['stringValue', 'boolValue', 'intValue', 'doubleValue', 'arrayValue', 'kvlistValue', 'bytesValue'].find((k) => av[k] != null);
  switch (which) {
    case 'stringValue':
      return av.stringValue;
    case 'boolValue':
      return av.boolValue;
    case 'intValue':
      return int64(av.intValue);
    case 'doubleValue':
      return av.doubleValue;
    case 'bytesValue':
      return av.bytesValue; // hex string
    case 'arrayValue':
      return (av.arrayValue?.values ?? []).map(anyValueToJs);
    case 'kvlistValue': {
      const o: Record<string, unknown> = {};
      for (const kv of av.kvlistValue?.values ?? []) o[kv.key] = anyValueToJs(kv.value);
      return o;
    }
    default:
      return undefined; // empty AnyValue
  }
}

/** KeyValue[] → flat map; arrays / kvlists become JSON strings, empty values ''. */
export function attributesToJs(kvs: any[] | undefined): Attrs {
  const out: Attrs = {};
  for (const kv of kvs ?? []) {
    const v = anyValueToJs(kv.value);
    out[kv.key] = typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean' ? v : v === undefined ? '' : JSON.stringify(v);
  }
  return out;
}

function temporality(t: unknown): 'cumulative' | 'delta' | undefined {
  return t === 1 ? 'delta' : t === 2 ? 'cumulative' : undefined;
}

function optNum(dp: any, field: string): number | undefined {
  // proto3 `optional double sum/min/max`: absent when unset
  return dp[field] == null ? undefined : Number(dp[field]);
}

function numberValue(dp: any): number | undefined {
  if (dp.asInt != null) return int64(dp.asInt);
  if (dp.asDouble != null) return dp.asDouble;
  return undefined;
}

function buckets(b: any): { offset: number; bucketCounts: number[] } {
  return { offset: b?.offset ?? 0, bucketCounts: (b?.bucketCounts ?? []).map(int64) };
}

// ---------------------------------------------------------------------------------------------
// Receiver

type Signal = 'metrics' | 'logs';
type FailWith = OtlpReceiverOptions['failWith'];

const HTTP_PATHS: Record<string, Signal> = { '/v1/metrics': 'metrics', '/v1/logs': 'logs' };

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

function urlHost(host: string): string {
  const h = host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '::1' : host;
  return h.includes(':') ? `[${h}]` : h;
}

class StatusError extends Error {
  constructor(
    readonly grpcCode: number,
    readonly httpStatus: number,
    message: string,
  ) {
    super(message);
  }
}

export class OtlpReceiver {
  readonly host: string;
  grpcPort = 0;
  httpPort = 0;
  readonly requests: ReceivedRequest[] = [];
  /** Requests refused for missing/wrong required headers. */
  rejected = 0;
  /** Requests failed on purpose via failWith / setFailure(). */
  failed = 0;
  /** Requests that could not be decoded (HTTP 400 / gRPC INTERNAL). */
  malformed = 0;
  /** Artificial response delay; may be changed at run time. */
  delayMs: number;

  private readonly opts: OtlpReceiverOptions;
  private failure: FailWith | undefined;
  private grpcServer: grpc.Server | undefined;
  private httpServer: HttpServer | undefined;
  private running = false;

  private constructor(opts: OtlpReceiverOptions) {
    this.opts = opts;
    this.host = opts.host ?? '127.0.0.1';
    this.grpcPort = opts.grpcPort ?? 0;
    this.httpPort = opts.httpPort ?? 0;
    this.delayMs = opts.delayMs ?? 0;
    this.failure = opts.failWith ? { ...opts.failWith } : undefined;
  }

  static async start(opts: OtlpReceiverOptions = {}): Promise<OtlpReceiver> {
    loadProtos();
    const r = new OtlpReceiver(opts);
    await r.listen();
    return r;
  }

  get tls(): boolean {
    return this.opts.tls != null;
  }

  /** e.g. 'http://127.0.0.1:4317' ('https://' with TLS). */
  get grpcEndpoint(): string {
    return `${this.tls ? 'https' : 'http'}://${urlHost(this.host)}:${this.grpcPort}`;
  }

  /** Base URL, e.g. 'http://127.0.0.1:4318'; exporters append /v1/metrics and /v1/logs. */
  get httpEndpoint(): string {
    return `${this.tls ? 'https' : 'http'}://${urlHost(this.host)}:${this.httpPort}`;
  }

  get isRunning(): boolean {
    return this.running;
  }

  setFailure(f: FailWith | undefined): void {
    this.failure = f ? { ...f } : undefined;
  }

  /** Forget everything received so far (requests and counters). */
  clear(): void {
    this.requests.length = 0;
    this.rejected = 0;
    this.failed = 0;
    this.malformed = 0;
  }

  async stop(): Promise<void> {
    this.running = false;
    const g = this.grpcServer;
    const h = this.httpServer;
    this.grpcServer = undefined;
    this.httpServer = undefined;
    if (g) g.forceShutdown();
    if (h) {
      const closed = new Promise<void>((resolve) => h.close(() => resolve()));
      h.closeAllConnections();
      await closed;
    }
  }

  /** Listen again on the same ports. */
  async restart(): Promise<void> {
    await this.stop();
    await this.listen();
  }

  // --- flattening helpers ----------------------------------------------------------------------

  metricPoints(): FlatPoint[] {
    const out: FlatPoint[] = [];
    for (const req of this.requests) {
      if (req.signal !== 'metrics') continue;
      for (const rm of req.body?.resourceMetrics ?? []) {
        const resource = attributesToJs(rm.resource?.attributes);
        for (const sm of rm.scopeMetrics ?? []) {
          const scope = sm.scope?.name ?? '';
          const scopeVersion = sm.scope?.version ?? '';
          for (const m of sm.metrics ?? []) {
            const type = (['sum', 'gauge', 'histogram', 'exponentialHistogram', 'summary'] as const).find((t) => m[t] != null);
            if (!type) continue;
            const data = m[type];
            for (const dp of data.dataPoints ?? []) {
              const p: FlatPoint = {
                name: m.name,
                unit: m.unit ?? '',
                description: m.description ?? '',
                type,
                attributes: attributesToJs(dp.attributes),
                startTimeUnixNano: String(dp.startTimeUnixNano ?? '0'),
                timeUnixNano: String(dp.timeUnixNano ?? '0'),
                resource,
                scope,
                scopeVersion,
                transport: req.transport,
              };
              if (type === 'sum') p.monotonic = !!data.isMonotonic;
              const t = temporality(data.aggregationTemporality);
              if (t) p.temporality = t;
              if (type === 'sum' || type === 'gauge') {
                p.value = numberValue(dp);
              } else {
                p.count = int64(dp.count);
                const s = optNum(dp, 'sum');
                if (s !== undefined) p.sum = s;
              }
              if (type === 'histogram' || type === 'exponentialHistogram') {
                const mn = optNum(dp, 'min');
                const mx = optNum(dp, 'max');
                if (mn !== undefined) p.min = mn;
                if (mx !== undefined) p.max = mx;
              }
              if (type === 'histogram') {
                p.bucketCounts = (dp.bucketCounts ?? []).map(int64);
                p.explicitBounds = [...(dp.explicitBounds ?? [])];
              }
              if (type === 'exponentialHistogram') {
                p.scale = dp.scale ?? 0;
                p.zeroCount = int64(dp.zeroCount);
                p.positive = buckets(dp.positive);
                p.negative = buckets(dp.negative);
              }
              if (type === 'summary') {
                p.quantileValues = (dp.quantileValues ?? []).map((q: any) => ({ quantile: q.quantile ?? 0, value: q.value ?? 0 }));
              }
              out.push(p);
            }
          }
        }
      }
    }
    return out;
  }

  logRecords(): FlatLog[] {
    const out: FlatLog[] = [];
    for (const req of this.requests) {
      if (req.signal !== 'logs') continue;
      for (const rl of req.body?.resourceLogs ?? []) {
        const resource = attributesToJs(rl.resource?.attributes);
        for (const sl of rl.scopeLogs ?? []) {
          const scope = sl.scope?.name ?? '';
          const scopeVersion = sl.scope?.version ?? '';
          for (const lr of sl.logRecords ?? []) {
            out.push({
              eventName: lr.eventName ?? '',
              timeUnixNano: String(lr.timeUnixNano ?? '0'),
              observedTimeUnixNano: String(lr.observedTimeUnixNano ?? '0'),
              severityNumber: lr.severityNumber ?? 0,
              severityText: lr.severityText ?? '',
              body: anyValueToJs(lr.body),
              attributes: attributesToJs(lr.attributes),
              traceId: lr.traceId ?? '',
              spanId: lr.spanId ?? '',
              resource,
              scope,
              scopeVersion,
              transport: req.transport,
            });
          }
        }
      }
    }
    return out;
  }

  /** Resolves once pred(this) is true; polls every 50 ms. */
  async waitFor(pred: (r: OtlpReceiver) => boolean, timeoutMs = 5000, what?: string): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let lastErr: unknown;
    for (;;) {
      try {
        if (pred(this)) return;
        lastErr = undefined;
      } catch (e) {
        lastErr = e;
      }
      if (Date.now() >= deadline) break;
      await sleep(50);
    }
    const desc = what ?? pred.toString().replace(/\s+/g, ' ').slice(0, 200);
    const err = new Error(
      `OtlpReceiver.waitFor timed out after ${timeoutMs} ms waiting for: ${desc}\n  ${this.summary()}` +
        (lastErr ? `\n  last predicate error: ${lastErr instanceof Error ? lastErr.message : String(lastErr)}` : ''),
    );
    throw err;
  }

  /** One-line description of what was received, for error messages. */
  summary(): string {
    const byKind = new Map<string, number>();
    for (const r of this.requests) byKind.set(`${r.signal}/${r.transport}`, (byKind.get(`${r.signal}/${r.transport}`) ?? 0) + 1);
    const kinds = [...byKind].map(([k, n]) => `${k}=${n}`).join(' ') || 'none';
    const names = [...new Set(this.metricPoints().map((p) => p.name))];
    const events = [...new Set(this.logRecords().map((l) => l.eventName || '(no eventName)'))];
    const clip = (a: string[]) => (a.length > 20 ? [...a.slice(0, 20), `... +${a.length - 20}`] : a).join(', ');
    return (
      `requests: ${kinds}; rejected=${this.rejected} failed=${this.failed} malformed=${this.malformed}; ` +
      `metrics: [${clip(names)}]; log events: [${clip(events)}]; running=${this.running}`
    );
  }

  // --- internals -------------------------------------------------------------------------------

  private async listen(): Promise<void> {
    // Rebinding right after a stop can race with the old sockets' close; retry briefly.
    for (let attempt = 0; ; attempt++) {
      try {
        await this.listenOnce();
        this.running = true;
        return;
      } catch (e: any) {
        await this.stop();
        if (attempt >= 20 || !/EADDRINUSE|address already in use|No address added/i.test(String(e?.message ?? e) + String(e?.code ?? ''))) throw e;
        await sleep(100);
      }
    }
  }

  private async listenOnce(): Promise<void> {
    const { tls } = this.opts;

    // gRPC
    const server = new grpc.Server();
    this.grpcServer = server;
    const p = loadProtos();
    for (const [signal, service] of [
      ['metrics', METRICS_SERVICE],
      ['logs', LOGS_SERVICE],
    ] as const) {
      const types = p[signal];
      const def: grpc.ServiceDefinition = {
        Export: {
          path: `/${service}/Export`,
          requestStream: false,
          responseStream: false,
          originalName: 'Export',
          requestSerialize: (v: any) => Buffer.from(types.request.encode(types.request.fromObject(v)).finish()),
          requestDeserialize: (b: Buffer) => decodeProto(types.request, b),
          responseSerialize: (v: any) => Buffer.from(types.response.encode(types.response.fromObject(v ?? {})).finish()),
          responseDeserialize: (b: Buffer) => decodeProto(types.response, b),
        },
      };
      server.addService(def, {
        Export: (call: grpc.ServerUnaryCall<any, any>, cb: grpc.sendUnaryData<any>) => {
          this.handle(signal, 'grpc', metadataToHeaders(call.metadata), () => call.request).then(
            () => cb(null, {}),
            (e) => {
              const se = e instanceof StatusError ? e : new StatusError(grpc.status.INTERNAL, 500, String(e?.message ?? e));
              cb({ code: se.grpcCode, details: se.message, metadata: new grpc.Metadata() }, null);
            },
          );
        },
      });
    }
    const creds = tls
      ? grpc.ServerCredentials.createSsl(tls.ca ? Buffer.from(tls.ca) : null, [{ cert_chain: Buffer.from(tls.cert), private_key: Buffer.from(tls.key) }], !!tls.requireClientCert)
      : grpc.ServerCredentials.createInsecure();
    const bindHost = this.host.includes(':') ? `[${this.host}]` : this.host;
    this.grpcPort = await new Promise<number>((resolve, reject) =>
      server.bindAsync(`${bindHost}:${this.grpcPort}`, creds, (err, port) => (err ? reject(err) : resolve(port))),
    );

    // HTTP
    const handler = (req: IncomingMessage, res: ServerResponse) => void this.onHttp(req, res);
    const http = tls
      ? createHttpsServer(
          { cert: tls.cert, key: tls.key, ca: tls.ca, requestCert: !!tls.requireClientCert, rejectUnauthorized: !!tls.requireClientCert },
          handler,
        )
      : createHttpServer(handler);
    this.httpServer = http;
    await new Promise<void>((resolve, reject) => {
      http.once('error', reject);
      http.listen(this.httpPort, this.host, () => {
        http.off('error', reject);
        resolve();
      });
    });
    const addr = http.address();
    if (addr && typeof addr === 'object') this.httpPort = addr.port;
  }

  /** Common path for both transports: delay, auth, failure injection, decode, record. */
  private async handle(signal: Signal, transport: 'grpc' | 'http', headers: Record<string, string>, decode: () => any): Promise<void> {
    if (this.delayMs > 0) await sleep(this.delayMs);
    for (const [k, v] of Object.entries(this.opts.requiredHeaders ?? {})) {
      if (headers[k.toLowerCase()] !== v) {
        this.rejected++;
        throw new StatusError(grpc.status.UNAUTHENTICATED, 401, `missing or wrong header ${k}`);
      }
    }
    const f = this.failure;
    if (f && (f.count === undefined || f.count > 0)) {
      if (f.count !== undefined) f.count--;
      if (f.count === 0) this.failure = undefined;
      this.failed++;
      throw new StatusError(f.grpcCode ?? grpc.status.UNAVAILABLE, f.httpStatus ?? 503, 'injected failure');
    }
    let body: any;
    try {
      body = decode();
    } catch (e: any) {
      this.malformed++;
      throw new StatusError(grpc.status.INVALID_ARGUMENT, 400, `cannot decode request: ${e?.message ?? e}`);
    }
    this.requests.push({ signal, transport, headers, body, at: Date.now() });
  }

  private async onHttp(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const reply = (status: number, contentType: string, body: Uint8Array | string) => {
      if (res.headersSent || res.destroyed) return;
      res.writeHead(status, { 'content-type': contentType });
      res.end(body);
    };
    try {
      const url = new URL(req.url ?? '/', 'http://x');
      const signal = HTTP_PATHS[url.pathname];
      if (!signal) return reply(404, 'text/plain', `unknown path ${url.pathname}`);
      if (req.method !== 'POST') return reply(405, 'text/plain', 'POST only');
      const ctype = String(req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
      const json = ctype === 'application/json';
      if (!json && ctype !== 'application/x-protobuf') return reply(415, 'text/plain', `unsupported content-type ${ctype}`);

      const chunks: Buffer[] = [];
      for await (const c of req) chunks.push(c as Buffer);
      let raw = Buffer.concat(chunks);
      const encoding = String(req.headers['content-encoding'] ?? '').trim().toLowerCase();

      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(req.headers)) if (v !== undefined) headers[k] = Array.isArray(v) ? v.join(', ') : v;

      const types = loadProtos()[signal];
      try {
        await this.handle(signal, 'http', headers, () => {
          if (encoding === 'gzip' || encoding === 'x-gzip') raw = gunzipSync(raw);
          else if (encoding === 'deflate') raw = inflateSync(raw);
          else if (encoding && encoding !== 'identity') throw new Error(`unsupported content-encoding ${encoding}`);
          return json ? decodeJson(types.request, raw.toString('utf8')) : decodeProto(types.request, raw);
        });
      } catch (e: any) {
        const se = e instanceof StatusError ? e : new StatusError(grpc.status.INTERNAL, 500, String(e?.message ?? e));
        // OTLP/HTTP error bodies are google.rpc.Status; a plain message is enough for the exporters.
        return json
          ? reply(se.httpStatus, 'application/json', JSON.stringify({ code: se.grpcCode, message: se.message }))
          : reply(se.httpStatus, 'text/plain', se.message);
      }
      if (json) reply(200, 'application/json', JSON.stringify(types.response.toObject(types.response.create({}), { defaults: false })));
      else reply(200, 'application/x-protobuf', types.response.encode(types.response.create({})).finish());
    } catch (e: any) {
      reply(500, 'text/plain', String(e?.message ?? e));
    }
  }
}

function metadataToHeaders(md: grpc.Metadata): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(md.getMap())) out[k.toLowerCase()] = Buffer.isBuffer(v) ? v.toString('base64') : String(v);
  return out;
}
