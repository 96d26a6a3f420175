/**
 * The sock_diag receiver's bookkeeping, without I/O: each dump of every TCP socket is
 * compared with what the previous dumps showed, and the differences become the same
 * events the eBPF receiver produces.
 *
 *   first dump           ESTABLISHED .. CLOSING             -> existing (preexisting)
 *   later, new socket    ESTABLISHED .. CLOSING             -> open (handshake unknown: 0)
 *                        SYN_SENT                           -> (tracked as connecting)
 *                        TIME_WAIT (opened and closed between two dumps)
 *                                                           -> open + close, counters unknown
 *   connecting           -> ESTABLISHED .. CLOSING          -> open
 *                        -> gone or CLOSE                   -> failed (errno 0: not observable)
 *   open                 bytes changed                      -> sample
 *                        -> TIME_WAIT, CLOSE or gone        -> close, with the last counters seen
 *
 * Direction: inbound when the local port is a listening port in the same dump, else
 * outbound (SYN_SENT is always outbound). Byte counters are corrected like the eBPF
 * receiver's (bpf/tcpotel.bpf.c read_counters): see correctCounters().
 *
 * A socket missing from a dump may only have been skipped by it (the kernel resumes a
 * multi-part dump by position within a hash chain): `confirm` looks such sockets up one by
 * one before they are declared gone.
 *
 * Times are those of the dumps: an event's timeNs is the dump that showed the change; the
 * lifetime (durationNs of close, failed and sample) runs from the first dump that showed
 * the connection (0 for preexisting ones, as with eBPF), so it is right to within one
 * interval. A close's oldState is the last state a dump showed.
 *
 * maxTracked bounds the sockets followed at once (TIME_WAIT ones included, remembered so
 * that they are reported once). New sockets beyond it are not followed (evicting a live one
 * would report it as new again at the next dump): each is counted once as dropped, and is
 * picked up as `existing` (flag UNTRACKED) once there is room.
 */
import type { Direction, StateCounts, TcpEvent, TcpState, EventKind } from '../../core/events.js';
import { tcpStateName } from '../../core/events.js';
import { FLAG } from '../../native/records.js';
import { TCP, type DiagSocket } from './record.js';

export interface Owner {
  pid: number;
  comm: string;
  cgroupId: number;
}

export interface TableHooks {
  /** Owners of socket inodes (one call per update, only with inodes not asked about before). */
  owners?: (inodes: readonly number[]) => ReadonlyMap<number, Owner>;
  /**
   * Looks up tracked sockets that a dump did not show; returns those that still exist
   * (with fresh counters). Without it, missing means gone.
   */
  confirm?: (missing: readonly DiagSocket[]) => DiagSocket[];
}

export interface TableOptions {
  /** Sockets tracked at once (including remembered TIME_WAIT sockets). */
  maxTracked: number;
  /** Network namespace inode of the dumps. */
  netns?: number;
}

export interface UpdateResult {
  events: TcpEvent[];
  stateCounts: StateCounts;
  /** Sockets newly left untracked because of maxTracked. */
  dropped: number;
}

type Status = 'connecting' | 'open' | 'closed';

/** A connection between dumps: its endpoints as its events carry them, and what the dumps said. */
interface Tracked extends Pick<TcpEvent, 'family' | 'localAddress' | 'localPort' | 'remoteAddress' | 'remotePort' | 'direction'> {
  status: Status;
  cookie: number;
  preexisting: boolean;
  /** Time of the dump that first showed it; 0 for preexisting connections (lifetime unknown). */
  firstSeenNs: number;
  /** Last state seen. */
  state: number;
  /** Counters known (a dump showed it with tcp_info). */
  counted: boolean;
  sent: number;
  received: number;
  bytesRetrans: number;
  segsIn: number;
  segsOut: number;
  retrans: number;
  srttUs: number;
  owner?: Owner;
  /** The inode last asked about (owners are looked up once per inode). */
  ownerInode: number;
  /** Update generation that last saw it. */
  seen: number;
}

/** States of an open connection: what the eBPF snapshot reports as existing. */
const OPEN_STATES = new Set<number>([TCP.ESTABLISHED, TCP.FIN_WAIT1, TCP.FIN_WAIT2, TCP.CLOSE_WAIT, TCP.LAST_ACK, TCP.CLOSING]);
/** The peer's FIN has been received (the kernel counts it in bytes_received). */
const PEER_FIN_STATES = new Set<number>([TCP.CLOSE_WAIT, TCP.LAST_ACK, TCP.CLOSING, TCP.TIME_WAIT]);
/** Our FIN has been acknowledged (the kernel counts it in bytes_acked). */
const OUR_FIN_ACKED_STATES = new Set<number>([TCP.FIN_WAIT2, TCP.TIME_WAIT]);

