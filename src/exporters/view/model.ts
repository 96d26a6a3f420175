/**
 * The view's model: pure TypeScript, no terminal. It takes the per-window delta metrics of
 * the aggregate processor (MetricBatch) and the failed/reset events of a logs pipeline
 * (EventBatch), and keeps:
 *
 * - totals since start: connections seen (open now + closed), active, opened, closed,
 *   failed, bytes sent and received, retransmits, resets;
 * - the last complete period (metric windows summed until they cover `intervalMs`):
 *   the same counts over that period, and per-second rates from them;
 * - socket counts by state (the latest `system.network.connection.count` gauges);
 * - one entry per metric series (with the default keys, one per connection and process)
 *   with its own totals, its rate over the last period and its age;
 * - the most recent failed connects and resets.
 *
 * `snapshot()` returns what a renderer draws: sorted, filtered, cut to the top N.
 */
import type { EventBatch } from '../../core/events.js';
import { monotonicToWallMs } from '../../core/clock.js';
import type { Attributes, MetricBatch, SeriesTable } from '../../core/metrics.js';
import { COLUMN, COLUMNS } from '../../core/metrics.js';
import { ATTR } from '../../semconv/attributes.js';
import { TCP_METRICS } from '../../semconv/metrics.js';
import { labelOf, matches, searchOf, type Entry } from './entry.js';
import { RecentEvents } from './recent.js';
import {
  emptyCounts,
  emptyPeriod,
  endpoint,
  filteredTotals,
  hrTimeToMs,
  periodRates,
  ROW_ORDER,
  type ConnectionRow,
  type Counts,
  type Period,
  type RecentEvent,
  type RowState,
  type SnapshotOptions,
  type SortKey,
  type StateCount,
  type Totals,
  type ViewSnapshot,
} from './snapshot.js';

export interface ViewModelOptions {
  /** Period length: metric windows are summed until they cover (90% of) this. */
  intervalMs: number;
  /** Recent failed/reset events kept. */
  maxRecent: number;
  /** Series kept for the table; the oldest closed ones go first (totals are unaffected). */
  maxSeries?: number;
  /**
   * Keep rows at all (false: summary lines, which show totals and rates only; a window
   * then costs a pass over its numbers, nothing per series).
   */
  rows?: boolean;
  /** CLOCK_MONOTONIC ns to wall-clock ms (tests pass a fixed one). */
  wallMs?: (ns: number) => number;
}

const M = TCP_METRICS;
/** Attributes a point has besides its series' key attributes. */
/** Sum metrics counted the same way in an entry, the totals and the period: by field. */
const COUNTED = new Map<string, 'opened' | 'closed' | 'failed' | 'retransmits' | 'resets'>([
  [TCP_METRICS.opened.name, 'opened'],
  [TCP_METRICS.closed.name, 'closed'],
  [TCP_METRICS.failed.name, 'failed'],
  [TCP_METRICS.retransmits.name, 'retransmits'],
  [TCP_METRICS.resets.name, 'resets'],
]);

const POINT_ONLY = new Set<string>([ATTR.networkIoDirection, ATTR.errorType, ATTR.resetDirection]);

export class ViewModel {
  private readonly intervalMs: number;
  private readonly maxSeries: number;
  private readonly keepRows: boolean;
  /** With a full table: a new series needs more bytes than this to take a row (see addTable). */
  private admitBytes = 0;
  /** Series hashes (SeriesTable.hash) of the entries, with how many entries have each. */
  private readonly hashes = new Map<number, number>();
  private readonly wallMs: (ns: number) => number;
  private readonly totalCounts: Counts = emptyCounts();
  private active = 0;
  private readonly entries = new Map<string, Entry>();
  /** Entries by the attributes object of the points that found them. */
  private byAttributes = new WeakMap<Attributes, Entry>();
  private states: StateCount[] = [];
  private readonly recentEvents: RecentEvents;
  /** Number of the period in progress; the last complete one is periodId - 1. */
  private periodId = 0;
  private pending: Period = emptyPeriod();
  private last?: Period;
  private windows = 0;
  nowMs = 0;

  constructor(opts: ViewModelOptions) {
    this.intervalMs = opts.intervalMs;
    this.maxSeries = opts.maxSeries ?? 10_000;
    this.keepRows = opts.rows ?? true;
    this.wallMs = opts.wallMs ?? monotonicToWallMs;
    this.recentEvents = new RecentEvents(opts.maxRecent, this.wallMs);
  }

