/**
 * Decoder of the sock_diag dump records that native/sockdiag.cc packs (one per TCP socket;
 * the layout is in src/native/records.ts), and the encoder of the queries of sockdiagLookup.
 */
import { formatAddress, writeAddress } from '../../native/address.js';
import { DIAG_FLAG, DIAG_OFFSETS, DIAG_RECORD_SIZE, readU64, writeU64 } from '../../native/records.js';

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

/** DumpSocket's fields are DiagSocket's (declaration merging: the list is written once). */
interface DumpSocket extends Omit<DiagSocket, 'localAddress' | 'remoteAddress'> {}

/** A socket of a dump; the addresses are formatted only when asked for (most sockets are unchanged). */
class DumpSocket implements DiagSocket {
  private local?: string;
  private remote?: string;

  constructor(
    private readonly buf: Buffer,
    private readonly off: number,
  ) {
    const O = DIAG_OFFSETS;
    this.cookie = readU64(buf, off + O.cookie);
    this.family = buf[off + O.family] === 6 ? 6 : 4;
    this.state = buf[off + O.state]!;
    this.localPort = buf.readUInt16LE(off + O.sport);
    this.remotePort = buf.readUInt16LE(off + O.dport);
    this.inode = buf.readUInt32LE(off + O.inode);
    this.uid = buf.readUInt32LE(off + O.uid);
    this.hasInfo = (buf[off + O.flags]! & DIAG_FLAG.INFO) !== 0;
    this.bytesAcked = readU64(buf, off + O.bytes_acked);
    this.bytesReceived = readU64(buf, off + O.bytes_received);
    this.bytesRetrans = readU64(buf, off + O.bytes_retrans);
    this.segsIn = buf.readUInt32LE(off + O.segs_in);
    this.segsOut = buf.readUInt32LE(off + O.segs_out);
    this.totalRetrans = buf.readUInt32LE(off + O.total_retrans);
    this.rttUs = buf.readUInt32LE(off + O.rtt_us);
  }

  get localAddress(): string {
    return (this.local ??= formatAddress(this.family, this.buf, this.off + DIAG_OFFSETS.saddr));
  }

  get remoteAddress(): string {
    return (this.remote ??= formatAddress(this.family, this.buf, this.off + DIAG_OFFSETS.daddr));
  }
}

/** Decodes one dump (a Buffer of packed records). */
export function decodeDump(buf: Buffer): DiagSocket[] {
  const n = Math.floor(buf.length / DIAG_RECORD_SIZE);
  const out = new Array<DiagSocket>(n);
  for (let i = 0, off = 0; i < n; i++, off += DIAG_RECORD_SIZE) out[i] = new DumpSocket(buf, off);
  return out;
}

/**
 * Encodes sockets in the dump layout: the queries of sockdiagLookup (which reads family,
 * addresses, ports and cookie), and dumps for tests.
 */
export function encodeSockets(sockets: readonly DiagSocket[]): Buffer {
  const buf = Buffer.alloc(sockets.length * DIAG_RECORD_SIZE);
  const O = DIAG_OFFSETS;
  const w64 = (v: number, off: number) => writeU64(buf, off, v);
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
