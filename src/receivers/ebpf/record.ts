/**
 * Decoder of `struct tcpotel_event` (bpf/tcpotel.h), the packed records the kernel writes,
 * into connection events read in place; and the encoder back (recordings, tests, benchmarks).
 * The layout itself is in src/native/records.ts.
 */
import type { AttributeValue, Direction, EventKind, ProtocolName, ResetDirection, TcpEvent, TcpState } from '../../core/events.js';
import { EVENT_KINDS, HTTP_METHODS, PROTOCOL_NAMES, TCP_STATES, copyEvent, tcpStateName } from '../../core/events.js';
import { rawEndpointHash, type RawEndpoints, type RawTuple } from '../../core/hash.js';
import { formatIPv4, formatIPv6, writeAddress } from '../../native/address.js';
import { COMM_LEN, FLAG, NAME_LEN, OFFSETS, RECORD_SIZE, TWO_32, writeU64 } from '../../native/records.js';

/** enum tcpotel_kind: index = kernel value (EVENT_KINDS is in the kernel's order, from 1). */
export const KIND_BY_CODE: readonly (EventKind | undefined)[] = [undefined, ...EVENT_KINDS];
export const KIND_COUNT = KIND_BY_CODE.length;

/** enum tcpotel_protocol: index = kernel value (1 = unknown; 0 = nothing seen yet). */
export const PROTOCOL_BY_CODE: readonly (ProtocolName | undefined)[] = [undefined, ...PROTOCOL_NAMES];

/** "1.0".."1.3" from a TLS record version (0x0301..0x0304); "3.0" for SSL 3.0. */
export function tlsVersionName(v: number): string | undefined {
  if (v === 0x0300) return '3.0';
  if (v >= 0x0301 && v <= 0x0304) return `1.${v - 0x0301}`;
  return undefined;
}

/**
 * Direct-mapped caches of decoded strings, keyed by the raw 32-bit words they came from:
 * on a host the same addresses and process names recur, and a hit costs a few integer
 * compares instead of building a string. A collision just replaces the slot.
 */
class WordsCache {
  private readonly words: Uint32Array;
  private readonly values: (string | undefined)[];
  private readonly mask: number;
  constructor(
    private readonly width: 1 | 4,
    size: number,
  ) {
    this.words = new Uint32Array(size * width);
    this.values = new Array<string | undefined>(size);
    this.mask = size - 1;
  }
  get(w: Uint32Array, at: number, buf: Buffer, off: number, make: (buf: Buffer, off: number) => string): string {
    const width = this.width;
    let h = w[at]!;
    if (width === 4) h ^= Math.imul(w[at + 1]!, 0x9e3779b1) ^ Math.imul(w[at + 2]!, 0x85ebca6b) ^ Math.imul(w[at + 3]!, 0xc2b2ae35);
    const slot = (h ^ (h >>> 15)) & this.mask;
    const base = slot * width;
    const cached = this.values[slot];
    const words = this.words;
    if (cached !== undefined && words[base] === w[at] && (width === 1 || (words[base + 1] === w[at + 1] && words[base + 2] === w[at + 2] && words[base + 3] === w[at + 3]))) {
      return cached;
    }
    const v = make(buf, off);
    for (let i = 0; i < width; i++) words[base + i] = w[at + i]!;
    this.values[slot] = v;
    return v;
  }
}

const v4Cache = new WordsCache(1, 65536);
const v6Cache = new WordsCache(4, 16384);
const commCache = new WordsCache(4, 1024);

function readComm(buf: Buffer, off: number): string {
  let end = off;
  const max = off + COMM_LEN;
  while (end < max && buf[end] !== 0) end++;
  return end === off ? '' : buf.toString('utf8', off, end);
}

function directionOf(flags: number): Direction {
  if (flags & FLAG.ACTIVE) return 'outbound';
  if (flags & FLAG.PASSIVE) return 'inbound';
  return 'unknown';
}

const RECORD_WORDS = RECORD_SIZE >> 2;
const RECORD_HALVES = RECORD_SIZE >> 1;

/**
 * Decodes the record at index `i` of a chunk through 32- and 16-bit views of it (host
 * byte order: the kernel wrote the records on this host). Undefined for an unknown kind.
 */
/** Word and half-word indexes of the fields (records and fields are 4-byte aligned). */
const W = Object.fromEntries(Object.entries(OFFSETS).map(([k, v]) => [k, v >> 2])) as Record<keyof typeof OFFSETS, number>;
const W_SADDR = OFFSETS.saddr >> 2;
const W_DADDR = OFFSETS.daddr >> 2;
const W_COMM = OFFSETS.comm >> 2;
const W_PID = OFFSETS.pid >> 2;
const H = Object.fromEntries(Object.entries(OFFSETS).map(([k, v]) => [k, v >> 1])) as Record<keyof typeof OFFSETS, number>;

