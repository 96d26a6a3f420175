/**
 * Turns the aggregate's per-window deltas into OpenTelemetry ResourceMetrics, cumulative
 * (running totals since start, the default) or delta (what changed since the last export).
 * The number of series is capped (overflow folded into one otel.metric.overflow series,
 * counted), and cumulative series nobody updates expire.
 */
import { ValueType } from '@opentelemetry/api';
import { AggregationTemporality, DataPointType, type MetricData, type ResourceMetrics } from '@opentelemetry/sdk-metrics';
import { ATTR } from '../../semconv/attributes.js';
import type { Attributes, GaugePoint, HrTime, MetricBatch, MetricPoint, SumPoint } from '../../core/metrics.js';
import { seriesKey } from '../../core/metrics.js';
import { metricDefinition } from '../../semconv/metrics.js';
import { buildResource, instrumentationScope, selfScope } from './resource.js';

export type Temporality = 'cumulative' | 'delta';

/**
 * A series as collectSeries() gives it to an exporter that renders series itself: to be
 * read, except `cache`.
 */
export interface SeriesView {
  readonly name: string;
  readonly attributes: Attributes;
  readonly type: MetricPoint['type'];
  readonly value: number;
  readonly count: number;
  readonly sum: number;
  readonly bucketCounts?: readonly number[];
  readonly bounds?: readonly number[];
  /** One of tcpotel's own series (scope tcpotel/self). */
  readonly self: boolean;
  /** Changes whenever the series' values change. */
  readonly version: number;
  /** The reading exporter's own, kept as long as the series: e.g. its rendered text and the version it shows. */
  cache?: unknown;
}

/** The series of one metric, as collectSeries() groups them. */
export interface MetricSeries {
  name: string;
  self: boolean;
  series: SeriesView[];
}

interface SeriesState extends SeriesView {
  name: string;
  attributes: Attributes;
  type: MetricPoint['type'];
  startTime: HrTime;
  endTime: HrTime;
  lastUpdateMs: number;
  value: number;
  count: number;
  sum: number;
  min: number;
  max: number;
  bucketCounts?: number[];
  bounds?: readonly number[];
  self: boolean;
  version: number;
}

export interface AccumulatorOptions {
  temporality: Temporality;
  maxSeries: number;
  /** Cumulative series not updated for this long are forgotten (ms). 0: never. */
  expiryMs: number;
  onOverflow?: (n: number) => void;
}

const OVERFLOW_ATTRS: Attributes = { [ATTR.overflow]: true };

function hrToMs(t: HrTime): number {
  return t[0] * 1000 + t[1] / 1e6;
}

export class MetricsAccumulator {
  private series = new Map<string, SeriesState>();
  /** Key of each metric's overflow series (built once). */
  private readonly overflowKeys = new Map<string, string>();
  /** Last cumulative totals of self-telemetry, for delta temporality. */
  private lastSelf = new Map<string, number>();
  private readonly startTime: HrTime;
  private resourceAttrs: Attributes = {};
  private resourceChanges = 0;
  private dirty = false;
  /** For collectSeries(): the last answer, whether anything changed since, and when a series may expire next. */
  private lastSeries?: { resource: Attributes; resourceVersion: number; metrics: MetricSeries[] };
  private seriesChanged = true;
  private nextExpiryMs = Infinity;

  constructor(private readonly opts: AccumulatorOptions, startTime: HrTime) {
    this.startTime = startTime;
  }

  get size(): number {
    return this.series.size;
  }

  /** Something changed since the last collect(). */
  get hasUpdates(): boolean {
    return this.dirty;
  }

