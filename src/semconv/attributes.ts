/**
 * Attribute names, and the attributes of a connection event. OpenTelemetry semantic
 * conventions come first; `tcp.*` and `tcpotel.*` names cover what they do not define.
 * Every name here is documented in docs/reference.md (a test keeps the two in agreement).
 */
import type { AttributeValue, TcpEvent } from '../core/events.js';
import { errorType } from '../core/events.js';

export const ATTR = {
  // OpenTelemetry semantic conventions
  networkTransport: 'network.transport',
  networkType: 'network.type',
  networkLocalAddress: 'network.local.address',
  networkLocalPort: 'network.local.port',
  networkPeerAddress: 'network.peer.address',
  networkPeerPort: 'network.peer.port',
  clientAddress: 'client.address',
  clientPort: 'client.port',
  serverAddress: 'server.address',
  serverPort: 'server.port',
  networkConnectionState: 'network.connection.state',
  networkIoDirection: 'network.io.direction',
  errorType: 'error.type',
  processPid: 'process.pid',
  processExecutableName: 'process.executable.name',
  processExecutablePath: 'process.executable.path',
  processCommandLine: 'process.command_line',
  containerId: 'container.id',
  processOwner: 'process.owner',
  k8sPodUid: 'k8s.pod.uid',
  eventName: 'event.name',
  // Proposed TCP conventions
  handshakeRole: 'network.tcp.handshake.role',
  // tcpotel's own
  socketId: 'tcp.socket.id',
  eventKind: 'tcp.event.kind',
  oldState: 'tcp.state.previous',
  resetDirection: 'tcp.reset.direction',
  preexisting: 'tcp.connection.preexisting',
  bytesSent: 'tcp.bytes.sent',
  bytesReceived: 'tcp.bytes.received',
  bytesRetransmitted: 'tcp.bytes.retransmitted',
  segmentsIn: 'tcp.segments.in',
  segmentsOut: 'tcp.segments.out',
  retransmits: 'tcp.retransmits',
  rtt: 'tcp.rtt',
  handshakeDuration: 'tcp.handshake.duration',
  duration: 'tcp.duration',
  errno: 'tcp.errno',
  threadId: 'thread.id',
  cgroupId: 'tcp.cgroup.id',
  netns: 'tcp.netns.inode',
  // What the first payload bytes say (protocol detection)
  networkProtocolName: 'network.protocol.name',
  tlsServerName: 'tls.server.name',
  tlsProtocolVersion: 'tls.protocol.version',
  httpRequestMethod: 'http.request.method',
  httpRequestHost: 'http.request.header.host',
  // Loss
  segmentsLost: 'tcp.segments.lost',
  lossRatio: 'tcp.loss.ratio',
  // On metrics
  overflow: 'otel.metric.overflow',
} as const;

/** Attributes only the `process` processor sets (from /proc and the owner's cgroup). */
export const PROCESS_ATTRS: readonly string[] = [ATTR.processExecutablePath, ATTR.processCommandLine, ATTR.processOwner, ATTR.containerId, ATTR.k8sPodUid];

/**
 * Attributes that name where a connection's owner runs rather than the connection: an
 * exporter that groups its output by resource (OTLP) puts each distinct set of them on a
 * resource of its own, as the Collector's k8sattributes processor expects.
 */
export const RESOURCE_IDENTITY_ATTRS: readonly string[] = [ATTR.containerId, ATTR.k8sPodUid];

/** Resource attributes (the resource processor's detectors, and what every export carries). */
export const RESOURCE_ATTR = {
  serviceName: 'service.name',
  serviceVersion: 'service.version',
  sdkName: 'telemetry.sdk.name',
  sdkLanguage: 'telemetry.sdk.language',
  hostName: 'host.name',
  hostArch: 'host.arch',
  osType: 'os.type',
  osDescription: 'os.description',
  osName: 'os.name',
  osVersion: 'os.version',
  processPid: 'process.pid',
  runtimeName: 'process.runtime.name',
  runtimeVersion: 'process.runtime.version',
} as const;

/** Attributes of tcpotel's own metrics. */
export const SELF_ATTR = {
  componentId: 'tcpotel.component.id',
  componentKind: 'tcpotel.component.kind',
  pipelineId: 'tcpotel.pipeline.id',
  signal: 'tcpotel.signal',
  dropReason: 'tcpotel.drop.reason',
  ebpfProgram: 'tcpotel.ebpf.program',
} as const;

/** Log record event names (the LogRecord event_name field and the event.name attribute). */
export const EVENT_NAMES = {
  open: 'tcp.connection.open',
  existing: 'tcp.connection.open',
  close: 'tcp.connection.close',
  failed: 'tcp.connection.failed',
  retransmit: 'tcp.retransmit',
  reset: 'tcp.reset',
  state: 'tcp.state_change',
  sample: 'tcp.connection.sample',
} as const;

