/**
 * Aggregate pushdown, planned once from the resolved config: which `aggregate` processors
 * the kernel computes (keys and the filters before them all expressible there, every
 * receiver of the pipeline able to), and which events each receiver must still send as
 * records (only those a pipeline takes in user space, pre-filtered by its own filters).
 * Where pushdown is not possible, the plan says why; the aggregate then runs as before.
 */
import type { EventKind } from '../core/events.js';
import { EVENT_KINDS } from '../core/events.js';
import type { KernelAggregateSpec, KernelCondition, KernelFilter, RecordDemand } from '../core/pushdown.js';
import { TRACKING_KINDS, admittedKinds } from '../core/pushdown.js';
import type { ResolvedConfig, ResolvedPipeline } from '../config/validate.js';
import type { AggregateConfig } from '../processors/aggregate/config.js';
import { keyAttributes } from '../processors/aggregate/config.js';
import type { Condition, FilterConfig } from '../processors/filter/config.js';
import { parsePortSpec } from '../processors/filter/ports.js';
import { KERNEL_LIMITS, kernelKeyLayout } from '../receivers/ebpf/kernel-aggregate.js';

export interface AggregatePlan {
  pipeline: string;
  /** The aggregate processor's id. */
  processor: string;
  receivers: string[];
  /** Computed in the kernel (else in tcpotel's process, for `reason`). */
  kernel: boolean;
  reason?: string;
  spec?: KernelAggregateSpec;
  /**
   * Every exporter of the pipeline reads only totals (the view in summary mode): the
   * aggregate needs no keys, whatever its config says.
   */
  totalsOnly: boolean;
  /** The keys the aggregate uses (none when totalsOnly). */
  keys: string[];
}

export interface PushdownPlan {
  aggregates: AggregatePlan[];
  /** Per receiver id: the events pipelines take as records ('all': every event). */
  records: Map<string, RecordDemand[] | 'all'>;
}

/** Receiver types that can compute aggregates in the kernel. */
const PUSHDOWN_RECEIVERS = new Set(['ebpf']);
/** Kinds the aggregator reads (state changes it ignores). */
const AGGREGATE_KINDS: EventKind[] = EVENT_KINDS.filter((k) => k !== 'state');

/** `TCPOTEL_PUSHDOWN=never` turns pushdown off for every aggregate (tests of the JS path). */
export function pushdownDisabledByEnv(env: NodeJS.ProcessEnv = process.env): boolean {
  return env.TCPOTEL_PUSHDOWN === 'never';
}

function ranges(specs: readonly (number | string)[] | undefined): Array<[number, number]> | undefined | string {
  if (!specs) return undefined;
  if (specs.length > KERNEL_LIMITS.portRanges) return `more than ${KERNEL_LIMITS.portRanges} port ranges in one field`;
  const out: Array<[number, number]> = [];
  for (const s of specs) {
    const r = parsePortSpec(s);
    if (typeof r === 'string') return r;
    out.push(r);
  }
  return out;
}

/** One field matcher (no combinators) as a kernel condition, or why it cannot be. */
function simpleCondition(c: Condition, negate: boolean): KernelCondition | string {
  const cannot: string[] = [];
  for (const k of ['local_cidrs', 'remote_cidrs', 'pids', 'comms', 'comm_regex', 'executables', 'cgroup_ids', 'container_ids', 'states'] as const) {
    if (c[k] !== undefined) cannot.push(k);
  }
  if (cannot.length) return `filter key${cannot.length > 1 ? 's' : ''} ${cannot.join(', ')} (the kernel filters on kinds, families, directions and ports)`;
  const out: KernelCondition = { negate };
  if (c.kinds) {
    const tracked = TRACKING_KINDS.filter((k) => c.kinds!.includes(k));
    if (tracked.length && tracked.length !== TRACKING_KINDS.length) {
      return `a filter on kinds that keeps some but not all of ${TRACKING_KINDS.join(', ')}, whose counters build on each other`;
    }
    out.kinds = [...c.kinds];
  }
  if (c.families && !(c.families.includes('ipv4') && c.families.includes('ipv6'))) out.family = c.families[0] === 'ipv6' ? 6 : 4;
  if (c.directions) out.directions = [...c.directions];
  for (const [key, field] of [
    ['ports', 'ports'],
    ['local_ports', 'local'],
    ['remote_ports', 'remote'],
  ] as const) {
    const r = ranges(c[key]);
    if (typeof r === 'string') return r;
    if (r) out[field] = r;
  }
  return out;
}

/** A condition with combinators, flattened into ANDed kernel conditions where it can be. */
function conditions(c: Condition, negate: boolean, out: KernelCondition[]): string | undefined {
  if (c.any) return 'a filter with `any` (the kernel filters on all-of conditions)';
  if (c.all && negate) return 'a filter that excludes an `all` (the kernel negates single conditions only)';
  if (c.not) {
    if (negate) return 'a filter with a double negation';
    const inner = conditions(c.not, true, out);
    if (inner) return inner;
  }
  if (c.all) for (const sub of c.all) {
    const why = conditions(sub, negate, out);
    if (why) return why;
  }
  const { all: _a, any: _b, not: _c, ...fields } = c;
  if (Object.values(fields).some((v) => v !== undefined)) {
    const k = simpleCondition(fields, negate);
    if (typeof k === 'string') return k;
    out.push(k);
  }
  return undefined;
}

/** A filter processor's config as kernel conditions, or why it cannot be. */
export function kernelFilter(config: FilterConfig): KernelFilter | string {
  const conds: KernelCondition[] = [];
  if (config.include) {
    const why = conditions(config.include, false, conds);
    if (why) return why;
  }
  if (config.exclude) {
    const why = conditions(config.exclude, true, conds);
    if (why) return why;
  }
  return { conds };
}

