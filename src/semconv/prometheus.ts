/**
 * How tcpotel's metrics are named in Prometheus and OpenMetrics: metric names, units, label
 * names and label values, in one place for the exporter, the reference document, the
 * benchmarks and the tests. Over OTLP the names stay the OpenTelemetry names of
 * src/semconv/metrics.ts.
 *
 * The rules are OpenTelemetry's for Prometheus (specification, "Prometheus and OpenMetrics
 * Compatibility"): characters Prometheus does not allow become `_` (runs of `_` collapse);
 * the unit, in Prometheus' words, is a suffix of the name (`s` -> `_seconds`, `By` ->
 * `_bytes`, `By/s` -> `_bytes_per_second`; annotations such as `{connection}` are no unit);
 * monotonic counters end in `_total` after it. So `tcp.io` (a counter in `By`) is
 * `tcp_io_bytes_total`, `tcp.rtt` (a histogram in `s`) is `tcp_rtt_seconds`.
 *
 * One name is not derived: a gauge must not end in `_count`, which Prometheus keeps for
 * histograms and summaries (`promtool check metrics` says so), so
 * `system.network.connection.count` is `system_network_connections` (its name in the
 * semantic conventions before 1.25).
 */
import type { AttributeValue } from '../core/events.js';
import type { Instrument, MetricDefinition } from './metrics.js';

export type PrometheusType = 'counter' | 'gauge' | 'histogram';

export interface PrometheusMetricNames {
  /** The metric family's name: OpenMetrics' HELP, TYPE and UNIT lines; gauges' and histograms' samples. */
  family: string;
  /** The name of the text format's HELP and TYPE lines: counters' samples end in `_total`, like it. */
  name: string;
  type: PrometheusType;
  /** The unit in Prometheus' words, a suffix of `family` ('' for none). */
  unit: string;
}

/** OpenTelemetry names whose Prometheus name starts from another name (see above). */
const RENAMED: Record<string, string> = {
  'system.network.connection.count': 'system.network.connections',
};

const INVALID = /[^a-zA-Z0-9_]/g;
const UNDERSCORES = /_{2,}/g;
const NEEDS_ESCAPE = /[\\\n"]/;

/** OpenTelemetry (UCUM) units to Prometheus' words. */
const UNIT_WORDS: Record<string, string> = {
  d: 'days',
  h: 'hours',
  min: 'minutes',
  s: 'seconds',
  ms: 'milliseconds',
  us: 'microseconds',
  ns: 'nanoseconds',
  By: 'bytes',
  KiBy: 'kibibytes',
  MiBy: 'mebibytes',
  GiBy: 'gibibytes',
  TiBy: 'tibibytes',
  KBy: 'kilobytes',
  MBy: 'megabytes',
  GBy: 'gigabytes',
  TBy: 'terabytes',
  m: 'meters',
  V: 'volts',
  A: 'amperes',
  J: 'joules',
  W: 'watts',
  g: 'grams',
  Cel: 'celsius',
  Hz: 'hertz',
  '%': 'percent',
};
/** The denominator of a "per" unit (`By/s` -> bytes_per_second). */
const PER_WORDS: Record<string, string> = { s: 'second', m: 'minute', h: 'hour', d: 'day', w: 'week', mo: 'month', y: 'year' };

/** Backslashes and newlines escaped, as the text format's HELP lines need them. */
export function escapeText(text: string): string {
  return text.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

/** HELP text for OpenMetrics, which escapes double quotes too. */
export function escapeOpenMetricsHelp(text: string): string {
  return escapeText(text).replace(/"/g, '\\"');
}

/** Characters Prometheus does not allow in a name become `_`; runs of `_` collapse. */
export function sanitizeName(name: string): string {
  return name.replace(INVALID, '_').replace(UNDERSCORES, '_');
}

/** The label name of an attribute (`key_` before a leading digit, which Prometheus does not allow). */
export function prometheusLabelName(attribute: string): string {
  const n = sanitizeName(attribute);
  return n[0]! >= '0' && n[0]! <= '9' ? `key_${n}` : n;
}

/** A label value as it goes between the quotes: non-strings as JSON, `\`, newline and `"` escaped. */
export function escapeLabelValue(value: AttributeValue | undefined): string {
  const text = value === undefined ? '' : typeof value === 'string' ? value : JSON.stringify(value);
  return NEEDS_ESCAPE.test(text) ? escapeText(text).replace(/"/g, '\\"') : text;
}

/** The unit of `unit` in Prometheus' words ('' when it has none: `1` outside gauges, annotations). */
export function prometheusUnit(unit: string, type: PrometheusType): string {
  const u = unit.replace(/\{[^}]*\}/g, '').trim();
  if (u === '') return '';
  if (u === '1') return type === 'gauge' ? 'ratio' : '';
  const slash = u.indexOf('/');
  if (slash >= 0) {
    const num = u.slice(0, slash);
    const den = u.slice(slash + 1);
    const a = num === '' || num === '1' ? '' : (UNIT_WORDS[num] ?? sanitizeName(num));
    const b = PER_WORDS[den] ?? UNIT_WORDS[den] ?? sanitizeName(den);
    return sanitizeName(a ? `${a}_per_${b}` : `per_${b}`).replace(/^_|_$/g, '');
  }
  return sanitizeName(UNIT_WORDS[u] ?? u).replace(/^_|_$/g, '');
}

function typeOf(instrument: Instrument): PrometheusType {
  return instrument === 'counter' ? 'counter' : instrument === 'histogram' ? 'histogram' : 'gauge';
}

/**
 * The Prometheus names of a metric, or undefined when its name sanitizes to nothing usable.
 * `namespace` prefixes every name (`namespace_name`).
 */
export function prometheusMetricNames(
  metric: Pick<MetricDefinition, 'name' | 'unit' | 'instrument'>,
  namespace = '',
): PrometheusMetricNames | undefined {
  let family = sanitizeName(RENAMED[metric.name] ?? metric.name);
  if (namespace) family = sanitizeName(`${namespace}_${family}`);
  if (family === '' || family === '_') return undefined;
  if (family[0]! >= '0' && family[0]! <= '9') family = `_${family}`;
  const type = typeOf(metric.instrument);
  // A counter's family does not end in _total (its samples do).
  if (type === 'counter' && family.endsWith('_total')) family = family.slice(0, -'_total'.length);
  const unit = prometheusUnit(metric.unit, type);
  if (unit && !family.endsWith(`_${unit}`) && family !== unit) family += `_${unit}`;
  return { family, name: type === 'counter' ? `${family}_total` : family, type, unit };
}
