/**
 * Pipeline throughput on one core: synthetic packed records (the kernel's layout, made
 * with encodeRecord) through the receiver's decode path, filter, sample and aggregate, to
 * a no-op exporter; in a single Node process (scripts/run-bench.mjs pins it to one CPU).
 *
 * Stages are measured cumulatively (decode; decode+filter; ...; the full pipeline), each
 * with a fresh chain, so that the difference between two stages is the cost of the one
 * added: after a JIT warm-up of the full pipeline, the partial stages run --rounds times
 * interleaved (medians), then the full pipeline for --seconds. Then the filter processor
 * alone on decoded events (filter_alone: a port filter and a CIDR filter, best of --rounds).
 * Prints one JSON object.
 *
 *   node dist/bench/pipeline-throughput.js [--seconds 5] [--stage-seconds 1] [--rounds 3]
 *        [--warmup 1.5] [--records 200000] [--tuples 10000] [--chunk 431] [--sample-ratio 0.9999]
 */
import { from, Subject, type OperatorFunction } from 'rxjs';
import type { Batch, Exporter } from '../src/core/component.js';
import { eventBatch, type EventBatch, type TcpEvent } from '../src/core/events.js';
import { Telemetry } from '../src/core/telemetry.js';
import { decodeRecords } from '../src/receivers/ebpf/record.js';
import { EbpfReceiver } from '../src/receivers/ebpf/ebpf.js';
import { ebpfConfigSchema, defaultEbpfConfig } from '../src/receivers/ebpf/config.js';
import { filterProcessorFactory } from '../src/processors/filter/factory.js';
import { sampleProcessorFactory } from '../src/processors/sample/factory.js';
import { aggregateProcessorFactory } from '../src/processors/aggregate/factory.js';
import { testContext } from '../test/support/context.js';
import { makeEvent } from '../test/support/events.js';
import { FILTER_PORTS, recordSet } from './lib/synthetic.js';
import { arg, cpuSeconds, round } from './lib/util.js';

const SECONDS = Number(arg('--seconds', '5'));
const STAGE_SECONDS = Number(arg('--stage-seconds', '1'));
const WARMUP = Number(arg('--warmup', '1.5'));
const ROUNDS = Number(arg('--rounds', '3'));
const RECORDS = Number(arg('--records', '200000'));
const TUPLES = Number(arg('--tuples', '10000'));
/** 431 records: what one 64 KiB wake-up (the receiver's default wakeup_batch) delivers. */
const CHUNK = Number(arg('--chunk', '431'));
/** ratio 1 short-circuits the sample processor (no hashing): just below 1 keeps ~all and hashes every event. */
const SAMPLE_RATIO = Number(arg('--sample-ratio', '0.9999'));

/** Counts what reaches it; does nothing else. */
class NoopExporter implements Exporter {
  batches = 0;
  events = 0;
  points = 0;
  async start(): Promise<void> {}
  consume(b: Batch): void {
    this.batches++;
    if (b.type === 'events') this.events += b.events.length;
    else this.points += b.points.length;
  }
  async shutdown(): Promise<void> {}
}

type StageName = 'decode' | 'decode+filter' | 'decode+filter+sample' | 'decode+filter+sample+aggregate';
const STAGES: StageName[] = ['decode', 'decode+filter', 'decode+filter+sample', 'decode+filter+sample+aggregate'];

function operators(stage: StageName, telemetry: Telemetry): OperatorFunction<Batch, Batch>[] {
  const ops: OperatorFunction<Batch, Batch>[] = [];
  const ctx = (id: string) => testContext(id, 'processor', { telemetry, pipeline: 'metrics' });
  if (stage !== 'decode') {
    const f = filterProcessorFactory;
    const config = f.schema.parse({ ...(f.createDefaultConfig() as object), include: { ports: FILTER_PORTS } });
    ops.push(f.create(config, ctx('filter')));
  }
  if (stage === 'decode+filter+sample' || stage === 'decode+filter+sample+aggregate') {
    const f = sampleProcessorFactory;
    const config = f.schema.parse({ ...(f.createDefaultConfig() as object), ratio: SAMPLE_RATIO, mode: 'connection' });
    ops.push(f.create(config, ctx('sample')));
  }
  if (stage === 'decode+filter+sample+aggregate') {
    const f = aggregateProcessorFactory;
    const config = f.schema.parse({ ...(f.createDefaultConfig() as object), interval: '1h', keys: 'five_tuple' });
    ops.push(f.create(config, ctx('aggregate')));
  }
  return ops;
}

