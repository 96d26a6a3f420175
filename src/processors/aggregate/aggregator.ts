/**
 * Window state of the aggregate processor: connection events in, metric deltas out.
 *
 * Per connection (by socket id) it remembers the series it belongs to and the counters
 * already accounted for, so that live samples and the final close add only what is new,
 * and `active` goes up once and down once.
 */
import type { AttributeValue, EventBatch, StateCounts, TcpEvent } from '../../core/events.js';
import { errorType } from '../../core/events.js';
import type { Attributes, HistogramPoint, MetricBatch, MetricPoint, SumPoint, GaugePoint } from '../../core/metrics.js';
import { hrTimeFromMs, seriesKey } from '../../core/metrics.js';
import { ATTR, eventAttribute } from '../../semconv/attributes.js';
import { TCP_METRICS } from '../../semconv/metrics.js';
import type { AggregateConfig } from './config.js';
import { keyAttributes } from './config.js';

class Histogram {
  count = 0;
  sum = 0;
  min = Infinity;
  max = -Infinity;
  readonly counts: number[];
  constructor(readonly bounds: readonly number[]) {
    this.counts = new Array<number>(bounds.length + 1).fill(0);
  }
  record(v: number): void {
    this.count++;
    this.sum += v;
    if (v < this.min) this.min = v;
    if (v > this.max) this.max = v;
    // Buckets are (bound[i-1], bound[i]], as OpenTelemetry's explicit buckets.
    const b = this.bounds;
    let lo = 0;
    let hi = b.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (v <= b[mid]!) hi = mid;
      else lo = mid + 1;
    }
    this.counts[lo]!++;
  }
}

/** One series' accumulation over the current window. */
class SeriesWindow {
  opened = 0;
  closed = 0;
  active = 0;
  transmit = 0;
  receive = 0;
  retransmits = 0;
  resetsSent = 0;
  resetsReceived = 0;
  failed?: Map<string, number>;
  rtt?: Histogram;
  handshake?: Histogram;
  duration?: Histogram;
  constructor(
    readonly attributes: Attributes,
    /** The aggregator's key of the series: unique for its attribute values. */
    readonly key: string,
  ) {}
}

interface Connection {
  /** Its series' key and attributes (shared with the window's series): valid in any window. */
  series: string;
  attrs: Attributes;
  /** Its series in the window numbered `epoch`: no lookup while that window lasts. */
  win: SeriesWindow | undefined;
  epoch: number;
  sent: number;
  received: number;
  retrans: number;
  /** Counted in `active`. */
  open: boolean;
}

export const OVERFLOW_KEY = '\u0000overflow';
const OVERFLOW_ATTRS: Attributes = { 'otel.metric.overflow': true };

export interface AggregatorHooks {
  /** An update landed in the overflow series. */
  overflow(n: number): void;
  /** A tracked connection was evicted. */
  evicted(n: number): void;
}

export class Aggregator {
  private readonly keys: string[];
  private readonly fastFiveTuple: boolean;
  /** Tells this key set's series keys from another's in the same exporter. */
  private readonly signature: string;
  private window = new Map<string, SeriesWindow>();
  private readonly connections = new Map<number, Connection>();
  private stateCounts?: StateCounts;
  /** Window number, for the connections' cached series. */
  private epoch = 0;
  /**
   * Iterator over the tracked connections, oldest first, kept across evictions: V8 leaves
   * deleted entries at the front of a Map until it rehashes, so a fresh keys().next() per
   * eviction walks over all of them (quadratic); a live iterator resumes where it was.
   */
  private evictFrom?: IterableIterator<number>;
  /** Attributes of the key keyOf() last returned, when it had to build them. */
  private lastAttrs: Attributes | undefined;
  private windowStart: number;

  constructor(
    private readonly config: AggregateConfig,
    private readonly hooks: AggregatorHooks,
    now: number,
  ) {
    this.keys = keyAttributes(config.keys);
    this.fastFiveTuple = this.keys.join(',') === keyAttributes('five_tuple').join(',');
    this.signature = this.keys.join(',');
    this.windowStart = now;
  }

  /** The series key of an event under the configured key set (allocates only the string). */
  private keyOf(ev: TcpEvent): string {
    if (this.fastFiveTuple && !ev.attributes) {
      this.lastAttrs = undefined;
      return `${ev.family}|${ev.localAddress}|${ev.localPort}|${ev.remoteAddress}|${ev.remotePort}`;
    }
    const attrs: Attributes = {};
    let k = '';
    for (const name of this.keys) {
      const v: AttributeValue | undefined = eventAttribute(ev, name);
      k += `${v ?? ''}\u0001`;
      if (v !== undefined) attrs[name] = v;
    }
    this.lastAttrs = attrs;
    return k;
  }

  /** The attributes of the key keyOf(ev) just returned. */
  private attrsOf(ev: TcpEvent): Attributes {
    if (this.lastAttrs) return this.lastAttrs;
    // String-literal keys (the ATTR values), not computed ones: V8 then builds the object
    // from a boilerplate.
    return {
      'network.transport': 'tcp',
      'network.type': ev.family === 6 ? 'ipv6' : 'ipv4',
      'network.local.address': ev.localAddress,
      'network.local.port': ev.localPort,
      'network.peer.address': ev.remoteAddress,
      'network.peer.port': ev.remotePort,
    };
  }

