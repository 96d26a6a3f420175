/**
 * The eBPF receiver: loads the kernel programs, turns ring-buffer wake-ups into event
 * batches, reports the connections that already exist, and samples the live counters of
 * open connections.
 */
import { Subject, type Observable } from 'rxjs';
import type { Receiver, ComponentContext, ReceiverFactory } from '../../core/component.js';
import { eventBatch, tcpStateName, type EventBatch, type StateCounts, type TcpEvent, type TcpState } from '../../core/events.js';
import type { SeriesTable } from '../../core/metrics.js';
import { admittedKinds, type KernelAggregate, type KernelAggregateSpec, type PushdownReceiver, type ReceiverPlan } from '../../core/pushdown.js';
import { calibrateClock } from '../../core/clock.js';
import { SetupError } from '../../core/errors.js';
import { loadAddon } from '../../native/addon.js';
import { NativeError } from '../../native/errors.js';
import { ITER_MODE } from '../../native/records.js';
import type { NativeTracer } from '../../native/tracer.js';
import { choosePrograms, probeFeatures, type ProgramChoice } from './features.js';
import { otherNetworkNamespaces } from './netns.js';
import { KIND_BY_CODE, KIND_COUNT, decodeRecords } from './record.js';
import type { EbpfConfig } from './config.js';
import { ATTR, SELF_ATTR } from '../../semconv/attributes.js';
import { SELF_METRICS_DEFS as SELF } from '../../semconv/metrics.js';
import { KERNEL_LIMITS, emptyTable, kernelKeyLayout, kernelTable, kindMask, nativeAggregate, nativeFilter, type KeyLayout } from './kernel-aggregate.js';

/** One aggregate the kernel computes for a pipeline. */
class KernelAggregateHandle implements KernelAggregate {
  tracer?: NativeTracer;
  /** The last window, read after the programs were detached. */
  final?: SeriesTable;
  private overflowBase = 0;
  private lostBase = 0;
  stats?: () => { aggregateOverflow: number[]; aggregateMapFull: number[] } | undefined;
  constructor(
    readonly spec: KernelAggregateSpec,
    readonly layout: KeyLayout,
    readonly slot: number,
  ) {}
  get signature(): string {
    return this.spec.keys.join(',');
  }
  active = false;
  collect(): SeriesTable {
    if (this.tracer) return kernelTable(this.tracer.collect(this.slot), this.spec, this.layout, this.signature);
    const last = this.final;
    this.final = undefined;
    return last ?? emptyTable(this.spec, this.signature);
  }
  overflowed(): number {
    return this.stats?.()?.aggregateOverflow[this.slot] ?? this.overflowBase;
  }
  lost(): number {
    return this.stats?.()?.aggregateMapFull[this.slot] ?? this.lostBase;
  }
  /** Keeps the kernel counters past the tracer's end. */
  freeze(): void {
    this.overflowBase = this.overflowed();
    this.lostBase = this.lost();
    this.stats = undefined;
  }
}


/** How long a scan of the host's network namespaces is used before the next. */
const NETNS_RESCAN_MS = 10_000;

export interface EbpfDeps {
  /**
   * The receiver to fall back to (`fallback: sockdiag`) where eBPF cannot run: the sockdiag
   * receiver's factory, wired in src/receivers/fallback.ts. Without it, no fallback.
   */
  fallback?: ReceiverFactory;
}

export class EbpfReceiver implements Receiver, PushdownReceiver {
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
  /** What the pipelines asked for (none: every event as a record, nothing in the kernel). */
  private pushdown?: ReceiverPlan;
  private aggregates: KernelAggregateHandle[] = [];

  constructor(
    private readonly config: EbpfConfig,
    private readonly ctx: ComponentContext,
    private readonly deps: EbpfDeps = {},
  ) {}

  /**
   * What the pipelines need (before start): the events they take as records, and the
   * aggregates to compute in the kernel. Returns one handle per aggregate.
   */
  plan(plan: ReceiverPlan): KernelAggregate[] {
    if (plan.aggregates.length > KERNEL_LIMITS.slots) throw new Error(`at most ${KERNEL_LIMITS.slots} aggregates can be computed in the kernel per receiver`);
    this.pushdown = plan;
    this.aggregates = plan.aggregates.map((spec, slot) => {
      const layout = kernelKeyLayout(spec.keys);
      if (typeof layout === 'string') throw new Error(`${spec.name}: ${layout}`);
      return new KernelAggregateHandle(spec, layout, slot);
    });
    return this.aggregates;
  }

