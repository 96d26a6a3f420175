/**
 * The eBPF receiver: loads the kernel programs, turns ring-buffer wake-ups into event
 * batches, reports the connections that already exist, and samples the live counters of
 * open connections.
 */
import { Subject, type Observable } from 'rxjs';
import type { Receiver, ComponentContext } from '../../core/component.js';
import { eventBatch, tcpStateName, type EventBatch, type StateCounts, type TcpEvent, type TcpState } from '../../core/events.js';
import { calibrateClock } from '../../core/clock.js';
import { SetupError } from '../../core/errors.js';
import { BpfError, loadAddon, type NativeTracer } from './bindings.js';
import { choosePrograms, probeFeatures, type ProgramChoice } from './features.js';
import { otherNetworkNamespaces } from './netns.js';
import { ITER_MODE, KIND_BY_CODE, KIND_COUNT, decodeRecords } from './record.js';
import type { EbpfConfig } from './config.js';

/** How long a scan of the host's network namespaces is used before the next. */
const NETNS_RESCAN_MS = 10_000;

export class EbpfReceiver implements Receiver {
  private readonly subject = new Subject<EventBatch>();
  readonly output: Observable<EventBatch> = this.subject.asObservable();
  private tracer?: NativeTracer;
  private sampleTimer?: NodeJS.Timeout;
  private stopped = false;
  private received = 0;
  private unknownRecords = 0;
  private readonly namespaceWarnings = new Set<string>();
  private namespacesSkipped = 0;
  private netns?: { at: number; paths: string[] };
  /** Kernel counters read after the final drain. */
  finalStats?: ReturnType<NativeTracer['stats']>;
  /** Which twins were chosen, for logs and tests. */
  choice?: ProgramChoice;

  constructor(
    private readonly config: EbpfConfig,
    private readonly ctx: ComponentContext,
  ) {}

  async start(): Promise<void> {
    calibrateClock();
    try {
      await this.startEbpf();
    } catch (err) {
      if (!(err instanceof SetupError) || this.config.fallback !== 'sockdiag') throw err;
      await this.startFallback(err);
    }
  }

  /**
   * eBPF cannot run here: poll the kernel's socket table instead, with the same event model
   * and fewer details (changes seen at the poll interval, no per-segment events).
   */
  private async startFallback(reason: SetupError): Promise<void> {
    const { sockdiagReceiverFactory } = await import('../sockdiag/factory.js');
    const poll = this.config.sample_interval > 0 ? Math.min(this.config.sample_interval, 1000) : 1000;
    const config = sockdiagReceiverFactory.schema.parse({
      ...(sockdiagReceiverFactory.createDefaultConfig() as object),
      poll_interval: poll,
      families: this.config.filter.family === 'any' ? ['ipv4', 'ipv6'] : [this.config.filter.family],
    });
    this.ctx.logger.warn(
      { reason: reason.message, hint: reason.hint },
      `eBPF is unavailable here: falling back to the sockdiag receiver (polling every ${poll} ms; set receivers::${this.ctx.id}::fallback: none to fail instead)`,
    );
    const fallback = sockdiagReceiverFactory.create(config, this.ctx);
    this.fallback = fallback;
    // The kernel-side filter, applied here instead.
    const { ports, pid } = this.config.filter;
    const wanted = (e: TcpEvent) => (!ports.length || ports.includes(e.localPort) || ports.includes(e.remotePort)) && (!pid || e.pid === pid);
    fallback.output.subscribe({
      next: (b) => this.subject.next(ports.length || pid ? { ...b, events: b.events.filter(wanted) } : b),
    });
    await fallback.start();
  }

  /** The sockdiag receiver this one fell back to, if it did. */
  fallback?: Receiver;