  /** The window's series for key k; created with attrs (else ev's) when new. */
  private series(k: string, attrs: Attributes | undefined, ev: TcpEvent): SeriesWindow {
    let s = this.window.get(k);
    if (s) return s;
    if (this.window.size >= this.config.max_series) {
      this.hooks.overflow(1);
      s = this.window.get(OVERFLOW_KEY);
      if (!s) {
        s = new SeriesWindow(OVERFLOW_ATTRS, OVERFLOW_KEY);
        this.window.set(OVERFLOW_KEY, s);
      }
      return s;
    }
    s = new SeriesWindow(attrs ?? this.attrsOf(ev), k);
    this.window.set(k, s);
    return s;
  }

  /** A tracked connection's series in the current window: looked up once per window. */
  private seriesOf(c: Connection, ev: TcpEvent): SeriesWindow {
    if (c.epoch === this.epoch) {
      const s = c.win!;
      // Updates to the overflow series are counted one by one, as series() does.
      if (s.attributes === OVERFLOW_ATTRS) this.hooks.overflow(1);
      return s;
    }
    const s = this.series(c.series, c.attrs, ev);
    c.win = s;
    c.epoch = this.epoch;
    return s;
  }

  /** A new connection of series k (whose window series is s). */
  private connection(k: string, s: SeriesWindow, ev: TcpEvent, sent: number, received: number, retrans: number, open: boolean): Connection {
    // The window's attributes object when it holds the series (shared), else the event's.
    const attrs = s.key === k ? s.attributes : this.attrsOf(ev);
    return { series: k, attrs, win: s, epoch: this.epoch, sent, received, retrans, open };
  }

  private track(id: number, c: Connection): void {
    if (this.connections.size >= this.config.max_connections) {
      this.evictFrom ??= this.connections.keys();
      let next = this.evictFrom.next();
      if (next.done) {
        this.evictFrom = this.connections.keys();
        next = this.evictFrom.next();
      }
      this.connections.delete(next.value as number);
      this.hooks.evicted(1);
    }
    this.connections.set(id, c);
  }

  /** Adds the counter growth since last seen to the connection's series. */
  private progress(c: Connection, ev: TcpEvent, s: SeriesWindow): void {
    if (ev.bytesSent > c.sent) {
      s.transmit += ev.bytesSent - c.sent;
      c.sent = ev.bytesSent;
    }
    if (ev.bytesReceived > c.received) {
      s.receive += ev.bytesReceived - c.received;
      c.received = ev.bytesReceived;
    }
    if (ev.retransmits > c.retrans) {
      s.retransmits += ev.retransmits - c.retrans;
      c.retrans = ev.retransmits;
    }
  }

  add(batch: EventBatch): void {
    if (batch.stateCounts) this.stateCounts = batch.stateCounts;
    const h = this.config.histograms;
    for (const ev of batch.events) {
      switch (ev.kind) {
        case 'open': {
          const k = this.keyOf(ev);
          const s = this.series(k, undefined, ev);
          s.opened++;
          let c = this.connections.get(ev.socketId);
          if (!c) {
            c = this.connection(k, s, ev, 0, 0, 0, false);
            this.track(ev.socketId, c);
          }
          if (!c.open) {
            c.open = true;
            s.active++;
          }
          this.progress(c, ev, s);
          if (ev.handshakeNs > 0) (s.handshake ??= new Histogram(h.handshake)).record(ev.handshakeNs / 1e9);
          break;
        }
        case 'existing': {
          // Open before we started: active now; its bytes so far are not ours to count.
          const k = this.keyOf(ev);
          const s = this.series(k, undefined, ev);
          const c = this.connections.get(ev.socketId);
          if (!c) {
            this.track(ev.socketId, this.connection(k, s, ev, ev.bytesSent, ev.bytesReceived, ev.retransmits, true));
            s.active++;
          }
          break;
        }
        case 'sample': {
          const c = this.connections.get(ev.socketId);
          if (!c) {
            // Not seen before (evicted, or no snapshot): from now on.
            const k = this.keyOf(ev);
            const s = this.series(k, undefined, ev);
            this.track(ev.socketId, this.connection(k, s, ev, ev.bytesSent, ev.bytesReceived, ev.retransmits, true));
            s.active++;
            break;
          }
          const s = this.seriesOf(c, ev);
          this.progress(c, ev, s);
          if (ev.srttUs > 0) (s.rtt ??= new Histogram(h.rtt)).record(ev.srttUs / 1e6);
          break;
        }
        case 'retransmit': {
          // Counted from the connection's running total, so that a lost event or the
          // close catches up without counting anything twice.
          let c = this.connections.get(ev.socketId);
          if (!c) {
            const k = this.keyOf(ev);
            c = { series: k, attrs: this.attrsOf(ev), win: undefined, epoch: -1, sent: 0, received: 0, retrans: 0, open: false };
            if (ev.preexisting) {
              c.sent = ev.bytesSent;
              c.received = ev.bytesReceived;
              c.retrans = Math.max(0, ev.retransmits - 1);
            }
            this.track(ev.socketId, c);
          }
          this.progress(c, ev, this.seriesOf(c, ev));
          break;
        }
        case 'close': {
          const c = this.connections.get(ev.socketId);
          const s = c ? this.seriesOf(c, ev) : this.series(this.keyOf(ev), undefined, ev);
          s.closed++;
          if (c) {
            this.progress(c, ev, s);
            if (c.open) s.active--;
            this.connections.delete(ev.socketId);
          } else {
            // Never seen: its whole life counts now.
            s.transmit += ev.bytesSent;
            s.receive += ev.bytesReceived;
            s.retransmits += ev.retransmits;
          }
          if (ev.srttUs > 0) (s.rtt ??= new Histogram(h.rtt)).record(ev.srttUs / 1e6);
          if (ev.durationNs > 0) (s.duration ??= new Histogram(h.duration)).record(ev.durationNs / 1e9);
          break;
        }
        case 'failed': {
          const s = this.series(this.keyOf(ev), undefined, ev);
          const reason = errorType(ev.errno);
          (s.failed ??= new Map()).set(reason, (s.failed.get(reason) ?? 0) + 1);
          this.connections.delete(ev.socketId);
          break;
        }
        case 'reset': {
          const s = this.series(this.keyOf(ev), undefined, ev);
          if (ev.reset === 'received') s.resetsReceived++;
          else s.resetsSent++;
          break;
        }
        case 'state':
          break;
      }
    }
  }