  /** The Tracer options that carry the plan: record kinds and filters, kernel aggregates. */
  private planOptions() {
    const plan = this.pushdown;
    if (!plan) return {};
    const out: Record<string, unknown> = {};
    if (plan.records !== 'all') {
      const demands = plan.records;
      out.recordKinds = kindMask([...new Set(demands.flatMap((d) => d.kinds))]);
      if (demands.length > 0 && demands.length <= KERNEL_LIMITS.consumers) {
        // Each consumer's kinds and filter (a filter that does not fit is left out: the
        // kernel then sends a superset, which the pipeline's own filter still narrows).
        out.consumers = demands.map((d) =>
          1 + (d.filter?.conds.length ?? 0) <= KERNEL_LIMITS.conds ? nativeFilter({ conds: [{ negate: false, kinds: d.kinds }, ...(d.filter?.conds ?? [])] }) : nativeFilter({ conds: [{ negate: false, kinds: d.kinds }] }),
        );
      }
    }
    if (this.aggregates.length) {
      out.aggregates = this.aggregates.map((a) => nativeAggregate(a.spec, a.layout));
      const kinds = new Set(this.aggregates.flatMap((a) => admittedKinds(a.spec.filter)));
      kinds.delete('state');
      out.aggregateKinds = kindMask([...kinds]);
    }
    return out;
  }

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
    const factory = this.deps.fallback;
    if (!factory) throw reason;
    const poll = this.config.sample_interval > 0 ? Math.min(this.config.sample_interval, 1000) : 1000;
    const config = factory.schema.parse({
      ...(factory.createDefaultConfig() as object),
      poll_interval: poll,
      families: this.config.filter.family === 'any' ? ['ipv4', 'ipv6'] : [this.config.filter.family],
    });
    this.ctx.logger.warn(
      { reason: reason.message, hint: reason.hint },
      `eBPF is unavailable here: falling back to the sockdiag receiver (polling every ${poll} ms; set receivers::${this.ctx.id}::fallback: none to fail instead)`,
    );
    const fallback = factory.create(config, this.ctx);
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
    const report = probeFeatures({ hooks: ['tp_btf', 'raw_tp', 'syscall_tracepoint', 'iter_tcp', 'iter_task_file', 'ringbuf', ...(this.config.detect_protocol ? (['cgroup_skb'] as const) : [])] });
    const iterators = this.config.snapshot || this.config.sample_interval > 0;
    const choice = choosePrograms(report, { iterators, prefer: this.config.hooks, detectProtocol: this.config.detect_protocol });
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
      detectProtocol: choice.detectProtocol !== undefined,
      cgroupPath: choice.detectProtocol?.cgroupPath,
      ...this.planOptions(),
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
    for (const a of this.aggregates) {
      a.tracer = tracer;
      a.active = true;
      a.stats = () => this.tracer?.stats();
    }
    this.ctx.logger.info(
      { plan: choice.plan, programs: tracer.programs().map((p) => p.name), kernelAggregates: this.aggregates.map((a) => a.spec.name) },
      'ebpf receiver attached',
    );
    tracer.start(
      (records, error) => {
        if (error) {
          // Not from inside the consumer's call: close() joins that thread.
          setImmediate(() => this.fail(error));
          return;
        }
        if (records) this.onRecords(records);
      },
      { pollMs: this.config.poll_interval, maxPendingBytes: this.config.user_buffer_size },
    );

