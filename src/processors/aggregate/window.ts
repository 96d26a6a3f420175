/**
 * An aggregate's window as a table (core/metrics.ts SeriesTable), and the metric points
 * made from it. Both the JavaScript aggregator and the in-kernel aggregates (aggregate
 * pushdown) produce tables; the points are made here, once, for both, and only when
 * something reads them.
 */
import type { StateCounts } from '../../core/events.js';
import type { Attributes, GaugePoint, HistogramColumn, HistogramPoint, MetricBatch, MetricPoint, SeriesTable, SumPoint } from '../../core/metrics.js';
import { COLUMN, COLUMNS, hrTimeFromMs, seriesKey } from '../../core/metrics.js';
import { ATTR } from '../../semconv/attributes.js';
import { TCP_METRICS } from '../../semconv/metrics.js';

/** The key of the overflow series, and its attributes. */
export const OVERFLOW_KEY = '\u0000overflow';
export const OVERFLOW_ATTRS: Attributes = { [ATTR.overflow]: true };

/** Units of the histograms' observations: rtt in microseconds, loss in parts per million, the others in nanoseconds. */
export const HIST_UNITS = { rtt: 1e6, handshake: 1e9, duration: 1e9, loss: 1e6 } as const;

/**
 * Integer thresholds of bucket bounds given in seconds: an observation n (an integer of
 * 1/unit second) goes above bound b exactly when n > threshold, where threshold is the
 * largest integer whose n / unit (in floating point, as the points report it) is <= b.
 * The kernel compares integers with these; so does the JavaScript aggregator.
 */
export function integerBounds(bounds: readonly number[], unit: number): number[] {
  return bounds.map((b) => {
    let n = Math.floor(b * unit);
    while (n / unit > b) n--;
    while ((n + 1) / unit <= b) n++;
    return n;
  });
}

/**
 * Histogram rows in one flat array: per row count, sum, min, max, then the bucket counts,
 * in integer units. A row whose count is 0 has no histogram (nothing recorded).
 */
export class HistogramRows {
  readonly stride: number;
  readonly thresholds: Float64Array;
  data: Float64Array;
  constructor(
    readonly name: string,
    readonly bounds: readonly number[],
    readonly unit: number,
    rows: number,
  ) {
    this.stride = 4 + bounds.length + 1;
    this.thresholds = Float64Array.from(integerBounds(bounds, unit));
    this.data = new Float64Array(rows * this.stride);
  }
  grow(rows: number): void {
    const d = new Float64Array(rows * this.stride);
    d.set(this.data);
    this.data = d;
  }
  /** One observation `v` (an integer of 1/unit second). */
  record(row: number, v: number): void {
    const d = this.data;
    const o = row * this.stride;
    const n = ++d[o]!;
    d[o + 1] += v;
    if (n === 1) {
      d[o + 2] = v;
      d[o + 3] = v;
    } else {
      if (v < d[o + 2]!) d[o + 2] = v;
      if (v > d[o + 3]!) d[o + 3] = v;
    }
    // Buckets are (bound[i-1], bound[i]], as OpenTelemetry's explicit buckets.
    const t = this.thresholds;
    const last = t.length;
    let i = 0;
    while (i < last && v > t[i]!) i++;
    d[o + 4 + i]++;
  }
  /** The first `rows` rows, as a table column (a copy: the rows are reused). */
  column(rows: number): HistogramColumn {
    return { name: this.name, bounds: this.bounds, unit: this.unit, stride: this.stride, data: this.data.slice(0, rows * this.stride) };
  }
  clear(rows: number): void {
    this.data.fill(0, 0, rows * this.stride);
  }
}

