/** One series of the view's table (with the default keys, one connection and process): its totals and its bytes per period. */
import type { Attributes } from '../../core/metrics.js';

export interface Entry {
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

export function labelOf(e: Entry): string {
  return (e.label ??= e.overflow ? '(other series: over the aggregate series cap)' : e.names.map((n) => `${n}=${String(e.attributes[n])}`).join(' '));
}

export function searchOf(e: Entry): string {
  return (e.search ??= [e.local ?? '', e.peer ?? '', e.pid ?? '', e.comm ?? '', ...e.names.map((n) => String(e.attributes[n]))].join(' ').toLowerCase());
}

export function matches(search: string, filter: string): boolean {
  return filter === '' || search.includes(filter);
}
