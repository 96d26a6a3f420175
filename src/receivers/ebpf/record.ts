/**
 * Decoder of `struct tcpotel_event` (bpf/tcpotel.h), the packed records the kernel writes.
 * The layout test compares these offsets with what the C compiler produced.
 */
import type { Direction, EventKind, TcpEvent } from '../../core/events.js';
import { EVENT_KINDS, TCP_STATES, tcpStateName } from '../../core/events.js';

export const RECORD_SIZE = 152;

export const OFFSETS = {
  ts_ns: 0,
  cookie: 8,
  cgroup_id: 16,
  duration_ns: 24,
  bytes_acked: 32,
  bytes_received: 40,
  bytes_retrans: 48,
  handshake_ns: 56,
  segs_in: 64,
  segs_out: 68,
  total_retrans: 72,
  srtt_us: 76,
  pid: 80,
  tid: 84,
  netns: 88,
  sport: 92,
  dport: 94,
  saddr: 96,
  daddr: 112,
  kind: 128,
  family: 129,
  oldstate: 130,
  newstate: 131,
  flags: 132,
  error: 134,
  comm: 136,
} as const;

/** enum tcpotel_kind: index = kernel value (EVENT_KINDS is in the kernel's order, from 1). */
export const KIND_BY_CODE: readonly (EventKind | undefined)[] = [undefined, ...EVENT_KINDS];
export const KIND_COUNT = KIND_BY_CODE.length;

export const FLAG = {
  ACTIVE: 1 << 0,
  PASSIVE: 1 << 1,
  PREEXISTING: 1 << 2,
  RST_SENT: 1 << 3,
  RST_RECV: 1 << 4,
  OWNER: 1 << 5,
  UNTRACKED: 1 << 6,
  NO_SOCKET: 1 << 7,
} as const;

export const ITER_MODE = { SNAPSHOT: 1, SAMPLE: 2 } as const;

const TWO_32 = 4294967296;

function u64(buf: Buffer, off: number): number {
  // Exact below 2^53: byte counts, nanosecond times (104 days of uptime), cookies.
  return buf.readUInt32LE(off + 4) * TWO_32 + buf.readUInt32LE(off);
}

/** Small bounded caches: on a host, few distinct addresses and process names recur. */
class StringCache<K> {
  private map = new Map<K, string>();
  constructor(private readonly max: number) {}
  get(key: K, make: () => string): string {
    let v = this.map.get(key);
    if (v === undefined) {
      if (this.map.size >= this.max) this.map.clear();
      v = make();
      this.map.set(key, v);
    }
    return v;
  }
}

const v4Cache = new StringCache<number>(65536);
const v6Cache = new StringCache<string>(16384);
const commCache = new StringCache<string>(4096);

export function formatIPv4(buf: Buffer, off: number): string {
  const key = buf.readUInt32BE(off);
  return v4Cache.get(key, () => `${buf[off]}.${buf[off + 1]}.${buf[off + 2]}.${buf[off + 3]}`);
}

/** RFC 5952 text form: lower case, longest run of zero groups compressed, mapped IPv4 kept dotted. */
export function formatIPv6(buf: Buffer, off: number): string {
  const key = buf.toString('latin1', off, off + 16);
  return v6Cache.get(key, () => {
    const groups: number[] = [];
    for (let i = 0; i < 8; i++) groups.push(buf.readUInt16BE(off + i * 2));
    if (groups[0] === 0 && groups[1] === 0 && groups[2] === 0 && groups[3] === 0 && groups[4] === 0 && groups[5] === 0xffff) {
      return `::ffff:${buf[off + 12]}.${buf[off + 13]}.${buf[off + 14]}.${buf[off + 15]}`;
    }
    let bestStart = -1;
    let bestLen = 0;
    for (let i = 0; i < 8; ) {
      if (groups[i] !== 0) {
        i++;
        continue;
      }
      let j = i;
      while (j < 8 && groups[j] === 0) j++;
      if (j - i > bestLen && j - i >= 2) {
        bestStart = i;
        bestLen = j - i;
      }
      i = j;
    }
    const hex = groups.map((g) => g.toString(16));
    if (bestStart < 0) return hex.join(':');
    const head = hex.slice(0, bestStart).join(':');
    const tail = hex.slice(bestStart + bestLen).join(':');
    return `${head}::${tail}`;
  });
}

function readComm(buf: Buffer, off: number): string {
  let end = off;
  const max = off + 16;
  while (end < max && buf[end] !== 0) end++;
  if (end === off) return '';
  return commCache.get(buf.toString('latin1', off, end), () => buf.toString('utf8', off, end));
}

function directionOf(flags: number): Direction {
  if (flags & FLAG.ACTIVE) return 'outbound';
  if (flags & FLAG.PASSIVE) return 'inbound';
  return 'unknown';
}

