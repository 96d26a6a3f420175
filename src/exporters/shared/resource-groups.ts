/**
 * Metric points grouped by resource, as the Collector's groupbyattrs processor groups them:
 * the attributes named (container.id, k8s.pod.uid) move from each point to a resource of
 * its own, one per distinct set of their values, beside the resource tcpotel exports
 * under. So a gateway Collector's k8sattributes processor, which reads resource attributes,
 * finds each pod's points under that pod's resource.
 */
import { resourceFromAttributes } from '@opentelemetry/resources';
import type { MetricData, ResourceMetrics, ScopeMetrics } from '@opentelemetry/sdk-metrics';
import type { Attributes } from '../../core/metrics.js';

interface Group {
  attrs: Attributes;
  /** Per scope (by its position in the input), per metric (by its position): the points. */
  scopes: Map<number, Map<number, MetricData['dataPoints']>>;
}

/**
 * `rm` split by the values of `keys` on its points: the points without any of them stay
 * under `rm.resource` (first, when there are any: tcpotel's own metrics are there); the
 * others go under `rm.resource` plus their values, those attributes taken off the points.
 * One ResourceMetrics (the same object) when no point carries any of them.
 */
export function groupByAttributes(rm: ResourceMetrics, keys: readonly string[]): ResourceMetrics[] {
  if (keys.length === 0) return [rm];
  const groups = new Map<string, Group>();
  let grouped = false;
  rm.scopeMetrics.forEach((sm, si) => {
    sm.metrics.forEach((m, mi) => {
      for (const dp of m.dataPoints) {
        let id = '';
        let moved: Attributes | undefined;
        let rest: Attributes | undefined;
        for (const k of keys) {
          const v = dp.attributes[k];
          if (v === undefined) continue;
          id += `${k}=${String(v)}\u0000`;
          (moved ??= {})[k] = v as Attributes[string];
          rest ??= { ...(dp.attributes as Attributes) };
          delete rest[k];
        }
        if (moved) grouped = true;
        let g = groups.get(id);
        if (!g) groups.set(id, (g = { attrs: moved ?? {}, scopes: new Map() }));
        let metrics = g.scopes.get(si);
        if (!metrics) g.scopes.set(si, (metrics = new Map()));
        let points = metrics.get(mi);
        if (!points) metrics.set(mi, (points = [] as unknown as MetricData['dataPoints']));
        (points as unknown[]).push(rest ? { ...dp, attributes: rest } : dp);
      }
    });
  });
  if (!grouped) return [rm];
  const base = rm.resource.attributes;
  const ids = [...groups.keys()].sort();
  return ids.map((id) => {
    const g = groups.get(id)!;
    const scopeMetrics: ScopeMetrics[] = [];
    for (const [si, metrics] of [...g.scopes].sort((a, b) => a[0] - b[0])) {
      const sm = rm.scopeMetrics[si]!;
      scopeMetrics.push({
        scope: sm.scope,
        metrics: [...metrics].sort((a, b) => a[0] - b[0]).map(([mi, dataPoints]) => ({ ...sm.metrics[mi]!, dataPoints }) as MetricData),
      });
    }
    return { resource: id === '' ? rm.resource : resourceFromAttributes({ ...base, ...g.attrs }), scopeMetrics };
  });
}
