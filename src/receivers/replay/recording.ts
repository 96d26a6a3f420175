/**
 * Recordings as `tcpotel record` writes them: one JSON object per line,
 * `{"at": ms, "events": [TcpEvent...], "stateCounts"?: {...}}`. Every field of every event is
 * checked for its type and range, and each event is rebuilt from the known fields only, so
 * that nothing else (a string where a port goes, an extra key) can reach an attribute or a
 * Prometheus label. Errors name the line and the field.
 */
import { isIP } from 'node:net';
import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';
import { EVENT_KINDS, HTTP_METHODS, PROTOCOL_NAMES, TCP_STATES, type StateCounts, type TcpEvent } from '../../core/events.js';

export interface RecordedBatch {
  /** Milliseconds since the recording started. */
  at: number;
  events: TcpEvent[];
  stateCounts?: StateCounts;
}

/** The largest recording read: it is held in memory as events, several times its size. */
export const MAX_RECORDING_BYTES = 128 * 1024 ** 2;

const MAX_U53 = Number.MAX_SAFE_INTEGER;

type Check = (v: unknown) => string | undefined;

const describe = (v: unknown): string => (v === null ? 'null' : Array.isArray(v) ? 'a list' : typeof v === 'string' ? JSON.stringify(v.length > 40 ? v.slice(0, 40) + '…' : v) : typeof v === 'object' ? 'an object' : String(v));

const uint = (max = MAX_U53): Check => (v) => (typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= max ? undefined : `expected an integer from 0 to ${max}, got ${describe(v)}`);
const oneOf = (values: readonly unknown[]): Check => (v) => (values.includes(v) ? undefined : `expected one of ${values.map((x) => JSON.stringify(x)).join(', ')}, got ${describe(v)}`);
const bool: Check = (v) => (typeof v === 'boolean' ? undefined : `expected true or false, got ${describe(v)}`);
const address: Check = (v) => (typeof v === 'string' && isIP(v) !== 0 ? undefined : `expected an IPv4 or IPv6 address, got ${describe(v)}`);
const comm: Check = (v) => (typeof v === 'string' && v.length <= 64 && !/[\u0000-\u001f]/.test(v) ? undefined : `expected a process name (a string of at most 64 characters), got ${describe(v)}`);

const hostname: Check = (v) => (typeof v === 'string' && v.length > 0 && v.length <= 64 && /^[a-z0-9._:\-\[\]]+$/.test(v) ? undefined : `expected a host name of at most 64 characters, got ${describe(v)}`);

/** Fields protocol detection fills, absent when it was off (or nothing was seen). */
const OPTIONAL_FIELDS = {
  protocol: oneOf(PROTOCOL_NAMES),
  tlsServerName: hostname,
  tlsVersion: oneOf(['3.0', '1.0', '1.1', '1.2', '1.3']),
  httpMethod: oneOf(HTTP_METHODS),
  httpHost: hostname,
} satisfies Partial<Record<keyof TcpEvent, Check>>;
const OPTIONAL_NAMES = Object.keys(OPTIONAL_FIELDS) as Array<keyof typeof OPTIONAL_FIELDS>;

/** Every field of TcpEvent but the optional ones. */
const FIELDS: Record<Exclude<keyof TcpEvent, 'reset' | 'attributes' | 'lost' | keyof typeof OPTIONAL_FIELDS>, Check> = {
  kind: oneOf(EVENT_KINDS),
  timeNs: uint(),
  socketId: uint(),
  family: oneOf([4, 6]),
  localAddress: address,
  localPort: uint(65535),
  remoteAddress: address,
  remotePort: uint(65535),
  direction: oneOf(['outbound', 'inbound', 'unknown']),
  pid: uint(0xffffffff),
  tid: uint(0xffffffff),
  comm,
  cgroupId: uint(),
  netns: uint(0xffffffff),
  durationNs: uint(),
  bytesSent: uint(),
  bytesReceived: uint(),
  bytesRetransmitted: uint(),
  handshakeNs: uint(),
  segmentsIn: uint(),
  segmentsOut: uint(),
  retransmits: uint(),
  srttUs: uint(),
  oldState: oneOf(TCP_STATES),
  newState: oneOf(TCP_STATES),
  errno: uint(4095),
  preexisting: bool,
  resetSent: bool,
  resetReceived: bool,
  flags: uint(0xffffffff),
};
const FIELD_NAMES = Object.keys(FIELDS) as Array<keyof typeof FIELDS>;
const MAX_ATTRIBUTES = 128;

class RecordingError extends Error {}

function checkAttributes(v: unknown, where: string): Record<string, string | number | boolean> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new RecordingError(`${where}: expected an object of attributes, got ${describe(v)}`);
  const entries = Object.entries(v);
  if (entries.length > MAX_ATTRIBUTES) throw new RecordingError(`${where}: more than ${MAX_ATTRIBUTES} attributes`);
  const out: Record<string, string | number | boolean> = {};
  for (const [k, x] of entries) {
    if (x === undefined || x === null) continue;
    const ok = (typeof x === 'string' && x.length <= 4096) || (typeof x === 'number' && Number.isFinite(x)) || typeof x === 'boolean';
    if (!ok) throw new RecordingError(`${where}.${k}: expected a string, a finite number or a boolean, got ${describe(x)}`);
    out[k] = x;
  }
  return out;
}

