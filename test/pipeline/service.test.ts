/**
 * The service: its life cycle (start order, rollback on a failed start, shutdown order), and
 * its bounds: shutdown_timeout (an exporter that never finishes does not hold the process),
 * and memory_limit (new data shed at the entry of each pipeline, counted).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pino } from 'pino';
import { defer, finalize, Subject, type OperatorFunction } from 'rxjs';
import { z } from 'zod';
import type { Batch, Exporter, ExporterFactory, Extension, ExtensionFactory, ProcessorFactory, Receiver, ReceiverFactory } from '../../src/core/component.js';
import { eventBatch, type EventBatch } from '../../src/core/events.js';
import { defaultRegistry } from '../../src/components.js';
import { loadConfigFiles } from '../../src/config/load.js';
import { resolveConfig, type Registry } from '../../src/config/validate.js';
import { Service } from '../../src/pipeline/service.js';
import { openEvent } from '../support/events.js';
import { tempDirs } from '../support/tmp.js';

const logger = pino({ level: process.env.TCPOTEL_TEST_LOG ?? 'silent' });

/** An exporter that records what it gets and whose shutdown can be made to hang. */
class Capture implements Exporter {
  static last?: Capture;
  batches: Batch[] = [];
  deadline?: number;
  hang = false;
  constructor() {
    Capture.last = this;
  }
  async start() {}
  consume(b: Batch) {
    this.batches.push(b);
  }
  shutdown(deadline?: number): Promise<void> {
    this.deadline = deadline;
    return this.hang ? new Promise(() => undefined) : Promise.resolve();
  }
}

const captureFactory: ExporterFactory<Record<string, never>> = {
  type: 'capture',
  kind: 'exporter',
  description: 'test',
  schema: z.strictObject({}) as unknown as z.ZodType<Record<string, never>, unknown>,
  createDefaultConfig: () => ({}),
  signals: ['logs', 'metrics'],
  create: () => new Capture(),
};

function registry(): Registry {
  const r = defaultRegistry();
  return { ...r, exporters: new Map([...r.exporters, ['capture', captureFactory as ExporterFactory]]) };
}

const tempDir = tempDirs();

/** `yaml` as a config file, loaded and resolved against `reg`. */
function resolved(yaml: string, reg: Registry) {
  const file = join(tempDir('tcpotel-service-'), 'c.yaml');
  writeFileSync(file, yaml);
  return resolveConfig(loadConfigFiles([file]), reg);
}

function service(serviceYaml: string, events = 3): Service {
  const dir = tempDir('tcpotel-service-');
  const rec = join(dir, 'rec.jsonl');
  writeFileSync(rec, JSON.stringify({ at: 0, events: Array.from({ length: events }, (_, i) => openEvent({ localPort: 1000 + i })) }) + '\n');
  const yaml = `receivers:\n  replay: {path: ${rec}, speed: 0}\nexporters:\n  capture:\nservice:\n${serviceYaml}  pipelines:\n    logs: {receivers: [replay], exporters: [capture]}\n`;
  return new Service(resolved(yaml, registry()), { logger });
}

test('shutdown_timeout: exporters get the deadline, and one that never finishes is left behind', { timeout: 30_000 }, async () => {
  const s = service('  shutdown_timeout: 300ms\n');
  await s.start();
  await new Promise((r) => setTimeout(r, 50));
  const cap = Capture.last!;
  cap.hang = true;
  const t0 = Date.now();
  await s.shutdown();
  assert.ok(cap.deadline! >= t0 + 300 && cap.deadline! <= Date.now(), 'the deadline is shutdown_timeout after the shutdown began');
  assert.equal(cap.batches.reduce((n, b) => n + (b.type === 'events' ? b.events.length : 0), 0), 3);
});

test('memory_limit: above it, new data is shed at the pipeline entry and counted as memory_limit', { timeout: 30_000 }, async () => {
  // 1 MiB of RSS is always exceeded: everything is shed.
  const s = service('  memory_limit: {limit: 1MiB, check_interval: 100ms}\n', 5);
  await s.start();
  await new Promise((r) => setTimeout(r, 100));
  await s.shutdown();
  assert.equal(s.memory.shedding, true);
  assert.equal(Capture.last!.batches.length, 0);
  assert.equal(s.telemetry.total('tcpotel.component.items.dropped', { 'tcpotel.component.id': 'memory_limiter', 'tcpotel.pipeline.id': 'logs', 'tcpotel.drop.reason': 'memory_limit' }), 5);
  assert.deepEqual(s.droppedTotals(), { 'memory_limiter (logs): memory_limit': 5 });
  assert.equal(s.telemetry.total('tcpotel.process.memory.shedding'), 1);
  // Without a limit, the same data goes through.
  const ok = service('', 5);
  await ok.start();
  await new Promise((r) => setTimeout(r, 100));
  await ok.shutdown();
  assert.equal(Capture.last!.batches.reduce((n, b) => n + (b.type === 'events' ? b.events.length : 0), 0), 5);
});

