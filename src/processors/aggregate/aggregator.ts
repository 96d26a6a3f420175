/**
 * Window state of the aggregate processor: connection events in, metric deltas out.
 *
 * Per connection (by socket id) it remembers the series it belongs to and the counters
 * already accounted for, so that live samples and the final close add only what is new,
 * and `active` goes up once and down once.
 */
import type { AttributeValue, EventBatch, StateCounts, TcpEvent } from '../../core/events.js';
import { errorType } from '../../core/events.js';
import type { Attributes, MetricBatch, SeriesTable } from '../../core/metrics.js';
import { COLUMN, COLUMNS, stringHash } from '../../core/metrics.js';
import { ATTR, eventAttribute, fiveTupleAttributes } from '../../semconv/attributes.js';
import { TCP_METRICS } from '../../semconv/metrics.js';
import type { AggregateConfig } from './config.js';
import { keyAttributes } from './config.js';
import { tupleWordsHash, type RawTuple } from '../../core/hash.js';
import { OWNER_WORD, TUPLE_WORDS } from '../../native/records.js';
import { ConnectionTable, EPOCH, OPEN, RECEIVED, RETRANS, ROW, SEGS_IN, SEGS_OUT, SENT, STRIDE } from './connections.js';
import { HIST_UNITS, HistogramRows, OVERFLOW_ATTRS, OVERFLOW_KEY, stateCountPoints, tableBatch } from './window.js';

const { opened: OPENED, closed: CLOSED, active: ACTIVE, transmit: TRANSMIT, receive: RECEIVE, retransmits: RETRANSMITS, resetsSent: RESETS_SENT, resetsReceived: RESETS_RECEIVED, segmentsOut: SEGMENTS_OUT, segmentsIn: SEGMENTS_IN } = COLUMN;

/**
 * Key attributes learnt after a connection opened (from its first payload bytes): a
 * tracked connection moves to the series of its new values when they change.
 */
const LATE_KEYS: readonly string[] = [ATTR.networkProtocolName, ATTR.tlsServerName];