/**
 * The state a connection is in after the event, as `network.connection.state` values.
 * (Linux's TCP_NEW_SYN_RECV is reported as syn_received.)
 */
export function connectionState(ev: TcpEvent): string {
  const s = ev.newState === 'new_syn_recv' ? 'syn_received' : ev.newState;
  return s === 'unknown' ? 'established' : s;
}

/** The five-tuple's attribute names, in the order the key preset `five_tuple` and the functions below use. */
export const FIVE_TUPLE_ATTRS = [ATTR.networkTransport, ATTR.networkType, ATTR.networkLocalAddress, ATTR.networkLocalPort, ATTR.networkPeerAddress, ATTR.networkPeerPort] as const;

/**
 * An event's five-tuple attributes (FIVE_TUPLE_ATTRS), for a hot path (the aggregate keyed
 * by five_tuple). String-literal keys, the ATTR values (test/semconv checks them), not
 * computed ones: V8 then builds the object from a boilerplate.
 */
export function fiveTupleAttributes(ev: TcpEvent): Record<string, AttributeValue> {
  return {
    'network.transport': 'tcp',
    'network.type': ev.family === 6 ? 'ipv6' : 'ipv4',
    'network.local.address': ev.localAddress,
    'network.local.port': ev.localPort,
    'network.peer.address': ev.remoteAddress,
    'network.peer.port': ev.remotePort,
  };
}

/** Receives an event's attributes one by one (see visitEventAttributes). */
export type AttributeVisitor = (key: string, value: AttributeValue) => void;

/**
 * Every attribute the event itself gives (not those set by processors: ev.attributes), in
 * order, each once, to `a`: the one mapping from events to attributes. Hot paths (the
 * logs' JSON) write them as they come; an object with two dozen computed keys goes to V8's
 * dictionary mode and cost ten times more to build and walk (measured).
 */
export function visitEventAttributes(ev: TcpEvent, a: AttributeVisitor): void {
  a(ATTR.eventKind, ev.kind);
  a(ATTR.networkTransport, 'tcp');
  a(ATTR.networkType, ev.family === 6 ? 'ipv6' : 'ipv4');
  a(ATTR.networkLocalAddress, ev.localAddress);
  a(ATTR.networkLocalPort, ev.localPort);
  a(ATTR.networkPeerAddress, ev.remoteAddress);
  a(ATTR.networkPeerPort, ev.remotePort);
  a(ATTR.socketId, ev.socketId);
  if (ev.direction !== 'unknown') {
    const client = ev.direction === 'outbound';
    a(ATTR.handshakeRole, client ? 'client' : 'server');
    a(ATTR.clientAddress, client ? ev.localAddress : ev.remoteAddress);
    a(ATTR.clientPort, client ? ev.localPort : ev.remotePort);
    a(ATTR.serverAddress, client ? ev.remoteAddress : ev.localAddress);
    a(ATTR.serverPort, client ? ev.remotePort : ev.localPort);
  }
  a(ATTR.networkConnectionState, connectionState(ev));
  if (ev.pid) {
    a(ATTR.processPid, ev.pid);
    a(ATTR.threadId, ev.tid);
  }
  if (ev.comm) a(ATTR.processExecutableName, ev.comm);
  if (ev.cgroupId) a(ATTR.cgroupId, ev.cgroupId);
  if (ev.netns) a(ATTR.netns, ev.netns);
  if (ev.preexisting) a(ATTR.preexisting, true);
  if (ev.protocol !== undefined) {
    a(ATTR.networkProtocolName, ev.protocol);
    if (ev.tlsServerName) a(ATTR.tlsServerName, ev.tlsServerName);
    if (ev.tlsVersion) a(ATTR.tlsProtocolVersion, ev.tlsVersion);
    if (ev.httpMethod) a(ATTR.httpRequestMethod, ev.httpMethod);
    if (ev.httpHost) a(ATTR.httpRequestHost, ev.httpHost);
  }

  switch (ev.kind) {
    case 'open':
    case 'existing':
      if (ev.handshakeNs) a(ATTR.handshakeDuration, ev.handshakeNs / 1e9);
      if (ev.srttUs) a(ATTR.rtt, ev.srttUs / 1e6);
      break;
    case 'close':
    case 'sample':
      a(ATTR.bytesSent, ev.bytesSent);
      a(ATTR.bytesReceived, ev.bytesReceived);
      a(ATTR.bytesRetransmitted, ev.bytesRetransmitted);
      a(ATTR.segmentsIn, ev.segmentsIn);
      a(ATTR.segmentsOut, ev.segmentsOut);
      a(ATTR.retransmits, ev.retransmits);
      a(ATTR.segmentsLost, ev.lost);
      // Retransmitted segments per segment sent: the connection's loss as the kernel saw it.
      if (ev.segmentsOut) a(ATTR.lossRatio, ev.retransmits / ev.segmentsOut);
      if (ev.srttUs) a(ATTR.rtt, ev.srttUs / 1e6);
      if (ev.handshakeNs) a(ATTR.handshakeDuration, ev.handshakeNs / 1e9);
      if (ev.durationNs) a(ATTR.duration, ev.durationNs / 1e9);
      if (ev.kind === 'close') {
        a(ATTR.oldState, ev.oldState);
        if (ev.resetSent) a(ATTR.resetDirection, 'sent');
        else if (ev.resetReceived) a(ATTR.resetDirection, 'received');
        if (ev.errno) {
          a(ATTR.errno, ev.errno);
          a(ATTR.errorType, errorType(ev.errno));
        }
      }
      break;
    case 'failed':
      a(ATTR.errorType, errorType(ev.errno));
      a(ATTR.errno, ev.errno);
      a(ATTR.oldState, ev.oldState);
      if (ev.durationNs) a(ATTR.duration, ev.durationNs / 1e9);
      break;
    case 'retransmit':
      a(ATTR.retransmits, ev.retransmits);
      if (ev.srttUs) a(ATTR.rtt, ev.srttUs / 1e6);
      break;
    case 'reset':
      a(ATTR.resetDirection, ev.reset ?? 'sent');
      break;
    case 'state':
      a(ATTR.oldState, ev.oldState);
      a(ATTR.duration, ev.durationNs / 1e9);
      break;
  }
}