  private slot(p: MetricPoint, at: HrTime, self: boolean): SeriesState {
    let key = p.seriesKey;
    let s = this.series.get(key);
    if (s) return s;
    let attributes = p.attributes;
    // tcpotel's own series are few and must never be folded away: they are what says that
    // something was dropped.
    if (!self && this.series.size >= this.opts.maxSeries) {
      this.opts.onOverflow?.(1);
      attributes = OVERFLOW_ATTRS;
      key = this.overflowKeys.get(p.name) ?? seriesKey(p.name, attributes);
      this.overflowKeys.set(p.name, key);
      s = this.series.get(key);
      if (s) return s;
    }
    this.seriesChanged = true;
    s = {
      name: p.name,
      attributes,
      type: p.type,
      startTime: self ? this.startTime : at,
      endTime: at,
      lastUpdateMs: hrToMs(at),
      value: 0,
      count: 0,
      sum: 0,
      min: Infinity,
      max: -Infinity,
      self,
      version: 0,
    };
    if (p.type === 'histogram') {
      s.bucketCounts = new Array<number>(p.bucketCounts.length).fill(0);
      s.bounds = p.bounds;
    }
    this.series.set(key, s);
    return s;
  }

  /** Adds one window of deltas. */
  add(batch: MetricBatch): void {
    if (batch.resource) {
      for (const [k, v] of Object.entries(batch.resource)) {
        if (this.resourceAttrs[k] === v) continue;
        this.resourceAttrs = { ...this.resourceAttrs, ...batch.resource };
        this.resourceChanges++;
        this.seriesChanged = true;
        break;
      }
    }
    const at = batch.endTime;
    const now = hrToMs(at);
    for (const p of batch.points) {
      const s = this.slot(p, batch.startTime, false);
      s.endTime = at;
      s.lastUpdateMs = now;
      s.version++;
      this.dirty = true;
      this.seriesChanged = true;
      switch (p.type) {
        case 'sum':
          s.value += p.value;
          break;
        case 'gauge':
          s.value = p.value;
          break;
        case 'histogram':
          s.count += p.count;
          s.sum += p.sum;
          if (p.min < s.min) s.min = p.min;
          if (p.max > s.max) s.max = p.max;
          if (s.bucketCounts && s.bucketCounts.length === p.bucketCounts.length) {
            for (let i = 0; i < p.bucketCounts.length; i++) s.bucketCounts[i]! += p.bucketCounts[i]!;
          }
          break;
      }
    }
  }

  /** Sets tcpotel's own counters (cumulative totals) and gauges, as read now. */
  setSelf(points: Array<SumPoint | GaugePoint>, at: HrTime): void {
    for (const p of points) {
      const s = this.slot(p, at, true);
      s.endTime = at;
      s.lastUpdateMs = hrToMs(at);
      if (p.type === 'sum' && this.opts.temporality === 'delta') {
        const last = this.lastSelf.get(p.seriesKey) ?? 0;
        s.value += p.value - last;
        this.lastSelf.set(p.seriesKey, p.value);
        if (p.value !== last) {
          s.version++;
          this.seriesChanged = true;
        }
      } else if (s.value !== p.value) {
        s.value = p.value;
        s.version++;
        this.seriesChanged = true;
      }
    }
  }

  /**
   * The series to export now, by metric (tcp metrics first, then tcpotel's own), after
   * expiring cumulative series nobody updated for expiryMs. Delta temporality: the caller
   * resets what it exported (collect() does).
   */
  private group(now: HrTime): Map<string, { self: boolean; points: SeriesState[] }> {
    const delta = this.opts.temporality === 'delta';
    const byName = new Map<string, { self: boolean; points: SeriesState[] }>();
    const nowMs = hrToMs(now);
    const expires = !delta && this.opts.expiryMs > 0;
    let nextExpiry = Infinity;
    for (const [key, s] of this.series) {
      if (expires && !s.self) {
        if (nowMs - s.lastUpdateMs > this.opts.expiryMs) {
          // An up-down counter that is not back to zero still describes open connections.
          const def = metricDefinition(s.name);
          if (!(def?.instrument === 'updowncounter' && s.value !== 0)) {
            this.series.delete(key);
            this.seriesChanged = true;
            continue;
          }
        } else if (s.lastUpdateMs < nextExpiry) nextExpiry = s.lastUpdateMs;
      }
      let entry = byName.get(s.name);
      if (!entry) byName.set(s.name, (entry = { self: s.self, points: [] }));
      entry.points.push(s);
    }
    this.nextExpiryMs = nextExpiry + this.opts.expiryMs;
    return byName;
  }

