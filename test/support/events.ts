import type { TcpEvent } from '../../src/core/events.js';

let nextId = 1;

/** A complete, plausible connection event; override what the test is about. */
export function makeEvent(overrides: Partial<TcpEvent> = {}): TcpEvent {
  return {
    kind: 'open',
    timeNs: 1_000_000_000,
    socketId: nextId++,
    family: 4,
    localAddress: '127.0.0.1',
    localPort: 40000,
    remoteAddress: '127.0.0.1',
    remotePort: 8080,
    direction: 'outbound',
    pid: 1234,
    tid: 1234,
    comm: 'curl',
    cgroupId: 1,
    netns: 4026531840,
    durationNs: 0,
    bytesSent: 0,
    bytesReceived: 0,
    bytesRetransmitted: 0,
    handshakeNs: 50_000,
    segmentsIn: 1,
    segmentsOut: 1,
    retransmits: 0,
    srttUs: 40,
    oldState: 'syn_sent',
    newState: 'established',
    errno: 0,
    reset: undefined,
    preexisting: false,
    resetSent: false,
    resetReceived: false,
    flags: 1,
    ...overrides,
  };
}
