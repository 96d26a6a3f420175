/** A bounded LRU map with per-entry expiry, for what was read about processes. */
export class TtlCache<K, V> {
  private readonly map = new Map<K, { value: V; expires: number }>();

  constructor(
    private readonly capacity: number,
    /** Called with the number of live entries pushed out by the cap. */
    private readonly onEvict: (n: number) => void = () => {},
  ) {}

  get size(): number {
    return this.map.size;
  }

  /** The value if present and not expired at `now` (it becomes the most recently used). */
  get(key: K, now: number): { value: V } | undefined {
    const e = this.map.get(key);
    if (!e) return undefined;
    this.map.delete(key);
    if (e.expires <= now) return undefined;
    this.map.set(key, e);
    return e;
  }

  set(key: K, value: V, ttl: number, now: number): void {
    this.map.delete(key);
    this.map.set(key, { value, expires: now + ttl });
    if (this.map.size > this.capacity) {
      let evicted = 0;
      for (const [k, e] of this.map) {
        if (this.map.size <= this.capacity) break;
        this.map.delete(k);
        if (e.expires > now) evicted++;
      }
      if (evicted) this.onEvict(evicted);
    }
  }
}
