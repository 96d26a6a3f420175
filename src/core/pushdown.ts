/**
 * What a pipeline can ask a receiver to do for it in the kernel (aggregate pushdown):
 * compute an `aggregate` processor's windows there, and send as records only the events
 * some pipeline takes, pre-filtered. The planner (src/pipeline/pushdown.ts) decides; the
 * eBPF receiver carries it out.
 */
import type { Direction, EventKind } from './events.js';
import { EVENT_KINDS } from './events.js';
import type { SeriesTable } from './metrics.js';

/** One condition of a filter the kernel evaluates: every field given must match. */
export interface KernelCondition {
  /** The event passes when the condition does not match (an `exclude`). */
  negate: boolean;
  kinds?: EventKind[];
  family?: 4 | 6;
  directions?: Direction[];
  /** Inclusive port ranges: either end, the local end, the remote end. */
  ports?: Array<[number, number]>;
  local?: Array<[number, number]>;
  remote?: Array<[number, number]>;
}

/** Every condition must pass. */
export interface KernelFilter {
  conds: KernelCondition[];
}

/** An `aggregate` processor as the kernel computes it. */
export interface KernelAggregateSpec {
  /** "aggregate/flows in metrics/x", for logs. */
  name: string;
  /** The key attributes, presets expanded. */
  keys: string[];
  maxSeries: number;
  /** Bucket bounds in seconds. */
  histograms: { rtt: readonly number[]; handshake: readonly number[]; duration: readonly number[]; loss: readonly number[] };
  /** The filters before the aggregate. */
  filter: KernelFilter;
}

/** A receiver's side of a pushed-down aggregate. */
export interface KernelAggregate {
  /** Computed in the kernel (false: the receiver could not, e.g. it fell back to sock_diag). */
  readonly active: boolean;
  /** Ends the window: its series. After the receiver stopped, its last window, then empty ones. */
  collect(): SeriesTable;
  /** Updates folded into the overflow series since start. */
  overflowed(): number;
  /** Updates lost because the kernel map was full, since start. */
  lost(): number;
}

/** Events a pipeline takes as records: kinds, and the filter it applies first (when known). */
export interface RecordDemand {
  kinds: EventKind[];
  filter?: KernelFilter;
}

/** What the pipelines need from one receiver. */
export interface ReceiverPlan {
  /** 'all': every event (someone needs them all, or cannot say which). */
  records: RecordDemand[] | 'all';
  aggregates: KernelAggregateSpec[];
}

/** A receiver that can take a plan (before start). */
export interface PushdownReceiver {
  plan(plan: ReceiverPlan): KernelAggregate[];
}

export function isPushdownReceiver(r: unknown): r is PushdownReceiver {
  return typeof (r as Partial<PushdownReceiver>).plan === 'function';
}

/** Kinds whose counters build on each other in an aggregate: a filter takes all or none. */
export const TRACKING_KINDS: readonly EventKind[] = ['open', 'existing', 'sample', 'retransmit', 'close'];

/** Kinds an in-kernel filter can let through (for some connection). */
export function admittedKinds(filter: KernelFilter): EventKind[] {
  return EVENT_KINDS.filter((kind) =>
    filter.conds.every((c) => {
      const onlyKinds = !c.family && !c.directions && !c.ports && !c.local && !c.remote;
      if (c.negate) return !(c.kinds?.includes(kind) && onlyKinds) && !(!c.kinds && onlyKinds);
      return !c.kinds || c.kinds.includes(kind);
    }),
  );
}

