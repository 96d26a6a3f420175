/**
 * The Prometheus exposition, written into Buffers instead of rebuilt as strings at every
 * scrape. Each series keeps its label text, escaped once; each metric keeps the rendered
 * lines of all its series in one Buffer (an arena), and a render copies the lines of the
 * series that did not change since the last one (in long runs) and writes only the others.
 * A metric none of whose series changed keeps its arena as it is: an unchanged re-scrape
 * writes nothing at all.
 *
 * A render yields an Exposition: a list of Buffers shared by every response that writes it
 * (never copied per client). An arena is not written to while an exposition holding it is
 * in use; a later render writes into arenas no exposition holds any more (an arena pool),
 * and gives a metric's old arena back as soon as its new one is written, so that a render
 * needs about one exposition's memory plus its largest metric, not two expositions.
 *
 * Names, label names and escaping are those of src/semconv/prometheus.ts; the samples are
 * those @opentelemetry/exporter-prometheus's serializer wrote from the same series, under
 * those names (tested sample by sample). The sample lines are the same in both formats,
 * the text format (0.0.4) and OpenMetrics text (1.0.0); only the lines that describe each
 * metric differ (OpenMetrics names the family without `_total` and has `# UNIT` lines,
 * `target_info` is of type info, and `# EOF` ends it).
 */
import { metricDefinition, type Instrument } from '../../semconv/metrics.js';
import {
  escapeLabelValue,
  escapeOpenMetricsHelp,
  escapeText,
  prometheusLabelName,
  prometheusMetricNames,
  type PrometheusMetricNames,
} from '../../semconv/prometheus.js';
import type { Attributes } from '../../core/metrics.js';
import type { MetricSeries, SeriesView } from '../shared/accumulator.js';
import { ArenaPool, CLOSE, ensure, Exposition, MAX_VALUE, NEWLINE, put, putValue, SPACE, type Arena, type ExpositionFormat } from './exposition.js';

/** What a series' cache slot holds (SeriesView.cache): where its lines are, not a copy of them. */
interface SeriesCache {
  /** The series version its lines in `arena` show. */
  version: number;
  arena: Arena | undefined;
  /** Its lines: arena.buf[start, end). */
  start: number;
  end: number;
  /** Its escaped label text `k="v",...` (the scope's labels last), in its first line. */
  labelStart: number;
  labelEnd: number;
  /** The label text of a series not written yet (new, or its arena is gone). */
  pending: string | undefined;
  pendingBytes: number;
}

interface MetricState {
  names: PrometheusMetricNames;
  /** HELP and TYPE lines (and UNIT in OpenMetrics) per format. */
  head: Record<ExpositionFormat, Buffer>;
  /** `name{`, `name_count{`, `name_sum{`, `name_bucket{` (histograms); `name `... for no labels at all. */
  open: Buffer;
  openCount: Buffer;
  openSum: Buffer;
  openBucket: Buffer;
  bare: Buffer;
  bareCount: Buffer;
  bareSum: Buffer;
  bareBucket: Buffer;
  /** The most bytes a line takes besides its labels. */
  lineBytes: number;
  /** `otel_scope_name="...",otel_scope_version="..."`, appended to every series' labels. */
  scopeLabels: string;
  arena?: Arena;
  /** The series `arena` holds, in order. */
  members: SeriesView[];
  lastSeen: number;
}

/** Writes Prometheus text of metric series into reused Buffers. */
export class ExpositionWriter {
  private readonly metrics = new Map<string, MetricState>();
  private readonly labelNames = new Map<string, string>();
  /** `,le="b"} ` and `le="b"} ` per bucket, per bounds array. */
  private readonly leTexts = new WeakMap<readonly number[], { buckets: number; withLabels: Buffer[]; bare: Buffer[] }>();
  private target?: { version: number; text: Record<ExpositionFormat, Buffer> };
  private renders = 0;
  private generation = 0;
  private last?: Exposition;
  private lastInput?: object;
  private readonly pool = new ArenaPool();

  constructor(
    private readonly namespace: string,
    private readonly scopes: { tcp: { name: string; version?: string }; self: { name: string; version?: string } },
  ) {}

