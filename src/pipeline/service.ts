/**
 * The pipeline graph, built once from a resolved config. Receivers are shared by every
 * pipeline that names them (one eBPF attach for all); each pipeline has its own processor
 * instances and fans out to its exporters. Start is downstream-first (exporters, then
 * the pipelines' processors, then receivers); shutdown is upstream-first: receivers stop
 * and drain, processors flush as their input completes, exporters flush last.
 */
import { asyncScheduler, filter, map, merge, type SchedulerLike, type Subscription } from 'rxjs';
import type { Batch, Exporter, ExporterFactory, Extension, Receiver, Signal } from '../core/component.js';
import { StatusHub, type StatusReporter } from '../core/status.js';
import type { Logger } from '../core/logger.js';
import { Telemetry, componentTelemetry } from '../core/telemetry.js';
import type { ResolvedConfig } from '../config/validate.js';
import { dropPrivileges } from '../core/privileges.js';
import { isPushdownReceiver, type KernelAggregate } from '../core/pushdown.js';
import { describePlan, planPushdown, type PushdownPlan } from './pushdown.js';

export interface ServiceOptions {
  logger: Logger;
  telemetry?: Telemetry;
  scheduler?: SchedulerLike;
  /** How long shutdown waits for the pipelines to drain before stopping the exporters. */
  drainTimeoutMs?: number;
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
        this.logger.info({ user: ids.name, uid: ids.uid }, 'dropped root: running as an unprivileged user with CAP_BPF and CAP_PERFMON kept for the kernel counters');
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
      },
      complete: () => markDone(),
    });
    this.pipelines.push(running);
  }

  /** Receivers first (they drain), then the pipelines complete, then exporters flush. Idempotent. */
  shutdown(): Promise<void> {
    this.stopping ??= this.doShutdown();
    return this.stopping;
  }

  private async doShutdown(): Promise<void> {
    this.logger.info('shutting down');
    this.status.setService('stopping');
    await Promise.all(
      [...this.receivers].map(([id, r]) =>
        r.shutdown().catch((err) => this.logger.error({ err, receiver: id }, 'receiver shutdown failed')),
      ),
    );
    const drained = Promise.all(this.pipelines.map((p) => p.done));
    const timeout = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), this.opts.drainTimeoutMs ?? 10_000).unref());
    if ((await Promise.race([drained, timeout])) === 'timeout') {
      this.logger.warn('pipelines did not drain in time');
      this.abortPipelines();
    }
    await this.stopExporters();
    await this.stopExtensions();
    this.logger.info('stopped');
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

  private async stopExporters(): Promise<void> {
    await Promise.all(
      [...this.exporters].map(([key, e]) =>
        e.shutdown().catch((err) => this.logger.error({ err, exporter: key.split('|')[0] }, 'exporter shutdown failed')),
      ),
    );
  }
}

function annotate(err: unknown, where: string): unknown {
  if (err instanceof Error && !err.message.startsWith(where)) {
    (err as Error & { component?: string }).component = where;
  }
  return err;
}
