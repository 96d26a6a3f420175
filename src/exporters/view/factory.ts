import { exporterFactory } from '../../core/component.js';
import { defaultViewConfig, viewConfigSchema } from './config.js';
import { viewMode } from './hub.js';
import { ViewExporter } from './view.js';

export const viewExporterFactory = exporterFactory({
  type: 'view',
  description: 'live top-like terminal view of connections, rates, socket states and failures (summary lines when not a terminal)',
  schema: viewConfigSchema,
  createDefaultConfig: defaultViewConfig,
  exporter: ViewExporter,
  // Summary lines show totals and rates only: no series needed.
  demand: (config) => (viewMode(config) === 'summary' ? 'totals' : 'series'),
});
