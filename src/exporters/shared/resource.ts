import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { resourceFromAttributes, type Resource } from '@opentelemetry/resources';
import type { Attributes } from '../../core/metrics.js';
import { packageRoot } from '../../core/paths.js';

let version: string | undefined;

export function tcpotelVersion(): string {
  if (!version) {
    try {
      version = (JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as { version: string }).version;
    } catch {
      version = '0.0.0';
    }
  }
  return version;
}

/** service.name is tcpotel unless the resource processor or OTEL_SERVICE_NAME says otherwise. */
export function buildResource(attrs: Attributes): Resource {
  return resourceFromAttributes({
    'service.name': process.env.OTEL_SERVICE_NAME || 'tcpotel',
    'service.version': tcpotelVersion(),
    'telemetry.sdk.name': 'opentelemetry',
    'telemetry.sdk.language': 'nodejs',
    ...attrs,
  });
}

let scope: { name: string; version: string } | undefined;

/**
 * One object for every record: the OTLP serializers group records by scope identity, and a
 * new object per record would repeat the scope for each one.
 */
export function instrumentationScope() {
  scope ??= Object.freeze({ name: 'tcpotel', version: tcpotelVersion() }) as { name: string; version: string };
  return scope;
}

/** tcpotel's own metrics travel in their own scope. */
export function selfScope() {
  return { name: 'tcpotel/self', version: tcpotelVersion() };
}
