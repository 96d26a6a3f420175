/**
 * Decoder of the sock_diag dump records that native/sockdiag.cc packs (one per TCP socket;
 * its header comment documents the layout, the layout test compares these offsets with
 * what the C++ compiler produced), and the addon functions that produce them.
 */
import { loadAddon } from '../ebpf/bindings.js';
import { parseIPv6 } from '../../core/address.js';
import { formatIPv4, formatIPv6 } from '../ebpf/record.js';

export const DIAG_RECORD_SIZE = 112;

export const DIAG_OFFSETS = {
  cookie: 0,
  bytes_acked: 8,
  bytes_received: 16,
  bytes_retrans: 24,
  inode: 32,
  uid: 36,
  segs_in: 40,
  segs_out: 44,
  total_retrans: 48,
  rtt_us: 52,
  sport: 56,
  dport: 58,
  family: 60,
  state: 61,
  tcpi_state: 62,
  flags: 63,
  saddr: 64,
  daddr: 80,
  info_len: 96,
  unacked: 100,
  bytes_sent: 104,
} as const;

/** Record flag bits. */
export const DIAG_FLAG = { INFO: 1 } as const;

/** Linux TCP state numbers (include/net/tcp_states.h). */
export const TCP = {
  ESTABLISHED: 1,
  SYN_SENT: 2,
  SYN_RECV: 3,
  FIN_WAIT1: 4,
  FIN_WAIT2: 5,
  TIME_WAIT: 6,
  CLOSE: 7,
  CLOSE_WAIT: 8,
  LAST_ACK: 9,
  LISTEN: 10,
  CLOSING: 11,
  NEW_SYN_RECV: 12,
} as const;

/** One socket of a dump, with the kernel's raw counters (no corrections applied). */
export interface DiagSocket {
  /** inet_diag idiag_cookie: the socket cookie. */
  cookie: number;
  family: 4 | 6;
  /** idiag_state (TCP state number). */
  state: number;
  readonly localAddress: string;
  localPort: number;
  readonly remoteAddress: string;
  remotePort: number;
  /** Socket inode; 0 when no file refers to it (orphaned, not yet accepted, TIME_WAIT). */
  inode: number;
  uid: number;
  /** struct tcp_info came with it (not for TIME_WAIT and request sockets). */
  hasInfo: boolean;
  /** tcpi_bytes_acked: includes our SYN (active side) and our FIN once acknowledged. */
  bytesAcked: number;
  /** tcpi_bytes_received: includes the peer's FIN once received. */
  bytesReceived: number;
  bytesRetrans: number;
  segsIn: number;
  segsOut: number;
  totalRetrans: number;
  rttUs: number;
}

const TWO_32 = 4294967296;

function u64(buf: Buffer, off: number): number {
  return buf.readUInt32LE(off + 4) * TWO_32 + buf.readUInt32LE(off);
}

/** A socket of a dump; the addresses are formatted only when asked for (most sockets are unchanged). */
class DumpSocket implements DiagSocket {
  cookie: number;
  family: 4 | 6;
  state: number;
  localPort: number;
  remotePort: number;
  inode: number;
  uid: number;
  hasInfo: boolean;
  bytesAcked: number;
  bytesReceived: number;
  bytesRetrans: number;
  segsIn: number;
  segsOut: number;
  totalRetrans: number;
  rttUs: number;
  private local?: string;
  private remote?: string;

  constructor(
    private readonly buf: Buffer,
    private readonly off: number,
  ) {
    const O = DIAG_OFFSETS;
    this.cookie = u64(buf, off + O.cookie);
    this.family = buf[off + O.family] === 6 ? 6 : 4;
    this.state = buf[off + O.state]!;
    this.localPort = buf.readUInt16LE(off + O.sport);
    this.remotePort = buf.readUInt16LE(off + O.dport);
    this.inode = buf.readUInt32LE(off + O.inode);
    this.uid = buf.readUInt32LE(off + O.uid);
    this.hasInfo = (buf[off + O.flags]! & DIAG_FLAG.INFO) !== 0;
    this.bytesAcked = u64(buf, off + O.bytes_acked);
    this.bytesReceived = u64(buf, off + O.bytes_received);
    this.bytesRetrans = u64(buf, off + O.bytes_retrans);
    this.segsIn = buf.readUInt32LE(off + O.segs_in);
    this.segsOut = buf.readUInt32LE(off + O.segs_out);
    this.totalRetrans = buf.readUInt32LE(off + O.total_retrans);
    this.rttUs = buf.readUInt32LE(off + O.rtt_us);
  }