  /**
   * Renders the series, writing only what changed since the last render; yields (returns
   * control to the caller, who resumes it later) after every `sliceSeries` series it had
   * to write, so that a large render can be spread over turns of the event loop. The
   * series must not change until it is done. The Exposition it returns is held by the
   * writer until a later render replaces it: hold() it to keep it longer.
   */
  *render(
    input: { resource: Attributes; resourceVersion: number; metrics: MetricSeries[] },
    sliceSeries = Infinity,
  ): Generator<void, Exposition, void> {
    // The accumulator gives the same object when nothing changed: nothing to look at.
    if (input === this.lastInput && this.last) return this.last;
    this.lastInput = undefined;
    const renderNo = ++this.renders;
    let changed = false;
    /** From the first change on, the last exposition is not the writer's to give any more. */
    const letGoOfLast = () => {
      changed = true;
      const last = this.last;
      this.last = undefined;
      last?.release();
    };
    if (!this.target || this.target.version !== input.resourceVersion) {
      this.target = { version: input.resourceVersion, text: targetInfo(input.resource, this.labelName) };
      letGoOfLast();
    }
    const parts: Array<{ head: Record<ExpositionFormat, Buffer>; arena: Arena }> = [];
    let points = 0;
    let budget = sliceSeries;
    for (const m of input.metrics) {
      const list = m.series;
      if (list.length === 0) continue;
      const state = this.metricState(m);
      if (!state) continue;
      state.lastSeen = renderNo;
      points += list.length;
      const old = state.arena;
      // First pass: is anything different, and how many bytes can the lines take? Label
      // text is made here for series seen for the first time.
      let same = old !== undefined && state.members.length === list.length;
      let size = 0;
      for (let i = 0; i < list.length; i++) {
        const s = list[i]!;
        let c = s.cache as SeriesCache | undefined;
        if (!c) s.cache = c = { version: -1, arena: undefined, start: 0, end: 0, labelStart: 0, labelEnd: 0, pending: undefined, pendingBytes: 0 };
        const inOld = old !== undefined && c.arena === old;
        if (inOld && c.version === s.version) {
          size += c.end - c.start;
          if (same && state.members[i] !== s) same = false;
          continue;
        }
        same = false;
        if (!inOld && c.pending === undefined) {
          c.pending = this.labelText(s, state.scopeLabels);
          c.pendingBytes = Buffer.byteLength(c.pending);
          if (--budget <= 0) {
            budget = sliceSeries;
            yield;
          }
        }
        const labels = c.pending !== undefined ? c.pendingBytes : c.labelEnd - c.labelStart;
        size += lineCount(s) * (state.lineBytes + labels);
      }
      if (!same) {
        letGoOfLast();
        const out = this.pool.take(size);
        // Lines of unchanged series are copied from the old arena in runs (consecutive
        // series are consecutive there too); the others are written.
        let runFrom = 0;
        let runTo = 0;
        let runAt = 0;
        for (let i = 0; i < list.length; i++) {
          const s = list[i]!;
          const c = s.cache as SeriesCache;
          if (old !== undefined && c.arena === old && c.version === s.version) {
            if (c.start !== runTo || runTo === runFrom) {
              if (runTo > runFrom) old!.buf.copy(out.buf, runAt, runFrom, runTo);
              runFrom = c.start;
              runAt = out.len;
            }
            runTo = c.end;
            const shift = out.len - c.start;
            c.start += shift;
            c.end += shift;
            c.labelStart += shift;
            c.labelEnd += shift;
            out.len = c.end;
            c.arena = out;
            continue;
          }
          if (runTo > runFrom) old!.buf.copy(out.buf, runAt, runFrom, runTo);
          runFrom = runTo = 0;
          c.start = out.len;
          this.writeSeries(out, state, s, c, old);
          c.end = out.len;
          c.version = s.version;
          c.arena = out;
          if (--budget <= 0) {
            budget = sliceSeries;
            yield;
          }
        }
        if (runTo > runFrom) old!.buf.copy(out.buf, runAt, runFrom, runTo);
        state.arena = out;
        state.members = list.slice();
        // Written into again (by this render too) once no exposition holds it.
        if (old) this.pool.retire(old);
      }
      parts.push({ head: state.head, arena: state.arena! });
    }
    for (const [name, state] of this.metrics) {
      if (state.lastSeen === renderNo) continue;
      letGoOfLast();
      this.metrics.delete(name);
      if (state.arena) this.pool.retire(state.arena);
    }
    this.lastInput = input;
    if (this.last && !changed) return this.last;
    this.last?.release();
    const exposition = new Exposition(++this.generation, points, this.target.text, parts, this.pool);
    this.last = exposition;
    // Free arenas kept for the next render: about what its largest metric takes.
    let largest = 0;
    for (const p of parts) largest = Math.max(largest, p.arena.buf.length);
    this.pool.trim(1.5 * largest + (1 << 20));
    return exposition;
  }

