/**
 * IP addresses in the native records (struct tcpotel_event, the sock_diag record, the
 * kernel aggregate key): 16 bytes in network order, IPv4 in the first 4. To and from text,
 * and as the 32-bit words a Uint32Array over a record reads.
 */

export function formatIPv4(buf: Buffer, off: number): string {
  return `${buf[off]}.${buf[off + 1]}.${buf[off + 2]}.${buf[off + 3]}`;
}

/** RFC 5952 text form: lower case, longest run of zero groups compressed, mapped IPv4 kept dotted. */
export function formatIPv6(buf: Buffer, off: number): string {
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
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLen).join(':')}`;
}

/** An address of `family` at `off`, as text. */
export function formatAddress(family: 4 | 6, buf: Buffer, off: number): string {
  return family === 6 ? formatIPv6(buf, off) : formatIPv4(buf, off);
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

/**
 * Writes the address text of `family` at `off`, in network order (IPv4: 4 bytes; IPv6: 16).
 * Unparseable parts write 0.
 */
export function writeAddress(family: 4 | 6, text: string, buf: Buffer, off: number): void {
  if (family === 4) {
    const parts = text.split('.');
    for (let i = 0; i < 4; i++) buf[off + i] = Number(parts[i] ?? 0) & 0xff;
    return;
  }
  const groups = parseIPv6(text);
  for (let i = 0; i < 8; i++) buf.writeUInt16BE(groups[i]! & 0xffff, off + i * 2);
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