/** Decodes one record; undefined for an unknown kind (a newer kernel object). */
export function decodeRecord(buf: Buffer, off: number): TcpEvent | undefined {
  const kind = KIND_BY_CODE[buf[off + OFFSETS.kind]];
  if (kind === undefined) return undefined;
  const family = buf[off + OFFSETS.family] === 6 ? 6 : 4;
  const flags = buf.readUInt16LE(off + OFFSETS.flags);
  const format = family === 6 ? formatIPv6 : formatIPv4;
  const ev: TcpEvent = {
    kind,
    timeNs: u64(buf, off + OFFSETS.ts_ns),
    socketId: u64(buf, off + OFFSETS.cookie),
    family,
    localAddress: format(buf, off + OFFSETS.saddr),
    localPort: buf.readUInt16LE(off + OFFSETS.sport),
    remoteAddress: format(buf, off + OFFSETS.daddr),
    remotePort: buf.readUInt16LE(off + OFFSETS.dport),
    direction: directionOf(flags),
    pid: buf.readUInt32LE(off + OFFSETS.pid),
    tid: buf.readUInt32LE(off + OFFSETS.tid),
    comm: readComm(buf, off + OFFSETS.comm),
    cgroupId: u64(buf, off + OFFSETS.cgroup_id),
    netns: buf.readUInt32LE(off + OFFSETS.netns),
    durationNs: u64(buf, off + OFFSETS.duration_ns),
    bytesSent: u64(buf, off + OFFSETS.bytes_acked),
    bytesReceived: u64(buf, off + OFFSETS.bytes_received),
    bytesRetransmitted: u64(buf, off + OFFSETS.bytes_retrans),
    handshakeNs: u64(buf, off + OFFSETS.handshake_ns),
    segmentsIn: buf.readUInt32LE(off + OFFSETS.segs_in),
    segmentsOut: buf.readUInt32LE(off + OFFSETS.segs_out),
    retransmits: buf.readUInt32LE(off + OFFSETS.total_retrans),
    srttUs: buf.readUInt32LE(off + OFFSETS.srtt_us),
    oldState: tcpStateName(buf[off + OFFSETS.oldstate]),
    newState: tcpStateName(buf[off + OFFSETS.newstate]),
    errno: buf.readUInt16LE(off + OFFSETS.error),
    reset: kind === 'reset' ? (flags & FLAG.RST_RECV ? 'received' : 'sent') : undefined,
    preexisting: (flags & FLAG.PREEXISTING) !== 0,
    resetSent: (flags & FLAG.RST_SENT) !== 0,
    resetReceived: (flags & FLAG.RST_RECV) !== 0,
    flags,
  };
  return ev;
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
  for (let i = 0, off = 0; i < n; i++, off += RECORD_SIZE) {
    const ev = decodeRecord(buf, off);
    if (ev) events.push(ev);
    else unknown++;
  }
  return { events, unknown, truncatedBytes: buf.length - n * RECORD_SIZE };
}

/** Encodes an event back into the kernel layout: for recordings, replays and benchmarks. */
export function encodeRecord(ev: TcpEvent, buf: Buffer, off: number): void {
  buf.fill(0, off, off + RECORD_SIZE);
  const w64 = (o: number, v: number) => {
    buf.writeUInt32LE(v % TWO_32, off + o);
    buf.writeUInt32LE(Math.floor(v / TWO_32), off + o + 4);
  };
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
  buf.write(ev.comm.slice(0, 15), off + OFFSETS.comm, 'latin1');
}

function stateNumber(s: TcpEvent['oldState']): number {
  return Math.max(0, TCP_STATES.indexOf(s));
}

function writeAddress(family: 4 | 6, text: string, buf: Buffer, off: number): void {
  if (family === 4) {
    const parts = text.split('.').map(Number);
    for (let i = 0; i < 4; i++) buf[off + i] = parts[i] ?? 0;
    return;
  }
  const groups = parseIPv6(text);
  for (let i = 0; i < 8; i++) buf.writeUInt16BE(groups[i]! & 0xffff, off + i * 2);
}

/** Text IPv6 (with "::" and an optional dotted IPv4 tail) to its eight 16-bit groups. */
export function parseIPv6(text: string): number[] {
  let s = text;
  const tail: number[] = [];
  const dotted = /^(.*:)(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(s);
  if (dotted) {
    const [a, b, c, d] = dotted.slice(2).map(Number) as [number, number, number, number];
    tail.push((a << 8) | b, (c << 8) | d);
    s = dotted[1]!.endsWith('::') ? dotted[1]! : dotted[1]!.slice(0, -1);
  }
  const hex = (part: string) => (part ? part.split(':').map((g) => parseInt(g, 16)) : []);
  const gap = s.indexOf('::');
  const head = gap < 0 ? hex(s) : hex(s.slice(0, gap));
  const rest = gap < 0 ? [] : hex(s.slice(gap + 2));
  const zeros = 8 - head.length - rest.length - tail.length;
  return [...head, ...new Array<number>(Math.max(0, zeros)).fill(0), ...rest, ...tail].slice(0, 8);
}