    if (choice.programs.iter_tcp) {
      if (this.config.snapshot) this.iterate(ITER_MODE.SNAPSHOT);
      if (this.config.sample_interval > 0) {
        this.scheduleSample(this.config.sample_interval);
      }
    }
  }

  /** The live samples' interval now: sample_interval, stretched to keep them within sample_budget. */
  sampleIntervalMs = 0;
  /** Smoothed duration of a sample run, ms. */
  private sampleCostMs = 0;

  /**
   * The next live sample. A run walks every TCP socket of the host, TIME_WAIT ones
   * included (about 0.6 us each here): with many of them (a busy server keeps a minute's
   * worth of closed connections) the interval stretches so that the runs take at most
   * sample_budget of one CPU.
   */
  private scheduleSample(delayMs: number): void {
    this.sampleIntervalMs = delayMs;
    this.sampleTimer = setTimeout(() => {
      const t0 = performance.now();
      this.iterate(ITER_MODE.SAMPLE);
      const ms = performance.now() - t0;
      this.sampleCostMs = this.sampleCostMs === 0 ? ms : 0.7 * this.sampleCostMs + 0.3 * ms;
      const next = Math.max(this.config.sample_interval, Math.min(60_000, this.sampleCostMs / this.config.sample_budget));
      if (Math.abs(next - this.sampleIntervalMs) > this.config.sample_interval / 2 && next > this.config.sample_interval) {
        this.ctx.logger.info({ runMs: Math.round(this.sampleCostMs), intervalMs: Math.round(next) }, 'live samples stretched to stay within sample_budget');
      }
      if (!this.stopped) this.scheduleSample(next);
    }, delayMs);
    this.sampleTimer.unref?.();
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
    const base = { [SELF_ATTR.componentId]: this.ctx.id };
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
      t.observedCounter(SELF.ebpfProduced.name, { ...base, [ATTR.eventKind]: kind }, () => stats().produced[k] ?? 0);
      t.observedCounter(SELF.ebpfDropped.name, { ...base, [ATTR.eventKind]: kind, [SELF_ATTR.dropReason]: 'ring_buffer_full' }, () => stats().dropped[k] ?? 0);
    }
    t.observedCounter(SELF.ebpfUntracked.name, base, () => stats().untracked);
    t.observedCounter(SELF.ebpfFiltered.name, base, () => stats().filtered);
    t.observedCounter(SELF.ebpfNamespacesSkipped.name, base, () => this.namespacesSkipped);
    t.gauge(SELF.ebpfSampleInterval.name, base, () => this.sampleIntervalMs / 1000);
    t.observedCounter(SELF.ebpfDropped.name, { ...base, [ATTR.eventKind]: 'unknown', [SELF_ATTR.dropReason]: 'bad_record_size' }, () => stats().badRecords ?? 0);
    // Runs the kernel skipped because the program was already running on that CPU: each
    // is a state change, retransmit or reset lost before any counter saw it.
    let programs: ReturnType<NativeTracer['programs']> | undefined;
    let programsAt = 0;
    const programInfo = () => {
      if (!programs || Date.now() - programsAt > 100) {
        programs = this.tracer?.programs() ?? programs ?? [];
        programsAt = Date.now();
      }
      return programs;
    };
    for (const p of tracer.programs()) {
      t.observedCounter(SELF.ebpfProgramsMissed.name, { ...base, [SELF_ATTR.ebpfProgram]: p.name, [SELF_ATTR.dropReason]: 'recursion' }, () => programInfo().find((x) => x.name === p.name)?.recursionMisses ?? 0);
    }
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

  /**
   * The receiver cannot go on (its ring consumer stopped, or handling records threw): it
   * detaches everything and ends its output with an error, which stops the service with
   * this message rather than leaving it running without events.
   */
  private fail(cause: Error): void {
    if (this.stopped) return;
    this.stopped = true;
    if (this.sampleTimer) clearTimeout(this.sampleTimer);
    const tracer = this.tracer;
    this.tracer = undefined;
    if (tracer) {
      for (const a of this.aggregates) {
        a.freeze();
        a.tracer = undefined;
      }
      try {
        this.finalStats = tracer.stats();
      } catch {
        // the counters of a broken tracer are not worth a second error
      }
      tracer.close();
    }
    const err = new Error(`ebpf receiver stopped: ${cause.message}; no more events would arrive, so tcpotel stops (its programs are detached)`, { cause });
    this.ctx.logger.error({ err: cause }, 'ebpf receiver stopped');
    this.subject.error(err);
  }

  async shutdown(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.fallback) await this.fallback.shutdown();
    if (this.sampleTimer) clearTimeout(this.sampleTimer);
    const tracer = this.tracer;
    if (tracer) {
      // Detach, then drain: what the kernel wrote before we stopped still arrives downstream.
      await tracer.stop();
      // The kernel aggregates' last windows, read now: the pipelines flush them as they complete.
      for (const a of this.aggregates) {
        try {
          a.final = a.collect();
        } catch (err) {
          this.ctx.logger.error({ err, aggregate: a.spec.name }, 'reading the last window of a kernel aggregate failed');
        }
        a.freeze();
        a.tracer = undefined;
      }
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
  if (!(err instanceof NativeError)) return err as Error;
  // The verifier refuses a program with EACCES too: its log tells that apart from privileges.
  const verifierSaid = err.op === 'load' && /processed \d+ insns|^\d+: \(|R\d+ /m.test(err.log);
  if ((err.code === 'EPERM' || err.code === 'EACCES') && !verifierSaid) {
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