  private async startEbpf(): Promise<void> {
    const report = probeFeatures({ hooks: ['tp_btf', 'raw_tp', 'syscall_tracepoint', 'iter_tcp', 'iter_task_file', 'ringbuf'] });
    const iterators = this.config.snapshot || this.config.sample_interval > 0;
    const choice = choosePrograms(report, { iterators, prefer: this.config.hooks });
    this.choice = choice;
    for (const w of choice.warnings) this.ctx.logger.warn(w);
    const { filter } = this.config;
    const addon = loadAddon();
    const tracer = new addon.Tracer({
      ringBytes: this.config.ring_buffer_size,
      maxSockets: this.config.max_sockets,
      family: filter.family === 'ipv4' ? 4 : filter.family === 'ipv6' ? 6 : 0,
      pid: filter.pid,
      ports: filter.ports,
      stateChanges: this.config.state_changes,
      wakeupBytes: this.config.wakeup_batch,
      programs: choice.programs,
    });
    this.tracer = tracer;
    try {
      tracer.load();
      tracer.attach();
    } catch (err) {
      tracer.close();
      this.tracer = undefined;
      throw explainBpfError(err);
    }
    this.registerTelemetry(tracer);
    this.ctx.logger.info({ plan: choice.plan, programs: tracer.programs().map((p) => p.name) }, 'ebpf receiver attached');
    tracer.start((records) => this.onRecords(records), { pollMs: this.config.poll_interval, maxPendingBytes: this.config.user_buffer_size });

    if (choice.programs.iter_tcp) {
      if (this.config.snapshot) this.iterate(ITER_MODE.SNAPSHOT);
      if (this.config.sample_interval > 0) {
        this.sampleTimer = setInterval(() => this.iterate(ITER_MODE.SAMPLE), this.config.sample_interval);
        this.sampleTimer.unref?.();
      }
    }
  }

  /** Runs the iterators now: a snapshot of what exists, or a sample of live counters. */
  iterate(mode: number): void {
    if (!this.tracer || this.stopped) return;
    try {
      const { records, failed } = this.tracer.iterate(mode, this.namespacesToVisit());
      this.noteNamespaceFailures(failed);
      const { events, unknown } = decodeRecords(records);
      this.unknownRecords += unknown;
      let stateCounts: StateCounts | undefined;
      if (mode === ITER_MODE.SAMPLE) stateCounts = toStateCounts(this.tracer.stateCounts());
      if (events.length || stateCounts) {
        this.ctx.telemetry.outgoing(events.length);
        this.subject.next(eventBatch(this.ctx.id, events, stateCounts ? { stateCounts } : undefined));
      }
    } catch (err) {
      this.ctx.logger.error({ err }, 'iterator run failed');
    }
  }

  /** The other network namespaces, from a scan of /proc at most NETNS_RESCAN_MS old. */
  private namespacesToVisit(): string[] {
    if (this.config.namespaces !== 'all') return [];
    const now = Date.now();
    if (!this.netns || now - this.netns.at > NETNS_RESCAN_MS) this.netns = { at: now, paths: otherNetworkNamespaces() };
    return this.netns.paths;
  }

  /** Namespaces the iterators could not enter: counted, and said once per reason at warn. */
  private noteNamespaceFailures(all: Array<{ path: string; errno: number; code: string }>): void {
    // A namespace whose process has exited since the scan: scan again next time.
    if (all.some((f) => f.code === 'ENOENT' || f.code === 'ESRCH')) this.netns = undefined;
    const failed = all.filter((f) => f.code !== 'ENOENT' && f.code !== 'ESRCH');
    this.namespacesSkipped += failed.length;
    for (const f of failed) {
      if (this.namespaceWarnings.has(f.code)) continue;
      this.namespaceWarnings.add(f.code);
      this.ctx.logger.warn(
        { path: f.path, code: f.code, namespaces: failed.length },
        f.code === 'EPERM'
          ? 'cannot enter other network namespaces (needs CAP_SYS_ADMIN): their connections are reported as they open and close, without start-up snapshot or live samples; set namespaces: own to silence this'
          : 'cannot iterate the sockets of a network namespace: its connections get no start-up snapshot or live samples',
      );
    }
  }

