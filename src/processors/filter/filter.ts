import { filter as rxFilter, map, type OperatorFunction } from 'rxjs';
import type { Batch, ComponentContext } from '../../core/component.js';
import type { TcpEvent } from '../../core/events.js';
import type { FilterConfig } from './config.js';
import { filterPredicate } from './predicate.js';

/**
 * Keeps the events that match `include` (when given) and not `exclude` (when given);
 * the others are counted as dropped ("filtered"). Batches left empty are not passed on,
 * unless they carry state counts. Metric batches pass unchanged.
 */
export function filter(config: FilterConfig, ctx: ComponentContext): OperatorFunction<Batch, Batch> {
  const keep = filterPredicate(config);
  const t = ctx.telemetry;
  const apply = (batch: Batch): Batch | null => {
    if (batch.type !== 'events') return batch;
    const events = batch.events;
    const n = events.length;
    t.incoming(n);
    if (!keep) {
      t.outgoing(n);
      return n > 0 || batch.stateCounts ? batch : null;
    }
    // Copy only from the first dropped event on: all-kept batches pass as they are.
    let kept: TcpEvent[] | undefined;
    for (let i = 0; i < n; i++) {
      const ev = events[i]!;
      if (keep(ev)) {
        if (kept) kept.push(ev);
      } else if (!kept) {
        kept = events.slice(0, i);
      }
    }
    if (!kept) {
      t.outgoing(n);
      return n > 0 || batch.stateCounts ? batch : null;
    }
    t.outgoing(kept.length);
    t.dropped(n - kept.length, 'filtered');
    if (kept.length === 0 && !batch.stateCounts) return null;
    return { ...batch, events: kept };
  };
  return (source) => source.pipe(map(apply), rxFilter((b): b is Batch => b !== null));
}