// --- Life cycle: start order, rollback on a failed start, shutdown order --------------------
// Small in-memory components, registered through a test registry: each writes what happens to
// it in one journal.

let journal: string[] = [];
const note = (what: string) => journal.push(what);

interface FakeConfig {
  /** start() throws. */
  fail_start: boolean;
  /** Events a receiver emits once started, and again when it drains on shutdown. */
  events: number;
}
const fakeSchema = z.strictObject({ fail_start: z.boolean(), events: z.number().int() }) as unknown as z.ZodType<FakeConfig, unknown>;
const fakeDefaults = (): FakeConfig => ({ fail_start: false, events: 1 });

class FakeReceiver implements Receiver {
  private readonly subject = new Subject<EventBatch>();
  readonly output = this.subject.asObservable();
  constructor(
    private readonly id: string,
    private readonly config: FakeConfig,
  ) {}
  private emit(): void {
    if (this.config.events) this.subject.next(eventBatch(this.id, Array.from({ length: this.config.events }, () => openEvent())));
  }
  async start(): Promise<void> {
    note(`start receiver ${this.id}`);
    if (this.config.fail_start) throw new Error(`${this.id} cannot attach`);
    this.emit();
  }
  async shutdown(): Promise<void> {
    note(`shutdown receiver ${this.id}`);
    await new Promise((r) => setTimeout(r, 10));
    this.emit(); // what was still in flight drains
    this.subject.complete();
  }
}

class FakeExporter implements Exporter {
  constructor(
    private readonly id: string,
    private readonly config: FakeConfig,
  ) {}
  async start(): Promise<void> {
    note(`start exporter ${this.id}`);
    if (this.config.fail_start) throw new Error(`${this.id} cannot connect`);
  }
  consume(b: Batch): void {
    note(`consume ${this.id} ${b.type === 'events' ? b.events.length : b.points.length}`);
  }
  async shutdown(): Promise<void> {
    note(`shutdown exporter ${this.id}`);
  }
}

const base = { description: 'test', schema: fakeSchema, createDefaultConfig: fakeDefaults };
const testRegistry: Registry = {
  receivers: new Map<string, ReceiverFactory>([['fake', { ...base, type: 'fake', kind: 'receiver', create: (c, ctx) => new FakeReceiver(ctx.id, c as FakeConfig) }]]),
  processors: new Map<string, ProcessorFactory>([
    [
      'tap',
      {
        ...base,
        type: 'tap',
        kind: 'processor',
        accepts: ['events'],
        output: (t) => t,
        create: (_c, ctx): OperatorFunction<Batch, Batch> => {
          note(`create processor ${ctx.id} in ${ctx.pipeline}`);
          return (source) =>
            defer(() => {
              note(`subscribe processor ${ctx.id} in ${ctx.pipeline}`);
              return source.pipe(finalize(() => note(`drained processor ${ctx.id} in ${ctx.pipeline}`)));
            });
        },
      },
    ],
  ]),
  exporters: new Map<string, ExporterFactory>([['rec', { ...base, type: 'rec', kind: 'exporter', signals: ['logs', 'metrics'], create: (c, ctx) => new FakeExporter(ctx.id, c as FakeConfig) }]]),
  extensions: new Map<string, ExtensionFactory>([
    [
      'ext',
      {
        ...base,
        type: 'ext',
        kind: 'extension',
        create: (c, ctx): Extension => ({
          async start() {
            note(`start extension ${ctx.id}`);
            if ((c as FakeConfig).fail_start) throw new Error(`${ctx.id} cannot listen`);
          },
          async shutdown() {
            note(`shutdown extension ${ctx.id}`);
          },
        }),
      },
    ],
  ]),
};

/** A service of test components from a YAML config. */
function testService(yaml: string): Service {
  const config = resolved(yaml, testRegistry);
  journal = [];
  return new Service(config, { logger });
}

