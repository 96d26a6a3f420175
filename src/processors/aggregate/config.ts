import { z } from 'zod';
import { duration } from '../../config/units.js';
import { ATTR, FIVE_TUPLE_ATTRS } from '../../semconv/attributes.js';
import { DEFAULT_BOUNDS } from '../../semconv/metrics.js';

/** Named key sets: the attributes each metric series is keyed by. */
export const KEY_PRESETS: Record<string, readonly string[]> = {
  five_tuple: FIVE_TUPLE_ATTRS,
  remote: [ATTR.networkPeerAddress, ATTR.networkPeerPort],
  remote_address: [ATTR.networkPeerAddress],
  server: [ATTR.serverAddress, ATTR.serverPort, ATTR.handshakeRole],
  process: [ATTR.processPid, ATTR.processExecutableName],
  local_port: [ATTR.networkLocalPort],
  none: [],
};

const bounds = z
  .array(z.number().nonnegative())
  .min(1)
  .refine((b) => b.every((v, i) => i === 0 || v > b[i - 1]!), { message: 'bucket bounds must be strictly increasing' });

export const aggregateConfigSchema = z.strictObject({
  /** Window length: one batch of metric points per window. */
  interval: duration().refine((ms) => ms >= 10, { message: 'interval must be at least 10ms' }),
  /** A preset name, or a list of attribute names (presets may be mixed in the list). */
  keys: z.union([z.string(), z.array(z.string()).min(0)]).superRefine((k, ctx) => {
    for (const name of Array.isArray(k) ? k : [k]) {
      if (!Array.isArray(k) && !(name in KEY_PRESETS)) {
        ctx.addIssue({ code: 'custom', message: `unknown key preset "${name}" (presets: ${Object.keys(KEY_PRESETS).join(', ')}; or give a list of attribute names)` });
      }
      if (name.trim() === '') ctx.addIssue({ code: 'custom', message: 'an attribute name cannot be empty' });
    }
  }),
  /** Series per window; further series fold into one series marked otel.metric.overflow=true. */
  max_series: z.number().int().min(1),
  /** Connections tracked for active counts and live byte deltas; the oldest are evicted (counted). */
  max_connections: z.number().int().min(1),
  histograms: z.strictObject({
    rtt: bounds,
    handshake: bounds,
    duration: bounds,
    /** Loss of closed connections (retransmitted segments per segment sent), from 0 to 1. */
    loss: bounds,
  }),
  /**
   * auto: computed in the kernel when the receivers, the filters before the aggregate and
   * its keys allow it (the same points, at a fraction of the cost; `tcpotel validate` and
   * the info log say why not otherwise); never: always in tcpotel's process.
   */
  pushdown: z.enum(['auto', 'never']),
});

export type AggregateConfig = z.output<typeof aggregateConfigSchema>;

export function defaultAggregateConfig() {
  return {
    interval: '10s',
    keys: 'five_tuple',
    max_series: 10000,
    max_connections: 262144,
    histograms: { rtt: [...DEFAULT_BOUNDS.rtt], handshake: [...DEFAULT_BOUNDS.handshake], duration: [...DEFAULT_BOUNDS.duration], loss: [...DEFAULT_BOUNDS.loss] },
    pushdown: 'auto',
  };
}

/**
 * The attribute names a key list gives outside presets, with their places in the list:
 * validation checks them against the attributes the pipeline's events carry.
 */
export function keyReferences(keys: string | string[]): Array<{ name: string; path: [string, number]; alternatives: string[] }> {
  if (!Array.isArray(keys)) return [];
  const presets = Object.keys(KEY_PRESETS);
  return keys.flatMap((name, i) => (name in KEY_PRESETS ? [] : [{ name, path: ['keys', i] as [string, number], alternatives: presets }]));
}

/** The attribute names a config keys on, presets expanded, duplicates removed. */
export function keyAttributes(keys: string | string[]): string[] {
  const list = Array.isArray(keys) ? keys : [keys];
  const out: string[] = [];
  for (const k of list) for (const a of KEY_PRESETS[k] ?? [k]) if (!out.includes(a)) out.push(a);
  return out;
}
