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
import type { AttributeValue, EventBatch, TcpEvent } from '../../core/events.js';
import { errorType } from '../../core/events.js';
import { monotonicToWallMs } from '../../core/clock.js';
import type { Attributes, HrTime, MetricBatch, SeriesTable } from '../../core/metrics.js';
import { COLUMN, COLUMNS } from '../../core/metrics.js';
import { ATTR } from '../../semconv/attributes.js';
import { TCP_METRICS } from '../../semconv/metrics.js';

export type SortKey = 'bytes' | 'rate' | 'age' | 'loss';
export const SORT_KEYS: readonly SortKey[] = ['bytes', 'rate', 'age', 'loss'];

/** Counters summed over some span: since start, or one period. */
export interface Counts {
  opened: number;
  closed: number;
  failed: number;
  /** Bytes sent (and acknowledged). */
  tx: number;
  /** Bytes received. */
  rx: number;
  retransmits: number;
  resets: number;
}

export interface Totals extends Counts {
  /** Connections seen since start: the ones open now plus the ones closed (opened + existing). */
  connections: number;
  /** Open now. */
  active: number;
}

export interface Period extends Counts {
  /** Wall-clock ms of the first window's start and the last window's end. */
  startMs: number;
  endMs: number;
  /** Seconds the period's windows cover (the divisor of its rates). */
  seconds: number;
  /** Metric windows in the period. */
  windows: number;
}

/** Per-second rates of a period's counts. */
export type Rates = Counts;

export interface StateCount {
  state: string;
  count: number;
}

export type RowState = 'open' | 'closed' | 'failed' | '-';

/** One row of the top-connections table. */
export interface ConnectionRow {
  key: string;
  /** "10.0.0.1:443", "[::1]:8080"; undefined when the series is not keyed by addresses. */
  local?: string;
  peer?: string;
  pid?: number;
  comm?: string;
  /** Every key attribute, for series keyed otherwise (k=v, space separated). */
  label: string;
  overflow: boolean;
  state: RowState;
  /** Connections of the series open now. */
  open: number;
  /** Connections in the series (open now + closed). */
  connections: number;
  tx: number;
  rx: number;
  /** Bytes per second over the last period. */
  txRate: number;
  rxRate: number;
  retransmits: number;
  /** Segments sent, and the loss: retransmitted segments per segment sent (undefined without segments). */
  segmentsOut: number;
  loss: number | undefined;
  resets: number;
  failed: number;
  /** Open: since first seen; closed: its lifetime (from tcp.connection.duration when known). */
  ageMs: number;
}

export interface RecentEvent {
  kind: 'failed' | 'reset';
  timeMs: number;
  local: string;
  peer: string;
  /** "->" outbound, "<-" inbound. */
  arrow: string;
  /** failed: error.type (connection_refused, timed_out, ...); reset: "sent" or "received". */
  reason: string;
  pid: number;
  comm: string;
  /** Both endpoints, in a fixed order (the same from either end). */
  pair: string;
}

/** Sums over the rows that match the filter. */
export interface FilteredTotals {
  /** Series matching (table rows before the cut to top N). */
  series: number;
  connections: number;
  open: number;
  tx: number;
  rx: number;
  txRate: number;
  rxRate: number;
  retransmits: number;
  resets: number;
  failed: number;
}

export interface ViewSnapshot {
  /** A metric window has arrived (before that: starting up). */
  ready: boolean;
  /** Wall-clock ms of the newest window's end. */
  nowMs: number;
  totals: Totals;
  /** The last complete period, and its rates; undefined before the first completes. */
  period?: Period;
  rates?: Rates;
  states: StateCount[];
  sort: SortKey;
  filter: string;
  /** Set when a filter is given. */
  filtered?: FilteredTotals;
  rows: ConnectionRow[];
  recent: RecentEvent[];
}

