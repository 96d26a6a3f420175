/** Every component type tcpotel has, by kind: what configs can name. */
import type { ExporterFactory, ExtensionFactory, ProcessorFactory, ReceiverFactory } from './core/component.js';
import type { Registry } from './config/validate.js';
import { ebpfReceiverFactory } from './receivers/fallback.js';
import { replayReceiverFactory } from './receivers/replay/factory.js';
import { sockdiagReceiverFactory } from './receivers/sockdiag/factory.js';
import { aggregateProcessorFactory } from './processors/aggregate/factory.js';
import {
  attributesProcessorFactory,
  batchProcessorFactory,
  filterProcessorFactory,
  processProcessorFactory,
  resourceProcessorFactory,
  sampleProcessorFactory,
} from './processors/index.js';
import { otlpExporterFactory, otlpHttpExporterFactory } from './exporters/otlp/factory.js';
import { prometheusExporterFactory } from './exporters/prometheus/factory.js';
import { debugExporterFactory } from './exporters/debug/exporter.js';
import { fileExporterFactory } from './exporters/file/factory.js';
import { viewExporterFactory } from './exporters/view/exporter.js';
import { healthCheckExtensionFactory } from './extensions/health_check/factory.js';

function byType<F extends { type: string }>(list: F[]): Map<string, F> {
  return new Map(list.map((f) => [f.type, f]));
}

export function defaultRegistry(extra: Partial<{ receivers: ReceiverFactory[] }> = {}): Registry {
  return {
    receivers: byType<ReceiverFactory>([ebpfReceiverFactory, sockdiagReceiverFactory, replayReceiverFactory, ...(extra.receivers ?? [])] as ReceiverFactory[]),
    processors: byType<ProcessorFactory>(
      [
        filterProcessorFactory,
        sampleProcessorFactory,
        aggregateProcessorFactory,
        batchProcessorFactory,
        attributesProcessorFactory,
        resourceProcessorFactory,
        processProcessorFactory,
      ] as ProcessorFactory[],
    ),
    exporters: byType<ExporterFactory>(
      [otlpExporterFactory, otlpHttpExporterFactory, prometheusExporterFactory, debugExporterFactory, fileExporterFactory, viewExporterFactory] as ExporterFactory[],
    ),
    extensions: byType<ExtensionFactory>([healthCheckExtensionFactory] as ExtensionFactory[]),
  };
}
