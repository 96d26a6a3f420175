/**
 * What the view's model gives its renderers: the snapshot (totals, the last period and its
 * rates, socket states, the rows of the top-connections table, the recent failures) and the
 * arithmetic on it (rates, row order, totals of the rows a filter kept).
 */
import type { AttributeValue } from '../../core/events.js';
import type { HrTime } from '../../core/metrics.js';

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

export function emptyCounts(): Counts {
  return { opened: 0, closed: 0, failed: 0, tx: 0, rx: 0, retransmits: 0, resets: 0 };
}

export function emptyPeriod(): Period {
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

const byKey = (a: ConnectionRow, b: ConnectionRow) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0);
const bytes = (a: ConnectionRow, b: ConnectionRow) => b.tx + b.rx - (a.tx + a.rx);

/** How rows are ordered by each sort key (ties: bytes, then the series key). */
export const ROW_ORDER: Record<SortKey, (a: ConnectionRow, b: ConnectionRow) => number> = {
  bytes: (a, b) => bytes(a, b) || b.txRate + b.rxRate - (a.txRate + a.rxRate) || byKey(a, b),
  rate: (a, b) => b.txRate + b.rxRate - (a.txRate + a.rxRate) || bytes(a, b) || byKey(a, b),
  age: (a, b) => b.ageMs - a.ageMs || bytes(a, b) || byKey(a, b),
  loss: (a, b) => (b.loss ?? -1) - (a.loss ?? -1) || b.retransmits - a.retransmits || bytes(a, b) || byKey(a, b),
};

/** Sums over the rows a filter kept. */
export function filteredTotals(rows: readonly ConnectionRow[]): FilteredTotals {
  const t: FilteredTotals = { series: rows.length, connections: 0, open: 0, tx: 0, rx: 0, txRate: 0, rxRate: 0, retransmits: 0, resets: 0, failed: 0 };
  for (const r of rows) {
    t.connections += r.connections;
    t.open += r.open;
    t.tx += r.tx;
    t.rx += r.rx;
    t.txRate += r.txRate;
    t.rxRate += r.rxRate;
    t.retransmits += r.retransmits;
    t.resets += r.resets;
    t.failed += r.failed;
  }
  return t;
}