/**
 * Every attribute of an event, as log records carry them and as `aggregate` keys on
 * them. Attributes set by processors (ev.attributes) override; `undefined` deletes.
 */
export function eventAttributes(ev: TcpEvent): Record<string, AttributeValue> {
  const a: Record<string, AttributeValue> = {};
  visitEventAttributes(ev, (k, v) => {
    a[k] = v;
  });
  if (ev.attributes) {
    for (const [k, v] of Object.entries(ev.attributes)) {
      if (v === undefined) delete a[k];
      else a[k] = v;
    }
  }
  return a;
}

/** One attribute of an event, without building them all (used on hot paths). */
export function eventAttribute(ev: TcpEvent, key: string): AttributeValue | undefined {
  if (ev.attributes && key in ev.attributes) return ev.attributes[key];
  const client = ev.direction === 'outbound';
  const known = ev.direction !== 'unknown';
  switch (key) {
    case ATTR.networkTransport:
      return 'tcp';
    case ATTR.networkType:
      return ev.family === 6 ? 'ipv6' : 'ipv4';
    case ATTR.networkLocalAddress:
      return ev.localAddress;
    case ATTR.networkLocalPort:
      return ev.localPort;
    case ATTR.networkPeerAddress:
      return ev.remoteAddress;
    case ATTR.networkPeerPort:
      return ev.remotePort;
    case ATTR.clientAddress:
      return known ? (client ? ev.localAddress : ev.remoteAddress) : undefined;
    case ATTR.clientPort:
      return known ? (client ? ev.localPort : ev.remotePort) : undefined;
    case ATTR.serverAddress:
      return known ? (client ? ev.remoteAddress : ev.localAddress) : undefined;
    case ATTR.serverPort:
      return known ? (client ? ev.remotePort : ev.localPort) : undefined;
    case ATTR.handshakeRole:
      return known ? (client ? 'client' : 'server') : undefined;
    case ATTR.processPid:
      return ev.pid || undefined;
    case ATTR.threadId:
      return ev.pid ? ev.tid : undefined;
    case ATTR.processExecutableName:
      return ev.comm || undefined;
    case ATTR.cgroupId:
      return ev.cgroupId || undefined;
    case ATTR.netns:
      return ev.netns || undefined;
    case ATTR.eventKind:
      return ev.kind;
    case ATTR.networkConnectionState:
      return connectionState(ev);
    case ATTR.socketId:
      return ev.socketId;
    case ATTR.preexisting:
      return ev.preexisting || undefined;
    case ATTR.networkProtocolName:
      return ev.protocol;
    case ATTR.tlsServerName:
      return ev.protocol === undefined ? undefined : ev.tlsServerName || undefined;
    default:
      // Kind-specific attributes (bytes, durations, error.type, ...): rarely keys.
      return eventAttributes(ev)[key];
  }
}