/**
 * Byte counters as the application sees them, as the eBPF receiver reports them:
 * tcpi_bytes_acked counts our SYN on the active side, and our FIN once acknowledged
 * (FIN_WAIT2, TIME_WAIT; in FIN_WAIT1, CLOSING and LAST_ACK it is not yet);
 * tcpi_bytes_received counts the peer's FIN once received.
 */
export function correctCounters(s: Pick<DiagSocket, 'state' | 'bytesAcked' | 'bytesReceived'>, direction: Direction): { sent: number; received: number } {
  let sent = s.bytesAcked;
  let received = s.bytesReceived;
  if (direction === 'outbound' && sent > 0) sent--;
  if (OUR_FIN_ACKED_STATES.has(s.state) && sent > 0) sent--;
  if (PEER_FIN_STATES.has(s.state) && received > 0) received--;
  return { sent, received };
}

function stateKey(state: number): TcpState {
  // request sockets (NEW_SYN_RECV) are connections in SYN_RECV, as the eBPF receiver counts them
  return state === TCP.NEW_SYN_RECV ? 'syn_received' : tcpStateName(state);
}

export class ConnectionTable {
  private readonly tracked = new Map<number, Tracked>();
  /** Cookies left untracked by the cap at the last update (counted once each). */
  private ignored = new Set<number>();
  private gen = 0;
  private readonly maxTracked: number;
  private readonly netns: number;

  constructor(opts: TableOptions) {
    this.maxTracked = opts.maxTracked;
    this.netns = opts.netns ?? 0;
  }

  /** Sockets tracked now (connecting, open, and remembered TIME_WAIT). */
  get size(): number {
    return this.tracked.size;
  }

  /** Open connections tracked now. */
  get openCount(): number {
    let n = 0;
    for (const t of this.tracked.values()) if (t.status === 'open') n++;
    return n;
  }

