/**
 * Component status, after the Collector's componentstatus: every receiver, exporter and
 * pipeline reports how it is doing (starting, ok, a recoverable error such as an export
 * that will be retried, a permanent error such as a receiver whose stream failed), and the
 * service reports where it is in its life. Extensions (health_check) read the whole.
 */

export type ComponentStatus = 'starting' | 'ok' | 'recoverable_error' | 'permanent_error' | 'stopped';

/** Where the service is: extensions start first and stop last, so they see each stage. */
export type ServiceState = 'starting' | 'running' | 'stopping' | 'stopped';

export interface ComponentStatusEntry {
  /** "receiver", "exporter", "pipeline". */
  kind: string;
  /** The component id; an exporter's carries its signal ("otlp/metrics" is "otlp" for metrics). */
  id: string;
  signal?: string;
  status: ComponentStatus;
  /** When the status last changed (ms since the epoch). A run of errors keeps its first time. */
  since: number;
  /** The last error, while in an error status. */
  error?: string;
}

/** What a component says about itself; calls that change nothing are cheap. */
export interface StatusReporter {
  ok(): void;
  /** Something failed that may recover by itself (an export to be retried). */
  recoverableError(err: unknown): void;
  /** Something failed that will not recover without a restart (a receiver's stream ended in error). */
  permanentError(err: unknown): void;
  stopped(): void;
}

function message(err: unknown): string {
  if (err instanceof Error) return err.message;
  const m = (err as { message?: unknown } | undefined)?.message;
  return typeof m === 'string' ? m : String(err);
}

export class StatusHub {
  private readonly entries = new Map<string, ComponentStatusEntry>();
  private serviceState: ServiceState = 'starting';
  private stateSince: number;
  readonly startedAt: number;

  constructor(private readonly now: () => number = Date.now) {
    this.startedAt = now();
    this.stateSince = this.startedAt;
  }

  /** A reporter for one component; it starts in `starting`. */
  reporter(kind: string, id: string, signal?: string): StatusReporter {
    const key = `${kind}/${id}${signal ? `/${signal}` : ''}`;
    const entry: ComponentStatusEntry = { kind, id, ...(signal ? { signal } : {}), status: 'starting', since: this.now() };
    this.entries.set(key, entry);
    const set = (status: ComponentStatus, err?: unknown) => {
      if (err !== undefined) entry.error = message(err);
      else delete entry.error;
      if (entry.status === status) return;
      entry.status = status;
      entry.since = this.now();
    };
    return {
      ok: () => set('ok'),
      recoverableError: (err) => {
        // A permanent error stays: a later retry does not make a failed receiver well.
        if (entry.status !== 'permanent_error') set('recoverable_error', err);
      },
      permanentError: (err) => set('permanent_error', err),
      stopped: () => set('stopped', entry.status === 'permanent_error' ? entry.error : undefined),
    };
  }

  setService(state: ServiceState): void {
    if (state === this.serviceState) return;
    this.serviceState = state;
    this.stateSince = this.now();
  }

  get service(): { state: ServiceState; since: number } {
    return { state: this.serviceState, since: this.stateSince };
  }

  /** Every component's status, in the order they were registered. */
  components(): ComponentStatusEntry[] {
    return [...this.entries.values()].map((e) => ({ ...e }));
  }
}

/** A reporter that keeps nothing, for components built outside a service (tests, tools). */
export const NO_STATUS: StatusReporter = { ok() {}, recoverableError() {}, permanentError() {}, stopped() {} };
