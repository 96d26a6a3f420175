/**
 * The connection events that flow through a pipeline. Receivers produce them in batches;
 * processors filter, sample, enrich and aggregate them; exporters turn them into
 * OpenTelemetry log records (and, after `aggregate`, metrics).
 */

export type EventKind =
  | 'open' // connection established (connect or accept)
  | 'close' // connection closed, with its final counters
  | 'failed' // connect failed (refused, timed out, reset, unreachable)
  | 'retransmit' // one retransmitted segment
  | 'reset' // RST sent or received
  | 'state' // a state transition (opt-in)
  | 'existing' // a connection already open when tcpotel started
  | 'sample'; // live counters of an open connection

export const EVENT_KINDS: readonly EventKind[] = [
  'open',
  'close',
  'failed',
  'retransmit',
  'reset',
  'state',
  'existing',
  'sample',
];

/** Values of `network.connection.state` (OpenTelemetry semantic conventions). */
export type TcpState = ConnectionState | 'new_syn_recv' | 'unknown';

/** `network.connection.state` values, in Linux's order (TCP_ESTABLISHED = 1 ... TCP_CLOSING = 11). */
export const CONNECTION_STATES = [
  'established',
  'syn_sent',
  'syn_received',
  'fin_wait_1',
  'fin_wait_2',
  'time_wait',
  'closed',
  'close_wait',
  'last_ack',
  'listen',
  'closing',
] as const;
export type ConnectionState = (typeof CONNECTION_STATES)[number];

/** Linux's TCP state numbers (include/net/tcp_states.h) to names. */
export const TCP_STATES: readonly TcpState[] = ['unknown', ...CONNECTION_STATES, 'new_syn_recv'];

export function tcpStateName(n: number): TcpState {
  return TCP_STATES[n] ?? 'unknown';
}

/** Which end of the connection this host is: it connected (client) or accepted (server). */
export type Direction = 'outbound' | 'inbound' | 'unknown';

/** Reset direction, for `reset` events. */
export type ResetDirection = 'sent' | 'received';

export interface TcpEvent {
  kind: EventKind;
  /** CLOCK_MONOTONIC nanoseconds, as the kernel stamped it. */
  timeNs: number;
  /** Stable per-socket id (the kernel socket cookie). */
  socketId: number;
  family: 4 | 6;
  localAddress: string;
  localPort: number;
  remoteAddress: string;
  remotePort: number;
  direction: Direction;
  /** Process id (tgid), 0 when unknown. */
  pid: number;
  /** Thread id. */
  tid: number;
  /** Thread name (comm) of the owner. */
  comm: string;
  cgroupId: number;
  netns: number;
  /** open: handshake; close/failed: lifetime; state: time spent in oldState; ns. */
  durationNs: number;
  /** Bytes sent and acknowledged by the peer. */
  bytesSent: number;
  /** Bytes received. */
  bytesReceived: number;
  bytesRetransmitted: number;
  /** SYN_SENT/SYN_RECV -> ESTABLISHED in ns, on open, close and sample events; 0 when unknown. */
  handshakeNs: number;
  segmentsIn: number;
  segmentsOut: number;
  /** Retransmitted segments over the connection's life so far. */
  retransmits: number;
  /** Smoothed RTT in microseconds (0 when unknown). */
  srttUs: number;
  oldState: TcpState;
  newState: TcpState;
  /** failed: errno from sk_err (111 = ECONNREFUSED, ...); close: sk_err if any. */
  errno: number;
  /** reset events: which way the RST went. */
  reset?: ResetDirection;
  /** The connection was open before tcpotel started. */
  preexisting: boolean;
  /** This end sent / received a RST during the connection's life. */
  resetSent: boolean;
  resetReceived: boolean;
  /** Raw flag bits from the kernel record. */
  flags: number;
  /** Segments the kernel deemed lost over the connection's life so far (tcp_sock.lost; 0 when unknown). */
  lost: number;
  /**
   * What the connection's first payload bytes say (protocol detection): undefined when
   * detection is off; `unknown` until (or unless) they say something.
   */
  protocol?: ProtocolName;
  /** TLS: the server name of the ClientHello (SNI). */
  tlsServerName?: string;
  /** TLS: the version of its first handshake record ("1.0" ... "1.3"). */
  tlsVersion?: string;
  /** HTTP/1.x: the request method and the Host header. */
  httpMethod?: string;
  httpHost?: string;
  /** Attributes added by processors (process enrichment, the attributes processor). */
  attributes?: Record<string, AttributeValue | undefined>;
}