  /**
   * The ResourceMetrics to export now. Delta temporality: what accumulated since the last
   * collect, then reset. Cumulative: everything, minus series that expired.
   */
  collect(now: HrTime, extraResource: Attributes = {}): ResourceMetrics {
    const delta = this.opts.temporality === 'delta';
    const byName = this.group(now);
    const tcpMetrics: MetricData[] = [];
    const selfMetrics: MetricData[] = [];
    for (const [name, { self, points }] of byName) {
      const data = this.metricData(name, points, delta);
      if (data) (self ? selfMetrics : tcpMetrics).push(data);
    }
    if (delta) {
      // Start afresh; up-down counters and gauges keep their meaning only as deltas.
      for (const [key, s] of this.series) {
        if (s.self && s.type === 'gauge') continue;
        this.series.delete(key);
      }
    }
    this.dirty = false;
    const scopeMetrics = [];
    if (tcpMetrics.length) scopeMetrics.push({ scope: instrumentationScope(), metrics: tcpMetrics });
    if (selfMetrics.length) scopeMetrics.push({ scope: selfScope(), metrics: selfMetrics });
    return { resource: buildResource({ ...this.resourceAttrs, ...extraResource }), scopeMetrics };
  }

  /**
   * For an exporter that renders series itself (cumulative temporality): the series
   * collect() would export now, grouped by metric in the same order, without building
   * data points. The series stay the accumulator's: read them before the next add().
   * `resourceVersion` changes when the resource attributes do. When nothing changed since
   * the last call (no update, no series due to expire), the same object as then.
   */
  collectSeries(now: HrTime): { resource: Attributes; resourceVersion: number; metrics: MetricSeries[] } {
    if (this.opts.temporality !== 'cumulative') throw new Error('collectSeries() is for cumulative temporality');
    if (this.lastSeries && !this.seriesChanged && hrToMs(now) - this.nextExpiryMs <= 0) return this.lastSeries;
    const tcp: MetricSeries[] = [];
    const self: MetricSeries[] = [];
    for (const [name, g] of this.group(now)) (g.self ? self : tcp).push({ name, self: g.self, series: g.points });
    this.dirty = false;
    this.seriesChanged = false;
    this.lastSeries = { resource: buildResource(this.resourceAttrs).attributes as Attributes, resourceVersion: this.resourceChanges, metrics: tcp.concat(self) };
    return this.lastSeries;
  }

  private metricData(name: string, points: SeriesState[], delta: boolean): MetricData | undefined {
    const def = metricDefinition(name);
    const descriptor = {
      name,
      description: def?.description ?? '',
      unit: def?.unit ?? '',
      valueType: points[0]!.type === 'histogram' ? ValueType.DOUBLE : ValueType.INT,
    };
    const temporality = delta ? AggregationTemporality.DELTA : AggregationTemporality.CUMULATIVE;
    const type = points[0]!.type;
    if (type === 'histogram') {
      return {
        descriptor,
        aggregationTemporality: temporality,
        dataPointType: DataPointType.HISTOGRAM,
        dataPoints: points.map((s) => ({
          startTime: s.startTime,
          endTime: s.endTime,
          attributes: s.attributes,
          value: {
            buckets: { boundaries: [...(s.bounds ?? [])], counts: [...(s.bucketCounts ?? [])] },
            count: s.count,
            sum: s.sum,
            min: s.count ? s.min : undefined,
            max: s.count ? s.max : undefined,
          },
        })),
      };
    }
    if (type === 'gauge') {
      return {
        descriptor,
        aggregationTemporality: temporality,
        dataPointType: DataPointType.GAUGE,
        dataPoints: points.map((s) => ({ startTime: s.startTime, endTime: s.endTime, attributes: s.attributes, value: s.value })),
      };
    }
    return {
      descriptor,
      aggregationTemporality: temporality,
      dataPointType: DataPointType.SUM,
      isMonotonic: def ? def.instrument === 'counter' : true,
      dataPoints: points.map((s) => ({ startTime: s.startTime, endTime: s.endTime, attributes: s.attributes, value: s.value })),
    };
  }
}
