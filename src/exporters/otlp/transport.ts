/**
 * How OTLP requests travel: HTTP/protobuf (node:http) and gRPC (@grpc/grpc-js), with the
 * request already encoded. Each request has a deadline for the whole exchange (a server
 * that trickles its answer a byte at a time is cut at the deadline, not kept alive by it),
 * can be aborted (shutdown), and fails with an ExportError that says whether to retry and
 * how long the server asked to wait (Retry-After, gRPC RetryInfo).
 */
import { request as httpRequest, Agent as HttpAgent, type IncomingMessage } from 'node:http';
import { request as httpsRequest, Agent as HttpsAgent } from 'node:https';
import { promisify } from 'node:util';
import { gzip } from 'node:zlib';
import { Client, credentials as grpcCredentials, Metadata, type ServiceError } from '@grpc/grpc-js';
import type { Signal } from '../../core/component.js';
import { ExportError, isRetryable } from '../shared/sender.js';
import type { ResolvedOtlp } from './config.js';

export interface OtlpTransport {
  /** Sends one encoded Export*ServiceRequest; rejects with an ExportError. */
  send(body: Uint8Array, signal: AbortSignal): Promise<void>;
  close(): void;
}

const gzipAsync = promisify(gzip);
/** Response bytes read at most (a status and a short message are all that matter). */
const MAX_RESPONSE_BYTES = 64 * 1024;
const RETRYABLE_HTTP = new Set([408, 429, 502, 503, 504]);

/** Retry-After: delay-seconds or an HTTP-date; milliseconds from now. */
export function parseRetryAfter(value: string | undefined, now = Date.now()): number | undefined {
  if (!value) return undefined;
  const v = value.trim();
  if (/^\d+$/.test(v)) return Number(v) * 1000;
  const at = Date.parse(v);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - now);
}

function aborted(): ExportError {
  return new ExportError('aborted: shutting down', false, undefined, 'ABORTED');
}

function deadlineError(timeoutMs: number): ExportError {
  return new ExportError(`no complete answer within the request timeout (${timeoutMs} ms)`, true, undefined, 'ETIMEDOUT');
}

export function createHttpTransport(r: ResolvedOtlp): OtlpTransport {
  const url = new URL(r.url);
  const secure = url.protocol === 'https:';
  const agent = secure
    ? new HttpsAgent({ keepAlive: true, maxSockets: 4, ca: r.ca, cert: r.cert, key: r.key, rejectUnauthorized: !r.skipVerify })
    : new HttpAgent({ keepAlive: true, maxSockets: 4 });
  const request = secure ? httpsRequest : httpRequest;
  return {
    async send(body, signal) {
      if (signal.aborted) throw aborted();
      const data = r.compression === 'gzip' ? await gzipAsync(body) : Buffer.from(body.buffer, body.byteOffset, body.byteLength);
      if (signal.aborted) throw aborted();
      await new Promise<void>((resolve, reject) => {
        let settled = false;
        const finish = (err?: Error) => {
          if (settled) return;
          settled = true;
          clearTimeout(timer);
          signal.removeEventListener('abort', onAbort);
          if (err) reject(err);
          else resolve();
        };
        const req = request(url, {
          method: 'POST',
          agent,
          headers: {
            ...r.headers,
            'content-type': 'application/x-protobuf',
            'content-length': data.length,
            ...(r.compression === 'gzip' ? { 'content-encoding': 'gzip' } : {}),
            'user-agent': 'tcpotel',
          },
        });
        const timer = setTimeout(() => {
          finish(deadlineError(r.timeoutMs));
          req.destroy();
        }, r.timeoutMs);
        const onAbort = () => {
          finish(aborted());
          req.destroy();
        };
        signal.addEventListener('abort', onAbort, { once: true });
        req.on('error', (err: NodeJS.ErrnoException) => finish(new ExportError(err.message, isRetryable(err), undefined, err.code)));
        req.on('response', (res: IncomingMessage) => {
          const chunks: Buffer[] = [];
          let size = 0;
          res.on('data', (c: Buffer) => {
            if (size < MAX_RESPONSE_BYTES) chunks.push(c);
            size += c.length;
          });
          res.on('error', (err) => finish(new ExportError(err.message, true)));
          res.on('end', () => {
            const status = res.statusCode ?? 0;
            if (status >= 200 && status < 300) return finish();
            const text = Buffer.concat(chunks).toString('utf8', 0, Math.min(size, 200)).replace(/[^\x20-\x7e]+/g, ' ').trim();
            const retryable = RETRYABLE_HTTP.has(status);
            const after = retryable ? parseRetryAfter(res.headers['retry-after'] as string | undefined) : undefined;
            finish(new ExportError(`HTTP ${status}${res.statusMessage ? ` ${res.statusMessage}` : ''}${text ? `: ${text}` : ''}`, retryable, after, status));
          });
        });
        req.end(data);
      });
    },
    close() {
      agent.destroy();
    },
  };
}