const TWO_PIPELINES = (opts: { failReceiver?: string; failExporter?: string; failExtension?: string } = {}) => `
extensions:
  ext/a: {fail_start: ${opts.failExtension === 'ext/a'}}
  ext/b: {fail_start: ${opts.failExtension === 'ext/b'}}
receivers:
  fake/1: {fail_start: ${opts.failReceiver === 'fake/1'}}
  fake/2: {fail_start: ${opts.failReceiver === 'fake/2'}}
  fake/3: {fail_start: ${opts.failReceiver === 'fake/3'}}
processors:
  tap:
exporters:
  rec/x: {fail_start: ${opts.failExporter === 'rec/x'}}
  rec/y: {fail_start: ${opts.failExporter === 'rec/y'}}
service:
  extensions: [ext/a, ext/b]
  pipelines:
    logs/one:
      receivers: [fake/1, fake/2]
      processors: [tap]
      exporters: [rec/x]
    logs/two:
      receivers: [fake/2, fake/3]
      processors: [tap]
      exporters: [rec/y]
`;

/** The journal entries that start with `prefix`, without it. */
const only = (prefix: string) => journal.filter((j) => j.startsWith(prefix)).map((j) => j.slice(prefix.length));
const indexOf = (entry: string) => {
  const i = journal.indexOf(entry);
  assert.ok(i >= 0, `"${entry}" in the journal:\n${journal.join('\n')}`);
  return i;
};

/** start() rejects with the component's own error, annotated with where it happened. */
async function startFails(s: Service, message: string, component: string): Promise<void> {
  await assert.rejects(s.start(), (err: Error & { component?: string }) => {
    assert.equal(err.message, message);
    assert.equal(err.component, component);
    return true;
  });
}

test('start: extensions, then exporters, then the pipelines\' processors, then receivers (each shared receiver once)', { timeout: 10_000 }, async () => {
  const s = testService(TWO_PIPELINES());
  assert.equal(journal.length, 0, 'building starts nothing');
  await s.start();
  assert.deepEqual(journal.filter((j) => !j.startsWith('consume')), [
    'start extension ext/a',
    'start extension ext/b',
    'start exporter rec/x',
    'start exporter rec/y',
    'create processor tap in logs/one',
    'subscribe processor tap in logs/one',
    'create processor tap in logs/two',
    'subscribe processor tap in logs/two',
    'start receiver fake/1',
    'start receiver fake/2',
    'start receiver fake/3',
  ]);
  // What a receiver emits as soon as it starts already reaches every pipeline that names it.
  assert.deepEqual(only('consume '), ['rec/x 1', 'rec/x 1', 'rec/y 1', 'rec/y 1']);
  assert.equal(s.status.service.state, 'running');
  assert.deepEqual(
    s.status.components().map((c) => `${c.kind} ${c.id} ${c.status}`).sort(),
    ['exporter rec/x ok', 'exporter rec/y ok', 'receiver fake/1 ok', 'receiver fake/2 ok', 'receiver fake/3 ok'],
  );
  await s.start();
  assert.equal(only('start ').length, 7, 'a second start() does nothing');
  await s.shutdown();
});

test('shutdown: receivers stop first, the pipelines drain into the exporters, exporters stop, then extensions (reverse order)', { timeout: 10_000 }, async () => {
  const s = testService(TWO_PIPELINES());
  await s.start();
  journal = [];
  const first = s.shutdown();
  assert.equal(s.shutdown(), first, 'idempotent: one shutdown');
  await first;
  const receivers = ['fake/1', 'fake/2', 'fake/3'].map((r) => indexOf(`shutdown receiver ${r}`));
  const drained = ['logs/one', 'logs/two'].map((p) => indexOf(`drained processor tap in ${p}`));
  const exporters = ['rec/x', 'rec/y'].map((e) => indexOf(`shutdown exporter ${e}`));
  const extensions = ['ext/b', 'ext/a'].map((x) => indexOf(`shutdown extension ${x}`));
  assert.ok(Math.max(...receivers) < Math.min(...drained), 'every receiver is told to stop before the pipelines complete');
  assert.ok(Math.max(...drained) < Math.min(...exporters), 'the pipelines drain before the exporters stop');
  assert.ok(Math.max(...exporters) < Math.min(...extensions), 'extensions stop after the exporters');
  assert.ok(extensions[0]! < extensions[1]!, 'extensions stop in reverse order');
  // What the receivers flushed while stopping reached the exporters before they stopped.
  const lastConsume = journal.map((j, i) => (j.startsWith('consume') ? i : -1)).filter((i) => i >= 0);
  assert.equal(lastConsume.length, 4);
  assert.ok(Math.max(...lastConsume) < Math.min(...exporters));
  assert.equal(journal.filter((j) => j.startsWith('shutdown')).length, 7, 'each component is shut down once');
  assert.equal(s.status.service.state, 'stopped');
});

