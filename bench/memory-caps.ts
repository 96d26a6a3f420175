/**
 * Memory under a flood of distinct five-tuples: N (1M) distinct connections go through
 * the aggregate processor (five_tuple keys, its default caps) into the metrics
 * accumulator the Prometheus exporter uses (its default max_series), in this process.
 * RSS must stay bounded: max_series caps both, max_connections caps the tracked
 * connections; what does not fit is counted (overflow, evictions). "Bounded" is measured
 * as the RSS growth from the first checkpoint at which every cap is full (the open
 * connections reach max_connections) to the end.
 *
 * Half of the connections close shortly after they open, the others stay open (so the
 * tracked-connection cap is reached); a quarter get a live sample. Windows are virtual
 * (one per --window-tuples tuples), and the accumulator is collected every 10 windows, as
 * a scrape would. Prints one JSON object on stdout.
 *
 *   node --expose-gc dist/bench/memory-caps.js [--tuples 1000000] [--window-tuples 50000]
 */
import { Subject, VirtualAction, VirtualTimeScheduler } from 'rxjs';
import type { Batch } from '../src/core/component.js';
import { eventBatch, type TcpEvent } from '../src/core/events.js';
import { hrTimeFromMs } from '../src/core/metrics.js';
import { Telemetry } from '../src/core/telemetry.js';
import { aggregateProcessorFactory } from '../src/processors/aggregate/factory.js';
import { defaultPrometheusConfig } from '../src/exporters/prometheus/config.js';
import { MetricsAccumulator } from '../src/exporters/shared/accumulator.js';
import { testContext } from '../test/support/context.js';
import { makeEvent, type Tuple } from './lib/synthetic.js';
import { arg, round, rssMiB } from './lib/util.js';

const TUPLES = Number(arg('--tuples', '1000000'));
const WINDOW_TUPLES = Number(arg('--window-tuples', '50000'));
const BATCH = 1000;
const CLOSE_LAG = 1000;
const SAMPLE_LAG = 500;

/** Tuple i: distinct local ports, remote addresses and ports, as a busy host would see. */
function tuple(i: number): Tuple {
  const port = 1024 + (i % 60000);
  const host = Math.floor(i / 60000);
  return {
    family: 4,
    localAddress: `10.0.${(host >> 8) & 255}.${host & 255}`,
    localPort: port,
    remoteAddress: `10.${1 + ((i >> 16) & 127)}.${(i >> 8) & 255}.${i & 255}`,
    remotePort: 443,
    outbound: true,
    comm: 'loadgen',
    pid: 4242,
  };
}

function gc(): void {
  (globalThis as { gc?: () => void }).gc?.();
}

