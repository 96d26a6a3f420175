/**
 * The `view` exporter: a live, top-like view of every TCP connection in the terminal
 * (Ink), or one summary line per interval when stdout is not a terminal.
 *
 * Put it in a metrics pipeline after `aggregate` (totals, rates, socket states, the top
 * connections: key the aggregate by five_tuple, process.pid and process.executable.name
 * for one row per connection and process) and, optionally, in a logs pipeline that keeps
 * the `failed` and `reset` events (the recent-failures list). The two instances share one
 * screen (see hub.ts). The summary line format is documented in format.ts.
 */
import { pointCount } from '../../core/metrics.js';
import type { Batch, Exporter, ExporterContext } from '../../core/component.js';
import type { ViewConfig } from './config.js';
import { viewHub, type HubIo, type ViewHub } from './hub.js';

export class ViewExporter implements Exporter {
  private hub?: ViewHub;

  constructor(
    private readonly config: ViewConfig,
    private readonly ctx: ExporterContext,
    private readonly io?: HubIo,
  ) {}

  async start(): Promise<void> {
    // Taken at start, not at construction: a service that never starts leaves no hub behind.
    this.hub = viewHub(this.ctx.id, this.config, this.io);
    await this.hub.acquire();
  }

  consume(batch: Batch): void {
    const hub = this.hub;
    if (!hub) return;
    if (batch.type === 'metrics') {
      const n = pointCount(batch);
      this.ctx.telemetry.incoming(n);
      hub.addMetrics(batch);
      this.ctx.telemetry.outgoing(n);
    } else {
      if (!batch.events.length) return;
      this.ctx.telemetry.incoming(batch.events.length);
      hub.addEvents(batch);
      this.ctx.telemetry.outgoing(batch.events.length);
    }
  }

  async shutdown(): Promise<void> {
    const hub = this.hub;
    this.hub = undefined;
    await hub?.release();
  }
}
