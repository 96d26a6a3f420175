/** Endpoints to listen on (the addresses in native records: src/native/address.ts). */

/** `host:port` to listen on: a name or IPv4 address (or nothing: every interface), or `[IPv6]`. */
export const LISTEN_ENDPOINT = /^(\[[0-9a-fA-F:]+\]|[^:\s]*):\d{1,5}$/;

/** A LISTEN_ENDPOINT's host (0.0.0.0 when empty, IPv6 without brackets) and port. */
export function splitHostPort(endpoint: string): { host: string; port: number } {
  const i = endpoint.lastIndexOf(':');
  let host = endpoint.slice(0, i);
  if (host.startsWith('[')) host = host.slice(1, -1);
  return { host: host || '0.0.0.0', port: Number(endpoint.slice(i + 1)) };
}