  get ready(): boolean {
    return this.windows > 0;
  }

  /** Series kept for the table. */
  get seriesCount(): number {
    return this.entries.size;
  }

  private entry(attrs: Attributes, startMs: number): Entry {
    // A series' points mostly share one attributes object: found by identity, no key built.
    const known = this.byAttributes.get(attrs);
    if (known !== undefined && this.entries.get(known.key) === known) return known;
    const e = this.entryByKey(attrs, startMs);
    this.byAttributes.set(attrs, e);
    return e;
  }

  private entryByKey(attrs: Attributes, startMs: number): Entry {
    const names = Object.keys(attrs)
      .filter((k) => !POINT_ONLY.has(k))
      .sort();
    let key = '';
    for (const n of names) key += `${n}=${String(attrs[n])}\u0001`;
    let e = this.entries.get(key);
    if (e) return e;
    const attributes: Attributes = {};
    for (const n of names) attributes[n] = attrs[n]!;
    const local = endpoint(attributes[ATTR.networkLocalAddress], attributes[ATTR.networkLocalPort]);
    const peer = endpoint(attributes[ATTR.networkPeerAddress], attributes[ATTR.networkPeerPort]);
    const pidValue = attributes[ATTR.processPid];
    const pid = typeof pidValue === 'number' ? pidValue : pidValue !== undefined ? Number(pidValue) || undefined : undefined;
    const commValue = attributes[ATTR.processExecutableName];
    const comm = commValue === undefined ? undefined : String(commValue);
    const overflow = attributes[ATTR.overflow] === true;
    e = {
      key,
      attributes,
      local,
      peer,
      pid,
      comm,
      names,
      label: undefined,
      overflow,
      search: undefined,
      opened: 0,
      closed: 0,
      active: 0,
      failed: 0,
      tx: 0,
      rx: 0,
      retransmits: 0,
      segmentsOut: 0,
      resets: 0,
      firstSeenMs: startMs,
      lastSeenMs: startMs,
      durationSum: 0,
      durationCount: 0,
      curPeriod: -1,
      curTx: 0,
      curRx: 0,
      prevPeriod: -1,
      prevTx: 0,
      prevRx: 0,
    };
    this.entries.set(key, e);
    return e;
  }

  /** Moves the entry's period counters forward to the period in progress. */
  private roll(e: Entry): void {
    if (e.curPeriod === this.periodId) return;
    e.prevPeriod = e.curPeriod;
    e.prevTx = e.curTx;
    e.prevRx = e.curRx;
    e.curPeriod = this.periodId;
    e.curTx = 0;
    e.curRx = 0;
  }

  /** Bytes of the entry in the last complete period. */
  private lastBytes(e: Entry): { tx: number; rx: number } {
    const p = this.periodId - 1;
    if (e.curPeriod === p) return { tx: e.curTx, rx: e.curRx };
    if (e.prevPeriod === p) return { tx: e.prevTx, rx: e.prevRx };
    return { tx: 0, rx: 0 };
  }