  /** Compares one dump with the previous ones; `nowNs` (CLOCK_MONOTONIC) stamps the events. */
  update(dump: readonly DiagSocket[], nowNs: number, hooks: TableHooks = {}): UpdateResult {
    const first = this.gen === 0;
    const gen = ++this.gen;
    const stateCounts: StateCounts = { v4: {}, v6: {} };
    const listeners = new Map<number, number>(); // port -> a listener's inode

    // Pass 1: counts, listeners, and which tracked sockets this dump shows.
    for (const s of dump) {
      const counts = s.family === 6 ? stateCounts.v6 : stateCounts.v4;
      const k = stateKey(s.state);
      counts[k] = (counts[k] ?? 0) + 1;
      if (s.state === TCP.LISTEN) {
        if (!listeners.get(s.localPort)) listeners.set(s.localPort, s.inode);
        continue;
      }
      const t = this.tracked.get(s.cookie);
      if (t) t.seen = gen;
    }

    // Sockets the dump did not show: gone, or skipped by the dump?
    let sockets = dump;
    if (hooks.confirm && !first) {
      const missing: DiagSocket[] = [];
      for (const t of this.tracked.values()) {
        if (t.seen !== gen && t.status !== 'closed') missing.push(idOf(t));
      }
      if (missing.length) {
        const found = hooks.confirm(missing).filter((s) => {
          const t = this.tracked.get(s.cookie);
          if (!t || t.seen === gen) return false;
          t.seen = gen;
          return true;
        });
        if (found.length) sockets = dump.concat(found);
      }
    }

    // Not shown and not confirmed: gone. (First, so that their room is free for new ones.)
    const events: TcpEvent[] = [];
    for (const [cookie, t] of this.tracked) {
      if (t.seen === gen) continue;
      if (t.status === 'open') events.push(this.event('close', t, nowNs, t.counted ? 0 : FLAG.UNTRACKED, t.state));
      else if (t.status === 'connecting') events.push(this.event('failed', t, nowNs, 0));
      else if (t.seen >= gen - 1) continue; // a remembered TIME_WAIT socket: forgotten after two dumps without it
      this.tracked.delete(cookie);
    }

    const isListening = (port: number) => listeners.has(port);
    const directionOf = (s: DiagSocket): Direction => (s.state === TCP.SYN_SENT ? 'outbound' : isListening(s.localPort) ? 'inbound' : 'outbound');
    /** The inode whose owner a socket has: its own, else (not yet accepted) its listener's. */
    const ownerInodeOf = (s: DiagSocket, direction: Direction): number =>
      s.inode || (direction === 'inbound' ? (listeners.get(s.localPort) ?? 0) : 0);

    // Owners: one lookup for every inode not asked about before.
    let owners: ReadonlyMap<number, Owner> | undefined;
    if (hooks.owners) {
      const want: number[] = [];
      for (const s of sockets) {
        if (!this.trackable(s.state)) continue;
        const t = this.tracked.get(s.cookie);
        if (t && (t.status === 'closed' || t.owner)) continue;
        if (!t && (s.state === TCP.TIME_WAIT || s.state === TCP.CLOSE) && first) continue;
        const ino = ownerInodeOf(s, t ? t.direction : directionOf(s));
        if (ino && ino !== t?.ownerInode) want.push(ino);
      }
      if (want.length) owners = hooks.owners([...new Set(want)]);
    }
    const adoptOwner = (t: Tracked, s: DiagSocket) => {
      if (t.owner) return;
      const ino = ownerInodeOf(s, t.direction);
      if (!ino || ino === t.ownerInode) return;
      t.ownerInode = ino;
      const o = owners?.get(ino);
      if (o) t.owner = o;
    };

    // Pass 2: the differences.
    const ignored = new Set<number>();
    let dropped = 0;
    for (const s of sockets) {
      if (!this.trackable(s.state)) continue;
      let t = this.tracked.get(s.cookie);
      if (t && t.seen === gen && t.status !== 'closed' && t.state === s.state && t.counted === s.hasInfo && !this.changed(t, s)) {
        // unchanged (the common case), or a duplicate within the dump
        if (!t.owner) adoptOwner(t, s);
        continue;
      }
      if (!t) {
        if (this.tracked.size >= this.maxTracked) {
          ignored.add(s.cookie);
          if (!this.ignored.has(s.cookie)) dropped++;
          continue;
        }
        const wasIgnored = this.ignored.has(s.cookie);
        const preexisting = (first || wasIgnored) && OPEN_STATES.has(s.state);
        t = this.create(s, directionOf(s), preexisting, nowNs, gen);
        adoptOwner(t, s);
        this.tracked.set(s.cookie, t);
        if (OPEN_STATES.has(s.state)) {
          t.status = 'open';
          this.take(t, s);
          events.push(this.event(preexisting ? 'existing' : 'open', t, nowNs, wasIgnored ? FLAG.UNTRACKED : 0));
        } else if (s.state === TCP.SYN_SENT) {
          t.status = 'connecting';
        } else {
          // TIME_WAIT / CLOSE: closed before any dump showed it open
          t.status = 'closed';
          if (!first && !wasIgnored) {
            events.push(this.event('open', t, nowNs, FLAG.UNTRACKED));
            events.push(this.event('close', t, nowNs, FLAG.UNTRACKED));
          }
        }
        continue;
      }
      if (t.status === 'closed') continue;
      adoptOwner(t, s);
      if (t.status === 'connecting') {
        if (OPEN_STATES.has(s.state)) {
          t.status = 'open';
          this.take(t, s);
          events.push(this.event('open', t, nowNs, 0));
        } else if (s.state === TCP.TIME_WAIT) {
          // connected and closed between two dumps
          t.status = 'closed';
          t.state = s.state;
          events.push(this.event('open', t, nowNs, FLAG.UNTRACKED));
          events.push(this.event('close', t, nowNs, FLAG.UNTRACKED));
        } else if (s.state === TCP.CLOSE) {
          t.status = 'closed';
          events.push(this.event('failed', t, nowNs, 0));
        }
        continue;
      }
      // open
      if (OPEN_STATES.has(s.state)) {
        const changed = this.changed(t, s);
        this.take(t, s);
        if (changed) events.push(this.event('sample', t, nowNs, 0));
      } else if (s.state === TCP.TIME_WAIT || s.state === TCP.CLOSE) {
        // The full socket is gone (TIME_WAIT keeps no counters): close with the last seen.
        t.status = 'closed';
        const last = t.state;
        t.state = s.state;
        events.push(this.event('close', t, nowNs, 0, last));
      }
    }
    this.ignored = ignored;
    return { events, stateCounts, dropped };
  }

  private trackable(state: number): boolean {
    return state !== TCP.LISTEN && state !== TCP.SYN_RECV && state !== TCP.NEW_SYN_RECV && state !== 0;
  }

