import { createHash } from 'node:crypto';
import { filter, map, type OperatorFunction } from 'rxjs';
import type { Batch, ComponentContext } from '../../core/component.js';
import type { AttributeValue, TcpEvent } from '../../core/events.js';
import { seriesKey, type Attributes, type MetricPoint } from '../../core/metrics.js';
import { ATTR, eventAttribute, eventAttributes } from '../../semconv/attributes.js';
import { copyEvent } from '../../core/events.js';
import type { AttributeAction, AttributesConfig } from './config.js';

/** What an action does, decided once. */
const enum Op {
  Set, // upsert with a value
  Delete,
  Insert,
  Update,
  Upsert, // upsert from_attribute
  Hash,
}

interface CompiledAction {
  op: Op;
  key: string;
  value?: AttributeValue;
  from?: string;
}

/** Every name eventAttributes() can produce: any other attribute lives only in ev.attributes. */
const DERIVED = new Set<string>(Object.values(ATTR));

function compile(a: AttributeAction): CompiledAction {
  switch (a.action) {
    case 'delete':
      return { op: Op.Delete, key: a.key };
    case 'hash':
      return { op: Op.Hash, key: a.key };
    case 'upsert':
      return a.from_attribute === undefined ? { op: Op.Set, key: a.key, value: a.value } : { op: Op.Upsert, key: a.key, from: a.from_attribute };
    case 'insert':
      return { op: Op.Insert, key: a.key, value: a.value, from: a.from_attribute };
    case 'update':
      return { op: Op.Update, key: a.key, value: a.value, from: a.from_attribute };
  }
}

export function sha256Hex(v: AttributeValue): string {
  return createHash('sha256').update(String(v)).digest('hex');
}

/**
 * SHA-256 with a memo: the values hashed (addresses, ports, names) repeat a lot, and a
 * digest costs microseconds. Bounded: cleared when it holds `cap` values (a pure memo,
 * nothing is lost when it is).
 */
export class HashMemo {
  private readonly memo = new Map<string, string>();
  constructor(private readonly cap = 4096) {}
  hash(v: AttributeValue): string {
    const s = String(v);
    let h = this.memo.get(s);
    if (h === undefined) {
      h = sha256Hex(s);
      if (this.memo.size >= this.cap) this.memo.clear();
      this.memo.set(s, h);
    }
    return h;
  }
}

/** Attributes eventAttribute() reads straight off the event, without building them all. */
const DIRECT = new Set<string>([
  ATTR.networkTransport,
  ATTR.networkType,
  ATTR.networkLocalAddress,
  ATTR.networkLocalPort,
  ATTR.networkPeerAddress,
  ATTR.networkPeerPort,
  ATTR.processPid,
  ATTR.processExecutableName,
  ATTR.eventKind,
  ATTR.networkConnectionState,
  ATTR.socketId,
]);

/**
 * Applies the actions to one event's attributes. Returns the event itself when nothing
 * changed, else a copy with a new attributes overlay (the input may be shared with
 * other pipelines).
 */
function editEvent(ev: TcpEvent, actions: readonly CompiledAction[], hashes: HashMemo): TcpEvent {
  const overlay: Record<string, AttributeValue | undefined> = ev.attributes ? { ...ev.attributes } : {};
  let all: Record<string, AttributeValue> | undefined; // built at most once, when needed
  let changed = false;
  for (let i = 0; i < actions.length; i++) {
    const a = actions[i]!;
    if (a.op === Op.Set) {
      overlay[a.key] = a.value;
      changed = true;
      continue;
    }
    if (a.op === Op.Delete) {
      overlay[a.key] = undefined;
      changed = true;
      continue;
    }
    // The current value (what earlier actions wrote comes first).
    const k = a.key;
    const current = k in overlay || !DERIVED.has(k) ? overlay[k] : DIRECT.has(k) ? eventAttribute(ev, k) : (all ??= eventAttributes(ev))[k];
    if ((a.op === Op.Insert && current !== undefined) || (a.op === Op.Update && current === undefined)) continue;
    let next: AttributeValue | undefined;
    if (a.op === Op.Hash) {
      if (current === undefined) continue;
      next = hashes.hash(current);
    } else if (a.from !== undefined) {
      const f = a.from;
      next = f in overlay || !DERIVED.has(f) ? overlay[f] : DIRECT.has(f) ? eventAttribute(ev, f) : (all ??= eventAttributes(ev))[f];
      if (next === undefined) continue;
    } else {
      next = a.value;
    }
    overlay[k] = next;
    changed = true;
  }
  return changed ? copyEvent(ev, overlay) : ev;
}

/** Applies the actions to a metric point's attributes; a new point (new series key) when changed. */
function editPoint(p: MetricPoint, actions: readonly CompiledAction[], hashes: HashMemo): MetricPoint {
  const attrs: Attributes = { ...p.attributes };
  let changed = false;
  for (const a of actions) {
    const k = a.key;
    switch (a.op) {
      case Op.Set:
        attrs[k] = a.value!;
        changed = true;
        continue;
      case Op.Delete:
        if (k in attrs) {
          delete attrs[k];
          changed = true;
        }
        continue;
      case Op.Hash:
        if (k in attrs) {
          attrs[k] = hashes.hash(attrs[k]!);
          changed = true;
        }
        continue;
      default: {
        const present = k in attrs;
        if ((a.op === Op.Insert && present) || (a.op === Op.Update && !present)) continue;
        const next = a.from !== undefined ? attrs[a.from] : a.value;
        if (next === undefined) continue;
        attrs[k] = next;
        changed = true;
      }
    }
  }
  return changed ? { ...p, attributes: attrs, seriesKey: seriesKey(p.name, attrs) } : p;
}

/**
 * Inserts, updates, upserts, deletes or hashes attributes, in order, with the Collector's
 * semantics: on events (their attribute overlay) and on metric points (their attributes
 * and series key). Events and points are copied before they are changed.
 */
export function attributes(config: AttributesConfig, ctx: ComponentContext): OperatorFunction<Batch, Batch> {
  const actions = config.actions.map(compile);
  const hashes = new HashMemo();
  const t = ctx.telemetry;
  const apply = (batch: Batch): Batch | null => {
    if (batch.type === 'metrics') {
      const n = batch.points.length;
      t.incoming(n);
      t.outgoing(n);
      if (actions.length === 0) return batch;
      // Points changed: the table they were made from no longer describes them.
      return { ...batch, points: batch.points.map((p) => editPoint(p, actions, hashes)), table: undefined, extra: undefined };
    }
    const events = batch.events;
    const n = events.length;
    t.incoming(n);
    t.outgoing(n);
    if (n === 0) return batch.stateCounts ? batch : null;
    if (actions.length === 0) return batch;
    const out = new Array<TcpEvent>(n);
    for (let i = 0; i < n; i++) out[i] = editEvent(events[i]!, actions, hashes);
    return { ...batch, events: out };
  };
  return (source) => source.pipe(map(apply), filter((b): b is Batch => b !== null));
}
