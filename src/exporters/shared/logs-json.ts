/**
 * Connection events as one OTLP/JSON ExportLogsServiceRequest, written straight into a
 * string: the narrow fast path of `JsonLogsSerializer.serializeRequest(batchToLogRecords(b))`.
 *
 * Why not the package: a profile of the per-event logs pipeline (every open and close to the
 * file exporter, 20,000 events/s) put most of its CPU in the OpenTelemetry transformer, which
 * builds an object tree per record (and a scope block per record) before stringifying it.
 * This writes the same request (the same resource, scope, records, fields and attribute
 * values; all records under one scope) and is tested against the package's output.
 */
import type { EventBatch, TcpEvent } from '../../core/events.js';
import type { AttributeValue } from '../../core/events.js';
import { monotonicToHrTime } from '../../core/clock.js';
import { nowHrTime, type HrTime } from '../../core/metrics.js';
import { ATTR, eventAttributes, visitEventAttributes } from '../../semconv/attributes.js';
import { logRecordHead } from './logs.js';
import { buildResource, instrumentationScope } from './resource.js';

function nanos(t: HrTime): string {
  return t[0] === 0 ? String(t[1]) : `${t[0]}${String(t[1]).padStart(9, '0')}`;
}

/** Characters a JSON string must escape (and lone surrogates, which JSON.stringify escapes). */
const NEEDS_ESCAPE = /["\\\u0000-\u001f\ud800-\udfff]/;

function jsonString(v: string): string {
  return NEEDS_ESCAPE.test(v) ? JSON.stringify(v) : `"${v}"`;
}

/** One attribute value as OTLP/JSON AnyValue. */
function anyValue(v: AttributeValue): string {
  if (typeof v === 'string') return `{"stringValue":${jsonString(v)}}`;
  if (typeof v === 'boolean') return `{"boolValue":${v}}`;
  return Number.isInteger(v) ? `{"intValue":${v}}` : `{"doubleValue":${JSON.stringify(v)}}`;
}

/** `{"key":"<k>","value":` per attribute name (a few dozen names recur). */
const keyPrefix = new Map<string, string>();
function prefixOf(k: string): string {
  let p = keyPrefix.get(k);
  if (p === undefined) {
    p = `{"key":${JSON.stringify(k)},"value":`;
    if (keyPrefix.size < 4096) keyPrefix.set(k, p);
  }
  return p;
}

function keyValues(attrs: Record<string, AttributeValue | undefined>): string {
  let out = '';
  let first = true;
  for (const k in attrs) {
    const v = attrs[k];
    if (v === undefined) continue;
    out += first ? prefixOf(k) : `,${prefixOf(k)}`;
    out += anyValue(v);
    out += '}';
    first = false;
  }
  return out;
}

const resourceCache = new Map<string, string>();

/** The resource block, made once per distinct resource. */
function resourceJson(attrs: Record<string, AttributeValue> | undefined): string {
  const key = attrs ? JSON.stringify(attrs) : '';
  let json = resourceCache.get(key);
  if (json === undefined) {
    json = `{"attributes":[${keyValues(buildResource(attrs ?? {}).attributes as Record<string, AttributeValue>)}],"droppedAttributesCount":0}`;
    if (resourceCache.size > 64) resourceCache.clear();
    resourceCache.set(key, json);
  }
  return json;
}

/** The attributes' JSON being written by `appendAttribute` (one event at a time). */
let written = '';

function appendAttribute(k: string, v: AttributeValue): void {
  written += written.length ? `,${prefixOf(k)}` : prefixOf(k);
  written += anyValue(v);
  written += '}';
}

/** An event's attributes and its event.name, as eventAttributes() would give them, in order. */
function attributesJson(ev: TcpEvent, eventName: string): string {
  if (ev.attributes) {
    // Processors set or removed some: the object form applies them in place.
    const attributes = eventAttributes(ev);
    attributes[ATTR.eventName] = eventName;
    return keyValues(attributes);
  }
  written = '';
  visitEventAttributes(ev, appendAttribute);
  appendAttribute(ATTR.eventName, eventName);
  return written;
}

function record(ev: TcpEvent, observed: string): string {
  const { severity: sev, eventName, body } = logRecordHead(ev);
  const attributes = attributesJson(ev, eventName);
  return (
    `{"timeUnixNano":"${nanos(monotonicToHrTime(ev.timeNs))}","observedTimeUnixNano":"${observed}",` +
    `"severityNumber":${sev.number},"severityText":"${sev.text}","body":{"stringValue":${jsonString(body)}},` +
    `"eventName":"${eventName}","attributes":[${attributes}],"droppedAttributesCount":0}`
  );
}

/** The batch's events as one ExportLogsServiceRequest in OTLP/JSON. */
export function logsRequestJson(batch: EventBatch, observedAt: HrTime = nowHrTime()): string {
  const observed = nanos(observedAt);
  const scope = instrumentationScope();
  const parts = new Array<string>(batch.events.length);
  for (let i = 0; i < batch.events.length; i++) parts[i] = record(batch.events[i]!, observed);
  return (
    `{"resourceLogs":[{"resource":${resourceJson(batch.resource)},"scopeLogs":[{"scope":{"name":${JSON.stringify(scope.name)},"version":${JSON.stringify(scope.version)}},` +
    `"logRecords":[${parts.join(',')}]}]}]}`
  );
}
