/**
 * The one fixture module for events and batches: complete TcpEvents (a `close` by default,
 * or a loopback `open`), event and metric batches.
 */
import type { Batch } from '../../src/core/component.js';
import { eventBatch, type EventBatch, type TcpEvent } from '../../src/core/events.js';
import type { MetricBatch, MetricPoint } from '../../src/core/metrics.js';
import { seriesKey } from '../../src/core/metrics.js';

let nextSocket = 1000;

/** A plausible outbound IPv4 `close` event (curl to 93.184.215.14:443); override any field. */
export function makeEvent(overrides: Partial<TcpEvent> = {}): TcpEvent {
  return {
    kind: 'close',
    timeNs: 1_000_000_000_000,
    socketId: nextSocket++,
    family: 4,
    localAddress: '10.0.0.5',
    localPort: 51234,
    remoteAddress: '93.184.215.14',
    remotePort: 443,
    direction: 'outbound',
    pid: 4242,
    tid: 4242,
    comm: 'curl',
    cgroupId: 7777,
    netns: 4026531840,
    durationNs: 250_000_000,
    bytesSent: 512,
    bytesReceived: 4096,
    bytesRetransmitted: 0,
    handshakeNs: 1_200_000,
    segmentsIn: 8,
    segmentsOut: 6,
    retransmits: 0,
    srttUs: 1200,
    oldState: 'fin_wait_1',
    newState: 'closed',
    errno: 0,
    preexisting: false,
    resetSent: false,
    resetReceived: false,
    flags: 0,
    lost: 0,
    ...overrides,
  };
}

/** A plausible loopback `open` event of an outbound connection; override what the test is about. */
export function openEvent(overrides: Partial<TcpEvent> = {}): TcpEvent {
  return makeEvent({
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

export function events(batch: Batch | undefined): TcpEvent[] {
  assertEvents(batch);
  return batch.events;
}

export function assertEvents(batch: Batch | undefined): asserts batch is EventBatch {
  if (!batch || batch.type !== 'events') throw new Error(`expected an event batch, got ${JSON.stringify(batch)}`);
}

export function batchOf(evs: TcpEvent[], extra?: Partial<EventBatch>): EventBatch {
  return eventBatch('ebpf', evs, extra);
}

export function metricBatch(points: Array<{ name: string; attributes: Record<string, string | number | boolean>; value?: number }>): MetricBatch {
  return {
    type: 'metrics',
    startTime: [1700000000, 0],
    endTime: [1700000010, 0],
    points: points.map(
      (p): MetricPoint => ({ type: 'sum', name: p.name, attributes: p.attributes, seriesKey: seriesKey(p.name, p.attributes), value: p.value ?? 1 }),
    ),
  };
}
