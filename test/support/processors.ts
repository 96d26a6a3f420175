/** Helpers for processor tests: a synchronous runner, configs from defaults, schema issues. */
import { from, type OperatorFunction } from 'rxjs';
import type { Batch, ProcessorFactory } from '../../src/core/component.js';

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
