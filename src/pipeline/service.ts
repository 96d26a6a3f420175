/**
 * The pipeline graph, built once from a resolved config. Receivers are shared by every
 * pipeline that names them (one eBPF attach for all); each pipeline has its own processor
 * instances and fans out to its exporters. Start is downstream-first (exporters, then
 * the pipelines' processors, then receivers); shutdown is upstream-first: receivers stop
 * and drain, processors flush as their input completes, exporters flush last.
 */
import { asyncScheduler, filter, map, merge, type MonoTypeOperatorFunction, type SchedulerLike, type Subscription } from 'rxjs';
import type { Batch, Exporter, ExporterFactory, Extension, Receiver, Signal } from '../core/component.js';
import { StatusHub, type StatusReporter } from '../core/status.js';
import type { Logger } from '../core/logger.js';
import { MemoryGuard } from '../core/memory.js';
import { Telemetry, componentTelemetry, type ComponentTelemetry } from '../core/telemetry.js';
import type { ResolvedConfig } from '../config/validate.js';
import { dropPrivileges } from '../core/privileges.js';
import { isPushdownReceiver, type KernelAggregate } from '../core/pushdown.js';
import { describePlan, planPushdown, type PushdownPlan } from './pushdown.js';
import { SELF_ATTR } from '../semconv/attributes.js';
import { SELF_METRICS_DEFS } from '../semconv/metrics.js';

export interface ServiceOptions {
  logger: Logger;
  telemetry?: Telemetry;
  scheduler?: SchedulerLike;
  /** Overrides service::shutdown_timeout (ms). */
  shutdownTimeoutMs?: number;
}

/** The id under which memory-limit drops are counted, in every pipeline. */
export const MEMORY_LIMITER_ID = 'memory_limiter';
/** How long past the deadline an exporter that ignores it is waited for. */
const EXPORTER_GRACE_MS = 1000;

/** Drops event batches, counted, while the memory guard sheds. */
function shedUnderPressure(guard: MemoryGuard, t: ComponentTelemetry): MonoTypeOperatorFunction<Batch> {
  return filter((b) => {
    if (!guard.sheddingNow()) return true;
    t.dropped(b.type === 'events' ? b.events.length : b.points.length, 'memory_limit');
    return false;
  });
}

