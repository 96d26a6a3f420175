/**
 * The layouts of the records the addon hands over, as offsets. The C side defines them
 * once: struct tcpotel_event in bpf/tcpotel.h, the sock_diag record in native/sockdiag.cc;
 * the layout tests (test/native/layout.test.ts) compare these offsets with what the
 * compiler produced. Records are little-endian (written on this host), 4-byte aligned.
 */

/** 2^32: the high word's weight in a u64 read as two u32 words. */
export const TWO_32 = 4294967296;

/** A u64 at `off` as a number (exact up to 2^53). */
export function readU64(buf: Buffer, off: number): number {
  return buf.readUInt32LE(off + 4) * TWO_32 + buf.readUInt32LE(off);
}

/** Writes a number (up to 2^53) as a u64 at `off`. */
export function writeU64(buf: Buffer, off: number, v: number): void {
  buf.writeUInt32LE(v % TWO_32, off);
  buf.writeUInt32LE(Math.floor(v / TWO_32), off + 4);
}

/** struct tcpotel_event (bpf/tcpotel.h): one record of the ring buffer or of an iterator run. */
export const RECORD_SIZE = 224;

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
  lost: 152,
  proto: 156,
  http_method: 157,
  tls_version: 158,
  name: 160,
} as const;

/** Bytes of `comm` and of `name` (NUL-padded). */
export const COMM_LEN = 16;
export const NAME_LEN = 64;

/** The record's flag bits (TCPOTEL_F_* in bpf/tcpotel.h). */
export const FLAG = {
  ACTIVE: 1 << 0,
  PASSIVE: 1 << 1,
  PREEXISTING: 1 << 2,
  RST_SENT: 1 << 3,
  RST_RECV: 1 << 4,
  OWNER: 1 << 5,
  UNTRACKED: 1 << 6,
  NO_SOCKET: 1 << 7,
  DETECT: 1 << 8,
} as const;

/** Iterator modes (enum tcpotel_iter_mode). */
export const ITER_MODE = { SNAPSHOT: 1, SAMPLE: 2 } as const;

/**
 * A record's five-tuple and owner as raw words, as the eBPF receiver's events copy them
 * (core/hash.ts RawTuple): family, the local address (4 words; IPv4 in the first, the rest
 * 0), the remote address (4 words), local port << 16 | remote port; then the pid and the
 * command name's 16 bytes (4 words, zero-padded). Fifteen words in all.
 */
export const TUPLE_WORDS = 15;
/** Where the owner's words start. */
export const OWNER_WORD = 10;

/** The sock_diag record (native/sockdiag.cc, whose header comment documents each field). */
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

/** The sock_diag record's flag bits. */
export const DIAG_FLAG = { INFO: 1 } as const;