/** Every point of a table, as the aggregate has always reported them. */
export function tablePoints(t: SeriesTable): MetricPoint[] {
  const points: MetricPoint[] = [];
  const M = TCP_METRICS;
  const c = t.counters;
  for (let row = 0; row < t.rows; row++) {
    const o = row * COLUMNS;
    if (!rowHasPoints(t, row)) continue;
    const a = t.attributes(row);
    const base = `${t.signature}\u0000${t.key(row)}`;
    const sum = (name: string, attrs: Attributes, value: number, suffix = '') => {
      points.push({ type: 'sum', name, attributes: attrs, seriesKey: `${name}\u0000${base}${suffix}`, value } satisfies SumPoint);
    };
    if (c[o + COLUMN.opened]) sum(M.opened.name, a, c[o + COLUMN.opened]!);
    if (c[o + COLUMN.closed]) sum(M.closed.name, a, c[o + COLUMN.closed]!);
    if (c[o + COLUMN.active]) sum(M.active.name, a, c[o + COLUMN.active]!);
    const failed = t.failed(row);
    if (failed) for (const [reason, n] of failed) sum(M.failed.name, { ...a, [ATTR.errorType]: reason }, n, `\u0000${reason}`);
    if (c[o + COLUMN.transmit]) sum(M.io.name, { ...a, [ATTR.networkIoDirection]: 'transmit' }, c[o + COLUMN.transmit]!, '\u0000tx');
    if (c[o + COLUMN.receive]) sum(M.io.name, { ...a, [ATTR.networkIoDirection]: 'receive' }, c[o + COLUMN.receive]!, '\u0000rx');
    if (c[o + COLUMN.retransmits]) sum(M.retransmits.name, a, c[o + COLUMN.retransmits]!);
    if (c[o + COLUMN.resetsSent]) sum(M.resets.name, { ...a, [ATTR.resetDirection]: 'sent' }, c[o + COLUMN.resetsSent]!, '\u0000sent');
    if (c[o + COLUMN.resetsReceived]) sum(M.resets.name, { ...a, [ATTR.resetDirection]: 'received' }, c[o + COLUMN.resetsReceived]!, '\u0000received');
    if (c[o + COLUMN.segmentsOut]) sum(M.segments.name, { ...a, [ATTR.networkIoDirection]: 'transmit' }, c[o + COLUMN.segmentsOut]!, '\u0000tx');
    if (c[o + COLUMN.segmentsIn]) sum(M.segments.name, { ...a, [ATTR.networkIoDirection]: 'receive' }, c[o + COLUMN.segmentsIn]!, '\u0000rx');
    for (const h of t.hists) {
      const d = h.data;
      const ho = row * h.stride;
      if (d[ho] === 0) continue;
      const bucketCounts = new Array<number>(h.stride - 4);
      for (let i = 0; i < bucketCounts.length; i++) bucketCounts[i] = d[ho + 4 + i]!;
      points.push({
        type: 'histogram',
        name: h.name,
        attributes: a,
        seriesKey: `${h.name}\u0000${base}`,
        count: d[ho]!,
        sum: d[ho + 1]! / h.unit,
        min: d[ho + 2]! / h.unit,
        max: d[ho + 3]! / h.unit,
        bucketCounts,
        bounds: h.bounds,
      } satisfies HistogramPoint);
    }
  }
  return points;
}

function rowHasPoints(t: SeriesTable, row: number): boolean {
  const c = t.counters;
  const o = row * COLUMNS;
  for (let i = 0; i < COLUMNS; i++) if (c[o + i] !== 0) return true;
  if (t.failed(row)) return true;
  for (const h of t.hists) if (h.data[row * h.stride] !== 0) return true;
  return false;
}

/** How many points tablePoints() would make, without making them. */
export function tablePointCount(t: SeriesTable): number {
  let n = 0;
  const c = t.counters;
  for (let row = 0; row < t.rows; row++) {
    const o = row * COLUMNS;
    for (let i = 0; i < COLUMNS; i++) if (c[o + i] !== 0) n++;
    const failed = t.failed(row);
    if (failed) n += failed.size;
    for (const h of t.hists) if (h.data[row * h.stride] !== 0) n++;
  }
  return n;
}

/**
 * A metric batch over a table: `points` (the table's, then `extra`) are made when first
 * read, and `pointCount` counts them without making them. `points` is an own enumerable
 * property, so that `{ ...batch }` in a processor makes them as it copies.
 */
export function tableBatch(table: SeriesTable, startMs: number, endMs: number, extra: MetricPoint[]): MetricBatch {
  let points: MetricPoint[] | undefined;
  let count: number | undefined;
  const batch = { type: 'metrics', startTime: hrTimeFromMs(startMs), endTime: hrTimeFromMs(endMs), table, extra } as MetricBatch;
  Object.defineProperty(batch, 'points', {
    enumerable: true,
    configurable: true,
    get: () => (points ??= extra.length ? tablePoints(table).concat(extra) : tablePoints(table)),
    set: (v: MetricPoint[]) => {
      points = v;
      count = undefined;
    },
  });
  Object.defineProperty(batch, 'pointCount', {
    enumerable: false,
    get: () => (points ? points.length : (count ??= tablePointCount(table) + extra.length)),
  });
  return batch;
}

/** Socket counts by state, as system.network.connection.count gauges. */
export function stateCountPoints(counts: StateCounts | undefined): MetricPoint[] {
  const out: MetricPoint[] = [];
  if (!counts) return out;
  const name = TCP_METRICS.connectionCount.name;
  for (const [family, byState] of [['ipv4', counts.v4], ['ipv6', counts.v6]] as const) {
    for (const [state, n] of Object.entries(byState)) {
      const attrs = { [ATTR.networkConnectionState]: state, [ATTR.networkTransport]: 'tcp', [ATTR.networkType]: family };
      out.push({ type: 'gauge', name, attributes: attrs, seriesKey: seriesKey(name, attrs), value: n ?? 0 } satisfies GaugePoint);
    }
  }
  return out;
}