  /**
   * Takes one window of delta points. Returns true when it completed a period (the
   * moment a renderer in summary mode prints a line).
   */
  addMetrics(batch: MetricBatch): boolean {
    const startMs = hrTimeToMs(batch.startTime);
    const endMs = hrTimeToMs(batch.endTime);
    this.nowMs = Math.max(this.nowMs, endMs);
    this.windows++;
    const pending = this.pending;
    if (Number.isNaN(pending.startMs)) pending.startMs = startMs;
    pending.endMs = endMs;
    pending.seconds += Math.max(0, endMs - startMs) / 1000;
    pending.windows++;
    const totals = this.totalCounts;
    let states: Map<string, number> | undefined;
    if (batch.table) this.addTable(batch.table, startMs, endMs);
    for (const p of batch.table ? (batch.extra ?? []) : batch.points) {
      if (p.name === M.connectionCount.name) {
        if (p.type !== 'gauge') continue;
        states ??= new Map();
        const state = String(p.attributes[ATTR.networkConnectionState] ?? 'unknown');
        states.set(state, (states.get(state) ?? 0) + p.value);
        continue;
      }
      if (p.type === 'histogram') {
        if (p.name === M.duration.name) {
          const e = this.entry(p.attributes, startMs);
          e.durationSum += p.sum;
          e.durationCount += p.count;
          e.lastSeenMs = endMs;
        }
        continue;
      }
      if (p.type !== 'sum') continue;
      const v = p.value;
      let e: Entry;
      const counted = COUNTED.get(p.name);
      if (counted !== undefined) {
        // A counter kept per entry, in the totals and in the period in progress.
        e = this.entry(p.attributes, startMs);
        e[counted] += v;
        totals[counted] += v;
        pending[counted] += v;
      } else if (p.name === M.active.name) {
        e = this.entry(p.attributes, startMs);
        e.active += v;
        this.active += v;
      } else if (p.name === M.segments.name) {
        if (p.attributes[ATTR.networkIoDirection] !== 'transmit') continue;
        e = this.entry(p.attributes, startMs);
        e.segmentsOut += v;
      } else if (p.name === M.io.name) {
        e = this.entry(p.attributes, startMs);
        this.roll(e);
        if (p.attributes[ATTR.networkIoDirection] === 'receive') {
          e.rx += v;
          e.curRx += v;
          totals.rx += v;
          pending.rx += v;
        } else {
          e.tx += v;
          e.curTx += v;
          totals.tx += v;
          pending.tx += v;
        }
      } else {
        continue;
      }
      e.lastSeenMs = endMs;
    }
    if (states) {
      this.states = [...states].map(([state, count]) => ({ state, count })).sort((a, b) => b.count - a.count || a.state.localeCompare(b.state));
    }
    if (this.entries.size > this.maxSeries + Math.ceil(this.maxSeries / 10)) this.prune();
    if (pending.seconds * 1000 >= this.intervalMs * 0.9) {
      this.completePeriod();
      return true;
    }
    return false;
  }

  /**
   * A window as a table (from the aggregate): totals and the period from its columns, no
   * point built. Rows for the table only when kept (the live view), and then a bounded
   * top-N: once the table holds maxSeries series, a new one takes a row only if it is open
   * or moved more bytes in the window than the least of the closed rows kept at the last
   * prune; the rest count in the totals and nowhere else.
   */
  private addTable(t: SeriesTable, startMs: number, endMs: number): void {
    const c = t.counters;
    const totals = this.totalCounts;
    const pending = this.pending;
    for (let row = 0; row < t.rows; row++) {
      const o = row * COLUMNS;
      const opened = c[o + COLUMN.opened]!;
      const closed = c[o + COLUMN.closed]!;
      const active = c[o + COLUMN.active]!;
      const tx = c[o + COLUMN.transmit]!;
      const rx = c[o + COLUMN.receive]!;
      const retransmits = c[o + COLUMN.retransmits]!;
      const resets = c[o + COLUMN.resetsSent]! + c[o + COLUMN.resetsReceived]!;
      let failed = 0;
      const f = t.failed(row);
      if (f) for (const n of f.values()) failed += n;
      totals.opened += opened;
      totals.closed += closed;
      totals.failed += failed;
      totals.tx += tx;
      totals.rx += rx;
      totals.retransmits += retransmits;
      totals.resets += resets;
      pending.opened += opened;
      pending.closed += closed;
      pending.failed += failed;
      pending.tx += tx;
      pending.rx += rx;
      pending.retransmits += retransmits;
      pending.resets += resets;
      this.active += active;
      if (!this.keepRows) continue;
      if (this.entries.size >= this.maxSeries && active <= 0 && tx + rx <= this.admitBytes && row !== t.overflowRow && !this.hashes.has(t.hash(row))) continue;
      const e = this.entry(t.attributes(row), startMs);
      if (e.hash === undefined) {
        e.hash = t.hash(row);
        this.hashes.set(e.hash, (this.hashes.get(e.hash) ?? 0) + 1);
      }
      e.opened += opened;
      e.closed += closed;
      e.failed += failed;
      e.retransmits += retransmits;
      e.segmentsOut += c[o + COLUMN.segmentsOut]!;
      e.resets += resets;
      e.active += active;
      this.roll(e);
      e.tx += tx;
      e.rx += rx;
      e.curTx += tx;
      e.curRx += rx;
      const d = t.hists[2];
      if (d && d.data[row * d.stride]) {
        e.durationSum += d.data[row * d.stride + 1]! / d.unit;
        e.durationCount += d.data[row * d.stride]!;
      }
      e.lastSeenMs = endMs;
    }
  }