/** Resolves to 'done' when `p` settles, or 'timeout' after `ms`. */
async function within(p: Promise<unknown>, ms: number): Promise<'done' | 'timeout'> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), Math.max(0, ms))));
  try {
    return await Promise.race([p.then(() => 'done' as const, () => 'done' as const), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

interface RunningPipeline {
  id: string;
  signal: Signal;
  subscription?: Subscription;
  done: Promise<void>;
  markDone: () => void;
}

export class Service {
  readonly telemetry: Telemetry;
  readonly receivers = new Map<string, Receiver>();
  /** Keyed by "<exporter id>|<signal>": an exporter used by logs and metrics pipelines runs twice. */
  readonly exporters = new Map<string, Exporter>();
  /** service::extensions, in order: they start first and stop last. */
  readonly extensions = new Map<string, Extension>();
  /** How every receiver, exporter and pipeline is doing, for the extensions. */
  readonly status = new StatusHub();
  private readonly statusOf = new Map<string, StatusReporter>();
  private readonly pipelines: RunningPipeline[] = [];
  private readonly logger: Logger;
  private readonly scheduler: SchedulerLike;
  readonly memory: MemoryGuard;
  private started = false;
  private stopping?: Promise<void>;
  /** Which aggregates the kernel computes, and which events receivers send as records. */
  readonly plan: PushdownPlan;
  /** Per "<pipeline>|<aggregate id>": its keys and, when pushed down, the receiver's handle. */
  private readonly aggregates = new Map<string, { keys: string[]; kernel?: KernelAggregate }>();

  constructor(
    private readonly config: ResolvedConfig,
    private readonly opts: ServiceOptions,
  ) {
    this.logger = opts.logger;
    this.telemetry = opts.telemetry ?? new Telemetry();
    this.scheduler = opts.scheduler ?? asyncScheduler;
    this.plan = planPushdown(config);
    this.memory = new MemoryGuard(config.memoryLimit, this.logger.child({ component: MEMORY_LIMITER_ID }), this.telemetry);
    this.build();
  }

  private build(): void {
    const { config } = this;
    for (const xid of config.serviceExtensions) {
      const x = config.extensions.get(xid)!;
      this.extensions.set(xid, x.factory.create(x.config, { id: xid, logger: this.logger.child({ component: xid }), status: this.status }));
    }
    const ctxFor = (id: string, kind: 'receiver' | 'exporter', signal?: string) => ({
      id,
      logger: this.logger.child({ component: id, ...(signal ? { signal } : {}) }),
      telemetry: componentTelemetry(this.telemetry, { id, kind, signal }),
      scheduler: this.scheduler,
      status: this.reporter(kind, id, signal),
    });
    for (const p of config.pipelines) {
      for (const rid of p.receivers) {
        if (this.receivers.has(rid)) continue;
        const r = config.receivers.get(rid)!;
        this.receivers.set(rid, r.factory.create(r.config, ctxFor(rid, 'receiver')));
      }
      for (const eid of p.exporters) {
        const key = `${eid}|${p.signal}`;
        if (this.exporters.has(key)) continue;
        const e = config.exporters.get(eid)!;
        const factory = e.factory as ExporterFactory;
        this.exporters.set(key, factory.create(e.config, { ...ctxFor(eid, 'exporter', p.signal), signal: p.signal, selfMetrics: config.telemetry.metrics.include_in_pipelines }));
      }
    }
    this.applyPlan();
  }

  /** Hands each receiver that can take one its part of the pushdown plan. */
  private applyPlan(): void {
    const { plan } = this;
    for (const a of plan.aggregates) this.aggregates.set(`${a.pipeline}|${a.processor}`, { keys: a.keys });
    for (const [rid, receiver] of this.receivers) {
      const mine = plan.aggregates.filter((a) => a.kernel && a.receivers.includes(rid));
      if (!isPushdownReceiver(receiver)) continue;
      const handles = receiver.plan({ records: plan.records.get(rid) ?? 'all', aggregates: mine.map((a) => a.spec!) });
      mine.forEach((a, i) => (this.aggregates.get(`${a.pipeline}|${a.processor}`)!.kernel = handles[i]));
    }
    for (const line of describePlan(plan)) this.logger.info(line);
  }

  private reporter(kind: string, id: string, signal?: string): StatusReporter {
    const key = `${kind}|${id}|${signal ?? ''}`;
    let r = this.statusOf.get(key);
    if (!r) this.statusOf.set(key, (r = this.status.reporter(kind, id, signal)));
    return r;
  }

  /** Extensions first, then exporters, then the pipelines, then the receivers. */
  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    for (const [id, extension] of this.extensions) {
      try {
        await extension.start();
      } catch (err) {
        await this.stopExtensions();
        throw annotate(err, `extension ${id}`);
      }
    }
    for (const [key, exporter] of this.exporters) {
      try {
        await exporter.start();
        const [id, signal] = key.split('|');
        this.reporter('exporter', id!, signal).ok();
      } catch (err) {
        await this.stopExporters();
        await this.stopExtensions();
        throw annotate(err, `exporter ${key.split('|')[0]}`);
      }
    }
    this.memory.start();
    for (const p of this.config.pipelines) this.wire(p);
    const started: Receiver[] = [];
    for (const [id, receiver] of this.receivers) {
      const status = this.reporter('receiver', id);
      // A receiver whose stream fails has failed for good: health_check says so.
      receiver.output.subscribe({ error: (err) => status.permanentError(err) });
      try {
        await receiver.start();
        started.push(receiver);
        status.ok();
      } catch (err) {
        for (const r of started) await r.shutdown().catch(() => undefined);
        this.abortPipelines();
        this.stopping = this.stopExporters().then(() => this.stopExtensions());
        await this.stopping;
        throw annotate(err, `receiver ${id}`);
      }
    }
    if (this.config.user) {
      try {
        const ids = dropPrivileges(this.config.user);
        this.logger.info({ user: ids.name, uid: ids.uid }, 'dropped root: running as an unprivileged user with CAP_BPF and CAP_PERFMON kept for the kernel counters (bounding set cleared of the rest, no_new_privs set)');
      } catch (err) {
        await this.shutdown();
        throw err;
      }
    }
    this.status.setService('running');
    this.logger.info({ pipelines: this.config.pipelines.map((p) => p.id), receivers: [...this.receivers.keys()] }, 'tcpotel is running');
  }

  private wire(p: ResolvedConfig['pipelines'][number]): void {
    const ctx = (id: string) => ({
      id,
      pipeline: p.id,
      logger: this.logger.child({ component: id, pipeline: p.id }),
      telemetry: componentTelemetry(this.telemetry, { id, kind: 'processor', pipeline: p.id }),
      scheduler: this.scheduler,
    });
    let stream = merge(...p.receivers.map((rid) => this.receivers.get(rid)!.output)) as import('rxjs').Observable<Batch>;
    const kernel = p.processors.map((pid) => this.aggregates.get(`${p.id}|${pid}`)?.kernel).find((k) => k);
    if (kernel) {
      // The kernel aggregates for this pipeline: of the events other pipelines asked for,
      // only the socket counts they carry matter here.
      stream = stream.pipe(
        map((b) => (b.type === 'events' && kernel.active ? (b.stateCounts ? { ...b, events: [] } : null) : b)),
        filter((b): b is Batch => b !== null),
      );
    }
    stream = stream.pipe(shedUnderPressure(this.memory, componentTelemetry(this.telemetry, { id: MEMORY_LIMITER_ID, kind: 'processor', pipeline: p.id })));
    for (const pid of p.processors) {
      const proc = this.config.processors.get(pid)!;
      stream = stream.pipe(proc.factory.create(proc.config, { ...ctx(pid), aggregate: this.aggregates.get(`${p.id}|${pid}`) }));
    }
    const exporters = p.exporters.map((eid) => ({ id: eid, exporter: this.exporters.get(`${eid}|${p.signal}`)! }));
    let markDone!: () => void;
    const done = new Promise<void>((r) => (markDone = r));
    const running: RunningPipeline = { id: p.id, signal: p.signal, done, markDone };
    running.subscription = stream.subscribe({
      next: (batch) => {
        for (const { id, exporter } of exporters) {
          try {
            exporter.consume(batch);
          } catch (err) {
            this.logger.error({ err, exporter: id, pipeline: p.id }, 'exporter failed to take a batch');
          }
        }
      },
      error: (err) => {
        this.logger.error({ err, pipeline: p.id }, 'pipeline failed');
        this.reporter('pipeline', p.id).permanentError(err);
        markDone();
        this.reportFailure(err instanceof Error ? err : new Error(String(err)));
      },
      complete: () => markDone(),
    });
    this.pipelines.push(running);
  }

  private resolveFailure?: (err: Error) => void;
  /** Settles with the first error that ended a pipeline (a receiver that cannot go on). */
  readonly failure: Promise<Error> = new Promise<Error>((r) => (this.resolveFailure = r));

  private reportFailure(err: Error): void {
    this.resolveFailure?.(err);
    this.resolveFailure = undefined;
  }

  /** Receivers first (they drain), then the pipelines complete, then exporters flush. Idempotent. */
  shutdown(): Promise<void> {
    this.stopping ??= this.doShutdown();
    return this.stopping;
  }

  /**
   * Within service::shutdown_timeout: receivers stop first (BPF programs detach), the
   * pipelines drain, exporters send what they can. At the deadline, what is unsent is
   * dropped and counted by whoever holds it.
   */
  private async doShutdown(): Promise<void> {
    const timeoutMs = this.opts.shutdownTimeoutMs ?? this.config.shutdownTimeoutMs;
    const deadline = Date.now() + timeoutMs;
    const left = () => deadline - Date.now();
    this.logger.info({ timeoutMs }, 'shutting down');
    this.status.setService('stopping');
    const receivers = Promise.all(
      [...this.receivers].map(([id, r]) =>
        r.shutdown().catch((err) => this.logger.error({ err, receiver: id }, 'receiver shutdown failed')),
      ),
    );
    if ((await within(receivers, left())) === 'timeout') this.logger.warn('receivers did not stop within shutdown_timeout');
    if ((await within(Promise.all(this.pipelines.map((p) => p.done)), left())) === 'timeout') {
      this.logger.warn('pipelines did not drain within shutdown_timeout');
      this.abortPipelines();
    }
    await this.stopExporters(deadline);
    this.memory.stop();
    await this.stopExtensions();
    this.logger.info({ exporters: this.exporterTotals(), dropped: this.droppedTotals() }, 'stopped');
  }

  /** Items each exporter took in and sent, by "id (signal)". */
  exporterTotals(): Record<string, { in: number; out: number }> {
    const out: Record<string, { in: number; out: number }> = {};
    for (const p of this.telemetry.collect()) {
      const a = p.attributes;
      if (a[SELF_ATTR.componentKind] !== 'exporter' || (p.name !== SELF_METRICS_DEFS.itemsIn.name && p.name !== SELF_METRICS_DEFS.itemsOut.name)) continue;
      const e = (out[`${a[SELF_ATTR.componentId]} (${a[SELF_ATTR.signal]})`] ??= { in: 0, out: 0 });
      if (p.name === SELF_METRICS_DEFS.itemsIn.name) e.in += p.value;
      else e.out += p.value;
    }
    return out;
  }

  /** Items dropped since start, by "component id (signal or pipeline): reason": the last word on what was lost. */
  droppedTotals(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const p of this.telemetry.collect()) {
      if (p.name !== SELF_METRICS_DEFS.itemsDropped.name || !p.value) continue;
      const a = p.attributes;
      const where = a[SELF_ATTR.signal] ?? a[SELF_ATTR.pipelineId];
      const key = `${a[SELF_ATTR.componentId]}${where ? ` (${where})` : ''}: ${a[SELF_ATTR.dropReason]}`;
      out[key] = (out[key] ?? 0) + p.value;
    }
    return out;
  }

  private async stopExtensions(): Promise<void> {
    this.status.setService('stopped');
    for (const [id, x] of [...this.extensions].reverse()) {
      await x.shutdown().catch((err) => this.logger.error({ err, extension: id }, 'extension shutdown failed'));
    }
  }

  /** Stops the pipelines where they are: nothing more reaches the exporters. */
  private abortPipelines(): void {
    for (const p of this.pipelines) {
      p.subscription?.unsubscribe();
      p.markDone();
    }
  }

  /** Each exporter gets until `deadline`; one that ignores it is waited for a second more, no longer. */
  private async stopExporters(deadline = Date.now() + (this.opts.shutdownTimeoutMs ?? this.config.shutdownTimeoutMs)): Promise<void> {
    await Promise.all(
      [...this.exporters].map(async ([key, e]) => {
        const id = key.split('|')[0];
        const r = await within(
          e.shutdown(deadline).catch((err) => this.logger.error({ err, exporter: id }, 'exporter shutdown failed')),
          deadline - Date.now() + EXPORTER_GRACE_MS,
        );
        if (r === 'timeout') this.logger.warn({ exporter: id }, 'exporter did not stop within shutdown_timeout: leaving it');
      }),
    );
    this.memory.stop();
  }
}

function annotate(err: unknown, where: string): unknown {
  if (err instanceof Error && !err.message.startsWith(where)) {
    (err as Error & { component?: string }).component = where;
  }
  return err;
}