export interface SnapshotOptions {
  sort?: SortKey;
  /** Case-insensitive substring of the row's text ("127.0.0.1:8080 127.0.0.1:41234 1234 curl"). */
  filter?: string;
  /** Rows to return. */
  limit?: number;
  /** Recent events to return (default: all kept). */
  recentLimit?: number;
}

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

interface Entry {
  key: string;
  attributes: Attributes;
  local?: string;
  peer?: string;
  pid?: number;
  comm?: string;
  /** The key attributes' names, sorted. */
  names: string[];
  /** The row label and the lower-cased text the filter searches: made when first asked for. */
  label: string | undefined;
  overflow: boolean;
  search: string | undefined;
  opened: number;
  closed: number;
  active: number;
  failed: number;
  tx: number;
  rx: number;
  retransmits: number;
  segmentsOut: number;
  resets: number;
  firstSeenMs: number;
  lastSeenMs: number;
  durationSum: number;
  durationCount: number;
  /** The series' hash, when it came from a table (SeriesTable.hash). */
  hash?: number;
  /** Bytes in period `curPeriod` (the one in progress when last touched), and in `prevPeriod`. */
  curPeriod: number;
  curTx: number;
  curRx: number;
  prevPeriod: number;
  prevTx: number;
  prevRx: number;
}

export function hrTimeToMs(t: HrTime): number {
  return t[0] * 1000 + t[1] / 1e6;
}

/** "10.0.0.1:443", "[fd00::1]:443". */
export function endpoint(address: AttributeValue | undefined, port: AttributeValue | undefined): string | undefined {
  if (address === undefined && port === undefined) return undefined;
  const a = address === undefined ? '*' : String(address);
  const p = port === undefined ? '*' : String(port);
  return a.includes(':') ? `[${a}]:${p}` : `${a}:${p}`;
}

function pairKey(ev: TcpEvent): string {
  const a = `${ev.localAddress}|${ev.localPort}`;
  const b = `${ev.remoteAddress}|${ev.remotePort}`;
  return a < b ? `${a}|${b}` : `${b}|${a}`;
}

function emptyCounts(): Counts {
  return { opened: 0, closed: 0, failed: 0, tx: 0, rx: 0, retransmits: 0, resets: 0 };
}

function emptyPeriod(): Period {
  return { ...emptyCounts(), startMs: NaN, endMs: NaN, seconds: 0, windows: 0 };
}

export function periodRates(p: Period): Rates {
  const s = p.seconds > 0 ? p.seconds : 1;
  return {
    opened: p.opened / s,
    closed: p.closed / s,
    failed: p.failed / s,
    tx: p.tx / s,
    rx: p.rx / s,
    retransmits: p.retransmits / s,
    resets: p.resets / s,
  };
}

function labelOf(e: Entry): string {
  return (e.label ??= e.overflow ? '(other series: over the aggregate series cap)' : e.names.map((n) => `${n}=${String(e.attributes[n])}`).join(' '));
}

function searchOf(e: Entry): string {
  return (e.search ??= [e.local ?? '', e.peer ?? '', e.pid ?? '', e.comm ?? '', ...e.names.map((n) => String(e.attributes[n]))].join(' ').toLowerCase());
}

function matches(search: string, filter: string): boolean {
  return filter === '' || search.includes(filter);
}

export class ViewModel {
  private readonly intervalMs: number;
  private readonly maxRecent: number;
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
  private recentEvents: RecentEvent[] = [];
  /** Number of the period in progress; the last complete one is periodId - 1. */
  private periodId = 0;
  private pending: Period = emptyPeriod();
  private last?: Period;
  private windows = 0;
  nowMs = 0;

