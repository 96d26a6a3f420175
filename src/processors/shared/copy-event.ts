import type { AttributeValue, TcpEvent } from '../../core/events.js';

/** Every field of TcpEvent but the optional `reset`, which is copied only when set. */
type AllFields = { [K in keyof Required<Omit<TcpEvent, 'reset'>>]: TcpEvent[K] };

/**
 * A shallow copy of an event with a new attributes overlay: for processors that add
 * attributes to events that other pipelines may share. An object literal with every
 * field (the compiler checks that none is missing) is about ten times faster than
 * `{ ...ev, attributes }`, whose new property sends V8 down a slow path.
 */
export function copyEvent(e: TcpEvent, attributes: Record<string, AttributeValue | undefined>): TcpEvent {
  const c: AllFields & { reset?: TcpEvent['reset'] } = {
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
    attributes,
  };
  if (e.reset !== undefined) c.reset = e.reset;
  return c;
}
