/** Port lists as users write them: numbers and "low-high" ranges, compiled to a bitmap. */

/** A port number or a "low-high" (or "443") string, to an inclusive interval; a message when invalid. */
export function parsePortSpec(spec: unknown): [number, number] | string {
  if (typeof spec === 'number') {
    if (!Number.isInteger(spec) || spec < 0 || spec > 65535) return `${spec} is not a port number (0-65535)`;
    return [spec, spec];
  }
  if (typeof spec !== 'string') return 'expected a port number or a "low-high" range string (e.g. 8000-8999)';
  const m = /^\s*(\d{1,5})\s*(?:-\s*(\d{1,5})\s*)?$/.exec(spec);
  if (!m) return `"${spec}" is not a port or port range (write e.g. 443 or "8000-8999")`;
  const lo = Number(m[1]);
  const hi = m[2] === undefined ? lo : Number(m[2]);
  if (lo > 65535 || hi > 65535) return `"${spec}": ports go from 0 to 65535`;
  if (lo > hi) return `"${spec}": the range starts after it ends (write low-high)`;
  return [lo, hi];
}

/** One byte per port: 1 where any of the specs covers it. */
export function portBitmap(specs: readonly (number | string)[]): Uint8Array {
  const map = new Uint8Array(65536);
  for (const s of specs) {
    const r = parsePortSpec(s);
    if (typeof r === 'string') throw new Error(r);
    map.fill(1, r[0], r[1] + 1);
  }
  return map;
}
