/**
 * The process-wide memory limit (service::memory_limit), after the Collector's
 * memory_limiter: memory is looked at every check_interval; above the soft limit (limit
 * minus spike_limit, for the resident set) or when V8's heap is fuller than
 * max_heap_percent of what V8 allows, new data is shed at the entry of every pipeline,
 * counted, until memory is back under. Shedding early is what keeps V8 from aborting the
 * process when something upstream produces faster than the exporters can take.
 */
import { getHeapStatistics } from 'node:v8';
import type { Logger } from './logger.js';
import type { Telemetry } from './telemetry.js';
import { SELF_METRICS_DEFS } from '../semconv/metrics.js';

export interface MemoryLimitOptions {
  /** Resident set bytes; 0: no RSS limit. */
  limit: number;
  /** 0: 20% of limit. */
  spike_limit: number;
  max_heap_percent: number;
  check_interval: number;
}

export interface MemoryReading {
  rss: number;
  heapUsed: number;
  heapLimit: number;
}

export function readMemory(): MemoryReading {
  const h = getHeapStatistics();
  return { rss: process.memoryUsage.rss(), heapUsed: h.used_heap_size, heapLimit: h.heap_size_limit };
}

export class MemoryGuard {
  /** New data is being shed. */
  shedding = false;
  private timer?: NodeJS.Timeout;
  private lastCheck = 0;
  readonly softLimit: number;

  constructor(
    private readonly o: MemoryLimitOptions,
    private readonly logger: Logger,
    telemetry?: Telemetry,
    private readonly read: () => MemoryReading = readMemory,
  ) {
    this.softLimit = o.limit > 0 ? o.limit - (o.spike_limit || Math.floor(o.limit / 5)) : 0;
    telemetry?.gauge(SELF_METRICS_DEFS.memoryShedding.name, {}, () => (this.shedding ? 1 : 0));
  }

  start(): void {
    this.check();
    this.timer = setInterval(() => this.check(), this.o.check_interval);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /**
   * Whether to shed now, looking at memory again when the last look is older than
   * check_interval: called from the data path, it works even while a stream of data keeps
   * the event loop from running timers.
   */
  sheddingNow(): boolean {
    if (Date.now() - this.lastCheck >= this.o.check_interval) this.check();
    return this.shedding;
  }

  /** Looks at memory now; starts or stops shedding. */
  check(): boolean {
    this.lastCheck = Date.now();
    const m = this.read();
    const rssOver = this.softLimit > 0 && m.rss > this.softLimit;
    const heapOver = m.heapUsed > (m.heapLimit * this.o.max_heap_percent) / 100;
    const over = rssOver || heapOver;
    if (over !== this.shedding) {
      this.shedding = over;
      const fields = { rss: m.rss, softLimit: this.softLimit || undefined, heapUsed: m.heapUsed, heapLimit: m.heapLimit };
      if (over) this.logger.warn(fields, `memory limit: ${rssOver ? 'resident memory is above limit - spike_limit' : `V8's heap is more than ${this.o.max_heap_percent}% full`}: shedding new data (counted as dropped, reason memory_limit) until it is back under`);
      else this.logger.info(fields, 'memory limit: back under: taking data again');
    }
    return over;
  }
}
