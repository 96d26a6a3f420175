/** The view's list of recent failed connects and resets (from a logs pipeline), newest first. */
import type { EventBatch, TcpEvent } from '../../core/events.js';
import { errorType } from '../../core/events.js';
import { ATTR } from '../../semconv/attributes.js';
import { endpoint, type RecentEvent } from './snapshot.js';

function pairKey(ev: TcpEvent): string {
  const a = `${ev.localAddress}|${ev.localPort}`;
  const b = `${ev.remoteAddress}|${ev.remotePort}`;
  return a < b ? `${a}|${b}` : `${b}|${a}`;
}

export class RecentEvents {
  private list: RecentEvent[] = [];

  constructor(
    /** Events kept, at most. */
    private readonly max: number,
    private readonly wallMs: (ns: number) => number,
  ) {}

  /**
   * Takes connection events (a logs pipeline): keeps the failed connects and resets. The
   * resets that answer a failed connect (a refused SYN gets a RST back, and the kernel
   * reports it on both ends) are folded into its `failed` line.
   */
  add(batch: EventBatch): void {
    if (this.max === 0) return;
    const failedPairs = new Set<string>();
    for (const ev of batch.events) if (ev.kind === 'failed') failedPairs.add(pairKey(ev));
    for (const r of this.list) {
      if (r.kind === 'failed') failedPairs.add(r.pair);
    }
    const fresh: RecentEvent[] = [];
    for (const ev of batch.events) {
      if (ev.kind !== 'failed' && ev.kind !== 'reset') continue;
      if (ev.kind === 'reset' && failedPairs.has(pairKey(ev))) continue;
      fresh.push(this.recentOf(ev));
    }
    if (!fresh.length) return;
    fresh.sort((a, b) => b.timeMs - a.timeMs);
    this.list = [...fresh, ...this.list].slice(0, this.max);
  }

  private recentOf(ev: TcpEvent): RecentEvent {
    const comm = ev.attributes?.[ATTR.processExecutableName];
    return {
      kind: ev.kind as 'failed' | 'reset',
      timeMs: this.wallMs(ev.timeNs),
      local: endpoint(ev.localAddress, ev.localPort)!,
      peer: endpoint(ev.remoteAddress, ev.remotePort)!,
      arrow: ev.direction === 'inbound' ? '<-' : '->',
      reason: ev.kind === 'failed' ? errorType(ev.errno) : (ev.reset ?? 'sent'),
      pid: ev.pid,
      comm: typeof comm === 'string' ? comm : ev.comm,
      pair: pairKey(ev),
    };
  }

  /** The events whose text contains `filter` (any case), all of them when it is empty. */
  matching(filter = ''): RecentEvent[] {
    const f = filter.toLowerCase();
    if (!f) return this.list.slice();
    return this.list.filter((r) => `${r.kind} ${r.local} ${r.peer} ${r.reason} ${r.pid || ''} ${r.comm}`.toLowerCase().includes(f));
  }
}
