/**
 * The sock_diag receiver: for hosts where eBPF is not allowed (no root, no BTF, a locked
 * down container). It dumps every TCP socket with netlink inet_diag at an interval, and
 * ConnectionTable (table.ts) turns the differences between dumps into the eBPF receiver's
 * events: existing, open, sample, close and (best effort) failed, plus socket counts by
 * state on every batch. What polling cannot see: connections that open and close between
 * two dumps leave at most a TIME_WAIT socket behind (reported as open + close without
 * counters, on the end that closed first); handshake times; failed connects that did not
 * outlive one interval, and their errno; individual retransmits and resets (the running
 * retransmit total rides on sample and close events).
 */
import { statSync } from 'node:fs';
import { Subject, type Observable } from 'rxjs';
import type { ComponentContext, Receiver } from '../../core/component.js';
import { eventBatch, type EventBatch } from '../../core/events.js';
import { calibrateClock, monotonicNowNs } from '../../core/clock.js';
import { SetupError } from '../../core/errors.js';
import type { SockdiagConfig } from './config.js';
import { loadSockdiag } from '../../native/addon.js';
import { NativeError } from '../../native/errors.js';
import type { SockdiagNative } from '../../native/sockdiag.js';
import { decodeDump, encodeSockets } from './record.js';
import { ConnectionTable, type Owner } from './table.js';
import { OwnerResolver } from './owners.js';
import { SELF_ATTR } from '../../semconv/attributes.js';
import { SELF_METRICS_DEFS as SELF } from '../../semconv/metrics.js';

export interface SockdiagDeps {
  /** The addon's dump functions (a fake in tests). */
  native?: SockdiagNative;
  /** Socket inode -> process (OwnerResolver over /proc by default). */
  resolver?: { resolve(inodes: readonly number[]): ReadonlyMap<number, Owner> };
  now?: () => number;
}

export class SockdiagReceiver implements Receiver {
  private readonly subject = new Subject<EventBatch>();
  readonly output: Observable<EventBatch> = this.subject.asObservable();
  private native?: SockdiagNative;
  private table?: ConnectionTable;
  private resolver?: SockdiagDeps['resolver'];
  private timer?: NodeJS.Timeout;
  private chain: Promise<void> = Promise.resolve();
  private started = false;
  private stopped = false;
  private readonly families: number[];
  private readonly now: () => number;
  private pollsFailed = 0;
  private polls = 0;

  constructor(
    private readonly config: SockdiagConfig,
    private readonly ctx: ComponentContext,
    private readonly deps: SockdiagDeps = {},
  ) {
    this.families = config.families.map((f) => (f === 'ipv6' ? 6 : 4));
    this.now = deps.now ?? monotonicNowNs;
  }

  async start(): Promise<void> {
    calibrateClock();
    this.native = this.deps.native ?? loadSockdiag();
    this.table = new ConnectionTable({ maxTracked: this.config.max_tracked, netns: netnsInode() });
    if (this.config.resolve_processes) this.resolver = this.deps.resolver ?? new OwnerResolver();
    try {
      await this.poll(); // the connections that exist now: `existing` events
    } catch (err) {
      throw explainSockdiagError(err);
    }
    this.registerTelemetry();
    this.started = true;
    this.ctx.logger.info({ interval_ms: this.config.poll_interval, families: this.config.families, tracked: this.table.size }, 'sockdiag receiver started');
    this.schedule();
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.pollNow().finally(() => this.schedule());
    }, this.config.poll_interval);
  }

  /** Polls now (after any poll in progress); failures are logged and counted, not thrown. */
  pollNow(): Promise<void> {
    this.chain = this.chain.then(() =>
      this.poll().catch((err) => {
        this.pollsFailed++;
        this.ctx.logger.error({ err }, 'sock_diag dump failed');
      }),
    );
    return this.chain;
  }

  private async poll(): Promise<void> {
    const native = this.native!;
    const table = this.table!;
    const buf = await native.sockdiagDumpAsync(this.families);
    const now = this.now();
    const dump = decodeDump(buf);
    const resolver = this.resolver;
    const result = table.update(dump, now, {
      owners: resolver ? (inodes) => resolver.resolve(inodes) : undefined,
      confirm: (missing) => decodeDump(native.sockdiagLookup(encodeSockets(missing))),
    });
    this.polls++;
    if (result.dropped) this.ctx.telemetry.dropped(result.dropped, 'tracking_cap');
    const n = result.events.length;
    this.ctx.telemetry.incoming(n);
    this.ctx.telemetry.outgoing(n);
    this.subject.next(eventBatch(this.ctx.id, result.events, { stateCounts: result.stateCounts }));
  }

  private registerTelemetry(): void {
    const t = this.ctx.telemetry.telemetry;
    const base = { [SELF_ATTR.componentId]: this.ctx.id };
    t.gauge(SELF.sockdiagSocketsTracked.name, base, () => this.table?.size ?? 0);
    t.observedCounter(SELF.sockdiagPolls.name, base, () => this.polls);
    t.observedCounter(SELF.sockdiagPollsFailed.name, base, () => this.pollsFailed);
  }

  /** Sockets tracked now (for tests and logs). */
  get trackedSockets(): number {
    return this.table?.size ?? 0;
  }

  /** Stops polling; one last poll reports what closed since the previous one. */
  async shutdown(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.started) await this.pollNow();
    else await this.chain;
    this.subject.complete();
  }
}

/** Inode of this process's network namespace: the namespace every dump describes. */
function netnsInode(): number {
  try {
    return statSync('/proc/self/ns/net').ino;
  } catch {
    return 0;
  }
}

/** Turns a failed first dump into an error that says what to do. */
export function explainSockdiagError(err: unknown): Error {
  if (!(err instanceof NativeError)) return err as Error;
  const what = `sock_diag (netlink inet_diag) failed: ${err.message}`;
  switch (err.code) {
    case 'EPROTONOSUPPORT':
    case 'ENOENT':
    case 'EAFNOSUPPORT':
      return new SetupError(what, 'the kernel has no TCP socket diagnostics: load the modules (modprobe inet_diag tcp_diag), or build the kernel with CONFIG_INET_DIAG and CONFIG_INET_TCP_DIAG');
    case 'EPERM':
    case 'EACCES':
      return new SetupError(what, 'netlink sockets are blocked here (seccomp, SELinux/AppArmor, or a container policy): allow socket(AF_NETLINK, NETLINK_SOCK_DIAG)');
    default:
      return new SetupError(what, 'check that `ss -tin` works on this host');
  }
}