  /** Ends the window: its metric points, and a fresh window. */
  flush(now: number): MetricBatch {
    const points: MetricPoint[] = [];
    const M = TCP_METRICS;
    // Series keys from the aggregator's own key (unique per attribute values), not from
    // sorting attributes: flushing tens of thousands of series stays cheap.
    let base = '';
    const sum = (name: string, attrs: Attributes, value: number, suffix = '') => {
      points.push({ type: 'sum', name, attributes: attrs, seriesKey: `${name}\u0000${base}${suffix}`, value } satisfies SumPoint);
    };
    const hist = (name: string, attrs: Attributes, hg: Histogram) => {
      points.push({
        type: 'histogram',
        name,
        attributes: attrs,
        seriesKey: `${name}\u0000${base}`,
        count: hg.count,
        sum: hg.sum,
        min: hg.min,
        max: hg.max,
        bucketCounts: hg.counts,
        bounds: hg.bounds,
      } satisfies HistogramPoint);
    };
    for (const s of this.window.values()) {
      const a = s.attributes;
      base = `${this.signature}\u0000${s.key}`;
      if (s.opened) sum(M.opened.name, a, s.opened);
      if (s.closed) sum(M.closed.name, a, s.closed);
      if (s.active) sum(M.active.name, a, s.active);
      if (s.failed) for (const [reason, n] of s.failed) sum(M.failed.name, { ...a, [ATTR.errorType]: reason }, n, `\u0000${reason}`);
      if (s.transmit) sum(M.io.name, { ...a, [ATTR.networkIoDirection]: 'transmit' }, s.transmit, '\u0000tx');
      if (s.receive) sum(M.io.name, { ...a, [ATTR.networkIoDirection]: 'receive' }, s.receive, '\u0000rx');
      if (s.retransmits) sum(M.retransmits.name, a, s.retransmits);
      if (s.resetsSent) sum(M.resets.name, { ...a, [ATTR.resetDirection]: 'sent' }, s.resetsSent, '\u0000sent');
      if (s.resetsReceived) sum(M.resets.name, { ...a, [ATTR.resetDirection]: 'received' }, s.resetsReceived, '\u0000received');
      if (s.rtt) hist(M.rtt.name, a, s.rtt);
      if (s.handshake) hist(M.handshake.name, a, s.handshake);
      if (s.duration) hist(M.duration.name, a, s.duration);
    }
    if (this.stateCounts) {
      for (const [family, counts] of [['ipv4', this.stateCounts.v4], ['ipv6', this.stateCounts.v6]] as const) {
        for (const [state, n] of Object.entries(counts)) {
          const attrs = { [ATTR.networkConnectionState]: state, [ATTR.networkTransport]: 'tcp', [ATTR.networkType]: family };
          points.push({ type: 'gauge', name: M.connectionCount.name, attributes: attrs, seriesKey: seriesKey(M.connectionCount.name, attrs), value: n ?? 0 } satisfies GaugePoint);
        }
      }
      this.stateCounts = undefined;
    }
    const batch: MetricBatch = { type: 'metrics', startTime: hrTimeFromMs(this.windowStart), endTime: hrTimeFromMs(now), points };
    this.window = new Map();
    this.epoch++;
    this.windowStart = now;
    return batch;
  }

  /** Connections currently tracked (for tests and self-telemetry). */
  get trackedConnections(): number {
    return this.connections.size;
  }
}