function totalsOnly(config: ResolvedConfig, p: ResolvedPipeline, after: string[]): boolean {
  if (after.length) return false;
  return p.exporters.every((id) => {
    const e = config.exporters.get(id)!;
    return e.factory.demand?.(e.config) === 'totals';
  });
}

/** The plan for every pipeline of a config. */
export function planPushdown(config: ResolvedConfig, env: NodeJS.ProcessEnv = process.env): PushdownPlan {
  const aggregates: AggregatePlan[] = [];
  const consumers = new Map<string, RecordDemand[] | 'all'>();
  const slots = new Map<string, number>();
  const demand = (receivers: string[], d: RecordDemand | 'all') => {
    for (const r of receivers) {
      const cur = consumers.get(r) ?? [];
      consumers.set(r, cur === 'all' || d === 'all' ? 'all' : [...cur, d]);
    }
  };
  for (const p of config.pipelines) {
    const at = p.processors.findIndex((id) => config.processors.get(id)!.type === 'aggregate');
    const before = at < 0 ? p.processors : p.processors.slice(0, at);
    // What the leading filters keep, as far as the kernel can tell (for record pre-filters).
    const leading: KernelCondition[] = [];
    let leadingKnown = true;
    let why: string | undefined;
    for (const id of before) {
      const proc = config.processors.get(id)!;
      if (proc.type === 'batch') continue;
      if (proc.type !== 'filter') {
        leadingKnown = false;
        why ??= `\`${id}\` before the aggregate needs every event in tcpotel's process`;
        break;
      }
      const f = kernelFilter(proc.config as FilterConfig);
      if (typeof f === 'string') {
        leadingKnown = false;
        why ??= `\`${id}\`: ${f}`;
        break;
      }
      leading.push(...f.conds);
    }
    if (leading.length + 1 > KERNEL_LIMITS.conds) {
      leadingKnown = false;
      why ??= `the filters before the aggregate make more than ${KERNEL_LIMITS.conds - 1} kernel conditions`;
    }
    // The kinds a pipeline takes: those its leading filters can let through.
    const recordDemand = (kinds: EventKind[]): RecordDemand | 'all' => {
      if (!leadingKnown) return { kinds };
      const admitted = admittedKinds({ conds: leading });
      return { kinds: kinds.filter((k) => admitted.includes(k)), filter: { conds: leading } };
    };

    if (at < 0) {
      demand(p.receivers, recordDemand([...EVENT_KINDS]));
      continue;
    }
    const id = p.processors[at]!;
    const agg = config.processors.get(id)!.config as AggregateConfig;
    const after = p.processors.slice(at + 1);
    const onlyTotals = totalsOnly(config, p, after);
    const keys = onlyTotals ? [] : keyAttributes(agg.keys);
    const plan: AggregatePlan = { pipeline: p.id, processor: id, receivers: p.receivers, kernel: false, totalsOnly: onlyTotals, keys };
    const nonKernel = p.receivers.filter((r) => !PUSHDOWN_RECEIVERS.has(config.receivers.get(r)!.type));
    const bounds = Object.entries(agg.histograms).find(([, b]) => b.length > KERNEL_LIMITS.bounds);
    const layout = kernelKeyLayout(keys);
    if (agg.pushdown === 'never') plan.reason = `processors::${id}::pushdown is never`;
    else if (pushdownDisabledByEnv(env)) plan.reason = 'TCPOTEL_PUSHDOWN=never is set';
    else if (nonKernel.length) plan.reason = `receiver${nonKernel.length > 1 ? 's' : ''} ${nonKernel.join(', ')} cannot aggregate in the kernel`;
    else if (p.receivers.length > 1) plan.reason = 'the pipeline has several receivers (each kernel aggregate is one receiver\'s)';
    else if (why) plan.reason = why;
    else if (typeof layout === 'string') plan.reason = layout;
    else if (bounds) plan.reason = `histograms::${bounds[0]} has more than ${KERNEL_LIMITS.bounds} bucket bounds`;
    else if (p.receivers.some((r) => (slots.get(r) ?? 0) >= KERNEL_LIMITS.slots)) plan.reason = `a receiver computes at most ${KERNEL_LIMITS.slots} aggregates in the kernel`;
    else {
      plan.kernel = true;
      plan.spec = {
        name: `${id} in ${p.id}`,
        keys,
        maxSeries: agg.max_series,
        histograms: { rtt: agg.histograms.rtt, handshake: agg.histograms.handshake, duration: agg.histograms.duration, loss: agg.histograms.loss },
        filter: { conds: leading },
      };
      for (const r of p.receivers) slots.set(r, (slots.get(r) ?? 0) + 1);
    }
    aggregates.push(plan);
    if (!plan.kernel) demand(p.receivers, recordDemand(AGGREGATE_KINDS));
  }
  for (const r of config.receivers.keys()) if (!consumers.has(r)) consumers.set(r, []);
  return { aggregates, records: consumers };
}

/** One line per aggregate, for `tcpotel validate` and the info log. */
export function describePlan(plan: PushdownPlan): string[] {
  return plan.aggregates.map((a) => {
    const where = a.kernel ? 'in the kernel' : `in tcpotel's process: ${a.reason}`;
    const keys = a.totalsOnly ? ' (its exporters show totals only, e.g. the view printing summary lines: no keys)' : '';
    return `${a.processor} in ${a.pipeline}: aggregated ${where}${keys}`;
  });
}