/** A connection's loss in parts per million (the kernel's integer arithmetic). */
function lossPpm(ev: TcpEvent): number {
  return Math.floor((ev.retransmits * 1e6) / ev.segmentsOut);
}
const INITIAL_ROWS = 256;

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
  /** The current window: series key → row; per row its key and attributes. */
  private window = new Map<string, number>();
  private rowKeys: string[] = [];
  private rowAttrs: Attributes[] = [];
  private rows = 0;
  private capacity = INITIAL_ROWS;
  private counters = new Float64Array(INITIAL_ROWS * COLUMNS);
  private readonly rtt: HistogramRows;
  private readonly handshake: HistogramRows;
  private readonly duration: HistogramRows;
  private readonly loss: HistogramRows;
  /** The key attributes learnt late (LATE_KEYS) this aggregate keys on. */
  private readonly lateKeys: string[];
  /** Failed connects by reason, for the rows that have any. */
  private failed = new Map<number, Map<string, number>>();
  private overflowRow = -1;
  /**
   * Per tracked connection: its row in the window numbered EPOCH (no lookup while that
   * window lasts), whether it counts in `active`, and the counters already accounted for;
   * beside them its series' key and attributes (valid in any window).
   */
  private readonly connections: ConnectionTable<string, Attributes>;
  private readonly onEvicted = () => this.hooks.evicted(1);
  private stateCounts?: StateCounts;
  /** Window number, for the connections' cached rows (from 1: a new connection's 0 is none). */
  private epoch = 1;
  /**
   * Keys of the five-tuple (and the owner's pid or command name, if keyed on), from raw
   * records: an index from the record's words to its row, in front of the string-keyed
   * window (no key text built for a series already seen in the window). `index` holds
   * row + 1 (0: empty), `tuples` each indexed row's words.
   */
  private readonly rawKeys: boolean;
  private readonly rawPid: boolean;
  private readonly rawComm: boolean;
  /** Words of the raw key that count: the five-tuple's, and the owner's when keyed on. */
  private readonly rawWords: number;
  /**
   */
  private index = new Int32Array(INITIAL_ROWS * 2);
  private indexed = 0;
  private tuples: Uint32Array;
  private readonly scratch = new Uint32Array(TUPLE_WORDS);
  /** The series key of the row rowOf() last returned. */
  private lastKey = '';
  /** Attributes of the key keyOf() last returned, when it had to build them. */
  private lastAttrs: Attributes | undefined;
  private windowStart: number;

  constructor(
    private readonly config: AggregateConfig,
    private readonly hooks: AggregatorHooks,
    now: number,
  ) {
    this.keys = keyAttributes(config.keys);
    const five = keyAttributes('five_tuple');
    this.fastFiveTuple = this.keys.join(',') === five.join(',');
    this.rawPid = this.keys.includes(ATTR.processPid);
    this.rawComm = this.keys.includes(ATTR.processExecutableName);
    this.rawWords = this.rawPid || this.rawComm ? TUPLE_WORDS : OWNER_WORD;
    this.tuples = new Uint32Array(INITIAL_ROWS * this.rawWords);
    this.rawKeys = five.every((k) => this.keys.includes(k)) && this.keys.every((k) => five.includes(k) || k === ATTR.processPid || k === ATTR.processExecutableName);
    this.signature = this.keys.join(',');
    this.windowStart = now;
    this.connections = new ConnectionTable(config.max_connections);
    const h = config.histograms;
    const M = TCP_METRICS;
    this.rtt = new HistogramRows(M.rtt.name, h.rtt, HIST_UNITS.rtt, INITIAL_ROWS);
    this.handshake = new HistogramRows(M.handshake.name, h.handshake, HIST_UNITS.handshake, INITIAL_ROWS);
    this.duration = new HistogramRows(M.duration.name, h.duration, HIST_UNITS.duration, INITIAL_ROWS);
    this.loss = new HistogramRows(M.loss.name, h.loss, HIST_UNITS.loss, INITIAL_ROWS);
    this.lateKeys = this.keys.filter((k) => LATE_KEYS.includes(k));
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
    return this.lastAttrs ?? fiveTupleAttributes(ev);
  }

  /** The window's row of an event's series (its key in lastKey). */
  private rowOf(ev: TcpEvent): number {
    const raw = ev as TcpEvent & Partial<RawTuple>;
    if (!this.rawKeys || ev.attributes !== undefined || raw.copyTuple === undefined) {
      const k = this.keyOf(ev);
      this.lastKey = k;
      return this.series(k, undefined, ev);
    }
    const sc = this.scratch;
    raw.copyTuple(sc, 0);
    if (this.rawPid || this.rawComm) {
      raw.copyOwner!(sc, OWNER_WORD);
      if (!this.rawPid) sc[OWNER_WORD] = 0;
      if (!this.rawComm) sc.fill(0, OWNER_WORD + 1);
    }
    const idx = this.index;
    const mask = idx.length - 1;
    const t = this.tuples;
    const n = this.rawWords;
    let i = tupleWordsHash(sc, 0, n) & mask;
    for (;;) {
      const r = idx[i]!;
      if (r === 0) break;
      const o = (r - 1) * n;
      let w = 0;
      while (w < n && t[o + w] === sc[w]) w++;
      if (w === n) {
        this.lastKey = this.rowKeys[r - 1]!;
        this.lastAttrs = this.rowAttrs[r - 1];
        return r - 1;
      }
      i = (i + 1) & mask;
    }
    const k = this.keyOf(ev);
    this.lastKey = k;
    const row = this.series(k, undefined, ev);
    if (row !== this.overflowRow) {
      // (series() may have grown the tables: this.tuples, not t.)
      this.tuples.set(sc.subarray(0, this.rawWords), row * this.rawWords);
      idx[i] = row + 1;
      if (++this.indexed * 2 > idx.length) this.reindex(idx.length * 2);
    }
    return row;
  }

  /** A bigger index over the rows indexed so far. */
  private reindex(size: number): void {
    const old = this.index;
    const idx = new Int32Array(size);
    const mask = size - 1;
    for (const r of old) {
      if (r === 0) continue;
      let i = tupleWordsHash(this.tuples, (r - 1) * this.rawWords, this.rawWords) & mask;
      while (idx[i] !== 0) i = (i + 1) & mask;
      idx[i] = r;
    }
    this.index = idx;
  }

  /** A new row for a series (the table grows by doubling). */
  private newRow(k: string, attrs: Attributes): number {
    if (this.rows === this.capacity) {
      this.capacity *= 2;
      const c = new Float64Array(this.capacity * COLUMNS);
      c.set(this.counters);
      this.counters = c;
      this.rtt.grow(this.capacity);
      this.handshake.grow(this.capacity);
      this.duration.grow(this.capacity);
      this.loss.grow(this.capacity);
      const tu = new Uint32Array(this.capacity * this.rawWords);
      tu.set(this.tuples);
      this.tuples = tu;
    }
    const row = this.rows++;
    this.rowKeys.push(k);
    this.rowAttrs.push(attrs);
    this.window.set(k, row);
    return row;
  }

  /** The window's row for series key k; created with attrs (else ev's) when new. */
  private series(k: string, attrs: Attributes | undefined, ev: TcpEvent): number {
    const row = this.window.get(k);
    if (row !== undefined) return row;
    if (this.rows - (this.overflowRow >= 0 ? 1 : 0) >= this.config.max_series) {
      this.hooks.overflow(1);
      if (this.overflowRow < 0) this.overflowRow = this.newRow(OVERFLOW_KEY, OVERFLOW_ATTRS);
      return this.overflowRow;
    }
    return this.newRow(k, attrs ?? this.attrsOf(ev));
  }

  /** A tracked connection's row in the current window: looked up once per window. */
  private seriesOf(slot: number, ev: TcpEvent): number {
    const t = this.connections;
    const o = slot * STRIDE;
    if (t.data[o + EPOCH] === this.epoch) {
      const row = t.data[o + ROW]!;
      // Updates to the overflow series are counted one by one, as series() does.
      if (row === this.overflowRow) this.hooks.overflow(1);
      return row;
    }
    const row = this.series(t.keys[slot]!, t.attrs[slot]!, ev);
    t.data[o + ROW] = row;
    t.data[o + EPOCH] = this.epoch;
    return row;
  }

  /** Tracks a new connection of series k, whose window row is `row` (-1: none yet); its slot. */
  private track(id: number, k: string, row: number, ev: TcpEvent, sent: number, received: number, retrans: number, open: boolean, segsOut = 0, segsIn = 0): number {
    // The window's attributes object when it holds the series (shared), else the event's.
    const attrs = row >= 0 && row !== this.overflowRow ? this.rowAttrs[row]! : this.attrsOf(ev);
    const t = this.connections;
    const slot = t.insert(id, k, attrs, this.onEvicted);
    const o = slot * STRIDE;
    const d = t.data;
    if (row >= 0) {
      d[o + ROW] = row;
      d[o + EPOCH] = this.epoch;
    }
    d[o + OPEN] = open ? 1 : 0;
    d[o + SENT] = sent;
    d[o + RECEIVED] = received;
    d[o + RETRANS] = retrans;
    d[o + SEGS_OUT] = segsOut;
    d[o + SEGS_IN] = segsIn;
    return slot;
  }

  /** Adds the counter growth since last seen to the connection's row. */
  private progress(slot: number, ev: TcpEvent, row: number): void {
    const t = this.counters;
    const o = row * COLUMNS;
    const d = this.connections.data;
    const c = slot * STRIDE;
    const sent = ev.bytesSent;
    if (sent > d[c + SENT]!) {
      t[o + TRANSMIT] += sent - d[c + SENT]!;
      d[c + SENT] = sent;
    }
    const received = ev.bytesReceived;
    if (received > d[c + RECEIVED]!) {
      t[o + RECEIVE] += received - d[c + RECEIVED]!;
      d[c + RECEIVED] = received;
    }
    const retrans = ev.retransmits;
    if (retrans > d[c + RETRANS]!) {
      t[o + RETRANSMITS] += retrans - d[c + RETRANS]!;
      d[c + RETRANS] = retrans;
    }
    const segsOut = ev.segmentsOut;
    if (segsOut > d[c + SEGS_OUT]!) {
      t[o + SEGMENTS_OUT] += segsOut - d[c + SEGS_OUT]!;
      d[c + SEGS_OUT] = segsOut;
    }
    const segsIn = ev.segmentsIn;
    if (segsIn > d[c + SEGS_IN]!) {
      t[o + SEGMENTS_IN] += segsIn - d[c + SEGS_IN]!;
      d[c + SEGS_IN] = segsIn;
    }
  }

  /**
   * A tracked connection whose late key attributes (its protocol, learnt from its first
   * bytes) changed since its series was chosen moves to its new series: it leaves the old
   * one's active count for the new one's. What it counts from then on goes there.
   */
  private rekey(slot: number, ev: TcpEvent): void {
    if (this.lateKeys.length === 0) return;
    const t = this.connections;
    const tracked = t.attrs[slot]!;
    let changed = false;
    for (const k of this.lateKeys) if (tracked[k] !== eventAttribute(ev, k)) changed = true;
    if (!changed) return;
    const o = slot * STRIDE;
    const open = t.data[o + OPEN] === 1;
    if (open) this.counters[this.seriesOf(slot, ev) * COLUMNS + ACTIVE]--;
    const attrs: Attributes = {};
    let key = '';
    for (const name of this.keys) {
      const v = LATE_KEYS.includes(name) ? eventAttribute(ev, name) : tracked[name];
      key += `${v ?? ''}\u0001`;
      if (v !== undefined) attrs[name] = v;
    }
    t.keys[slot] = key;
    t.attrs[slot] = attrs;
    t.data[o + EPOCH] = 0;
    if (open) this.counters[this.seriesOf(slot, ev) * COLUMNS + ACTIVE]++;
  }

  add(batch: EventBatch): void {
    if (batch.stateCounts) this.stateCounts = batch.stateCounts;
    const conns = this.connections;
    for (const ev of batch.events) {
      switch (ev.kind) {
        case 'open': {
          const row = this.rowOf(ev);
          const k = this.lastKey;
          const o = row * COLUMNS;
          this.counters[o + OPENED]++;
          let slot = conns.find(ev.socketId);
          if (slot < 0) slot = this.track(ev.socketId, k, row, ev, 0, 0, 0, false);
          if (conns.data[slot * STRIDE + OPEN] === 0) {
            conns.data[slot * STRIDE + OPEN] = 1;
            this.counters[o + ACTIVE]++;
          }
          this.progress(slot, ev, row);
          const hs = ev.handshakeNs;
          if (hs > 0) this.handshake.record(row, hs);
          break;
        }
        case 'existing': {
          // Open before we started: active now; its bytes so far are not ours to count.
          const row = this.rowOf(ev);
          const k = this.lastKey;
          if (conns.find(ev.socketId) < 0) {
            this.track(ev.socketId, k, row, ev, ev.bytesSent, ev.bytesReceived, ev.retransmits, true, ev.segmentsOut, ev.segmentsIn);
            this.counters[row * COLUMNS + ACTIVE]++;
          }
          break;
        }
        case 'sample': {
          const slot = conns.find(ev.socketId);
          if (slot < 0) {
            // Not seen before (evicted, or no snapshot): from now on.
            const row = this.rowOf(ev);
            const k = this.lastKey;
            this.track(ev.socketId, k, row, ev, ev.bytesSent, ev.bytesReceived, ev.retransmits, true, ev.segmentsOut, ev.segmentsIn);
            this.counters[row * COLUMNS + ACTIVE]++;
            break;
          }
          this.rekey(slot, ev);
          const row = this.seriesOf(slot, ev);
          this.progress(slot, ev, row);
          const srtt = ev.srttUs;
          if (srtt > 0) this.rtt.record(row, srtt);
          break;
        }
        case 'retransmit': {
          // Counted from the connection's running total, so that a lost event or the
          // close catches up without counting anything twice.
          let slot = conns.find(ev.socketId);
          if (slot < 0) {
            const k = this.keyOf(ev);
            slot = ev.preexisting
              ? this.track(ev.socketId, k, -1, ev, ev.bytesSent, ev.bytesReceived, Math.max(0, ev.retransmits - 1), false, ev.segmentsOut, ev.segmentsIn)
              : this.track(ev.socketId, k, -1, ev, 0, 0, 0, false);
          }
          this.rekey(slot, ev);
          this.progress(slot, ev, this.seriesOf(slot, ev));
          break;
        }
        case 'close': {
          const slot = conns.find(ev.socketId);
          if (slot >= 0) this.rekey(slot, ev);
          const row = slot >= 0 ? this.seriesOf(slot, ev) : this.series(this.keyOf(ev), undefined, ev);
          const t = this.counters;
          const o = row * COLUMNS;
          t[o + CLOSED]++;
          if (slot >= 0) {
            this.progress(slot, ev, row);
            if (conns.data[slot * STRIDE + OPEN] === 1) t[o + ACTIVE]--;
            conns.deleteSlot(slot);
          } else {
            // Never seen: its whole life counts now.
            t[o + TRANSMIT] += ev.bytesSent;
            t[o + RECEIVE] += ev.bytesReceived;
            t[o + RETRANSMITS] += ev.retransmits;
            t[o + SEGMENTS_OUT] += ev.segmentsOut;
            t[o + SEGMENTS_IN] += ev.segmentsIn;
          }
          const srtt = ev.srttUs;
          if (srtt > 0) this.rtt.record(row, srtt);
          const d = ev.durationNs;
          if (d > 0) this.duration.record(row, d);
          if (ev.segmentsOut > 0) this.loss.record(row, lossPpm(ev));
          break;
        }
        case 'failed': {
          const row = this.series(this.keyOf(ev), undefined, ev);
          const reason = errorType(ev.errno);
          let m = this.failed.get(row);
          if (!m) this.failed.set(row, (m = new Map()));
          m.set(reason, (m.get(reason) ?? 0) + 1);
          conns.delete(ev.socketId);
          break;
        }
        case 'reset': {
          const row = this.series(this.keyOf(ev), undefined, ev);
          this.counters[row * COLUMNS + (ev.reset === 'received' ? RESETS_RECEIVED : RESETS_SENT)]++;
          break;
        }
        case 'state':
          break;
      }
    }
  }

  /**
   * Ends the window: its table (the points are made from it when something reads them),
   * and a fresh window.
   */
  flush(now: number): MetricBatch {
    const rows = this.rows;
    const rowKeys = this.rowKeys;
    const rowAttrs = this.rowAttrs;
    const failed = this.failed;
    const table: SeriesTable = {
      rows,
      counters: this.counters.slice(0, rows * COLUMNS),
      hists: [this.rtt.column(rows), this.handshake.column(rows), this.duration.column(rows), this.loss.column(rows)],
      overflowRow: this.overflowRow,
      signature: this.signature,
      failed: (row) => failed.get(row),
      attributes: (row) => rowAttrs[row]!,
      key: (row) => rowKeys[row]!,
      hash: (row) => stringHash(rowKeys[row]!),
    };
    const extra = stateCountPoints(this.stateCounts);
    this.stateCounts = undefined;
    const batch = tableBatch(table, this.windowStart, now, extra);
    // A fresh window: the rows zeroed, the keys forgotten.
    this.counters.fill(0, 0, rows * COLUMNS);
    this.rtt.clear(rows);
    this.handshake.clear(rows);
    this.duration.clear(rows);
    this.loss.clear(rows);
    this.window = new Map();
    this.rowKeys = [];
    this.rowAttrs = [];
    this.failed = new Map();
    this.index.fill(0);
    this.indexed = 0;
    this.rows = 0;
    this.overflowRow = -1;
    this.epoch++;
    this.windowStart = now;
    return batch;
  }

  /** Connections currently tracked (for tests and self-telemetry). */
  get trackedConnections(): number {
    return this.connections.size;
  }
}