export type AttributeValue = string | number | boolean;

/** `network.protocol.name` values protocol detection gives. */
export const PROTOCOL_NAMES = ['unknown', 'http', 'http2', 'grpc', 'tls', 'ssh', 'postgresql', 'mysql', 'redis', 'mongodb', 'dns', 'mqtt', 'amqp', 'kafka'] as const;
export type ProtocolName = (typeof PROTOCOL_NAMES)[number];

/** HTTP request methods, in the kernel's order (enum tcpotel_http_method, from 1). */
export const HTTP_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE', 'PATCH', '_OTHER'] as const;

/** Socket counts by state, from the periodic iterator or sock_diag. */
export interface StateCounts {
  v4: Partial<Record<TcpState, number>>;
  v6: Partial<Record<TcpState, number>>;
}

export interface EventBatch {
  readonly type: 'events';
  events: TcpEvent[];
  /** Id of the receiver that produced the batch, e.g. "ebpf". */
  receiver: string;
  /** Resource attributes added by the resource processor. */
  resource?: Record<string, AttributeValue>;
  /** On sample batches: socket counts by state at sampling time. */
  stateCounts?: StateCounts;
}

export function eventBatch(receiver: string, events: TcpEvent[], extra?: Partial<EventBatch>): EventBatch {
  return { type: 'events', receiver, events, ...extra };
}

/** errno values seen in sk_err, mapped to `error.type`. */
const ERRNO_TYPES: Record<number, string> = {
  0: 'cancelled',
  104: 'connection_reset',
  110: 'timed_out',
  111: 'connection_refused',
  113: 'host_unreachable',
  101: 'network_unreachable',
  99: 'address_not_available',
  32: 'broken_pipe',
  71: 'protocol_error',
  103: 'connection_aborted',
  112: 'host_down',
  100: 'network_down',
  13: 'permission_denied',
  1: 'operation_not_permitted',
};

export function errorType(errno: number): string {
  return ERRNO_TYPES[errno] ?? `errno_${errno}`;
}

/** Optional fields, copied only when set. */
type Optional = 'reset' | 'protocol' | 'tlsServerName' | 'tlsVersion' | 'httpMethod' | 'httpHost';
/** Every field of TcpEvent but the optional ones. */
type AllFields = { [K in keyof Required<Omit<TcpEvent, Optional>>]: TcpEvent[K] };

/**
 * A shallow copy of an event with a new attributes overlay: for processors that add
 * attributes to events that other pipelines may share. An object literal with every
 * field (the compiler checks that none is missing) is about ten times faster than
 * `{ ...ev, attributes }`, whose new property sends V8 down a slow path.
 */
export function copyEvent(e: TcpEvent, attributes: Record<string, AttributeValue | undefined> | undefined = e.attributes): TcpEvent {
  const c: AllFields & Pick<TcpEvent, Optional> = {
    kind: e.kind,
    timeNs: e.timeNs,
    socketId: e.socketId,
    family: e.family,
    localAddress: e.localAddress,
    localPort: e.localPort,
    remoteAddress: e.remoteAddress,
    remotePort: e.remotePort,
    direction: e.direction,
    pid: e.pid,
    tid: e.tid,
    comm: e.comm,
    cgroupId: e.cgroupId,
    netns: e.netns,
    durationNs: e.durationNs,
    bytesSent: e.bytesSent,
    bytesReceived: e.bytesReceived,
    bytesRetransmitted: e.bytesRetransmitted,
    handshakeNs: e.handshakeNs,
    segmentsIn: e.segmentsIn,
    segmentsOut: e.segmentsOut,
    retransmits: e.retransmits,
    srttUs: e.srttUs,
    oldState: e.oldState,
    newState: e.newState,
    errno: e.errno,
    preexisting: e.preexisting,
    resetSent: e.resetSent,
    resetReceived: e.resetReceived,
    flags: e.flags,
    lost: e.lost,
    attributes,
  };
  if (e.reset !== undefined) c.reset = e.reset;
  if (e.protocol !== undefined) {
    c.protocol = e.protocol;
    if (e.tlsServerName !== undefined) c.tlsServerName = e.tlsServerName;
    if (e.tlsVersion !== undefined) c.tlsVersion = e.tlsVersion;
    if (e.httpMethod !== undefined) c.httpMethod = e.httpMethod;
    if (e.httpHost !== undefined) c.httpHost = e.httpHost;
  }
  return c;
}