  get localAddress(): string {
    return (this.local ??= (this.family === 6 ? formatIPv6 : formatIPv4)(this.buf, this.off + DIAG_OFFSETS.saddr));
  }

  get remoteAddress(): string {
    return (this.remote ??= (this.family === 6 ? formatIPv6 : formatIPv4)(this.buf, this.off + DIAG_OFFSETS.daddr));
  }
}

/** Decodes one dump (a Buffer of packed records). */
export function decodeDump(buf: Buffer): DiagSocket[] {
  const n = Math.floor(buf.length / DIAG_RECORD_SIZE);
  const out = new Array<DiagSocket>(n);
  for (let i = 0, off = 0; i < n; i++, off += DIAG_RECORD_SIZE) out[i] = new DumpSocket(buf, off);
  return out;
}

/** A sock_diag failure, with the errno the kernel gave. */
export interface SockdiagNativeError extends Error {
  errno: number;
  code: string;
  syscall: string;
}

export interface SockdiagNative {
  sockdiagDump(families: number[]): Buffer;
  sockdiagDumpAsync(families: number[]): Promise<Buffer>;
  sockdiagLookup(query: Buffer): Buffer;
  sockdiagLayout(): { recordSize: number; offsets: Record<string, number> };
}

/** The addon's sock_diag functions (the addon also holds the eBPF tracer; loading it needs no privileges). */
export function loadSockdiag(): SockdiagNative {
  const addon = loadAddon() as unknown as Partial<SockdiagNative>;
  if (typeof addon.sockdiagDumpAsync !== 'function' || typeof addon.sockdiagDump !== 'function') {
    throw new Error('the native addon has no sock_diag support: rebuild it (make addon)');
  }
  return addon as SockdiagNative;
}

/**
 * Encodes sockets in the dump layout: the queries of sockdiagLookup (which reads family,
 * addresses, ports and cookie), and dumps for tests.
 */
export function encodeSockets(sockets: readonly DiagSocket[]): Buffer {
  const buf = Buffer.alloc(sockets.length * DIAG_RECORD_SIZE);
  const O = DIAG_OFFSETS;
  const w64 = (v: number, off: number) => {
    buf.writeUInt32LE(v % TWO_32, off);
    buf.writeUInt32LE(Math.floor(v / TWO_32), off + 4);
  };
  sockets.forEach((s, i) => {
    const off = i * DIAG_RECORD_SIZE;
    w64(s.cookie, off + O.cookie);
    w64(s.bytesAcked, off + O.bytes_acked);
    w64(s.bytesReceived, off + O.bytes_received);
    w64(s.bytesRetrans, off + O.bytes_retrans);
    buf.writeUInt32LE(s.inode, off + O.inode);
    buf.writeUInt32LE(s.uid, off + O.uid);
    buf.writeUInt32LE(s.segsIn, off + O.segs_in);
    buf.writeUInt32LE(s.segsOut, off + O.segs_out);
    buf.writeUInt32LE(s.totalRetrans, off + O.total_retrans);
    buf.writeUInt32LE(s.rttUs, off + O.rtt_us);
    buf.writeUInt16LE(s.localPort, off + O.sport);
    buf.writeUInt16LE(s.remotePort, off + O.dport);
    buf[off + O.family] = s.family;
    buf[off + O.state] = s.state;
    buf[off + O.tcpi_state] = s.hasInfo ? s.state : 0;
    buf[off + O.flags] = s.hasInfo ? DIAG_FLAG.INFO : 0;
    writeAddress(s.family, s.localAddress, buf, off + O.saddr);
    writeAddress(s.family, s.remoteAddress, buf, off + O.daddr);
  });
  return buf;
}

function writeAddress(family: 4 | 6, text: string, buf: Buffer, off: number): void {
  if (family === 4) {
    text.split('.').forEach((p, i) => (buf[off + i] = Number(p) & 0xff));
    return;
  }
  parseIPv6(text).forEach((g, i) => buf.writeUInt16BE(g & 0xffff, off + i * 2));
}
