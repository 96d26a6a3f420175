/** IP address text to and from the bytes the kernel records hold. */

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

/** Four address bytes (network order) as one word, the first byte lowest. */
function word(b0: number, b1: number, b2: number, b3: number): number {
  return ((b0 & 255) | ((b1 & 255) << 8) | ((b2 & 255) << 16) | ((b3 & 255) << 24)) >>> 0;
}

/**
 * An address's bytes as 32-bit words, each word's first byte lowest (what a Uint32Array
 * over the kernel's record reads on a little-endian host): one word for IPv4 and for an
 * IPv4-mapped IPv6 address, four for other IPv6 addresses. Unparseable text gives [].
 */
export function addressWords(text: string): number[] {
  if (text.includes(':')) {
    const g = parseIPv6(text);
    if (g.some((x) => !Number.isFinite(x))) return [];
    if (g[0] === 0 && g[1] === 0 && g[2] === 0 && g[3] === 0 && g[4] === 0 && g[5] === 0xffff) {
      return [word(g[6]! >> 8, g[6]!, g[7]! >> 8, g[7]!)];
    }
    const out: number[] = [];
    for (let i = 0; i < 8; i += 2) out.push(word(g[i]! >> 8, g[i]!, g[i + 1]! >> 8, g[i + 1]!));
    return out;
  }
  const p = text.split('.').map(Number);
  if (p.length !== 4 || p.some((x) => !Number.isInteger(x))) return [];
  return [word(p[0]!, p[1]!, p[2]!, p[3]!)];
}

/** `host:port` to listen on: a name or IPv4 address (or nothing: every interface), or `[IPv6]`. */
export const LISTEN_ENDPOINT = /^(\[[0-9a-fA-F:]+\]|[^:\s]*):\d{1,5}$/;

/** A LISTEN_ENDPOINT's host (0.0.0.0 when empty, IPv6 without brackets) and port. */
export function splitHostPort(endpoint: string): { host: string; port: number } {
  const i = endpoint.lastIndexOf(':');
  let host = endpoint.slice(0, i);
  if (host.startsWith('[')) host = host.slice(1, -1);
  return { host: host || '0.0.0.0', port: Number(endpoint.slice(i + 1)) };
}