  private create(s: DiagSocket, direction: Direction, preexisting: boolean, nowNs: number, gen: number): Tracked {
    return {
      status: 'closed',
      cookie: s.cookie,
      family: s.family,
      localAddress: s.localAddress,
      localPort: s.localPort,
      remoteAddress: s.remoteAddress,
      remotePort: s.remotePort,
      direction,
      preexisting,
      firstSeenNs: preexisting ? 0 : nowNs,
      state: s.state,
      counted: false,
      sent: 0,
      received: 0,
      bytesRetrans: 0,
      segsIn: 0,
      segsOut: 0,
      retrans: 0,
      srttUs: 0,
      ownerInode: 0,
      seen: gen,
    };
  }

  /** Whether the corrected byte counters differ from those last taken. */
  private changed(t: Tracked, s: DiagSocket): boolean {
    if (!s.hasInfo) return false;
    const c = correctCounters(s, t.direction);
    return c.sent !== t.sent || c.received !== t.received;
  }

  /** Takes a socket's state and (when it came with tcp_info) its counters. */
  private take(t: Tracked, s: DiagSocket): void {
    t.state = s.state;
    if (!s.hasInfo) return;
    const c = correctCounters(s, t.direction);
    t.counted = true;
    t.sent = c.sent;
    t.received = c.received;
    t.bytesRetrans = s.bytesRetrans;
    t.segsIn = s.segsIn;
    t.segsOut = s.segsOut;
    t.retrans = s.totalRetrans;
    t.srttUs = s.rttUs;
  }

  private event(kind: EventKind, t: Tracked, nowNs: number, extraFlags: number, oldState?: number): TcpEvent {
    const o = t.owner;
    let flags = extraFlags | (t.direction === 'outbound' ? FLAG.ACTIVE : t.direction === 'inbound' ? FLAG.PASSIVE : 0);
    if (t.preexisting) flags |= FLAG.PREEXISTING;
    if (o && o.pid) flags |= FLAG.OWNER;
    const lifetime = t.firstSeenNs ? nowNs - t.firstSeenNs : 0;
    let old: TcpState;
    let cur: TcpState;
    let durationNs = 0;
    switch (kind) {
      case 'open':
        old = t.direction === 'inbound' ? 'syn_received' : 'syn_sent';
        cur = tcpStateName(t.state === TCP.TIME_WAIT ? TCP.ESTABLISHED : t.state);
        break;
      case 'close':
        old = tcpStateName(oldState ?? t.state);
        cur = 'closed';
        durationNs = lifetime;
        break;
      case 'failed':
        old = 'syn_sent';
        cur = 'closed';
        durationNs = lifetime;
        break;
      default: // existing, sample
        old = cur = tcpStateName(t.state);
        durationNs = kind === 'sample' ? lifetime : 0;
    }
    return {
      kind,
      timeNs: nowNs,
      socketId: t.cookie,
      family: t.family,
      localAddress: t.localAddress,
      localPort: t.localPort,
      remoteAddress: t.remoteAddress,
      remotePort: t.remotePort,
      direction: t.direction,
      pid: o?.pid ?? 0,
      tid: o?.pid ?? 0,
      comm: o?.comm ?? '',
      cgroupId: o?.cgroupId ?? 0,
      netns: this.netns,
      durationNs,
      bytesSent: t.sent,
      bytesReceived: t.received,
      bytesRetransmitted: t.bytesRetrans,
      handshakeNs: 0,
      segmentsIn: t.segsIn,
      segmentsOut: t.segsOut,
      retransmits: t.retrans,
      srttUs: t.srttUs,
      oldState: old,
      newState: cur,
      errno: 0,
      reset: undefined,
      preexisting: t.preexisting,
      resetSent: false,
      resetReceived: false,
      flags,
      // sock_diag's tcp_info has no count of the segments deemed lost over the life.
      lost: 0,
    };
  }
}

/** A tracked socket as a lookup key (family, tuple, cookie) for `confirm`. */
function idOf(t: Tracked): DiagSocket {
  return {
    cookie: t.cookie,
    family: t.family,
    state: t.state,
    localAddress: t.localAddress,
    localPort: t.localPort,
    remoteAddress: t.remoteAddress,
    remotePort: t.remotePort,
    inode: 0,
    uid: 0,
    hasInfo: false,
    bytesAcked: 0,
    bytesReceived: 0,
    bytesRetrans: 0,
    segsIn: 0,
    segsOut: 0,
    totalRetrans: 0,
    rttUs: 0,
  };
}
