/**
 * What a renderer of the view is, and what it reads of its hub: the Ink app (app.tsx)
 * depends on these types only, so the hub (hub.ts), which loads the app on demand, and the
 * app do not import each other.
 */
import type { ViewConfig } from './config.js';
import type { ViewModel } from './model.js';

/** Draws the model: the live terminal view or summary lines. */
export interface Renderer {
  /** A period completed (the model has new totals and rates). */
  update(): void;
  /** Stops drawing; resolves when the terminal is restored. */
  stop(): Promise<void>;
}

/** The hub as a renderer sees it. */
export interface ViewSource {
  /** The view exporter's id. */
  readonly id: string;
  readonly model: ViewModel;
  readonly config: ViewConfig;
  /** `q` was pressed (or the process is stopping). */
  readonly stopping: boolean;
  /** The text next to the spinner until the first metrics arrive. */
  status(): string;
  subscribe(fn: () => void): () => void;
  quit(): void;
  /** The final line, for the terminal after the live view closes. */
  finalLine(): string | undefined;
}
