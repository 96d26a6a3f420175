/**
 * Metric points as `aggregate` produces them: deltas over one window, with attributes.
 * Exporters turn them into OpenTelemetry ResourceMetrics (cumulative or delta).
 */
import type { AttributeValue } from './events.js';

export type Attributes = Record<string, AttributeValue>;

interface PointBase {
  /** Metric name, e.g. "tcp.connections.opened" (see src/semconv/reference.ts). */
  name: string;
  attributes: Attributes;
  /** Stable key of name + attributes, computed once by the producer. */
  seriesKey: string;
}

/** A counter increment over the window (monotonic) or an up-down change (non-monotonic). */
export interface SumPoint extends PointBase {
  type: 'sum';
  value: number;
}

/** A value observed at the end of the window. */
export interface GaugePoint extends PointBase {
  type: 'gauge';
  value: number;
}

/** Explicit-bucket histogram of the observations made in the window. */
export interface HistogramPoint extends PointBase {
  type: 'histogram';
  count: number;
  sum: number;
  min: number;
  max: number;
  /** bounds.length + 1 counts. */
  bucketCounts: number[];
  bounds: readonly number[];
}

export type MetricPoint = SumPoint | GaugePoint | HistogramPoint;

/** Time as [seconds, nanoseconds] since the Unix epoch (OpenTelemetry's HrTime). */
export type HrTime = [number, number];

export interface MetricBatch {
  readonly type: 'metrics';
  /** The window the deltas cover. */
  startTime: HrTime;
  endTime: HrTime;
  /** When `table` is set: the table's points then `extra`, built when first read. */
  points: MetricPoint[];
  resource?: Attributes;
  /** The aggregate's window in columns (read it to avoid building points). */
  table?: SeriesTable;
  /** With a table: the points that are not in it (socket counts by state). */
  extra?: MetricPoint[];
}

export function seriesKey(name: string, attributes: Attributes): string {
  const keys = Object.keys(attributes).sort();
  let k = name;
  for (const a of keys) k += `\u0000${a}=${String(attributes[a])}`;
  return k;
}

export function hrTimeFromMs(ms: number): HrTime {
  const sec = Math.floor(ms / 1000);
  return [sec, Math.round((ms - sec * 1000) * 1e6)];
}

export function nowHrTime(): HrTime {
  return hrTimeFromMs(performance.timeOrigin + performance.now());
}

/** Columns of a window's counters, per row (see SeriesTable.counters). */
export const COLUMN = {
  opened: 0,
  closed: 1,
  active: 2,
  transmit: 3,
  receive: 4,
  retransmits: 5,
  resetsSent: 6,
  resetsReceived: 7,
  segmentsOut: 8,
  segmentsIn: 9,
} as const;
export const COLUMNS = 10;

/** One histogram's column of a window: per row count, sum, min, max, then the bucket counts. */
export interface HistogramColumn {
  /** Metric name, e.g. "tcp.rtt". */
  name: string;
  /** Bucket bounds in seconds, as the points carry them. */
  bounds: readonly number[];
  /** Observations are integers of 1/unit second (1e6: microseconds, 1e9: nanoseconds). */
  unit: number;
  /** 4 + bounds.length + 1 numbers per row. */
  stride: number;
  data: Float64Array;
}

/**
 * One window of an aggregate, in columns: what `aggregate` produces before any point
 * object is built, whether it counted in JavaScript or the kernel counted for it.
 * Consumers that only need numbers (the view's totals) read the columns; the points are
 * built from it only when something asks for them (MetricBatch.points).
 */
export interface SeriesTable {
  readonly rows: number;
  /** COLUMNS numbers per row, in COLUMN order. */
  readonly counters: Float64Array;
  /** rtt, handshake, duration, loss. */
  readonly hists: readonly HistogramColumn[];
  /** The row of the overflow series, or -1. */
  readonly overflowRow: number;
  /** The aggregate's key attributes, joined: tells its series from another aggregate's. */
  readonly signature: string;
  /** Failed connects by error.type, for the rows that have any. */
  failed(row: number): ReadonlyMap<string, number> | undefined;
  /** The row's key attributes (built when first asked for). */
  attributes(row: number): Attributes;
  /** The row's series key within its aggregate: the same series has the same key in every window. */
  key(row: number): string;
  /** A 32-bit hash of the row's series, the same in every window, made without building its key. */
  hash(row: number): number;
}

/** FNV-1a over a string's UTF-16 code units: series keys to 32-bit hashes. */
export function stringHash(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/**
 * A copy of a batch with some fields changed, that keeps a table batch's points unbuilt
 * (a spread would build them). For changes that leave the points as they are.
 */
export function copyBatch<T extends object>(batch: T, changes: Partial<T>): T {
  return Object.assign(Object.defineProperties({}, Object.getOwnPropertyDescriptors(batch)) as T, changes);
}

/** Data points in a batch, without building them when a table holds them. */
export function pointCount(batch: MetricBatch): number {
  const n = (batch as { readonly pointCount?: number }).pointCount;
  return n ?? batch.points.length;
}
