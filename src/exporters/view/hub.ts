/**
 * One screen per `view` exporter id. A config that names `view` in a metrics pipeline and
 * in a logs pipeline gets two exporter instances (one per signal); both take the hub of
 * their id from this module-level registry, feed its one model, and share its renderer.
 * The renderer starts with the first instance and stops with the last.
 */
import type { EventBatch } from '../../core/events.js';
import type { MetricBatch } from '../../core/metrics.js';
import type { ViewConfig } from './config.js';
import { summaryLine } from './format.js';
import { ViewModel } from './model.js';
import type { Renderer, ViewSource } from './renderer.js';

/** The live view in a terminal (or when asked for), else summary lines. */
export function viewMode(config: ViewConfig, isTTY = process.stdout.isTTY === true): 'tty' | 'summary' {
  return config.mode === 'auto' ? (isTTY ? 'tty' : 'summary') : config.mode;
}

export interface HubIo {
  /** Writes summary lines (default: process.stdout). */
  write?: (text: string) => void;
  /** Whether stdout is a terminal, for mode: auto (default: process.stdout.isTTY). */
  isTTY?: boolean;
  /** Creates the live renderer (default: the Ink app, loaded on demand). */
  createTty?: (hub: ViewSource) => Promise<Renderer>;
}

type Listener = () => void;

let startupStatus = 'loading the eBPF programs and taking a snapshot of open connections';
let quitHandler: () => void = () => process.kill(process.pid, 'SIGINT');

/** The text next to the spinner until the first metrics arrive (`tcpotel top` sets it as start-up goes). */
export function setViewStatus(text: string): void {
  startupStatus = text;
  for (const hub of hubs.values()) hub.notify();
}

/**
 * What `q` (and Ctrl+C in the live view) does. By default: SIGINT to this process, which
 * `tcpotel run` and `tcpotel top` handle by flushing the exporters and detaching the BPF
 * programs. Returns the previous handler.
 */
export function setViewQuitHandler(fn: () => void): () => void {
  const prev = quitHandler;
  quitHandler = fn;
  return prev;
}

export class ViewHub implements ViewSource {
  readonly model: ViewModel;
  private users = 0;
  private renderer?: Renderer;
  private starting?: Promise<void>;
  private readonly listeners = new Set<Listener>();
  private quitting = false;
  readonly mode: 'tty' | 'summary';
  private readonly write: (text: string) => void;

  constructor(
    readonly id: string,
    readonly config: ViewConfig,
    private readonly io: HubIo = {},
  ) {
    this.mode = viewMode(config, io.isTTY);
    this.model = new ViewModel({ intervalMs: config.interval, maxRecent: config.max_recent, rows: this.mode === 'tty' });
    this.write = io.write ?? ((s) => void process.stdout.write(s));
  }

  /** One more exporter instance uses the hub; the first starts the renderer. */
  async acquire(): Promise<void> {
    this.users++;
    if (this.users === 1) {
      this.starting = (async () => {
        if (this.mode === 'summary') this.renderer = new SummaryRenderer(this, this.write);
        else {
          const create = this.io.createTty ?? (async (hub: ViewSource) => (await importTtyApp()).startTty(hub));
          this.renderer = await create(this);
        }
      })();
    }
    await this.starting;
  }

  /** One exporter instance is done; the last one stops the renderer and removes the hub. */
  async release(): Promise<void> {
    if (this.users === 0) return;
    this.users--;
    if (this.users > 0) return;
    await this.starting;
    const r = this.renderer;
    this.renderer = undefined;
    if (hubs.get(this.id) === this) hubs.delete(this.id);
    await r?.stop();
  }

  addMetrics(batch: MetricBatch): void {
    if (this.model.addMetrics(batch)) {
      this.renderer?.update();
      this.notify();
    }
  }

  addEvents(batch: EventBatch): void {
    this.model.addEvents(batch);
  }

  /** `q`: asks the process to stop (once). */
  quit(): void {
    if (this.quitting) return;
    this.quitting = true;
    this.notify();
    quitHandler();
  }

  status(): string {
    return startupStatus;
  }

  get stopping(): boolean {
    return this.quitting;
  }

  /** The final line, for the terminal after the live view closes. */
  finalLine(): string | undefined {
    this.model.completePeriod();
    if (!this.model.ready) return undefined;
    return summaryLine(this.model.totals(), this.model.lastPeriod(), this.model.nowMs);
  }

  subscribe(fn: Listener): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  notify(): void {
    for (const fn of this.listeners) fn();
  }
}

/** One summary line per completed period, and one for the last, partial period. */
export class SummaryRenderer implements Renderer {
  constructor(
    private readonly hub: ViewHub,
    private readonly write: (text: string) => void,
  ) {}

  update(): void {
    const m = this.hub.model;
    const p = m.lastPeriod();
    if (p) this.write(summaryLine(m.totals(), p, p.endMs) + '\n');
  }

  async stop(): Promise<void> {
    if (this.hub.model.completePeriod()) this.update();
  }
}

const hubs = new Map<string, ViewHub>();

/** The hub of an exporter id, created by the first instance. */
export function viewHub(id: string, config: ViewConfig, io?: HubIo): ViewHub {
  let hub = hubs.get(id);
  if (!hub) {
    hub = new ViewHub(id, config, io);
    hubs.set(id, hub);
  }
  return hub;
}

/** Hubs in use (for tests). */
export function activeViewHubs(): ReadonlyMap<string, ViewHub> {
  return hubs;
}

/**
 * Imports the Ink app. Ink decides once, when its module is evaluated, whether it runs
 * "in CI" (the CI or CONTINUOUS_INTEGRATION variable set) and then paints nothing until
 * it unmounts. The view is only chosen in a terminal (or asked for with mode: tty), where
 * a live view is what the user wants whatever their environment says; so those variables
 * are hidden while Ink loads and restored at once.
 */
async function importTtyApp(): Promise<typeof import('./app.js')> {
  const keys = ['CI', 'CONTINUOUS_INTEGRATION'] as const;
  const saved = keys.map((k) => [k, process.env[k]] as const);
  for (const k of keys) delete process.env[k];
  try {
    return await import('./app.js');
  } finally {
    for (const [k, v] of saved) if (v !== undefined) process.env[k] = v;
  }
}
