/**
 * The aggregate processor's tracked connections, in one flat table: open addressing with
 * linear probing, keyed by socket id, each slot's state in the same 80-byte row as its
 * key. A lookup lands on the row that holds the state (one or two cache lines), where a Map
 * would go to its entry and then to an object; and nothing is allocated per connection.
 *
 * Deletion shifts the following rows back (no tombstones). The oldest connection is
 * found through a queue of (socket id, insertion number) kept in insertion order; entries
 * of connections deleted meanwhile are skipped, and the queue is compacted when it fills.
 */

import { fmix32 } from '../../core/hash.js';
import { TWO_32 } from '../../native/records.js';

/** Row layout (Float64Array, 8 per slot). Socket ids are below 2^53 and never negative. */
const KEY = 0;
export const ROW = 1;
export const EPOCH = 2;
export const OPEN = 3;
export const SENT = 4;
export const RECEIVED = 5;
export const RETRANS = 6;
const SEQ = 7;
export const SEGS_OUT = 8;
export const SEGS_IN = 9;
export const STRIDE = 10;
const EMPTY = -1;
const MIN_SLOTS = 1024;

function hashId(id: number): number {
  // Both halves of the id (cookies from raw_tp are above 2^52), mixed.
  return fmix32((id | 0) ^ Math.imul((id / TWO_32) | 0, 0x9e3779b1));
}

export class ConnectionTable<K, A> {
  /** The rows: key, then the state columns above. Read and write them with `slot * STRIDE + column`. */
  data: Float64Array;
  /** Per slot: what the caller keeps beside the numbers (moved with its row). */
  keys: (K | undefined)[];
  attrs: (A | undefined)[];
  private mask: number;
  private count = 0;
  private seq = 0;
  /** Insertion order: (id, seq) pairs from `head` to `tail`. */
  private queue: Float64Array;
  private head = 0;
  private tail = 0;

  constructor(private readonly max: number) {
    const slots = MIN_SLOTS;
    this.data = new Float64Array(slots * STRIDE).fill(EMPTY);
    this.keys = new Array<K | undefined>(slots);
    this.attrs = new Array<A | undefined>(slots);
    this.mask = slots - 1;
    this.queue = new Float64Array(2 * Math.min(MIN_SLOTS, Math.max(16, max)));
  }

  get size(): number {
    return this.count;
  }

  /** The id's slot, or -1. */
  find(id: number): number {
    const d = this.data;
    const mask = this.mask;
    let i = hashId(id) & mask;
    for (;;) {
      const k = d[i * STRIDE]!;
      if (k === id) return i;
      if (k === EMPTY) return -1;
      i = (i + 1) & mask;
    }
  }

  /**
   * A new slot for an id not in the table, its state columns zero. When the table is at
   * its limit the oldest connection goes first: `evicted` is then called (before the
   * new slot is chosen, as slots move on deletion).
   */
  insert(id: number, key: K, attrs: A, evicted: () => void): number {
    if (this.count >= this.max) {
      this.evictOldest();
      evicted();
    }
    if ((this.count + 1) * 2 > this.mask + 1) this.grow();
    const d = this.data;
    const mask = this.mask;
    let i = hashId(id) & mask;
    while (d[i * STRIDE] !== EMPTY) i = (i + 1) & mask;
    const o = i * STRIDE;
    d[o + KEY] = id;
    d[o + ROW] = 0;
    d[o + EPOCH] = 0;
    d[o + OPEN] = 0;
    d[o + SENT] = 0;
    d[o + RECEIVED] = 0;
    d[o + RETRANS] = 0;
    d[o + SEGS_OUT] = 0;
    d[o + SEGS_IN] = 0;
    const seq = this.seq++;
    d[o + SEQ] = seq;
    this.keys[i] = key;
    this.attrs[i] = attrs;
    this.count++;
    this.enqueue(id, seq);
    return i;
  }

  /** Removes the connection in `slot` (the rows after it may move). */
  deleteSlot(slot: number): void {
    const d = this.data;
    const mask = this.mask;
    const keys = this.keys;
    const attrs = this.attrs;
    let hole = slot;
    let i = slot;
    // Backward-shift deletion: move up every following row whose home is at or before the hole.
    for (;;) {
      i = (i + 1) & mask;
      const k = d[i * STRIDE]!;
      if (k === EMPTY) break;
      const home = hashId(k) & mask;
      // Is `home` cyclically outside (hole, i]? Then the row may fill the hole.
      if (hole <= i ? home <= hole || home > i : home <= hole && home > i) {
        d.copyWithin(hole * STRIDE, i * STRIDE, i * STRIDE + STRIDE);
        keys[hole] = keys[i];
        attrs[hole] = attrs[i];
        hole = i;
      }
    }
    d[hole * STRIDE] = EMPTY;
    keys[hole] = undefined;
    attrs[hole] = undefined;
    this.count--;
  }

  delete(id: number): boolean {
    const slot = this.find(id);
    if (slot < 0) return false;
    this.deleteSlot(slot);
    return true;
  }

  private evictOldest(): void {
    const q = this.queue;
    const cap = q.length;
    while (this.head !== this.tail) {
      const id = q[this.head]!;
      const seq = q[this.head + 1]!;
      this.head = (this.head + 2) % cap;
      const slot = this.find(id);
      if (slot >= 0 && this.data[slot * STRIDE + SEQ] === seq) {
        this.deleteSlot(slot);
        return;
      }
    }
  }

  private enqueue(id: number, seq: number): void {
    let cap = this.queue.length;
    if ((this.tail + 2) % cap === this.head) {
      // Full: keep the entries still live (in order); grow when most of them are.
      const live: number[] = [];
      for (let p = this.head; p !== this.tail; p = (p + 2) % cap) {
        const slot = this.find(this.queue[p]!);
        if (slot >= 0 && this.data[slot * STRIDE + SEQ] === this.queue[p + 1]) live.push(this.queue[p]!, this.queue[p + 1]!);
      }
      if (live.length + 2 > cap / 2) cap *= 2;
      this.queue = new Float64Array(cap);
      this.queue.set(live);
      this.head = 0;
      this.tail = live.length;
    }
    this.queue[this.tail] = id;
    this.queue[this.tail + 1] = seq;
    this.tail = (this.tail + 2) % cap;
  }

  private grow(): void {
    const old = this.data;
    const oldKeys = this.keys;
    const oldAttrs = this.attrs;
    const slots = (this.mask + 1) * 2;
    this.data = new Float64Array(slots * STRIDE).fill(EMPTY);
    this.keys = new Array<K | undefined>(slots);
    this.attrs = new Array<A | undefined>(slots);
    this.mask = slots - 1;
    const d = this.data;
    for (let s = 0; s < old.length / STRIDE; s++) {
      const k = old[s * STRIDE]!;
      if (k === EMPTY) continue;
      let i = hashId(k) & this.mask;
      while (d[i * STRIDE] !== EMPTY) i = (i + 1) & this.mask;
      d.set(old.subarray(s * STRIDE, s * STRIDE + STRIDE), i * STRIDE);
      this.keys[i] = oldKeys[s];
      this.attrs[i] = oldAttrs[s];
    }
  }
}