function main(): void {
  const started = performance.now();
  const scheduler = new VirtualTimeScheduler(VirtualAction, 0);
  const telemetry = new Telemetry();
  const ctx = testContext('aggregate', 'processor', { telemetry, pipeline: 'metrics', scheduler });
  const f = aggregateProcessorFactory;
  const aggConfig = f.schema.parse({ ...(f.createDefaultConfig() as object), interval: '1s', keys: 'five_tuple' });
  const prom = defaultPrometheusConfig();
  let accOverflow = 0;
  const acc = new MetricsAccumulator(
    { temporality: 'cumulative', maxSeries: prom.max_series, expiryMs: 5 * 60_000, onOverflow: (n) => (accOverflow += n) },
    hrTimeFromMs(0),
  );
  const input = new Subject<Batch>();
  let windows = 0;
  let points = 0;
  let collects = 0;
  let collectedPoints = 0;
  input.pipe(f.create(aggConfig, ctx)).subscribe((b) => {
    if (b.type !== 'metrics') return;
    windows++;
    points += b.points.length;
    acc.add(b);
  });

  const collect = () => {
    const rm = acc.collect(hrTimeFromMs(scheduler.now()));
    collects++;
    for (const sm of rm.scopeMetrics) for (const m of sm.metrics) collectedPoints = Math.max(collectedPoints, m.dataPoints.length);
  };

  gc();
  const baseline = rssMiB();
  const checkpoints: Array<{ tuples: number; events: number; rss_mib: number; heap_used_mib: number; heap_total_mib: number; external_mib: number; accumulator_series: number; seconds: number }> = [];
  let events = 0;
  let batch: TcpEvent[] = [];
  const push = (ev: TcpEvent) => {
    batch.push(ev);
    if (batch.length >= BATCH) {
      events += batch.length;
      input.next(eventBatch('ebpf', batch));
      batch = [];
    }
  };
  let now = 1_000_000_000;
  const socket = (i: number) => 1_000_000 + i;
  const checkpointEvery = Math.max(WINDOW_TUPLES, Math.floor(TUPLES / 10));
  // Connections opened and not closed: once they reach max_connections, every cap is full
  // (the window and accumulator caps fill long before) and memory should stop growing.
  let openNow = 0;
  let capsFullAt: number | undefined;
  for (let i = 0; i < TUPLES; i++) {
    now += 1000;
    push(makeEvent(tuple(i), 'open', socket(i), now, { handshakeNs: 50_000, srttUs: 80 }));
    openNow++;
    const s = i - SAMPLE_LAG;
    if (s >= 0 && s % 4 === 1) push(makeEvent(tuple(s), 'sample', socket(s), now, { bytesSent: 5000, bytesReceived: 90_000, srttUs: 120 }));
    const c = i - CLOSE_LAG;
    if (c >= 0 && c % 2 === 0) {
      push(makeEvent(tuple(c), 'close', socket(c), now, { bytesSent: 8000, bytesReceived: 120_000, durationNs: 2_000_000, srttUs: 100 }));
      openNow--;
    }
    if (capsFullAt === undefined && openNow >= aggConfig.max_connections) capsFullAt = i + 1;
    if ((i + 1) % WINDOW_TUPLES === 0) {
      // End of a window (virtual second): the aggregate flushes into the accumulator.
      if (batch.length) {
        events += batch.length;
        input.next(eventBatch('ebpf', batch));
        batch = [];
      }
      scheduler.maxFrames = scheduler.now() + aggConfig.interval;
      scheduler.flush();
      if (windows % 10 === 0) collect();
    }
    if ((i + 1) % checkpointEvery === 0) {
      gc();
      const m = process.memoryUsage();
      checkpoints.push({
        tuples: i + 1,
        events,
        rss_mib: round(m.rss / 2 ** 20, 1),
        heap_used_mib: round(m.heapUsed / 2 ** 20, 1),
        heap_total_mib: round(m.heapTotal / 2 ** 20, 1),
        external_mib: round(m.external / 2 ** 20, 1),
        accumulator_series: acc.size,
        seconds: round((performance.now() - started) / 1000, 2),
      });
    }
  }
  if (batch.length) {
    events += batch.length;
    input.next(eventBatch('ebpf', batch));
  }
  input.complete();
  collect();
  gc();
  const end = rssMiB();
  const total = (name: string) => telemetry.total(name);
  const half = checkpoints.find((c) => c.tuples >= TUPLES / 2) ?? checkpoints[0]!;
  const last = checkpoints[checkpoints.length - 1]!;
  const full = capsFullAt === undefined ? undefined : checkpoints.find((c) => c.tuples >= capsFullAt!);
  const growth = (a: number, b: number) => round(((b - a) / a) * 100, 1);
  const result = {
    tuples: TUPLES,
    events,
    windows,
    metric_points: points,
    collects,
    caps: { aggregate_max_series: aggConfig.max_series, aggregate_max_connections: aggConfig.max_connections, accumulator_max_series: prom.max_series },
    overflow: {
      aggregate_series_overflow: total('tcpotel.aggregate.series.overflow'),
      aggregate_connections_evicted: total('tcpotel.aggregate.connections.evicted'),
      accumulator_series_overflow: accOverflow,
    },
    accumulator_series: acc.size,
    largest_collected_metric_points: collectedPoints,
    rss_baseline_mib: baseline.rss,
    rss_end_mib: end.rss,
    peak_rss_mib: end.peak,
    caps_full_at_tuples: capsFullAt ?? null,
    /** From the first checkpoint with every cap full to the end: what "bounded" means. */
    rss_growth_after_caps_full_pct: full && full !== last ? growth(full.rss_mib, last.rss_mib) : null,
    heap_growth_after_caps_full_pct: full && full !== last ? growth(full.heap_used_mib, last.heap_used_mib) : null,
    rss_growth_second_half_pct: growth(half.rss_mib, last.rss_mib),
    checkpoints,
    seconds: round((performance.now() - started) / 1000, 2),
  };
  process.stdout.write(JSON.stringify(result) + '\n');
}

main();