interface Feeder {
  feed(chunk: Buffer): void;
  complete(): void;
  /** How the records are decoded: the receiver's own callback, or decodeRecords directly. */
  path: string;
}

/**
 * The receiver's ring-buffer callback, exactly as a wake-up runs it (decode, count,
 * emit); the receiver is never started, so nothing is loaded into the kernel.
 */
function receiverFeeder(telemetry: Telemetry): { feeder: Feeder; output: Subject<Batch> | EbpfReceiver['output'] } {
  const ctx = testContext('ebpf', 'receiver', { telemetry });
  const rx = new EbpfReceiver(ebpfConfigSchema.parse(defaultEbpfConfig()), ctx);
  const onRecords = (rx as unknown as { onRecords?: (b: Buffer) => void }).onRecords;
  if (typeof onRecords === 'function') {
    return {
      feeder: {
        feed: (chunk) => onRecords.call(rx, chunk),
        complete: () => (rx as unknown as { subject: Subject<EventBatch> }).subject.complete(),
        path: 'EbpfReceiver.onRecords',
      },
      output: rx.output,
    };
  }
  // The receiver changed shape: decode as it did.
  const subject = new Subject<Batch>();
  return {
    feeder: {
      feed: (chunk) => {
        const { events } = decodeRecords(chunk);
        ctx.telemetry.incoming(events.length);
        ctx.telemetry.outgoing(events.length);
        subject.next(eventBatch('ebpf', events));
      },
      complete: () => subject.complete(),
      path: 'decodeRecords',
    },
    output: subject,
  };
}

interface StageResult {
  stage: StageName;
  records: number;
  seconds: number;
  events_per_s: number;
  ns_per_event: number;
  cpu_s: number;
  events_per_cpu_s: number;
  exported: { batches: number; events: number; points: number };
  dropped: Record<string, number>;
  decode_path: string;
}

