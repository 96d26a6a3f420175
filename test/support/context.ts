import { asyncScheduler, type SchedulerLike } from 'rxjs';
import { pino } from 'pino';
import type { ComponentContext, ComponentKind } from '../../src/core/component.js';
import { Telemetry, componentTelemetry } from '../../src/core/telemetry.js';

/** A component context for tests: silent logs (unless TCPOTEL_TEST_LOG is set), fresh telemetry. */
export function testContext(
  id: string,
  kind: ComponentKind = 'processor',
  opts: { scheduler?: SchedulerLike; telemetry?: Telemetry; pipeline?: string } = {},
): ComponentContext {
  const telemetry = opts.telemetry ?? new Telemetry();
  return {
    id,
    pipeline: opts.pipeline,
    logger: pino({ level: process.env.TCPOTEL_TEST_LOG ?? 'silent' }),
    telemetry: componentTelemetry(telemetry, { id, kind, pipeline: opts.pipeline }),
    scheduler: opts.scheduler ?? asyncScheduler,
  };
}