  private onRecords(records: Buffer): void {
    if (this.stopped && !this.tracer) return;
    const { events, unknown } = decodeRecords(records);
    this.received += events.length + unknown;
    this.unknownRecords += unknown;
    this.ctx.telemetry.incoming(events.length + unknown);
    if (unknown) this.ctx.telemetry.dropped(unknown, 'unknown_record');
    if (!events.length) return;
    this.ctx.telemetry.outgoing(events.length);
    this.subject.next(eventBatch(this.ctx.id, events));
  }

  private registerTelemetry(tracer: NativeTracer): void {
    const t = this.ctx.telemetry.telemetry;
    const base = { 'tcpotel.component.id': this.ctx.id };
    let cached: ReturnType<NativeTracer['stats']> | undefined;
    let cachedAt = 0;
    const stats = () => {
      if (!cached || Date.now() - cachedAt > 100) {
        cached = tracer.stats();
        cachedAt = Date.now();
      }
      return cached;
    };
    for (let k = 1; k < KIND_COUNT; k++) {
      const kind = KIND_BY_CODE[k]!;
      t.observedCounter('tcpotel.ebpf.events.produced', { ...base, 'tcp.event.kind': kind }, () => stats().produced[k] ?? 0);
      t.observedCounter('tcpotel.ebpf.events.dropped', { ...base, 'tcp.event.kind': kind, 'tcpotel.drop.reason': 'ring_buffer_full' }, () => stats().dropped[k] ?? 0);
    }
    t.observedCounter('tcpotel.ebpf.sockets.untracked', base, () => stats().untracked);
    t.observedCounter('tcpotel.ebpf.events.filtered', base, () => stats().filtered);
    t.observedCounter('tcpotel.ebpf.namespaces.skipped', base, () => this.namespacesSkipped);
  }

  /** Kernel counters, summed over CPUs: what was produced and what the ring could not take. */
  kernelStats() {
    return this.tracer?.stats() ?? this.finalStats;
  }

  /** Records delivered to user space so far. */
  get recordsReceived(): number {
    return this.received;
  }

  programs() {
    return this.tracer?.programs() ?? [];
  }

  async shutdown(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.fallback) await this.fallback.shutdown();
    if (this.sampleTimer) clearInterval(this.sampleTimer);
    const tracer = this.tracer;
    if (tracer) {
      // Detach, then drain: what the kernel wrote before we stopped still arrives downstream.
      await tracer.stop();
      this.finalStats = tracer.stats();
      tracer.close();
      this.tracer = undefined;
    }
    this.subject.complete();
  }
}

function toStateCounts(raw: { v4: number[]; v6: number[] }): StateCounts {
  const pick = (arr: number[]) => {
    const out: Partial<Record<TcpState, number>> = {};
    arr.forEach((n, i) => {
      if (n > 0) {
        // request sockets (NEW_SYN_RECV) are connections in SYN_RECV
        const name = i === 12 ? 'syn_received' : tcpStateName(i);
        out[name] = (out[name] ?? 0) + n;
      }
    });
    return out;
  };
  return { v4: pick(raw.v4), v6: pick(raw.v6) };
}

/** Turns libbpf failures into errors that say what to do. */
export function explainBpfError(err: unknown): Error {
  if (!(err instanceof BpfError)) return err as Error;
  if (err.code === 'EPERM' || err.code === 'EACCES') {
    return new SetupError(
      `loading the BPF programs was refused (${err.op}: ${err.code})`,
      'run as root, or with CAP_BPF, CAP_PERFMON and CAP_SYS_ADMIN; in a container, allow the bpf() syscall (seccomp) and these capabilities. Run `tcpotel doctor` for details.',
    );
  }
  if (err.op === 'load') {
    const tail = err.log.split('\n').slice(-12).join('\n');
    return new SetupError(`the kernel rejected a tcpotel BPF program (${err.message})`, `run \`tcpotel doctor\`; the verifier said:\n${tail}`);
  }
  return new SetupError(`${err.op} failed: ${err.message}`, 'run `tcpotel doctor` to see which hooks this kernel supports');
}