/** Reads protobuf varints and length-delimited fields: enough for google.rpc.Status and RetryInfo. */
function* protoFields(buf: Uint8Array): Generator<{ field: number; wire: number; value: bigint | Uint8Array }> {
  let i = 0;
  const varint = (): bigint => {
    let v = 0n;
    let shift = 0n;
    for (;;) {
      if (i >= buf.length) throw new Error('truncated');
      const b = buf[i++]!;
      v |= BigInt(b & 0x7f) << shift;
      if (!(b & 0x80)) return v;
      shift += 7n;
      if (shift > 63n) throw new Error('varint too long');
    }
  };
  while (i < buf.length) {
    const key = Number(varint());
    const field = key >>> 3;
    const wire = key & 7;
    if (wire === 0) yield { field, wire, value: varint() };
    else if (wire === 2) {
      const len = Number(varint());
      if (i + len > buf.length) throw new Error('truncated');
      yield { field, wire, value: buf.subarray(i, i + len) };
      i += len;
    } else if (wire === 1) i += 8;
    else if (wire === 5) i += 4;
    else throw new Error('unsupported wire type');
  }
}

const RETRY_INFO = 'type.googleapis.com/google.rpc.RetryInfo';

/** The delay of a google.rpc.RetryInfo in grpc-status-details-bin (google.rpc.Status), in ms. */
export function retryInfoDelay(statusDetails: Uint8Array | undefined): number | undefined {
  if (!statusDetails) return undefined;
  try {
    for (const f of protoFields(statusDetails)) {
      if (f.field !== 3 || f.wire !== 2) continue; // Status.details: repeated Any
      let type = '';
      let value: Uint8Array | undefined;
      for (const a of protoFields(f.value as Uint8Array)) {
        if (a.field === 1 && a.wire === 2) type = Buffer.from(a.value as Uint8Array).toString('utf8');
        if (a.field === 2 && a.wire === 2) value = a.value as Uint8Array;
      }
      if (type !== RETRY_INFO || !value) continue;
      for (const ri of protoFields(value)) {
        if (ri.field !== 1 || ri.wire !== 2) continue; // retry_delay: Duration
        let seconds = 0n;
        let nanos = 0n;
        for (const d of protoFields(ri.value as Uint8Array)) {
          if (d.field === 1 && d.wire === 0) seconds = d.value as bigint;
          if (d.field === 2 && d.wire === 0) nanos = d.value as bigint;
        }
        return Number(seconds) * 1000 + Number(nanos) / 1e6;
      }
    }
  } catch {
    /* not a Status: no delay */
  }
  return undefined;
}

const GRPC_RETRYABLE = new Set([1, 4, 10, 11, 14, 15]); // CANCELLED, DEADLINE_EXCEEDED, ABORTED, OUT_OF_RANGE, UNAVAILABLE, DATA_LOSS
const RESOURCE_EXHAUSTED = 8;

export function createGrpcTransport(r: ResolvedOtlp, signalType: Signal): OtlpTransport {
  const url = new URL(r.url);
  const target = url.host; // host:port, [v6]:port
  const creds = r.secure
    ? grpcCredentials.createSsl(r.ca ?? null, r.key ?? null, r.cert ?? null, r.skipVerify ? { rejectUnauthorized: false, checkServerIdentity: () => undefined } : undefined)
    : grpcCredentials.createInsecure();
  const client = new Client(target, creds, {
    'grpc.default_compression_algorithm': r.compression === 'gzip' ? 2 : 0,
    'grpc.max_receive_message_length': MAX_RESPONSE_BYTES,
  });
  const method = signalType === 'metrics' ? '/opentelemetry.proto.collector.metrics.v1.MetricsService/Export' : '/opentelemetry.proto.collector.logs.v1.LogsService/Export';
  const metadata = new Metadata();
  for (const [k, v] of Object.entries(r.headers)) metadata.set(k, v);
  return {
    send(body, signal) {
      if (signal.aborted) return Promise.reject(aborted());
      return new Promise<void>((resolve, reject) => {
        let settled = false;
        const call = client.makeUnaryRequest<Buffer, Buffer>(
          method,
          (b) => b,
          (b) => b,
          Buffer.from(body.buffer, body.byteOffset, body.byteLength),
          metadata.clone(),
          { deadline: Date.now() + r.timeoutMs },
          (err: ServiceError | null) => {
            if (settled) return;
            settled = true;
            signal.removeEventListener('abort', onAbort);
            if (!err) return resolve();
            const details = err.metadata?.get('grpc-status-details-bin')?.[0];
            const delay = retryInfoDelay(typeof details === 'string' ? Buffer.from(details, 'base64') : (details as Buffer | undefined));
            // RESOURCE_EXHAUSTED is retryable only when the server says when (OTLP spec).
            const retryable = GRPC_RETRYABLE.has(err.code) || (err.code === RESOURCE_EXHAUSTED && delay !== undefined);
            const message = err.code === 4 ? `no complete answer within the request timeout (${r.timeoutMs} ms)` : err.message;
            reject(new ExportError(message, retryable, retryable ? delay : undefined, err.code));
          },
        );
        const onAbort = () => {
          if (settled) return;
          settled = true;
          call.cancel();
          reject(aborted());
        };
        signal.addEventListener('abort', onAbort, { once: true });
      });
    },
    close() {
      client.close();
    },
  };
}
