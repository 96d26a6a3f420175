/**
 * tcpotel's own telemetry: what every component took in, passed on and dropped (by
 * reason), plus the receivers' kernel-side counters. Exported with the pipelines' metrics
 * so that nothing is lost without being counted.
 */
import type { Attributes, GaugePoint, SumPoint } from './metrics.js';
import { seriesKey } from './metrics.js';
import { SELF_ATTR } from '../semconv/attributes.js';
import { SELF_METRICS_DEFS } from '../semconv/metrics.js';

interface Series {
  name: string;
  attributes: Attributes;
  key: string;
  value: number;
  type: 'sum' | 'gauge';
  read?: () => number;
}

export class Telemetry {
  private readonly series = new Map<string, Series>();

  private get(name: string, attributes: Attributes, type: 'sum' | 'gauge'): Series {
    const key = seriesKey(name, attributes);
    let s = this.series.get(key);
    if (!s) {
      s = { name, attributes, key, value: 0, type };
      this.series.set(key, s);
    }
    return s;
  }

  /** A monotonic counter. */
  counter(name: string, attributes: Attributes = {}): { add(n: number): void; value(): number } {
    const s = this.get(name, attributes, 'sum');
    return {
      add: (n: number) => {
        s.value += n;
      },
      value: () => s.value,
    };
  }

  /** A counter whose total is read from elsewhere (e.g. the kernel's per-CPU counters). */
  observedCounter(name: string, attributes: Attributes, read: () => number): void {
    this.get(name, attributes, 'sum').read = read;
  }

  gauge(name: string, attributes: Attributes, read: () => number): void {
    this.get(name, attributes, 'gauge').read = read;
  }

  /** Current totals (sums are cumulative since start). */
  collect(): Array<SumPoint | GaugePoint> {
    const out: Array<SumPoint | GaugePoint> = [];
    for (const s of this.series.values()) {
      let v = s.value;
      if (s.read) {
        try {
          v = s.read();
          s.value = v;
        } catch {
          v = s.value; // keep the last known value (e.g. the tracer is closed)
        }
      }
      out.push({ type: s.type, name: s.name, attributes: s.attributes, seriesKey: s.key, value: v });
    }
    return out;
  }

  /** The total of a counter across its attribute sets whose attributes include `match`. */
  total(name: string, match: Attributes = {}): number {
    let t = 0;
    for (const p of this.collect()) {
      if (p.name !== name) continue;
      if (Object.entries(match).every(([k, v]) => p.attributes[k] === v)) t += p.value;
    }
    return t;
  }
}

/** In, out and dropped counts for one component in one pipeline. */
export interface ComponentTelemetry {
  readonly telemetry: Telemetry;
  incoming(n: number): void;
  outgoing(n: number): void;
  dropped(n: number, reason: string): void;
}

/** The attributes of a component's own metrics: its id, and its kind, pipeline and signal where given. */
export function selfAttributes(component: { id: string; kind?: string; pipeline?: string; signal?: string }): Attributes {
  const a: Attributes = { [SELF_ATTR.componentId]: component.id };
  if (component.kind) a[SELF_ATTR.componentKind] = component.kind;
  if (component.pipeline) a[SELF_ATTR.pipelineId] = component.pipeline;
  if (component.signal) a[SELF_ATTR.signal] = component.signal;
  return a;
}

export function componentTelemetry(
  telemetry: Telemetry,
  component: { id: string; kind: 'receiver' | 'processor' | 'exporter'; pipeline?: string; signal?: string },
): ComponentTelemetry {
  const base = selfAttributes(component);
  const inc = telemetry.counter(SELF_METRICS_DEFS.itemsIn.name, base);
  const out = telemetry.counter(SELF_METRICS_DEFS.itemsOut.name, base);
  const drops = new Map<string, { add(n: number): void }>();
  return {
    telemetry,
    incoming: (n) => inc.add(n),
    outgoing: (n) => out.add(n),
    dropped: (n, reason) => {
      let c = drops.get(reason);
      if (!c) {
        c = telemetry.counter(SELF_METRICS_DEFS.itemsDropped.name, { ...base, [SELF_ATTR.dropReason]: reason });
        drops.set(reason, c);
      }
      c.add(n);
    },
  };
}