/** A clean event from a recorded one; throws naming the first bad field. */
function toEvent(raw: unknown, where: string): TcpEvent {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new RecordingError(`${where}: expected an event object, got ${describe(raw)}`);
  const r = raw as Record<string, unknown>;
  const e: Record<string, unknown> = {};
  if (!EVENT_KINDS.includes(r.kind as TcpEvent['kind'])) throw new RecordingError(`${where}: unknown event kind ${describe(r.kind)}`);
  for (const f of FIELD_NAMES) {
    const why = FIELDS[f](r[f]);
    if (why) throw new RecordingError(`${where}.${f}: ${why}`);
    e[f] = r[f];
  }
  // Recordings made before loss was recorded have no `lost`: 0, as when the kernel cannot tell.
  const lostWhy = r.lost === undefined ? undefined : uint()(r.lost);
  if (lostWhy) throw new RecordingError(`${where}.lost: ${lostWhy}`);
  e.lost = r.lost ?? 0;
  for (const f of OPTIONAL_NAMES) {
    if (r[f] === undefined) continue;
    const why = OPTIONAL_FIELDS[f](r[f]);
    if (why) throw new RecordingError(`${where}.${f}: ${why}`);
    e[f] = r[f];
  }
  if (r.reset !== undefined) {
    const why = oneOf(['sent', 'received'])(r.reset);
    if (why) throw new RecordingError(`${where}.reset: ${why}`);
    e.reset = r.reset;
  }
  if (r.attributes !== undefined) e.attributes = checkAttributes(r.attributes, `${where}.attributes`);
  return e as unknown as TcpEvent;
}

function toStateCounts(raw: unknown): StateCounts {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new RecordingError(`stateCounts: expected {"v4": {...}, "v6": {...}}, got ${describe(raw)}`);
  const out: StateCounts = { v4: {}, v6: {} };
  for (const fam of ['v4', 'v6'] as const) {
    const m = (raw as Record<string, unknown>)[fam];
    if (m === undefined) continue;
    if (typeof m !== 'object' || m === null || Array.isArray(m)) throw new RecordingError(`stateCounts.${fam}: expected an object of counts by state, got ${describe(m)}`);
    for (const [state, n] of Object.entries(m)) {
      if (!TCP_STATES.includes(state as never)) throw new RecordingError(`stateCounts.${fam}: unknown state ${describe(state)}`);
      const why = uint()(n);
      if (why) throw new RecordingError(`stateCounts.${fam}.${state}: ${why}`);
      out[fam][state as keyof StateCounts['v4']] = n as number;
    }
  }
  return out;
}

/** Parses one line; throws a message without the file and line. */
export function parseRecordedLine(line: string): RecordedBatch {
  let b: unknown;
  try {
    b = JSON.parse(line);
  } catch (err) {
    throw new RecordingError(`not JSON: ${(err as Error).message}`);
  }
  if (typeof b !== 'object' || b === null || Array.isArray(b)) throw new RecordingError(`expected {"at": ms, "events": [...]}, got ${describe(b)}`);
  const r = b as Record<string, unknown>;
  if (typeof r.at !== 'number' || !Number.isFinite(r.at) || r.at < 0 || !Array.isArray(r.events)) throw new RecordingError('expected {"at": ms, "events": [...]}');
  const out: RecordedBatch = { at: r.at, events: r.events.map((e, i) => toEvent(e, `events[${i}]`)) };
  if (r.stateCounts !== undefined) out.stateCounts = toStateCounts(r.stateCounts);
  return out;
}

/** Parses a recording; errors name the file, the line and the field. */
export function parseRecording(text: string, file = 'recording'): RecordedBatch[] {
  const out: RecordedBatch[] = [];
  let start = 0;
  for (let line = 1; start <= text.length; line++) {
    let end = text.indexOf('\n', start);
    if (end < 0) end = text.length;
    const l = text.slice(start, end);
    start = end + 1;
    if (!l.trim()) continue;
    try {
      out.push(parseRecordedLine(l));
    } catch (err) {
      if (err instanceof RecordingError) throw new Error(`${file}:${line}: ${err.message}`);
      throw err;
    }
  }
  return out;
}

/** Reads a recording, refusing what is not a regular file or is larger than MAX_RECORDING_BYTES. */
export function readRecording(path: string): string {
  const fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY);
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new Error(`${path} is not a regular file`);
    if (st.size > MAX_RECORDING_BYTES) throw new Error(`${path} is larger than 128MiB: a recording is at most ${MAX_RECORDING_BYTES} bytes (record shorter ones)`);
    const buf = Buffer.allocUnsafe(st.size);
    let n = 0;
    while (n < buf.length) {
      const r = readSync(fd, buf, n, buf.length - n, null);
      if (r === 0) break;
      n += r;
    }
    return buf.toString('utf8', 0, n);
  } finally {
    closeSync(fd);
  }
}