/** A chunk of records and its 32- and 16-bit views. */
interface Chunk {
  b: Buffer;
  w: Uint32Array;
  h: Uint16Array;
}

/**
 * A connection event read in place from its chunk of kernel records: creating one costs
 * a small object, and each field is decoded when read (strings once). Every pipeline stage
 * sees an ordinary TcpEvent; `copyEvent` (or JSON) turns it into a plain object.
 */
class RecordEvent implements TcpEvent, RawEndpoints, RawTuple {
  attributes?: Record<string, AttributeValue | undefined> = undefined;
  private local: string | undefined = undefined;
  private remote: string | undefined = undefined;
  private name: string | undefined = undefined;
  private readonly b: number;
  private readonly hb: number;

  constructor(
    private readonly c: Chunk,
    private readonly off: number,
    readonly kind: EventKind,
  ) {
    this.b = off >> 2;
    this.hb = off >> 1;
  }

  private u64(word: number): number {
    const w = this.c.w;
    return w[this.b + word + 1]! * TWO_32 + w[this.b + word]!;
  }
  get timeNs(): number {
    return this.u64(W.ts_ns);
  }
  get socketId(): number {
    return this.u64(W.cookie);
  }
  get family(): 4 | 6 {
    return this.c.b[this.off + OFFSETS.family] === 6 ? 6 : 4;
  }
  get localAddress(): string {
    return (this.local ??= this.address(W.saddr, OFFSETS.saddr));
  }
  get remoteAddress(): string {
    return (this.remote ??= this.address(W.daddr, OFFSETS.daddr));
  }
  private address(word: number, byte: number): string {
    const { b, w } = this.c;
    return this.family === 6 ? v6Cache.get(w, this.b + word, b, this.off + byte, formatIPv6) : v4Cache.get(w, this.b + word, b, this.off + byte, formatIPv4);
  }
  /** One endpoint's hash from the record's address words: no address text made. */
  endpointHash(remote: boolean, seed: number): number {
    const v6 = this.c.b[this.off + OFFSETS.family] === 6;
    return remote
      ? rawEndpointHash(this.c.w, this.b + W_DADDR, v6, this.c.h[this.hb + H.dport]!, seed)
      : rawEndpointHash(this.c.w, this.b + W_SADDR, v6, this.c.h[this.hb + H.sport]!, seed);
  }
  /** The five-tuple's raw words (see RawTuple). */
  copyTuple(out: Uint32Array, at: number): void {
    const w = this.c.w;
    const s = this.b + W_SADDR;
    const d = this.b + W_DADDR;
    if (this.c.b[this.off + OFFSETS.family] === 6) {
      out[at] = 6;
      out[at + 1] = w[s]!;
      out[at + 2] = w[s + 1]!;
      out[at + 3] = w[s + 2]!;
      out[at + 4] = w[s + 3]!;
      out[at + 5] = w[d]!;
      out[at + 6] = w[d + 1]!;
      out[at + 7] = w[d + 2]!;
      out[at + 8] = w[d + 3]!;
    } else {
      out[at] = 4;
      out[at + 1] = w[s]!;
      out[at + 2] = 0;
      out[at + 3] = 0;
      out[at + 4] = 0;
      out[at + 5] = w[d]!;
      out[at + 6] = 0;
      out[at + 7] = 0;
      out[at + 8] = 0;
    }
    out[at + 9] = ((this.c.h[this.hb + H.sport]! << 16) | this.c.h[this.hb + H.dport]!) >>> 0;
  }
  /** The owner's raw words (see RawTuple): pid, then the command name's 16 bytes. */
  copyOwner(out: Uint32Array, at: number): void {
    const w = this.c.w;
    const c = this.b + W_COMM;
    out[at] = w[this.b + W_PID]!;
    out[at + 1] = w[c]!;
    out[at + 2] = w[c + 1]!;
    out[at + 3] = w[c + 2]!;
    out[at + 4] = w[c + 3]!;
  }
  get localPort(): number {
    return this.c.h[this.hb + H.sport]!;
  }
  get remotePort(): number {
    return this.c.h[this.hb + H.dport]!;
  }
  get flags(): number {
    return this.c.h[this.hb + H.flags]!;
  }
  get direction(): Direction {
    return directionOf(this.flags);
  }
  get pid(): number {
    return this.c.w[this.b + W.pid]!;
  }
  get tid(): number {
    return this.c.w[this.b + W.tid]!;
  }
  get comm(): string {
    if (this.name === undefined) {
      const { b, w } = this.c;
      this.name = b[this.off + OFFSETS.comm] === 0 ? '' : commCache.get(w, this.b + W.comm, b, this.off + OFFSETS.comm, readComm);
    }
    return this.name;
  }
  get cgroupId(): number {
    return this.u64(W.cgroup_id);
  }
  get netns(): number {
    return this.c.w[this.b + W.netns]!;
  }
  get durationNs(): number {
    return this.u64(W.duration_ns);
  }
  get bytesSent(): number {
    return this.u64(W.bytes_acked);
  }
  get bytesReceived(): number {
    return this.u64(W.bytes_received);
  }
  get bytesRetransmitted(): number {
    return this.u64(W.bytes_retrans);
  }
  get handshakeNs(): number {
    return this.u64(W.handshake_ns);
  }
  get segmentsIn(): number {
    return this.c.w[this.b + W.segs_in]!;
  }
  get segmentsOut(): number {
    return this.c.w[this.b + W.segs_out]!;
  }
  get retransmits(): number {
    return this.c.w[this.b + W.total_retrans]!;
  }
  get srttUs(): number {
    return this.c.w[this.b + W.srtt_us]!;
  }
  get oldState(): TcpState {
    return tcpStateName(this.c.b[this.off + OFFSETS.oldstate]!);
  }
  get newState(): TcpState {
    return tcpStateName(this.c.b[this.off + OFFSETS.newstate]!);
  }
  get errno(): number {
    return this.c.h[this.hb + H.error]!;
  }
  get reset(): ResetDirection | undefined {
    return this.kind === 'reset' ? (this.flags & FLAG.RST_RECV ? 'received' : 'sent') : undefined;
  }
  get preexisting(): boolean {
    return (this.flags & FLAG.PREEXISTING) !== 0;
  }
  get lost(): number {
    return this.c.w[this.b + W.lost]!;
  }
  /** Unknown until the first bytes say something; undefined when detection is off. */
  get protocol(): ProtocolName | undefined {
    if (!(this.flags & FLAG.DETECT)) return undefined;
    return PROTOCOL_BY_CODE[this.c.b[this.off + OFFSETS.proto]!] ?? 'unknown';
  }
  private protoIs(name: ProtocolName): boolean {
    return (this.flags & FLAG.DETECT) !== 0 && PROTOCOL_BY_CODE[this.c.b[this.off + OFFSETS.proto]!] === name;
  }
  private detectedName(): string | undefined {
    const { b } = this.c;
    const start = this.off + OFFSETS.name;
    let end = start;
    while (end < start + NAME_LEN && b[end] !== 0) end++;
    return end === start ? undefined : b.toString('latin1', start, end);
  }
  get tlsServerName(): string | undefined {
    return this.protoIs('tls') ? this.detectedName() : undefined;
  }
  get tlsVersion(): string | undefined {
    return this.protoIs('tls') ? tlsVersionName(this.c.h[this.hb + H.tls_version]!) : undefined;
  }
  get httpMethod(): string | undefined {
    return this.protoIs('http') ? HTTP_METHODS[this.c.b[this.off + OFFSETS.http_method]! - 1] : undefined;
  }
  get httpHost(): string | undefined {
    return this.protoIs('http') ? this.detectedName() : undefined;
  }
  get resetSent(): boolean {
    return (this.flags & FLAG.RST_SENT) !== 0;
  }
  get resetReceived(): boolean {
    return (this.flags & FLAG.RST_RECV) !== 0;
  }
  /** JSON (recordings, logs) and deep comparisons see a plain event. */
  toJSON(): TcpEvent {
    return copyEvent(this);
  }
}

