import { copyBatch, pointCount } from '../../core/metrics.js';
import { filter, map, type OperatorFunction } from 'rxjs';
import type { Batch, ComponentContext } from '../../core/component.js';
import type { Attributes } from '../../core/metrics.js';
import type { ResourceAction, ResourceConfig } from './config.js';
import { detectResource, type DetectOptions } from './detect.js';

export function applyResourceActions(resource: Attributes, actions: readonly ResourceAction[]): Attributes {
  for (const a of actions) {
    const present = a.key in resource;
    switch (a.action) {
      case 'insert':
        if (!present) resource[a.key] = a.value!;
        break;
      case 'update':
        if (present) resource[a.key] = a.value!;
        break;
      case 'upsert':
        resource[a.key] = a.value!;
        break;
      case 'delete':
        delete resource[a.key];
        break;
    }
  }
  return resource;
}

/**
 * Sets each batch's resource: what it had, the attributes detected once at create time
 * over it, then the configured actions. Batches are copied, not changed.
 */
export function resource(config: ResourceConfig, ctx: ComponentContext, opts: DetectOptions = {}): OperatorFunction<Batch, Batch> {
  const detected = detectResource(config.detectors, opts);
  const actions = config.attributes;
  const t = ctx.telemetry;
  const apply = (batch: Batch): Batch | null => {
    const n = batch.type === 'events' ? batch.events.length : pointCount(batch);
    t.incoming(n);
    t.outgoing(n);
    if (batch.type === 'events' && n === 0 && !batch.stateCounts) return null;
    return copyBatch<Batch>(batch, { resource: applyResourceActions({ ...batch.resource, ...detected }, actions) });
  };
  return (source) => source.pipe(map(apply), filter((b): b is Batch => b !== null));
}
