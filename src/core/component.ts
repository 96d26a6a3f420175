/**
 * The component model, after the OpenTelemetry Collector's: each component type has a
 * factory with a type name, a complete default config, a schema, and a create function.
 * Receivers emit batches of connection events; processors are pure RxJS operators over
 * batches; exporters send them on.
 */
import type { Observable, OperatorFunction, SchedulerLike } from 'rxjs';
import type { z } from 'zod';
import type { EventBatch } from './events.js';
import type { Logger } from './logger.js';
import type { MetricBatch } from './metrics.js';
import type { StatusHub, StatusReporter } from './status.js';
import type { ComponentTelemetry } from './telemetry.js';

export type ComponentKind = 'receiver' | 'processor' | 'exporter';

/** Pipeline types, as in the Collector's `service::pipelines` keys. */
export type Signal = 'logs' | 'metrics';

export type Batch = EventBatch | MetricBatch;
export type BatchType = Batch['type'];

export interface ComponentContext {
  /** The component id from the config: "type" or "type/name". */
  id: string;
  /**
   * For an aggregate the pipeline planned (src/pipeline/pushdown.ts): its keys (none when
   * only totals are read) and, when the kernel computes it, the receiver's handle.
   */
  aggregate?: { keys: string[]; kernel?: import('./pushdown.js').KernelAggregate };
  /** For processors and exporters: the pipeline id ("metrics/flows"). */
  pipeline?: string;
  logger: Logger;
  telemetry: ComponentTelemetry;
  /** Time source for windows and timers; TestScheduler in marble tests. */
  scheduler: SchedulerLike;
  /** How the component is doing, for health_check (receivers and exporters, in a service). */
  status?: StatusReporter;
}

interface FactoryBase<C> {
  readonly type: string;
  readonly kind: ComponentKind | 'extension';
  /** One line for `tcpotel components`. */
  readonly description: string;
  /** Validates a config: the defaults with the user's YAML merged over them. */
  readonly schema: z.ZodType<C, unknown>;
  /** A complete, valid config: YAML only overrides it. */
  createDefaultConfig(): unknown;
}

export interface Receiver {
  /** Hot: subscribe before start(). Completes after shutdown() has drained. */
  readonly output: Observable<EventBatch>;
  start(): Promise<void>;
  shutdown(): Promise<void>;
}

export interface ReceiverFactory<C = unknown> extends FactoryBase<C> {
  readonly kind: 'receiver';
  create(config: C, ctx: ComponentContext): Receiver;
}

export interface ProcessorFactory<C = unknown> extends FactoryBase<C> {
  readonly kind: 'processor';
  /** Batch types the processor takes. */
  readonly accepts: readonly BatchType[];
  /** The batch type it emits for a given input type. */
  output(input: BatchType): BatchType;
  /** A pure operator factory: it never subscribes by itself. */
  create(config: C, ctx: ComponentContext): OperatorFunction<Batch, Batch>;
  /** Attributes it sets on events: later processors of the pipeline may read them. */
  setsAttributes?(config: C): readonly string[];
  /**
   * Attribute names its config reads from events, each with where the config names it
   * (relative to the processor): validation checks each against what the events carry
   * and the processors before it set.
   */
  readsAttributes?(config: C): ReadonlyArray<{ name: string; path: ReadonlyArray<string | number>; alternatives?: readonly string[] }>;
}

export interface Exporter {
  start(): Promise<void>;
  /** Takes a batch; never throws: failures are counted and logged. */
  consume(batch: Batch): void;
  /**
   * Flushes what is queued and stops: by `deadline` (ms since the epoch, from
   * service::shutdown_timeout) what is still unsent is dropped and counted.
   */
  shutdown(deadline?: number): Promise<void>;
}

export interface ExporterContext extends ComponentContext {
  signal: Signal;
  /** Add tcpotel's own metrics to metrics exports (service::telemetry::metrics). */
  selfMetrics: boolean;
}

export interface ExporterFactory<C = unknown> extends FactoryBase<C> {
  readonly kind: 'exporter';
  readonly signals: readonly Signal[];
  create(config: C, ctx: ExporterContext): Exporter;
  /**
   * What the exporter reads of a metrics pipeline: 'totals' when it only sums every series
   * (the aggregate then needs no keys); 'series' (the default) when it reads each one.
   */
  demand?(config: C): 'totals' | 'series';
}

/**
 * An extension: something beside the pipelines, as in the Collector (health_check). It
 * starts before every pipeline component and stops after them, so it sees the whole life.
 */
export interface Extension {
  start(): Promise<void>;
  shutdown(): Promise<void>;
}

export interface ExtensionContext {
  id: string;
  logger: Logger;
  /** Every component's status and the service's state. */
  status: StatusHub;
}

export interface ExtensionFactory<C = unknown> extends FactoryBase<C> {
  readonly kind: 'extension';
  create(config: C, ctx: ExtensionContext): Extension;
}

export type AnyFactory = ReceiverFactory | ProcessorFactory | ExporterFactory | ExtensionFactory;

/**
 * A processor factory. By default it takes events only and emits the batch type it takes
 * (give `accepts` for more types, `output` for a processor that changes the type).
 */
export function processorFactory<C>(
  f: Omit<ProcessorFactory<C>, 'kind' | 'accepts' | 'output'> & Partial<Pick<ProcessorFactory<C>, 'accepts' | 'output'>>,
): ProcessorFactory<C> {
  return { kind: 'processor', accepts: ['events'], output: (input) => input, ...f };
}

/** An exporter factory: by default for metrics and logs pipelines; `exporter` is the class it creates. */
export function exporterFactory<C>(
  f: Omit<ExporterFactory<C>, 'kind' | 'signals' | 'create'> & {
    signals?: readonly Signal[];
    exporter: new (config: C, ctx: ExporterContext) => Exporter;
  },
): ExporterFactory<C> {
  const { exporter: Impl, ...rest } = f;
  return { kind: 'exporter', signals: ['metrics', 'logs'], ...rest, create: (config, ctx) => new Impl(config, ctx) };
}

/** "aggregate/flows" -> { type: "aggregate", name: "flows" } */
export function parseComponentId(id: string): { type: string; name?: string } {
  const slash = id.indexOf('/');
  return slash < 0 ? { type: id } : { type: id.slice(0, slash), name: id.slice(slash + 1) };
}
