/**
 * Addresses and CIDRs as 128-bit numbers (four 32-bit words). IPv4 is held in its
 * IPv4-mapped IPv6 form (::ffff:a.b.c.d), so that one comparison serves both families and
 * an IPv4 CIDR also matches the mapped addresses dual-stack sockets report.
 */

/** A CIDR as network words and mask words; IPv4 CIDRs are stored mapped (prefix + 96). */
export interface Cidr {
  readonly net: Uint32Array;
  readonly mask: Uint32Array;
}

/**
 * Parses an IPv4 or IPv6 address into `out` (four words, IPv4 mapped). Returns 4 or 6 (the
 * textual family), or 0 when the text is not an address. Allocates nothing.
 */
export function parseAddress(text: string, out: Uint32Array): 0 | 4 | 6 {
  if (text.indexOf(':') < 0) {
    const v4 = parseIPv4(text, 0, text.length);
    if (v4 < 0) return 0;
    out[0] = 0;
    out[1] = 0;
    out[2] = 0xffff;
    out[3] = v4;
    return 4;
  }
  return parseIPv6(text, out) ? 6 : 0;
}

/** Dotted quad in text[start, end) to an unsigned 32-bit number, or -1. */
function parseIPv4(text: string, start: number, end: number): number {
  let value = 0;
  let part = 0;
  let digits = 0;
  let parts = 0;
  for (let i = start; i < end; i++) {
    const c = text.charCodeAt(i);
    if (c === 46 /* . */) {
      if (digits === 0 || parts === 3) return -1;
      value = value * 256 + part;
      parts++;
      part = 0;
      digits = 0;
    } else if (c >= 48 && c <= 57) {
      part = part * 10 + (c - 48);
      if (++digits > 3 || part > 255) return -1;
    } else {
      return -1;
    }
  }
  if (digits === 0 || parts !== 3) return -1;
  return value * 256 + part;
}

const groups = new Uint16Array(8);

function parseIPv6(text: string, out: Uint32Array): boolean {
  let end = text.indexOf('%'); // zone index (fe80::1%eth0)
  if (end < 0) end = text.length;
  let n = 0; // groups written
  let gap = -1; // group index where "::" stands
  let i = 0;
  if (end >= 2 && text.charCodeAt(0) === 58 && text.charCodeAt(1) === 58) {
    gap = 0;
    i = 2;
  } else if (end >= 1 && text.charCodeAt(0) === 58) {
    return false;
  }
  while (i < end) {
    // One group: hex digits, or a dotted IPv4 tail.
    let value = 0;
    let digits = 0;
    let j = i;
    for (; j < end; j++) {
      const c = text.charCodeAt(j);
      let d: number;
      if (c >= 48 && c <= 57) d = c - 48;
      else if (c >= 97 && c <= 102) d = c - 87;
      else if (c >= 65 && c <= 70) d = c - 55;
      else break;
      value = value * 16 + d;
      if (++digits > 4) return false;
    }
    if (j < end && text.charCodeAt(j) === 46 /* . */) {
      if (n > 6) return false;
      const v4 = parseIPv4(text, i, end);
      if (v4 < 0) return false;
      groups[n++] = v4 >>> 16;
      groups[n++] = v4 & 0xffff;
      i = end;
      break;
    }
    if (digits === 0 || n === 8) return false;
    groups[n++] = value;
    if (j === end) {
      i = end;
      break;
    }
    if (text.charCodeAt(j) !== 58) return false;
    if (j + 1 < end && text.charCodeAt(j + 1) === 58) {
      if (gap >= 0) return false;
      gap = n;
      i = j + 2;
    } else {
      if (j + 1 === end) return false; // trailing single ':'
      i = j + 1;
    }
  }
  if (gap < 0) {
    if (n !== 8) return false;
  } else {
    if (n > 7) return false;
    const tail = n - gap;
    for (let k = 0; k < tail; k++) groups[7 - k] = groups[n - 1 - k]!;
    for (let k = gap; k < 8 - tail; k++) groups[k] = 0;
  }
  for (let w = 0; w < 4; w++) out[w] = ((groups[w * 2]! << 16) | groups[w * 2 + 1]!) >>> 0;
  return true;
}

/** "10.0.0.0/8", "::1/128", or a bare address (a /32 or /128); undefined when invalid. */
export function parseCidr(text: string): Cidr | undefined {
  if (typeof text !== 'string') return undefined;
  const t = text.trim();
  const slash = t.indexOf('/');
  const addr = slash < 0 ? t : t.slice(0, slash);
  const net = new Uint32Array(4);
  const family = parseAddress(addr, net);
  if (family === 0) return undefined;
  const max = family === 4 ? 32 : 128;
  let bits = max;
  if (slash >= 0) {
    const p = t.slice(slash + 1);
    if (!/^\d{1,3}$/.test(p)) return undefined;
    bits = Number(p);
    if (bits > max) return undefined;
  }
  if (family === 4) bits += 96;
  const mask = new Uint32Array(4);
  for (let w = 0; w < 4; w++) {
    const b = Math.max(0, Math.min(32, bits - w * 32));
    mask[w] = b === 0 ? 0 : b === 32 ? 0xffffffff : (0xffffffff << (32 - b)) >>> 0;
    net[w] = (net[w]! & mask[w]!) >>> 0;
  }
  return { net, mask };
}

/** One predicate over address strings for a list of CIDRs (any of them matches). */
export function cidrMatcher(cidrs: readonly Cidr[]): (address: string) => boolean {
  const n = cidrs.length;
  const nets = new Uint32Array(n * 4);
  const masks = new Uint32Array(n * 4);
  cidrs.forEach((c, i) => {
    nets.set(c.net, i * 4);
    masks.set(c.mask, i * 4);
  });
  const a = new Uint32Array(4);
  return (address) => {
    if (parseAddress(address, a) === 0) return false;
    const a0 = a[0]!;
    const a1 = a[1]!;
    const a2 = a[2]!;
    const a3 = a[3]!;
    for (let i = 0, o = 0; i < n; i++, o += 4) {
      if (
        ((a0 & masks[o]!) >>> 0) === nets[o] &&
        ((a1 & masks[o + 1]!) >>> 0) === nets[o + 1] &&
        ((a2 & masks[o + 2]!) >>> 0) === nets[o + 2] &&
        ((a3 & masks[o + 3]!) >>> 0) === nets[o + 3]
      ) {
        return true;
      }
    }
    return false;
  };
}
