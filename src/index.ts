/**
 * tcpotel as a library: the component factories, the registry, and the pipeline builder
 * (config loading and resolving, the Service, runService). The `tcpotel` command
 * (src/cli/main.ts) is built on the same pieces.
 *
 *   import { defaultRegistry, loadAndResolve, Service } from 'tcpotel';
 *   const service = new Service(loadAndResolve(['pipelines/default.yaml'], defaultRegistry()), { logger });
 */
export type {
  AnyFactory,
  Batch,
  ComponentContext,
  Exporter,
  ExporterContext,
  ExporterFactory,
  Extension,
  ExtensionContext,
  ExtensionFactory,
  ProcessorFactory,
  Receiver,
  ReceiverFactory,
  Signal,
} from './core/component.js';
export type { EventBatch, TcpEvent } from './core/events.js';
export type { MetricBatch, MetricPoint } from './core/metrics.js';
export { createLogger, LOG_LEVELS, type Logger, type LogLevel } from './core/logger.js';

// The registry and every component factory.
export { defaultRegistry, EXPORTER_FACTORIES, EXTENSION_FACTORIES, PROCESSOR_FACTORIES, RECEIVER_FACTORIES } from './components.js';
export { ebpfReceiverFactory } from './receivers/fallback.js';
export { sockdiagReceiverFactory } from './receivers/sockdiag/factory.js';
export { replayReceiverFactory } from './receivers/replay/factory.js';
export { aggregateProcessorFactory } from './processors/aggregate/factory.js';
export { attributesProcessorFactory } from './processors/attributes/factory.js';
export { batchProcessorFactory } from './processors/batch/factory.js';
export { filterProcessorFactory } from './processors/filter/factory.js';
export { processProcessorFactory } from './processors/process/factory.js';
export { resourceProcessorFactory } from './processors/resource/factory.js';
export { sampleProcessorFactory } from './processors/sample/factory.js';
export { debugExporterFactory } from './exporters/debug/factory.js';
export { fileExporterFactory } from './exporters/file/factory.js';
export { otlpExporterFactory, otlpHttpExporterFactory } from './exporters/otlp/factory.js';
export { prometheusExporterFactory } from './exporters/prometheus/factory.js';
export { viewExporterFactory } from './exporters/view/factory.js';
export { healthCheckExtensionFactory } from './extensions/health_check/factory.js';

// The pipeline builder: load and resolve configs, run them.
export { loadConfigFiles, parseConfigText, type LoadedConfig, type LoadOptions } from './config/load.js';
export { loadAndResolve, resolveConfig, type Registry, type ResolvedConfig, type ResolvedPipeline } from './config/validate.js';
export { ConfigError, formatIssue, type ConfigIssue } from './config/errors.js';
export { Service, type ServiceOptions } from './pipeline/service.js';
export { runService } from './pipeline/run.js';
export { planPushdown, describePlan, type PushdownPlan } from './pipeline/pushdown.js';
