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
  points: MetricPoint[];
  resource?: Attributes;
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