function runStage(stage: StageName, chunks: Buffer[], chunkRecords: number[], seconds: number, warmup: number): StageResult {
  const telemetry = new Telemetry();
  const { feeder, output } = receiverFeeder(telemetry);
  const exporter = new NoopExporter();
  let stream = output as import('rxjs').Observable<Batch>;
  for (const op of operators(stage, telemetry)) stream = stream.pipe(op);
  let done = false;
  stream.subscribe({ next: (b) => exporter.consume(b), complete: () => (done = true) });

  // Warm-up: same chain, not counted (the aggregate's state carries over, as in a live run).
  let i = 0;
  const n = chunks.length;
  const warmEnd = performance.now() + warmup * 1000;
  while (performance.now() < warmEnd) {
    for (let k = 0; k < 8; k++) feeder.feed(chunks[i++ % n]!);
  }
  const pointsBefore = exporter.points;
  const eventsBefore = exporter.events;
  const batchesBefore = exporter.batches;
  let records = 0;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const end = t0 + seconds * 1000;
  while (performance.now() < end) {
    for (let k = 0; k < 8; k++) {
      const j = i++ % n;
      feeder.feed(chunks[j]!);
      records += chunkRecords[j]!;
    }
  }
  // The aggregate's last window is flushed (and exported) inside the measured time.
  feeder.complete();
  const elapsed = (performance.now() - t0) / 1000;
  const cpu = cpuSeconds(process.cpuUsage(cpu0));
  if (!done) throw new Error(`${stage}: the pipeline did not complete`);
  const dropped: Record<string, number> = {};
  for (const p of telemetry.collect()) {
    if (p.name === 'tcpotel.component.items.dropped' && p.value > 0) {
      const key = `${p.attributes['tcpotel.component.id']}:${p.attributes['tcpotel.drop.reason']}`;
      dropped[key] = (dropped[key] ?? 0) + p.value;
    }
  }
  return {
    stage,
    records,
    seconds: round(elapsed, 3),
    events_per_s: Math.round(records / elapsed),
    ns_per_event: round((elapsed * 1e9) / records, 1),
    cpu_s: round(cpu, 3),
    events_per_cpu_s: Math.round(records / cpu),
    exported: { batches: exporter.batches - batchesBefore, events: exporter.events - eventsBefore, points: exporter.points - pointsBefore },
    dropped,
    decode_path: feeder.path,
  };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/**
 * The filter processor alone, on events already decoded (batches of 1024): events per
 * second, the best of ROUNDS passes over the set after one warm-up pass.
 */
function filterAlone(config: Record<string, unknown>, evs: TcpEvent[]): number {
  const batches: EventBatch[] = [];
  for (let i = 0; i < evs.length; i += 1024) batches.push(eventBatch('ebpf', evs.slice(i, i + 1024)));
  const f = filterProcessorFactory;
  const op = f.create(f.schema.parse({ ...(f.createDefaultConfig() as Record<string, unknown>), ...config }), testContext('filter', 'processor'));
  const pass = () => from(batches).pipe(op).subscribe();
  pass();
  let best = 0;
  for (let r = 0; r < Math.max(ROUNDS, 1); r++) {
    const start = process.hrtime.bigint();
    for (let k = 0; k < 5; k++) pass();
    best = Math.max(best, (evs.length * 5) / (Number(process.hrtime.bigint() - start) / 1e9));
  }
  return Math.round(best);
}

/** A port filter (200,000 events, a third to port 443) and a CIDR filter (100,000 events, half IPv6). */
function filterFigures(): { ports_events_per_s: number; cidrs_events_per_s: number } {
  const byPort: TcpEvent[] = [];
  for (let i = 0; i < 200_000; i++) byPort.push(makeEvent({ localPort: 30000 + (i % 1000), remotePort: i % 3 === 0 ? 443 : 8080 + (i % 7) }));
  const byCidr: TcpEvent[] = [];
  for (let i = 0; i < 100_000; i++) {
    byCidr.push(i % 2 ? makeEvent({ remoteAddress: `10.${i & 255}.${(i >> 8) & 255}.7` }) : makeEvent({ family: 6, remoteAddress: `fd00::${(i & 0xffff).toString(16)}` }));
  }
  return {
    ports_events_per_s: filterAlone({ include: { ports: [443, '9000-9100'] } }, byPort),
    cidrs_events_per_s: filterAlone({ exclude: { remote_cidrs: ['10.0.0.0/8', '192.168.0.0/16', 'fd00::/8'] } }, byCidr),
  };
}

function main(): void {
  const t0 = performance.now();
  const set = recordSet(RECORDS, TUPLES, CHUNK);
  const chunkRecords = set.chunks.map((c) => c.length / 152);
  const genSeconds = (performance.now() - t0) / 1000;
  const full: StageName = 'decode+filter+sample+aggregate';
  // JIT warm-up of every code path, not counted.
  runStage(full, set.chunks, chunkRecords, WARMUP, 0);
  const gc = (globalThis as { gc?: () => void }).gc;
  // The partial stages, ROUNDS times interleaved (median), then the full pipeline once, longer.
  const partial: Record<string, StageResult[]> = {};
  for (let r = 0; r < ROUNDS; r++) {
    for (const stage of STAGES.filter((s) => s !== full)) {
      gc?.();
      (partial[stage] ??= []).push(runStage(stage, set.chunks, chunkRecords, STAGE_SECONDS, 0.25));
    }
  }
  gc?.();
  const fullResult = runStage(full, set.chunks, chunkRecords, SECONDS, 0.5);
  const stages = STAGES.filter((stage) => stage === full || partial[stage]).map((stage) => {
    if (stage === full) return { ...fullResult, runs: 1 };
    const runs = partial[stage]!;
    const ns = median(runs.map((x) => x.ns_per_event));
    const best = runs.find((x) => x.ns_per_event === ns) ?? runs[0]!;
    return { ...best, ns_per_event: round(ns, 1), events_per_s: Math.round(1e9 / ns), runs: runs.length, ns_per_event_runs: runs.map((x) => x.ns_per_event) };
  });
  // Marginal cost of each stage: the difference with the previous one.
  const breakdown = stages.map((s, k) => ({
    stage: k === 0 ? 'decode (receiver callback)' : s.stage.split('+').pop()!,
    ns_per_event: round(k === 0 ? s.ns_per_event : s.ns_per_event - stages[k - 1]!.ns_per_event, 1),
  }));
  const result = {
    records_in_set: set.records,
    tuples: set.tuples,
    records_per_chunk: CHUNK,
    record_mix: set.mix,
    filter: { include: { ports: FILTER_PORTS } },
    sample: { ratio: SAMPLE_RATIO, mode: 'connection' },
    aggregate: { interval: '1h (flushed at the end)', keys: 'five_tuple' },
    generate_s: round(genSeconds, 2),
    stages,
    breakdown,
    full_pipeline_events_per_s: fullResult.events_per_s,
    filter_alone: filterFigures(),
    node: process.version,
  };
  process.stdout.write(JSON.stringify(result) + '\n');
}

main();