function decodeAt(c: Chunk, i: number): TcpEvent | undefined {
  const off = i * RECORD_SIZE;
  const kind = KIND_BY_CODE[c.b[off + OFFSETS.kind]!];
  return kind === undefined ? undefined : new RecordEvent(c, off, kind);
}

/** 32- and 16-bit views of whole records; copies when the Buffer is not 4-byte aligned. */
function views(buf: Buffer, n: number): Chunk {
  let b = buf;
  if (buf.byteOffset & 3) {
    b = Buffer.allocUnsafeSlow(n * RECORD_SIZE);
    buf.copy(b, 0, 0, n * RECORD_SIZE);
  }
  return { b, w: new Uint32Array(b.buffer, b.byteOffset, n * RECORD_WORDS), h: new Uint16Array(b.buffer, b.byteOffset, n * RECORD_HALVES) };
}

/** Decodes one record (tests, tools); decodeRecords is the fast path. */
export function decodeRecord(buf: Buffer, off: number): TcpEvent | undefined {
  const one = Buffer.allocUnsafeSlow(RECORD_SIZE);
  buf.copy(one, 0, off, off + RECORD_SIZE);
  const ev = decodeAt(views(one, 1), 0);
  return ev && copyEvent(ev);
}

export interface DecodeResult {
  events: TcpEvent[];
  /** Records of a kind this build does not know. */
  unknown: number;
  /** Trailing bytes that do not make a whole record. */
  truncatedBytes: number;
}

