/**
 * The sock_diag half of the addon (native/sockdiag.cc), typed: netlink inet_diag dumps of
 * every TCP socket, packed in the layout of diag-layout.ts. Needs no privileges. Failures
 * throw (or reject with) a NativeError.
 */

export interface SockdiagNative {
  sockdiagDump(families: number[]): Buffer;
  sockdiagDumpAsync(families: number[]): Promise<Buffer>;
  /** The sockets of `query` (records of which family, addresses, ports and cookie are read) that still exist. */
  sockdiagLookup(query: Buffer): Buffer;
  sockdiagLayout(): { recordSize: number; offsets: Record<string, number>; flags: Record<string, number> };
}
