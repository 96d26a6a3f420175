/**
 * One render of the Prometheus exposition (Exposition): the Buffers every response in that
 * format writes, shared, never copied per client; the arenas they are slices of, reused
 * through a pool once no exposition holds them (see writer.ts); and the byte-level writes
 * into an arena.
 */

export type ExpositionFormat = 'text' | 'openmetrics';

/** A Buffer holding the rendered lines of one metric's series. */
export interface Arena {
  buf: Buffer;
  len: number;
  /** Expositions holding it. */
  refs: number;
  /** Replaced by a newer arena of its metric: free once no exposition holds it. */
  retired: boolean;
}

/** Arenas to write into, reused once no exposition holds them. */
export class ArenaPool {
  private free: Arena[] = [];
  private freeBytes = 0;
  /** Bytes of replaced arenas that expositions still in use hold (slow responses). */
  heldBytes = 0;
  /** Arenas allocated so far (the rest were reused). */
  allocations = 0;

  /** An arena of at least `size` bytes: the smallest free one that fits, else a new one with room to spare. */
  take(size: number): Arena {
    let best = -1;
    for (let i = 0; i < this.free.length; i++) {
      const len = this.free[i]!.buf.length;
      if (len >= size && (best < 0 || len < this.free[best]!.buf.length)) best = i;
    }
    if (best >= 0) {
      const a = this.free[best]!;
      this.free[best] = this.free[this.free.length - 1]!;
      this.free.pop();
      this.freeBytes -= a.buf.length;
      a.len = 0;
      a.retired = false;
      return a;
    }
    this.allocations++;
    return { buf: Buffer.allocUnsafeSlow(Math.max(4096, Math.ceil(size * 1.25))), len: 0, refs: 0, retired: false };
  }

  /** `a` was replaced: free now, or once the last exposition holding it lets go. */
  retire(a: Arena): void {
    a.retired = true;
    if (a.refs === 0) this.put(a);
    else this.heldBytes += a.buf.length;
  }

  /** No exposition holds `a` any more. */
  released(a: Arena): void {
    if (!a.retired) return;
    this.heldBytes -= a.buf.length;
    this.put(a);
  }

  private put(a: Arena): void {
    this.free.push(a);
    this.freeBytes += a.buf.length;
  }

  /** Keeps at most `bytes` of free arenas (the largest go first); the rest go back to the system. */
  trim(bytes: number): void {
    if (this.freeBytes <= bytes) return;
    this.free.sort((x, y) => x.buf.length - y.buf.length);
    while (this.freeBytes > bytes) this.freeBytes -= this.free.pop()!.buf.length;
  }
}

/** One render: what a response writes, and in which format. */
export class Exposition {
  /** The writer (until a later render replaces it) and the responses holding it. */
  private refs = 1;
  private readonly bodies = new Map<ExpositionFormat, Buffer[]>();

  constructor(
    readonly generation: number,
    /** Series (data points) it holds. */
    readonly points: number,
    private readonly target: Record<ExpositionFormat, Buffer>,
    private readonly metrics: Array<{ head: Record<ExpositionFormat, Buffer>; arena: Arena }>,
    private readonly pool: ArenaPool,
  ) {
    for (const m of metrics) m.arena.refs++;
  }

  /** The Buffers of the body in `format`, in order. */
  body(format: ExpositionFormat): Buffer[] {
    let b = this.bodies.get(format);
    if (!b) {
      b = [this.target[format]];
      for (const m of this.metrics) b.push(m.head[format], m.arena.buf.subarray(0, m.arena.len));
      if (format === 'openmetrics') b.push(EOF);
      this.bodies.set(format, b);
    }
    return b;
  }

  byteLength(format: ExpositionFormat): number {
    let n = 0;
    for (const b of this.body(format)) n += b.length;
    return n;
  }

  hold(): this {
    this.refs++;
    return this;
  }

  release(): void {
    if (--this.refs !== 0) return;
    for (const m of this.metrics) if (--m.arena.refs === 0) this.pool.released(m.arena);
    this.bodies.clear();
  }

  /** The whole body as text (tests, debugging). */
  text(format: ExpositionFormat = 'text'): string {
    return Buffer.concat(this.body(format)).toString('utf8');
  }
}

const EOF = Buffer.from('# EOF\n');
const ASCII_MINUS = 45;
const ASCII_0 = 48;
export const NEWLINE = 10;
export const CLOSE = 125;
export const SPACE = 32;
const INF = Buffer.from('+Inf');
const NEG_INF = Buffer.from('-Inf');
/** Longest value text: String() of a double is at most 24 characters. */
export const MAX_VALUE = 26;

export function ensure(a: Arena, size: number): void {
  if (size <= a.buf.length) return;
  const bigger = Buffer.allocUnsafeSlow(Math.max(size, a.buf.length * 2));
  a.buf.copy(bigger, 0, 0, a.len);
  a.buf = bigger;
}

export function put(a: Arena, b: Buffer): void {
  a.buf.set(b, a.len);
  a.len += b.length;
}

/** A value as the serializer writes it (`${v}`, ±Inf as +Inf/-Inf); integers without a string. */
export function putValue(a: Arena, v: number): void {
  const buf = a.buf;
  if (Number.isSafeInteger(v)) {
    let x = v;
    if (x < 0) {
      buf[a.len++] = ASCII_MINUS;
      x = -x;
    }
    let digits = 1;
    for (let t = x; t >= 10; t = Math.floor(t / 10)) digits++;
    let at = a.len + digits;
    a.len = at;
    do {
      buf[--at] = ASCII_0 + (x % 10);
      x = Math.floor(x / 10);
    } while (x > 0);
    return;
  }
  if (v === Infinity) return put(a, INF);
  if (v === -Infinity) return put(a, NEG_INF);
  a.len += buf.write(String(v), a.len, 'latin1');
}

