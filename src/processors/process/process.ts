import { filter, map, type OperatorFunction } from 'rxjs';
import { SELF_METRICS_DEFS } from '../../semconv/metrics.js';
import type { Batch, ComponentContext } from '../../core/component.js';
import type { AttributeValue, TcpEvent } from '../../core/events.js';
import { copyEvent } from '../../core/events.js';
import { TtlCache } from './cache.js';
import type { ProcessConfig } from './config.js';
import { readProcessInfo, UserNames } from './procfs.js';
import { CgroupIndex, cgroup2Mount } from './cgroup-index.js';
import { ATTR } from '../../semconv/attributes.js';
import { selfAttributes } from '../../core/telemetry.js';

/** Counter of cache entries evicted before their TTL. */
export const PROCESS_CACHE_EVICTED = SELF_METRICS_DEFS.processCacheEvicted.name;

type Info = Record<string, AttributeValue> | null;

export interface ProcessEnrichOptions {
  /** Where /proc is (tests). */
  procRoot?: string;
  passwdPath?: string;
  /** Where cgroup2 is (tests); default: found in /proc/self/mounts. */
  cgroupRoot?: string;
}

/**
 * Adds what /proc says about each event's process: executable name and path, owner,
 * container and pod ids, and (opt-in) the command line. Lookups are cached per pid;
 * a process that is gone is remembered for negative_ttl and its events keep what the
 * kernel gave. Events are copied before attributes are added; pid 0 is left alone.
 * Attributes already on the event (set by an earlier processor) win.
 */
export function enrichWithProcess(config: ProcessConfig, ctx: ComponentContext, opts: ProcessEnrichOptions = {}): OperatorFunction<Batch, Batch> {
  const t = ctx.telemetry;
  const base = selfAttributes({ id: ctx.id, pipeline: ctx.pipeline });
  const evicted = t.telemetry.counter(PROCESS_CACHE_EVICTED, base);
  const cache = new TtlCache<number, Info>(config.cache_size, (n) => evicted.add(n));
  const users = new UserNames(opts.passwdPath, config.cache_ttl);

  const cgroups = new CgroupIndex(opts.cgroupRoot ?? cgroup2Mount());

  /** The owner has exited: its cgroup may still name its container. */
  const fromCgroup = (cgroupId: number, now: number): Info => {
    if (!cgroupId) return null;
    const c = cgroups.lookup(cgroupId, now);
    if (!c.containerId && !c.podUid) return null;
    const out: Record<string, AttributeValue> = {};
    if (c.containerId) out[ATTR.containerId] = c.containerId;
    if (c.podUid) out[ATTR.k8sPodUid] = c.podUid;
    return out;
  };

  const lookup = (pid: number, cgroupId: number, now: number): Info => {
    const hit = cache.get(pid, now);
    if (hit) return hit.value;
    // The kernel's cgroup id names the container even once the owner has exited (or is a
    // zombie, already out of its cgroup); /proc wins where it knows.
    const proc = readProcessInfo(pid, { commandLine: config.command_line, users, now, procRoot: opts.procRoot });
    const cg = proc?.[ATTR.containerId] ? null : fromCgroup(cgroupId, now);
    const info = proc || cg ? { ...cg, ...proc } : null;
    cache.set(pid, info, info ? config.cache_ttl : config.negative_ttl, now);
    return info;
  };

  const apply = (batch: Batch): Batch | null => {
    if (batch.type !== 'events') return batch;
    const events = batch.events;
    const n = events.length;
    t.incoming(n);
    t.outgoing(n);
    if (n === 0) return batch.stateCounts ? batch : null;
    const now = ctx.scheduler.now();
    const out = new Array<TcpEvent>(n);
    let lastPid = -1;
    let lastInfo: Info = null;
    for (let i = 0; i < n; i++) {
      const ev = events[i]!;
      if (ev.pid === 0) {
        out[i] = ev;
        continue;
      }
      if (ev.pid !== lastPid) {
        lastPid = ev.pid;
        lastInfo = lookup(ev.pid, ev.cgroupId, now);
      }
      out[i] = lastInfo ? copyEvent(ev, ev.attributes ? { ...lastInfo, ...ev.attributes } : { ...lastInfo }) : ev;
    }
    return { ...batch, events: out };
  };
  return (source) => source.pipe(map(apply), filter((b): b is Batch => b !== null));
}
