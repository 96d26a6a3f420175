import type { ExporterFactory } from '../../core/component.js';
import { defaultViewConfig, viewConfigSchema, type ViewConfig } from './config.js';
import { viewMode } from './hub.js';
import { ViewExporter } from './view.js';

export const viewExporterFactory: ExporterFactory<ViewConfig> = {
  type: 'view',
  kind: 'exporter',
  description: 'live top-like terminal view of connections, rates, socket states and failures (summary lines when not a terminal)',
  schema: viewConfigSchema,
  createDefaultConfig: defaultViewConfig,
  signals: ['metrics', 'logs'],
  create: (config, ctx) => new ViewExporter(config, ctx),
  // Summary lines show totals and rates only: no series needed.
  demand: (config) => (viewMode(config) === 'summary' ? 'totals' : 'series'),
};
