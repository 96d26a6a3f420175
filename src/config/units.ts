/**
 * Zod helpers for the units users write in YAML: durations ("10s") and sizes ("16MiB"),
 * each checked against a documented range before anything uses it: a timer of more than
 * 2^31-1 ms fires after 1 ms in Node, and native code takes sizes as 32-bit numbers.
 */
import { z } from 'zod';

const DURATION_UNITS: Record<string, number> = { ns: 1e-6, us: 1e-3, µs: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** The longest duration any setting takes unless it says otherwise: 24h. */
export const MAX_DURATION_MS = 24 * 3_600_000;
/** The largest size any setting takes unless it says otherwise: 2GiB (what fits in 31 bits). */
export const MAX_SIZE_BYTES = 2 * 1024 ** 3;

/** "1h2m3.5s", "250ms", or a number of milliseconds; to milliseconds. */
export function parseDuration(text: string): number | undefined {
  const t = text.trim();
  if (t === '0') return 0;
  const re = /(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/gy;
  let total = 0;
  let matched = 0;
  let m: RegExpExecArray | null;
  while ((m = re.exec(t))) {
    total += Number(m[1]) * DURATION_UNITS[m[2]!]!;
    matched = re.lastIndex;
  }
  return matched === t.length && matched > 0 && Number.isFinite(total) ? total : undefined;
}

/** Milliseconds as a user would write them: 24h, 1m30s, 100ms. */
export function formatDuration(ms: number): string {
  if (ms === 0) return '0s';
  if (ms < 1000 || ms % 1000 !== 0) return `${ms}ms`;
  let s = ms / 1000;
  let out = '';
  for (const [unit, n] of [['h', 3600], ['m', 60]] as const) {
    if (s >= n) {
      out += `${Math.floor(s / n)}${unit}`;
      s %= n;
    }
  }
  return s ? `${out}${s}s` : out;
}

export interface DurationRange {
  /** Smallest non-zero value (default 0). */
  min?: number;
  /** Largest value (default MAX_DURATION_MS, 24h). */
  max?: number;
  /** 0 is allowed even below min: it turns the feature off. */
  zeroOff?: boolean;
}

/** The allowed range, as the error messages say it. */
export function durationRangeText(r: DurationRange = {}): string {
  const min = r.min ?? 0;
  const max = r.max ?? MAX_DURATION_MS;
  return `between ${formatDuration(min)} and ${formatDuration(max)}${r.zeroOff && min > 0 ? ' (or 0 to turn it off)' : ''}`;
}

/**
 * A duration in milliseconds: "10s", "250ms", "1m30s", or a number of milliseconds, from
 * `min` to `max` (24h unless said otherwise).
 */
export function duration(range: DurationRange = {}) {
  const min = range.min ?? 0;
  const max = range.max ?? MAX_DURATION_MS;
  return z.union([z.number(), z.string()]).transform((v, ctx) => {
    const ms = typeof v === 'number' ? v : parseDuration(v);
    if (ms === undefined) {
      ctx.addIssue({ code: 'custom', message: `"${v}" is not a duration (write e.g. 500ms, 10s, 1m)` });
      return z.NEVER;
    }
    const ok = Number.isFinite(ms) && ms <= max && (ms >= min || (ms === 0 && (range.zeroOff || min === 0)));
    if (!ok) {
      ctx.addIssue({ code: 'custom', message: `${typeof v === 'number' ? v : `"${v}"`} is out of range: must be ${durationRangeText(range)}` });
      return z.NEVER;
    }
    return ms;
  });
}

const SIZE_UNITS: Record<string, number> = {
  '': 1, b: 1, k: 1e3, kb: 1e3, m: 1e6, mb: 1e6, g: 1e9, gb: 1e9, t: 1e12, tb: 1e12,
  ki: 1024, kib: 1024, mi: 1024 ** 2, mib: 1024 ** 2, gi: 1024 ** 3, gib: 1024 ** 3, ti: 1024 ** 4, tib: 1024 ** 4,
};

/**
 * A size in bytes, computed on 64 bits (BigInt) so that nothing wraps: a value beyond
 * Number.MAX_SAFE_INTEGER comes back as Infinity, which every range refuses.
 */
export function parseSize(text: string): number | undefined {
  const m = /^\s*(\d+)(?:\.(\d+))?\s*([a-zA-Z]*)\s*$/.exec(text);
  if (!m) return undefined;
  const mult = SIZE_UNITS[m[3]!.toLowerCase()];
  if (mult === undefined) return undefined;
  const frac = m[2] ?? '';
  const scale = 10n ** BigInt(frac.length);
  const bytes = ((BigInt(m[1]!) * scale + BigInt(frac || '0')) * BigInt(mult) + scale / 2n) / scale;
  return bytes > BigInt(Number.MAX_SAFE_INTEGER) ? Infinity : Number(bytes);
}

/** Bytes as a user would write them: 2GiB, 64KiB, 4097. */
export function formatSize(n: number): string {
  for (const [unit, f] of [['GiB', 1024 ** 3], ['MiB', 1024 ** 2], ['KiB', 1024]] as const) {
    if (n >= f && n % f === 0) return `${n / f}${unit}`;
  }
  return String(n);
}

export interface SizeRange {
  min?: number;
  /** Default MAX_SIZE_BYTES (2GiB). */
  max?: number;
}

/** A size in bytes: 4096, "64KiB", "16MiB", "1GB", from `min` to `max` (2GiB unless said otherwise). */
export function byteSize(range: SizeRange = {}) {
  const min = range.min ?? 0;
  const max = range.max ?? MAX_SIZE_BYTES;
  return z.union([z.number(), z.string()]).transform((v, ctx) => {
    const n = typeof v === 'number' ? v : parseSize(v);
    if (n === undefined) {
      ctx.addIssue({ code: 'custom', message: `"${v}" is not a size (write e.g. 4096, 64KiB, 16MiB)` });
      return z.NEVER;
    }
    if (!Number.isInteger(n) && Number.isFinite(n)) {
      ctx.addIssue({ code: 'custom', message: `${v} is not a whole number of bytes` });
      return z.NEVER;
    }
    if (!(n >= min && n <= max)) {
      ctx.addIssue({ code: 'custom', message: `${typeof v === 'number' ? v : `"${v}"`} is out of range: sizes go from ${formatSize(min)} to ${formatSize(max)} (${max} bytes)` });
      return z.NEVER;
    }
    return n;
  });
}

/** A TCP/UDP port number, 1 to 65535. */
export function port() {
  return z.number().int().min(1, { message: 'ports go from 1 to 65535' }).max(65535, { message: 'ports go from 1 to 65535' });
}

/**
 * The port of a "host:port", "[v6]:port" or URL endpoint, when it names one; NaN when the
 * port is not a number.
 */
export function endpointPort(endpoint: string): number | undefined {
  const url = /^[a-z][a-z0-9+.-]*:\/\/(\[[^\]]*\]|[^/:?#]*)(?::([^/?#]*))?/i.exec(endpoint);
  const text = url ? url[2] : /^(?:\[[^\]]*\]|[^:/\s]*):([^:]*)$/.exec(endpoint)?.[1];
  if (text === undefined || text === '') return undefined;
  return /^\d{1,10}$/.test(text) ? Number(text) : NaN;
}

/**
 * A rule between settings, for `.superRefine()`: when `broken(config)`, one issue at `key`
 * saying `message`.
 */
export function crossCheck<T>(key: string, broken: (config: T) => boolean, message: string): (config: T, ctx: z.RefinementCtx) => void {
  return (config, ctx) => {
    if (broken(config)) ctx.addIssue({ code: 'custom', path: [key], message });
  };
}
