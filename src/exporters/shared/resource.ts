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

let scope: { readonly name: string; readonly version: string } | undefined;

/**
 * tcpotel's scope: one object, because OTLP serializers group log records by the identity
 * of their scope (a fresh object per record made one ScopeLogs per record).
 */
export function instrumentationScope(): { readonly name: string; readonly version: string } {
  scope ??= Object.freeze({ name: 'tcpotel', version: tcpotelVersion() });
  return scope;
}

/** tcpotel's own metrics travel in their own scope. */
export function selfScope() {
  return { name: 'tcpotel/self', version: tcpotelVersion() };
}
