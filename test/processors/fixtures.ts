/** Test fixtures for processor tests: complete TcpEvents, batches, and a synchronous runner. */
import { from, type OperatorFunction } from 'rxjs';
import type { Batch, ProcessorFactory } from '../../src/core/component.js';
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

/** Runs batches through a synchronous operator and collects what comes out. */
export function runSync(op: OperatorFunction<Batch, Batch>, input: Batch[]): Batch[] {
  const out: Batch[] = [];
  let error: unknown;
  let done = false;
  from(input)
    .pipe(op)
    .subscribe({ next: (b) => out.push(b), error: (e) => (error = e), complete: () => (done = true) });
  if (error) throw error;
  if (!done) throw new Error('the operator did not complete synchronously');
  return out;
}

/** The factory's defaults with `over` merged over them, as the config loader does (one level). */
export function configOf<C>(factory: ProcessorFactory<C>, over: Record<string, unknown> = {}): C {
  return factory.schema.parse({ ...(factory.createDefaultConfig() as Record<string, unknown>), ...over });
}

/** The issues of parsing the defaults with `bad` merged over them (fails the test if it parses). */
export function issuesOf(factory: ProcessorFactory<unknown>, bad: Record<string, unknown>) {
  const r = factory.schema.safeParse({ ...(factory.createDefaultConfig() as Record<string, unknown>), ...bad });
  if (r.success) throw new Error(`expected ${JSON.stringify(bad)} to be rejected`);
  return r.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message, code: i.code }));
}

export const DROPPED = 'tcpotel.component.items.dropped';
export const ITEMS_IN = 'tcpotel.component.items.in';
export const ITEMS_OUT = 'tcpotel.component.items.out';