  /** Renders everything in one go (no slices). */
  renderNow(input: { resource: Attributes; resourceVersion: number; metrics: MetricSeries[] }): Exposition {
    const it = this.render(input);
    for (;;) {
      const r = it.next();
      if (r.done) return r.value;
    }
  }

  private readonly labelName = (key: string): string => {
    let n = this.labelNames.get(key);
    if (n === undefined) {
      n = prometheusLabelName(key);
      this.labelNames.set(key, n);
    }
    return n;
  };

  private labelText(s: SeriesView, scopeLabels: string): string {
    let text = '';
    let names: string[] | undefined;
    for (const key in s.attributes) {
      const name = this.labelName(key);
      if (names?.includes(name)) return this.mergedLabelText(s.attributes, scopeLabels);
      (names ??= []).push(name);
      text += `${name}="${escapeLabelValue(s.attributes[key])}",`;
    }
    return text + scopeLabels;
  }

  /** Attributes whose label names collide: one label, their values joined by `;` in the order of their keys. */
  private mergedLabelText(attributes: Attributes, scopeLabels: string): string {
    const values = new Map<string, string[]>();
    for (const key of Object.keys(attributes).sort()) {
      const name = this.labelName(key);
      const v = attributes[key];
      const text = typeof v === 'string' ? v : JSON.stringify(v);
      values.set(name, [...(values.get(name) ?? []), text]);
    }
    let text = '';
    for (const [name, vs] of values) text += `${name}="${escapeLabelValue(vs.join(';'))}",`;
    return text + scopeLabels;
  }

  private metricState(m: MetricSeries): MetricState | undefined {
    let state = this.metrics.get(m.name);
    if (state) return state;
    const def = metricDefinition(m.name);
    const first = m.series[0]!;
    const instrument: Instrument = def?.instrument ?? (first.type === 'sum' ? 'counter' : first.type);
    const names = prometheusMetricNames({ name: m.name, unit: def?.unit ?? '', instrument }, this.namespace);
    if (!names) return undefined;
    const description = def?.description || 'description missing';
    const text = `# HELP ${names.name} ${escapeText(description)}\n# TYPE ${names.name} ${names.type}\n`;
    const unitLine = names.unit ? `# UNIT ${names.family} ${names.unit}\n` : '';
    const openMetrics = `# HELP ${names.family} ${escapeOpenMetricsHelp(description)}\n# TYPE ${names.family} ${names.type}\n${unitLine}`;
    const scope = m.self ? this.scopes.self : this.scopes.tcp;
    let scopeLabels = `otel_scope_name="${escapeLabelValue(scope.name)}"`;
    if (scope.version) scopeLabels += `,otel_scope_version="${escapeLabelValue(scope.version)}"`;
    const n = names.name;
    state = {
      names,
      head: { text: Buffer.from(text), openmetrics: Buffer.from(openMetrics) },
      open: Buffer.from(`${n}{`),
      openCount: Buffer.from(`${n}_count{`),
      openSum: Buffer.from(`${n}_sum{`),
      openBucket: Buffer.from(`${n}_bucket{`),
      bare: Buffer.from(`${n} `),
      bareCount: Buffer.from(`${n}_count `),
      bareSum: Buffer.from(`${n}_sum `),
      bareBucket: Buffer.from(`${n}_bucket{`),
      // The longest prefix, the longest `,le="..."} `, the value and the newline.
      lineBytes: n.length + 8 + 32 + MAX_VALUE + 1,
      scopeLabels,
      members: [],
      lastSeen: 0,
    };
    this.metrics.set(m.name, state);
    return state;
  }

  /** Bytes of replaced arenas still held by expositions in use (slow responses), and arenas allocated so far. */
  memory(): { heldBytes: number; allocations: number } {
    return { heldBytes: this.pool.heldBytes, allocations: this.pool.allocations };
  }

