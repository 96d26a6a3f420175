/**
 * The Prometheus endpoint's client connections, each in one state (connected and not yet
 * asking, idle between requests, busy with a response, stalled on a client that does not
 * read), with the limits that keep clients from taking tcpotel down: a cap on connections
 * (descriptors), timeouts for the states a client can drag out, and a bound on the replaced
 * expositions that slow responses keep alive. Every connection it closes is reported with
 * its reason.
 */
import type { Socket } from 'node:net';
import type { ServerResponse } from 'node:http';
import type { Exposition } from './exposition.js';

export type CloseReason = 'connection_limit' | 'header_timeout' | 'idle_timeout' | 'slow_reader';

export interface ConnectionLimits {
  maxConnections: number;
  readHeaderMs: number;
  idleMs: number;
  writeMs: number;
}

type State = 'new' | 'idle' | 'busy' | 'stalled';

export class Connection {
  state: State = 'new';
  /** When it entered its state (performance.now()). */
  since = performance.now();
  /** The exposition its response is writing, held until the response ends. */
  private exposition?: Exposition;

  constructor(readonly socket: Socket) {}

  /** Data points of the response under way (what a cut loses), else 0. */
  get points(): number {
    return this.exposition?.points ?? 0;
  }

  get generation(): number {
    return this.exposition?.generation ?? Infinity;
  }

  private enter(state: State): void {
    this.state = state;
    this.since = performance.now();
  }

  /** A request arrived; its response is `res`. */
  request(res: ServerResponse): void {
    this.enter('busy');
    res.once('close', () => {
      this.let();
      if (!this.socket.destroyed) this.enter('idle');
    });
  }

  /** The response writes `exposition` (held: let go when the response ends). */
  serving(exposition: Exposition): void {
    this.let();
    this.exposition = exposition;
  }

  stalled(): void {
    this.enter('stalled');
  }

  progress(): void {
    if (this.state === 'stalled') this.enter('busy');
  }

  /** Lets go of the exposition, once. */
  let(): void {
    const e = this.exposition;
    this.exposition = undefined;
    e?.release();
  }
}

export class Connections {
  private readonly open = new Set<Connection>();
  private readonly bySocket = new WeakMap<Socket, Connection>();
  private timer?: NodeJS.Timeout;
  private stopped = false;

  constructor(
    private readonly limits: ConnectionLimits,
    /** A connection this table closed (undefined: refused as it came), and why. */
    private readonly onClose: (conn: { points: number }, reason: CloseReason) => void,
  ) {}

  get size(): number {
    return this.open.size;
  }

  of(socket: Socket): Connection | undefined {
    return this.bySocket.get(socket);
  }

  /** A new connection: kept, at the cost of the one that waited longest if the table is full, or closed. */
  accept(socket: Socket): void {
    if (this.stopped) {
      socket.destroy();
      return;
    }
    if (this.open.size >= this.limits.maxConnections) {
      const victim = this.victim();
      if (!victim) {
        this.onClose({ points: 0 }, 'connection_limit');
        socket.destroy();
        return;
      }
      this.cut(victim, victim.state === 'stalled' ? 'slow_reader' : 'connection_limit');
    }
    const conn = new Connection(socket);
    this.open.add(conn);
    this.bySocket.set(socket, conn);
    socket.once('close', () => {
      this.open.delete(conn);
      conn.let();
    });
  }

  /** The connection that has waited longest without a response making progress. */
  private victim(): Connection | undefined {
    let best: Connection | undefined;
    for (const c of this.open) {
      if (c.state === 'busy') continue;
      if (!best || c.since < best.since) best = c;
    }
    return best;
  }

  private cut(conn: Connection, reason: CloseReason): void {
    this.open.delete(conn);
    this.onClose(conn, reason);
    conn.let();
    // A response cut short is reset: what the kernel still holds for the client goes too,
    // instead of waiting (orphaned) for a reader that does not read.
    if (conn.state === 'stalled' || conn.state === 'busy') conn.socket.resetAndDestroy();
    else conn.socket.destroy();
  }

  /** Closes what has been in a state too long. */
  sweep(now = performance.now()): void {
    for (const c of [...this.open]) {
      const age = now - c.since;
      if (c.state === 'new' && age > this.limits.readHeaderMs) this.cut(c, 'header_timeout');
      else if (c.state === 'idle' && age > this.limits.idleMs) this.cut(c, 'idle_timeout');
      else if (c.state === 'stalled' && age > this.limits.writeMs) this.cut(c, 'slow_reader');
    }
  }

  /**
   * After a render: while the replaced expositions that responses still hold take more
   * than the current one (at least 1 MiB), the responses holding the oldest are cut: a
   * response still under way two renders later is a slow reader's.
   */
  limitHeld(current: Exposition, writer: { memory(): { heldBytes: number } }): void {
    const bound = Math.max(current.byteLength('text'), 1 << 20);
    while (writer.memory().heldBytes > bound) {
      let oldest = Infinity;
      for (const c of this.open) if (c.generation < oldest && c.generation < current.generation) oldest = c.generation;
      if (oldest === Infinity) return;
      for (const c of [...this.open]) if (c.generation === oldest) this.cut(c, 'slow_reader');
    }
  }

  start(): void {
    const period = Math.min(1000, Math.max(50, Math.min(this.limits.readHeaderMs, this.limits.idleMs, this.limits.writeMs) / 4));
    this.timer = setInterval(() => this.sweep(), period);
    this.timer.unref();
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.timer);
  }
}