/** Decodes a buffer of packed records, as one ring-buffer wake-up or one iterator run delivers. */
export function decodeRecords(buf: Buffer): DecodeResult {
  const n = Math.floor(buf.length / RECORD_SIZE);
  const events: TcpEvent[] = [];
  let unknown = 0;
  if (n > 0) {
    const chunk = views(buf, n);
    for (let i = 0; i < n; i++) {
      const ev = decodeAt(chunk, i);
      if (ev) events.push(ev);
      else unknown++;
    }
  }
  return { events, unknown, truncatedBytes: buf.length - n * RECORD_SIZE };
}

/** Encodes an event back into the kernel layout: for recordings, replays and benchmarks. */
export function encodeRecord(ev: TcpEvent, buf: Buffer, off: number): void {
  buf.fill(0, off, off + RECORD_SIZE);
  const w64 = (o: number, v: number) => writeU64(buf, off + o, v);
  w64(OFFSETS.ts_ns, ev.timeNs);
  w64(OFFSETS.cookie, ev.socketId);
  w64(OFFSETS.cgroup_id, ev.cgroupId);
  w64(OFFSETS.duration_ns, ev.durationNs);
  w64(OFFSETS.bytes_acked, ev.bytesSent);
  w64(OFFSETS.bytes_received, ev.bytesReceived);
  w64(OFFSETS.bytes_retrans, ev.bytesRetransmitted);
  w64(OFFSETS.handshake_ns, ev.handshakeNs);
  buf.writeUInt32LE(ev.segmentsIn, off + OFFSETS.segs_in);
  buf.writeUInt32LE(ev.segmentsOut, off + OFFSETS.segs_out);
  buf.writeUInt32LE(ev.retransmits, off + OFFSETS.total_retrans);
  buf.writeUInt32LE(ev.srttUs, off + OFFSETS.srtt_us);
  buf.writeUInt32LE(ev.pid, off + OFFSETS.pid);
  buf.writeUInt32LE(ev.tid, off + OFFSETS.tid);
  buf.writeUInt32LE(ev.netns, off + OFFSETS.netns);
  buf.writeUInt16LE(ev.localPort, off + OFFSETS.sport);
  buf.writeUInt16LE(ev.remotePort, off + OFFSETS.dport);
  writeAddress(ev.family, ev.localAddress, buf, off + OFFSETS.saddr);
  writeAddress(ev.family, ev.remoteAddress, buf, off + OFFSETS.daddr);
  buf[off + OFFSETS.kind] = KIND_BY_CODE.indexOf(ev.kind);
  buf[off + OFFSETS.family] = ev.family;
  buf[off + OFFSETS.oldstate] = stateNumber(ev.oldState);
  buf[off + OFFSETS.newstate] = stateNumber(ev.newState);
  buf.writeUInt16LE(ev.flags, off + OFFSETS.flags);
  buf.writeUInt16LE(ev.errno, off + OFFSETS.error);
  buf.write(ev.comm.slice(0, COMM_LEN - 1), off + OFFSETS.comm, 'latin1');
  buf.writeUInt32LE(ev.lost, off + OFFSETS.lost);
  if (ev.protocol !== undefined) {
    buf.writeUInt16LE(ev.flags | FLAG.DETECT, off + OFFSETS.flags);
    buf[off + OFFSETS.proto] = ev.protocol === 'unknown' ? 1 : Math.max(0, PROTOCOL_BY_CODE.indexOf(ev.protocol));
    if (ev.httpMethod) buf[off + OFFSETS.http_method] = HTTP_METHODS.indexOf(ev.httpMethod as (typeof HTTP_METHODS)[number]) + 1;
    const v = ev.tlsVersion;
    if (v) buf.writeUInt16LE(v === '3.0' ? 0x0300 : 0x0301 + Number(v.slice(2)), off + OFFSETS.tls_version);
    const name = ev.tlsServerName ?? ev.httpHost;
    if (name) buf.write(name.slice(0, NAME_LEN - 1), off + OFFSETS.name, 'latin1');
  }
}

function stateNumber(s: TcpEvent['oldState']): number {
  return Math.max(0, TCP_STATES.indexOf(s));
}
