import type { TcpEvent } from '../../src/core/events.js';
import { makeEvent as makeCloseEvent } from '../processors/fixtures.js';

/** A plausible loopback `open` event of an outbound connection; override what the test is about. */
export function makeEvent(overrides: Partial<TcpEvent> = {}): TcpEvent {
  return makeCloseEvent({
    kind: 'open',
    timeNs: 1_000_000_000,
    localAddress: '127.0.0.1',
    localPort: 40000,
    remoteAddress: '127.0.0.1',
    remotePort: 8080,
    pid: 1234,
    tid: 1234,
    cgroupId: 1,
    durationNs: 0,
    bytesSent: 0,
    bytesReceived: 0,
    handshakeNs: 50_000,
    segmentsIn: 1,
    segmentsOut: 1,
    srttUs: 40,
    oldState: 'syn_sent',
    newState: 'established',
    flags: 1,
    ...overrides,
  });
}
