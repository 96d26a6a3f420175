/**
 * Connection events as OpenTelemetry log records: an event name (LogRecord event_name and
 * the event.name attribute), the kernel timestamp as wall-clock time, a severity, a short
 * human-readable body, and every attribute of the event.
 */
import { SeverityNumber } from '@opentelemetry/api-logs';
import type { ReadableLogRecord } from '@opentelemetry/sdk-logs';
import type { Resource } from '@opentelemetry/resources';
import type { AttributeValue, EventBatch, TcpEvent } from '../../core/events.js';
import { errorType } from '../../core/events.js';
import { monotonicToHrTime } from '../../core/clock.js';
import { nowHrTime } from '../../core/metrics.js';
import { ATTR, EVENT_NAMES, eventAttributes } from '../../semconv/attributes.js';
import { buildResource, instrumentationScope } from './resource.js';

function endpoint(address: string, port: number): string {
  return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
}

/** One line a person can read: what happened, between whom, and the key numbers. */
export function describeEvent(ev: TcpEvent): string {
  const local = endpoint(ev.localAddress, ev.localPort);
  const remote = endpoint(ev.remoteAddress, ev.remotePort);
  const arrow = ev.direction === 'inbound' ? '<-' : '->';
  const who = ev.pid ? ` pid=${ev.pid}${ev.comm ? ` (${ev.comm})` : ''}` : '';
  const ms = (ns: number) => `${(ns / 1e6).toFixed(3)}ms`;
  switch (ev.kind) {
    case 'open':
    case 'existing':
      return `${ev.kind === 'existing' ? 'existing' : 'open'} ${local} ${arrow} ${remote}${ev.handshakeNs ? ` handshake=${ms(ev.handshakeNs)}` : ''}${who}`;
    case 'close':
    case 'sample':
      return `${ev.kind} ${local} ${arrow} ${remote} sent=${ev.bytesSent} received=${ev.bytesReceived} retransmits=${ev.retransmits}${ev.srttUs ? ` rtt=${(ev.srttUs / 1000).toFixed(3)}ms` : ''}${ev.durationNs ? ` duration=${ms(ev.durationNs)}` : ''}${who}`;
    case 'failed':
      return `failed ${local} -> ${remote}: ${errorType(ev.errno)}${who}`;
    case 'retransmit':
      return `retransmit ${local} ${arrow} ${remote} (total ${ev.retransmits})${who}`;
    case 'reset':
      return `reset ${ev.reset ?? 'sent'} ${local} ${arrow} ${remote}${who}`;
    case 'state':
      return `state ${local} ${arrow} ${remote} ${ev.oldState} -> ${ev.newState} after ${ms(ev.durationNs)}${who}`;
  }
}

export function severityOf(ev: TcpEvent): { number: SeverityNumber; text: string } {
  return ev.kind === 'failed' || ev.kind === 'reset' ? { number: SeverityNumber.WARN, text: 'WARN' } : { number: SeverityNumber.INFO, text: 'INFO' };
}

/**
 * What the log record of an event says besides its attributes: severity, event name and
 * body. Both log encoders use it: eventToLogRecord (through logRecordParts) and the
 * OTLP/JSON fast path (which writes the attributes as visitEventAttributes gives them).
 */
export function logRecordHead(ev: TcpEvent): { severity: { number: SeverityNumber; text: string }; eventName: string; body: string } {
  return { severity: severityOf(ev), eventName: EVENT_NAMES[ev.kind], body: describeEvent(ev) };
}

/** Severity, event name, body and attributes (with event.name). */
export function logRecordParts(ev: TcpEvent): { severity: { number: SeverityNumber; text: string }; eventName: string; body: string; attributes: Record<string, AttributeValue> } {
  const head = logRecordHead(ev);
  const attributes = eventAttributes(ev);
  attributes[ATTR.eventName] = head.eventName;
  return { ...head, attributes };
}

export function eventToLogRecord(ev: TcpEvent, resource: Resource, observed = nowHrTime()): ReadableLogRecord {
  const { severity: sev, eventName, body, attributes } = logRecordParts(ev);
  return {
    hrTime: monotonicToHrTime(ev.timeNs),
    hrTimeObserved: observed,
    severityNumber: sev.number,
    severityText: sev.text,
    body,
    eventName,
    resource,
    instrumentationScope: instrumentationScope(),
    attributes,
    droppedAttributesCount: 0,
  };
}

/**
 * A batch's log records. `groupBy`: attributes that move from each record to its resource
 * (one resource per distinct set of their values, as the Collector's groupbyattrs), e.g.
 * container.id and k8s.pod.uid, where k8sattributes looks for them.
 */
export function batchToLogRecords(batch: EventBatch, groupBy: readonly string[] = []): ReadableLogRecord[] {
  const resource = buildResource(batch.resource ?? {});
  const observed = nowHrTime();
  if (groupBy.length === 0) return batch.events.map((ev) => eventToLogRecord(ev, resource, observed));
  const resources = new Map<string, Resource>();
  return batch.events.map((ev) => {
    const record = eventToLogRecord(ev, resource, observed);
    const attrs = record.attributes as Record<string, AttributeValue>;
    let id = '';
    let moved: Record<string, AttributeValue> | undefined;
    for (const k of groupBy) {
      const v = attrs[k];
      if (v === undefined) continue;
      id += `${k}=${String(v)}\u0000`;
      (moved ??= {})[k] = v;
      delete attrs[k];
    }
    if (!moved) return record;
    let r = resources.get(id);
    if (!r) resources.set(id, (r = buildResource({ ...batch.resource, ...moved })));
    return { ...record, resource: r };
  });
}
