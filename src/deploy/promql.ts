/**
 * PromQL over tcpotel's Prometheus names, for the dashboard and the rules in deploy/: every
 * metric and label name comes from src/semconv (prometheus.ts derives them), none is
 * spelled here.
 */
import { ATTR, SELF_ATTR } from '../semconv/attributes.js';
import { SELF_METRICS_DEFS, TCP_METRICS, type MetricDefinition } from '../semconv/metrics.js';
import { prometheusLabelName, prometheusMetricNames } from '../semconv/prometheus.js';

function sample(m: MetricDefinition, suffix = ''): string {
  return prometheusMetricNames(m)!.name + suffix;
}

/** Sample names (a histogram's buckets end in _bucket). */
export const M = {
  opened: sample(TCP_METRICS.opened),
  closed: sample(TCP_METRICS.closed),
  failed: sample(TCP_METRICS.failed),
  active: sample(TCP_METRICS.active),
  io: sample(TCP_METRICS.io),
  retransmits: sample(TCP_METRICS.retransmits),
  resets: sample(TCP_METRICS.resets),
  segments: sample(TCP_METRICS.segments),
  rttBucket: sample(TCP_METRICS.rtt, '_bucket'),
  handshakeBucket: sample(TCP_METRICS.handshake, '_bucket'),
  durationBucket: sample(TCP_METRICS.duration, '_bucket'),
  lossBucket: sample(TCP_METRICS.loss, '_bucket'),
  sockets: sample(TCP_METRICS.connectionCount),
  eventsProduced: sample(SELF_METRICS_DEFS.ebpfProduced),
  eventsDropped: sample(SELF_METRICS_DEFS.ebpfDropped),
  itemsDropped: sample(SELF_METRICS_DEFS.itemsDropped),
  programsMissed: sample(SELF_METRICS_DEFS.ebpfProgramsMissed),
  seriesOverflow: sample(SELF_METRICS_DEFS.seriesOverflow),
  queueSize: sample(SELF_METRICS_DEFS.exporterQueueSize),
  queueCapacity: sample(SELF_METRICS_DEFS.exporterQueueCapacity),
} as const;

/** Label names. */
export const L = {
  serverAddress: prometheusLabelName(ATTR.serverAddress),
  serverPort: prometheusLabelName(ATTR.serverPort),
  role: prometheusLabelName(ATTR.handshakeRole),
  process: prometheusLabelName(ATTR.processExecutableName),
  protocol: prometheusLabelName(ATTR.networkProtocolName),
  direction: prometheusLabelName(ATTR.networkIoDirection),
  errorType: prometheusLabelName(ATTR.errorType),
  resetDirection: prometheusLabelName(ATTR.resetDirection),
  state: prometheusLabelName(ATTR.networkConnectionState),
  eventKind: prometheusLabelName(ATTR.eventKind),
  component: prometheusLabelName(SELF_ATTR.componentId),
  dropReason: prometheusLabelName(SELF_ATTR.dropReason),
  program: prometheusLabelName(SELF_ATTR.ebpfProgram),
} as const;

/**
 * Drop reasons that are what a config asked for (a filter, sampling, a rate limit), not
 * losses: left out of "tcpotel is dropping".
 */
export const INTENDED_DROPS = ['filtered', 'sampled_out', 'rate_limited'] as const;

/** `name{matchers}`. */
export function sel(name: string, ...matchers: Array<string | undefined>): string {
  const m = matchers.filter((x): x is string => !!x && x !== '');
  return m.length ? `${name}{${m.join(', ')}}` : name;
}

export function eq(label: string, value: string): string {
  return `${label}="${value}"`;
}

/** `sum by (labels) (rate(selector[range]))`. */
export function sumRate(selector: string, range: string, by: readonly string[]): string {
  return `sum by (${by.join(', ')}) (rate(${selector}[${range}]))`;
}

/** `a`, or where `a` has no series but `b` has, `b * 0`: zero where only the other side saw anything. */
export function orZero(a: string, b: string): string {
  return `(${a} or ${b} * 0)`;
}

/** Every loss tcpotel counts: kernel drops, skipped program runs, components' drops other than intended ones. */
export function droppedSelector(...matchers: Array<string | undefined>): string {
  const names = [M.eventsDropped, M.programsMissed, M.itemsDropped].join('|');
  const all = [`__name__=~"${names}"`, ...matchers, `${L.dropReason}!~"${INTENDED_DROPS.join('|')}"`].filter((x): x is string => !!x);
  return `{${all.join(', ')}}`;
}