  /** Ends the period in progress now (the final, partial one at shutdown). Returns false when it is empty. */
  completePeriod(): boolean {
    if (this.pending.windows === 0) return false;
    this.last = this.pending;
    this.pending = emptyPeriod();
    this.periodId++;
    return true;
  }

  /**
   * Drops closed series down to maxSeries: least recently updated first, then the smallest.
   * Remembers the least bytes of a closed row kept: what a new series must beat to get in.
   */
  private prune(): void {
    const idle = [...this.entries.values()].filter((e) => e.active <= 0).sort((a, b) => a.lastSeenMs - b.lastSeenMs || a.tx + a.rx - (b.tx + b.rx));
    let excess = this.entries.size - this.maxSeries;
    for (const e of idle) {
      if (excess-- <= 0) break;
      this.entries.delete(e.key);
      if (e.hash !== undefined) {
        const n = this.hashes.get(e.hash)! - 1;
        if (n > 0) this.hashes.set(e.hash, n);
        else this.hashes.delete(e.hash);
      }
    }
    let least = Infinity;
    for (const e of this.entries.values()) if (e.active <= 0 && e.tx + e.rx < least) least = e.tx + e.rx;
    this.admitBytes = Number.isFinite(least) ? least : 0;
  }

  totals(): Totals {
    const t = this.totalCounts;
    const active = Math.max(0, this.active);
    return { ...t, active, connections: Math.max(t.opened, active + t.closed) };
  }

  /** The last complete period. */
  lastPeriod(): Period | undefined {
    return this.last;
  }

  private rowOf(e: Entry): ConnectionRow {
    const seconds = this.last?.seconds || 1;
    const b = this.lastBytes(e);
    const active = Math.max(0, e.active);
    const state: RowState = active > 0 ? 'open' : e.closed > 0 ? 'closed' : e.failed > 0 ? 'failed' : '-';
    let ageMs: number;
    if (state === 'open' || state === '-') ageMs = this.nowMs - e.firstSeenMs;
    else if (e.durationCount > 0) ageMs = (e.durationSum / e.durationCount) * 1000;
    else ageMs = e.lastSeenMs - e.firstSeenMs;
    return {
      key: e.key,
      local: e.local,
      peer: e.peer,
      pid: e.pid,
      comm: e.comm,
      label: labelOf(e),
      overflow: e.overflow,
      state,
      open: active,
      connections: Math.max(e.opened, active + e.closed),
      tx: e.tx,
      rx: e.rx,
      txRate: b.tx / seconds,
      rxRate: b.rx / seconds,
      retransmits: e.retransmits,
      segmentsOut: e.segmentsOut,
      loss: e.segmentsOut > 0 ? e.retransmits / e.segmentsOut : undefined,
      resets: e.resets,
      failed: e.failed,
      ageMs: Math.max(0, ageMs),
    };
  }

  /** Rows matching `filter`, sorted, all of them. */
  rows(sort: SortKey = 'bytes', filter = ''): ConnectionRow[] {
    const f = filter.toLowerCase();
    const rows: ConnectionRow[] = [];
    for (const e of this.entries.values()) if (f === '' || matches(searchOf(e), f)) rows.push(this.rowOf(e));
    return rows.sort(ROW_ORDER[sort]);
  }

  /**
   * Takes connection events (a logs pipeline): keeps the failed connects and resets (see
   * RecentEvents).
   */
  addEvents(batch: EventBatch): void {
    this.recentEvents.add(batch);
  }

  recent(filter = ''): RecentEvent[] {
    return this.recentEvents.matching(filter);
  }

  snapshot(opts: SnapshotOptions = {}): ViewSnapshot {
    const sort = opts.sort ?? 'bytes';
    const filter = opts.filter ?? '';
    const all = this.rows(sort, filter);
    const filtered = filter ? filteredTotals(all) : undefined;
    const recent = this.recent(filter);
    return {
      ready: this.ready,
      nowMs: this.nowMs,
      totals: this.totals(),
      period: this.last,
      rates: this.last ? periodRates(this.last) : undefined,
      states: this.states.slice(),
      sort,
      filter,
      filtered,
      rows: all.slice(0, opts.limit ?? all.length),
      recent: opts.recentLimit === undefined ? recent : recent.slice(0, opts.recentLimit),
    };
  }
}
