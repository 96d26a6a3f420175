/**
 * How tcpotel's metrics are named in Prometheus: metric names, label names and label
 * values, in one place for every exporter, document and test that names Prometheus series.
 * Over OTLP the names stay the OpenTelemetry names of src/semconv/metrics.ts.
 *
 * The rules are those of @opentelemetry/exporter-prometheus's serializer (what tcpotel
 * exposed before it wrote the exposition itself): invalid characters become `_`, runs of
 * `_` collapse, a name that would start with a digit gets a leading `_`, and monotonic
 * counters end in `_total`.
 */
import type { AttributeValue } from '../core/events.js';
import type { Instrument, MetricDefinition } from './metrics.js';

export type PrometheusType = 'counter' | 'gauge' | 'histogram';

export interface PrometheusMetricNames {
  /** The name on the HELP and TYPE lines of the text format; counters' samples carry it too. */
  name: string;
  /** The Prometheus type. */
  type: PrometheusType;
  /** The OpenTelemetry unit, as the `# UNIT` line says it ('' for none). */
  unit: string;
}

const INVALID = /[^a-z0-9_]/gi;
const UNDERSCORES = /_{2,}/g;
const NEEDS_ESCAPE = /[\\\n"]/;

/** Backslashes and newlines escaped, as HELP text and label values need them. */
export function escapeText(text: string): string {
  return text.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

/** Characters Prometheus does not allow in a name become `_`; runs of `_` collapse. */
export function sanitizeName(name: string): string {
  return name.replace(INVALID, '_').replace(UNDERSCORES, '_');
}

/** The label name of an attribute. */
export function prometheusLabelName(attribute: string): string {
  return sanitizeName(attribute);
}

/** A label value as it goes between the quotes: non-strings as JSON, `\`, newline and `"` escaped. */
export function escapeLabelValue(value: AttributeValue | undefined): string {
  const text = value === undefined ? '' : typeof value === 'string' ? value : JSON.stringify(value);
  return NEEDS_ESCAPE.test(text) ? escapeText(text).replace(/"/g, '\\"') : text;
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
  let name = sanitizeName(escapeText(metric.name));
  if (namespace) name = `${namespace}_${name}`;
  if (name === '' || name === '_') return undefined;
  if (name[0]! >= '0' && name[0]! <= '9') name = `_${name}`;
  const type = typeOf(metric.instrument);
  if (type === 'counter' && !name.endsWith('_total')) name += '_total';
  return { name, type, unit: metric.unit };
}
