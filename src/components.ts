/**
 * The registry: every component type tcpotel has, by kind, what configs can name. This is
 * the one list: a new component is added here and nowhere else.
 */
import type { ExporterFactory, ExtensionFactory, ProcessorFactory, ReceiverFactory } from './core/component.js';
import type { Registry } from './config/validate.js';
import { ebpfReceiverFactory } from './receivers/fallback.js';
import { replayReceiverFactory } from './receivers/replay/factory.js';
import { sockdiagReceiverFactory } from './receivers/sockdiag/factory.js';
import { aggregateProcessorFactory } from './processors/aggregate/factory.js';
import { attributesProcessorFactory } from './processors/attributes/factory.js';
import { batchProcessorFactory } from './processors/batch/factory.js';
import { filterProcessorFactory } from './processors/filter/factory.js';
import { processProcessorFactory } from './processors/process/factory.js';
import { resourceProcessorFactory } from './processors/resource/factory.js';
import { sampleProcessorFactory } from './processors/sample/factory.js';
import { debugExporterFactory } from './exporters/debug/factory.js';
import { fileExporterFactory } from './exporters/file/factory.js';
import { otlpExporterFactory, otlpHttpExporterFactory } from './exporters/otlp/factory.js';
import { prometheusExporterFactory } from './exporters/prometheus/factory.js';
import { viewExporterFactory } from './exporters/view/factory.js';
import { healthCheckExtensionFactory } from './extensions/health_check/factory.js';

export const RECEIVER_FACTORIES: readonly ReceiverFactory[] = [ebpfReceiverFactory, sockdiagReceiverFactory, replayReceiverFactory] as ReceiverFactory[];

export const PROCESSOR_FACTORIES: readonly ProcessorFactory[] = [
  filterProcessorFactory,
  sampleProcessorFactory,
  aggregateProcessorFactory,
  batchProcessorFactory,
  attributesProcessorFactory,
  resourceProcessorFactory,
  processProcessorFactory,
] as ProcessorFactory[];

export const EXPORTER_FACTORIES: readonly ExporterFactory[] = [
  otlpExporterFactory,
  otlpHttpExporterFactory,
  prometheusExporterFactory,
  debugExporterFactory,
  fileExporterFactory,
  viewExporterFactory,
] as ExporterFactory[];

export const EXTENSION_FACTORIES: readonly ExtensionFactory[] = [healthCheckExtensionFactory] as ExtensionFactory[];

function byType<F extends { type: string }>(list: readonly F[]): Map<string, F> {
  return new Map(list.map((f) => [f.type, f]));
}

export function defaultRegistry(extra: Partial<{ receivers: ReceiverFactory[] }> = {}): Registry {
  return {
    receivers: byType([...RECEIVER_FACTORIES, ...(extra.receivers ?? [])]),
    processors: byType(PROCESSOR_FACTORIES),
    exporters: byType(EXPORTER_FACTORIES),
    extensions: byType(EXTENSION_FACTORIES),
  };
}