  constructor(opts: ViewModelOptions) {
    this.intervalMs = opts.intervalMs;
    this.maxRecent = opts.maxRecent;
    this.maxSeries = opts.maxSeries ?? 10_000;
    this.keepRows = opts.rows ?? true;
    this.wallMs = opts.wallMs ?? monotonicToWallMs;
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

  /**
   * Takes connection events (a logs pipeline): keeps the failed connects and resets. The
   * resets that answer a failed connect (a refused SYN gets a RST back, and the kernel
   * reports it on both ends) are folded into its `failed` line.
   */
  addEvents(batch: EventBatch): void {
    if (this.maxRecent === 0) return;
    const failedPairs = new Set<string>();
    for (const ev of batch.events) if (ev.kind === 'failed') failedPairs.add(pairKey(ev));
    for (const r of this.recentEvents) {
      if (r.kind === 'failed') failedPairs.add(r.pair);
    }
    const fresh: RecentEvent[] = [];
    for (const ev of batch.events) {
      if (ev.kind !== 'failed' && ev.kind !== 'reset') continue;
      if (ev.kind === 'reset' && failedPairs.has(pairKey(ev))) continue;
      fresh.push(this.recentOf(ev));
    }
    if (!fresh.length) return;
    fresh.sort((a, b) => b.timeMs - a.timeMs);
    this.recentEvents = [...fresh, ...this.recentEvents].slice(0, this.maxRecent);
  }

  private recentOf(ev: TcpEvent): RecentEvent {
    const comm = ev.attributes?.[ATTR.processExecutableName];
    return {
      kind: ev.kind as 'failed' | 'reset',
      timeMs: this.wallMs(ev.timeNs),
      local: endpoint(ev.localAddress, ev.localPort)!,
      peer: endpoint(ev.remoteAddress, ev.remotePort)!,
      arrow: ev.direction === 'inbound' ? '<-' : '->',
      reason: ev.kind === 'failed' ? errorType(ev.errno) : (ev.reset ?? 'sent'),
      pid: ev.pid,
      comm: typeof comm === 'string' ? comm : ev.comm,
      pair: pairKey(ev),
    };
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
    const byKey = (a: ConnectionRow, b: ConnectionRow) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0);
    const bytes = (a: ConnectionRow, b: ConnectionRow) => b.tx + b.rx - (a.tx + a.rx);
    const cmp: Record<SortKey, (a: ConnectionRow, b: ConnectionRow) => number> = {
      bytes: (a, b) => bytes(a, b) || b.txRate + b.rxRate - (a.txRate + a.rxRate) || byKey(a, b),
      rate: (a, b) => b.txRate + b.rxRate - (a.txRate + a.rxRate) || bytes(a, b) || byKey(a, b),
      age: (a, b) => b.ageMs - a.ageMs || bytes(a, b) || byKey(a, b),
      loss: (a, b) => (b.loss ?? -1) - (a.loss ?? -1) || b.retransmits - a.retransmits || bytes(a, b) || byKey(a, b),
    };
    return rows.sort(cmp[sort]);
  }

  recent(filter = ''): RecentEvent[] {
    const f = filter.toLowerCase();
    if (!f) return this.recentEvents.slice();
    return this.recentEvents.filter((r) => matches(`${r.kind} ${r.local} ${r.peer} ${r.reason} ${r.pid || ''} ${r.comm}`.toLowerCase(), f));
  }

  snapshot(opts: SnapshotOptions = {}): ViewSnapshot {
    const sort = opts.sort ?? 'bytes';
    const filter = opts.filter ?? '';
    const all = this.rows(sort, filter);
    let filtered: FilteredTotals | undefined;
    if (filter) {
      filtered = { series: all.length, connections: 0, open: 0, tx: 0, rx: 0, txRate: 0, rxRate: 0, retransmits: 0, resets: 0, failed: 0 };
      for (const r of all) {
        filtered.connections += r.connections;
        filtered.open += r.open;
        filtered.tx += r.tx;
        filtered.rx += r.rx;
        filtered.txRate += r.txRate;
        filtered.rxRate += r.rxRate;
        filtered.retransmits += r.retransmits;
        filtered.resets += r.resets;
        filtered.failed += r.failed;
      }
    }
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