test('rollback: a receiver whose start throws: the started receivers, every exporter, then the extensions stop; the error surfaces', { timeout: 10_000 }, async () => {
  const s = testService(TWO_PIPELINES({ failReceiver: 'fake/2' }));
  await startFails(s, 'fake/2 cannot attach', 'receiver fake/2');
  assert.deepEqual(only('start receiver '), ['fake/1', 'fake/2'], 'receivers after the failed one are not started');
  assert.deepEqual(only('shutdown receiver '), ['fake/1'], 'only the started receiver is shut down');
  assert.deepEqual(only('shutdown exporter ').sort(), ['rec/x', 'rec/y']);
  assert.deepEqual(only('shutdown extension '), ['ext/b', 'ext/a']);
  assert.ok(indexOf('shutdown receiver fake/1') < indexOf('shutdown exporter rec/x'));
  assert.ok(indexOf('shutdown receiver fake/1') < indexOf('shutdown exporter rec/y'));
  assert.ok(Math.max(indexOf('shutdown exporter rec/x'), indexOf('shutdown exporter rec/y')) < indexOf('shutdown extension ext/b'));
  assert.equal(s.status.service.state, 'stopped');
  // A shutdown after the failed start stops nothing twice.
  const before = journal.length;
  await s.shutdown();
  assert.deepEqual(journal.slice(before), []);
});

test('rollback: an exporter whose start throws: no processor or receiver starts; exporters, then extensions stop; the error surfaces', { timeout: 10_000 }, async () => {
  const s = testService(TWO_PIPELINES({ failExporter: 'rec/y' }));
  await startFails(s, 'rec/y cannot connect', 'exporter rec/y');
  assert.deepEqual(only('start '), ['extension ext/a', 'extension ext/b', 'exporter rec/x', 'exporter rec/y']);
  assert.deepEqual(only('create processor '), []);
  assert.deepEqual(only('shutdown receiver '), []);
  assert.ok(only('shutdown exporter ').includes('rec/x'), 'the started exporter is shut down');
  assert.deepEqual(only('shutdown extension '), ['ext/b', 'ext/a']);
  assert.ok(indexOf('shutdown exporter rec/x') < indexOf('shutdown extension ext/b'));
  assert.equal(s.status.service.state, 'stopped');
});

test('rollback: an extension whose start throws: nothing else starts; the started extensions stop; the error surfaces', { timeout: 10_000 }, async () => {
  const s = testService(TWO_PIPELINES({ failExtension: 'ext/b' }));
  await startFails(s, 'ext/b cannot listen', 'extension ext/b');
  assert.deepEqual(only('start '), ['extension ext/a', 'extension ext/b']);
  assert.ok(only('shutdown extension ').includes('ext/a'));
  assert.deepEqual(journal.filter((j) => /exporter|receiver|processor/.test(j)), []);
});

test('a receiver whose stream fails: the pipeline ends, `failure` settles with the error, health says permanent_error', { timeout: 10_000 }, async () => {
  const s = testService(`
receivers:
  fake:
exporters:
  rec:
service:
  pipelines:
    logs:
      receivers: [fake]
      exporters: [rec]
`);
  await s.start();
  const receiver = s.receivers.get('fake') as unknown as { subject: Subject<EventBatch> };
  receiver.subject.error(new Error('ring buffer gone'));
  const err = await s.failure;
  assert.equal(err.message, 'ring buffer gone');
  const byId = Object.fromEntries(s.status.components().map((c) => [`${c.kind} ${c.id}`, c]));
  assert.equal(byId['receiver fake']!.status, 'permanent_error');
  assert.equal(byId['pipeline logs']!.status, 'permanent_error');
  assert.equal(byId['pipeline logs']!.error, 'ring buffer gone');
  await s.shutdown();
  assert.ok(indexOf('shutdown exporter rec') > indexOf('shutdown receiver fake'));
});