  /**
   * Writes the lines of a series that changed (its label text from the old arena, or made
   * in the first pass); `out` has room for them. Later lines of a series copy the label
   * text (or the whole head) of its first line.
   */
  private writeSeries(out: Arena, state: MetricState, s: SeriesView, c: SeriesCache, old: Arena | undefined): void {
    const histogram = s.type === 'histogram';
    // The first pass made room; this only guards against a wrong guess.
    ensure(out, out.len + lineCount(s) * (state.lineBytes + (c.pending !== undefined ? c.pendingBytes : c.labelEnd - c.labelStart)));
    const buf = out.buf;
    const headStart = out.len;
    put(out, histogram ? state.openCount : state.open);
    const labelStart = out.len;
    if (c.pending !== undefined) {
      out.len += buf.write(c.pending, out.len, 'utf8');
      c.pending = undefined;
    } else {
      old!.buf.copy(buf, out.len, c.labelStart, c.labelEnd);
      out.len += c.labelEnd - c.labelStart;
    }
    c.labelStart = labelStart;
    c.labelEnd = out.len;
    const bare = c.labelEnd === labelStart;
    if (bare) {
      // No label at all: `name value`.
      out.len = headStart;
      put(out, histogram ? state.bareCount : state.bare);
    } else {
      buf[out.len++] = CLOSE;
      buf[out.len++] = SPACE;
    }
    if (!histogram) {
      putValue(out, s.value);
      buf[out.len++] = NEWLINE;
      return;
    }
    putValue(out, s.count);
    buf[out.len++] = NEWLINE;
    if (bare) put(out, state.bareSum);
    else {
      put(out, state.openSum);
      buf.copyWithin(out.len, c.labelStart, c.labelEnd);
      out.len += c.labelEnd - c.labelStart;
      buf[out.len++] = CLOSE;
      buf[out.len++] = SPACE;
    }
    putValue(out, s.sum);
    buf[out.len++] = NEWLINE;
    const counts = s.bucketCounts ?? [];
    const le = this.leFor(s.bounds ?? [], counts.length);
    const les = bare ? le.bare : le.withLabels;
    // `name_bucket{labels` once; every bucket line after the first copies it.
    const bucketHead = out.len;
    if (bare) put(out, state.bareBucket);
    else {
      put(out, state.openBucket);
      buf.copyWithin(out.len, c.labelStart, c.labelEnd);
      out.len += c.labelEnd - c.labelStart;
    }
    const bucketHeadEnd = out.len;
    let cumulative = 0;
    for (let i = 0; i < les.length; i++) {
      if (i > 0) {
        buf.copyWithin(out.len, bucketHead, bucketHeadEnd);
        out.len += bucketHeadEnd - bucketHead;
      }
      cumulative += counts[i]!;
      put(out, les[i]!);
      putValue(out, cumulative);
      buf[out.len++] = NEWLINE;
    }
  }

  /** The `le` label texts of a histogram's buckets (the serializer's rules: +Inf last, once). */
  private leFor(bounds: readonly number[], buckets: number): { withLabels: Buffer[]; bare: Buffer[] } {
    let t = this.leTexts.get(bounds);
    if (!t || t.buckets !== buckets) {
      t = { buckets, withLabels: [], bare: [] };
      let infinite = false;
      for (let i = 0; i < buckets; i++) {
        const b = bounds[i];
        if (b === undefined && infinite) break;
        if (b === Infinity) infinite = true;
        const text = b === undefined || b === Infinity ? '+Inf' : String(b);
        t.withLabels.push(Buffer.from(`,le="${text}"} `));
        t.bare.push(Buffer.from(`le="${text}"} `));
      }
      this.leTexts.set(bounds, t);
    }
    return t;
  }
}

/** `target_info`: the resource's attributes as labels; a gauge in the text format, an info metric in OpenMetrics. */
function targetInfo(resource: Attributes, labelName: (k: string) => string): Record<ExpositionFormat, Buffer> {
  let labels = '';
  const seen = new Set<string>();
  for (const key in resource) {
    const name = labelName(key);
    if (seen.has(name)) continue; // (resource keys that collide: the first one)
    seen.add(name);
    labels += `${labels ? ',' : ''}${name}="${escapeLabelValue(resource[key])}"`;
  }
  const sample = labels ? `target_info{${labels}} 1\n` : 'target_info 1\n';
  return {
    text: Buffer.from(`# HELP target_info Target metadata\n# TYPE target_info gauge\n${sample}`),
    openmetrics: Buffer.from(`# HELP target Target metadata\n# TYPE target info\n${sample}`),
  };
}

/** Lines a series takes: one, or count, sum and one per bucket. */
function lineCount(s: SeriesView): number {
  return s.type === 'histogram' ? 2 + (s.bucketCounts?.length ?? 0) + 1 : 1;
}
