/**
 * A large Prometheus scrape: the exporter, in this process, holds --series series (the
 * default max_series, 50,000) of five-tuple metrics (every tcp metric a connection that
 * opened and closed has: opened, closed, active, io by direction, and the rtt, handshake
 * and duration histograms), plus tcpotel's own metrics, and is scraped over HTTP on
 * loopback by a client in another process (as Prometheus would be) that reads the body
 * and counts its bytes: curl when there is one (a native reader, as Prometheus is), else a
 * small Node client (which reads slower than the server writes: the figures are then
 * the client's).
 *
 * Scrapes, in order: the first one (every series rendered), the same again with nothing
 * changed, after a window in which every series changed, after a window in which one tuple
 * in ten changed; --reps times each, on a fresh exporter per repetition. For each: the time
 * from the request to the last byte (as the client saw it), the CPU time this process
 * spent meanwhile, the longest event-loop block (what the eBPF receiver would have waited
 * for), and the size. Prints one JSON object.
 *
 *   node --expose-gc dist/bench/prometheus-scrape.js [--series 50000] [--reps 3] [--client curl|node]
 */
import { spawn, spawnSync } from 'node:child_process';
import { connect } from 'node:net';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { eventBatch, type TcpEvent } from '../src/core/events.js';
import { Telemetry } from '../src/core/telemetry.js';
import type { Exporter, ExporterContext } from '../src/core/component.js';
import { Aggregator } from '../src/processors/aggregate/aggregator.js';
import { aggregateProcessorFactory } from '../src/processors/aggregate/factory.js';
import { prometheusExporterFactory } from '../src/exporters/prometheus/factory.js';
import type { Exposition } from '../src/exporters/prometheus/exposition.js';
import { testContext } from '../test/support/context.js';
import { makeEvent, tuples, type Tuple } from './lib/synthetic.js';
import { arg, cpuSeconds, round, rssMiB } from './lib/util.js';

const SERIES = Number(arg('--series', '50000'));
const REPS = Number(arg('--reps', '3'));
const CLIENT = arg('--client', hasCurl() ? 'curl' : 'node');

function hasCurl(): boolean {
  return spawnSync('sh', ['-c', 'command -v curl'], { stdio: 'ignore' }).status === 0;
}
/** Series a tuple that opened and closed has: opened, closed, active, io x2, rtt, handshake, duration. */
const SERIES_PER_TUPLE = 8;

type PromExporter = Exporter & { port: number; exposition(): Promise<Exposition> };

function gc(): void {
  (globalThis as { gc?: () => void }).gc?.();
}

/**
 * The Node client (`--as-client`), kept light: one GET /metrics per port read from stdin
 * over a raw socket, the body's bytes counted, one JSON line out per scrape.
 */
function client(): void {
  const rl = createInterface({ input: process.stdin });
  rl.on('line', (line) => {
    const port = Number(line);
    const started = performance.now();
    const socket = connect({ host: '127.0.0.1', port });
    let head = '';
    let status = 0;
    let length = -1;
    let bytes = 0;
    const done = (err?: unknown) => {
      socket.destroy();
      const r = err ? { error: String(err) } : { status, seconds: round((performance.now() - started) / 1000, 3), bytes };
      process.stdout.write(JSON.stringify(r) + '\n');
    };
    const body = (chunk: Buffer) => {
      bytes += chunk.length;
      if (bytes >= length) done();
    };
    socket.on('data', (chunk: Buffer) => {
      if (length >= 0) return body(chunk);
      head += chunk.toString('latin1');
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) return;
      status = Number(/^HTTP\/1\.1 (\d+)/.exec(head)?.[1] ?? 0);
      length = Number(/\r\ncontent-length: (\d+)/i.exec(head)?.[1] ?? -1);
      if (length < 0) return done(new Error('no content-length'));
      const rest = Buffer.from(head.slice(end + 4), 'latin1');
      if (rest.length) body(rest);
      else if (length === 0) done();
    });
    socket.on('error', done);
    socket.write(`GET /metrics HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nConnection: close\r\n\r\n`);
  });
}

/** One scrape by curl: time from its start to the last byte. */
function curlScrape(port: number): Promise<{ status: number; seconds: number; bytes: number }> {
  return new Promise((resolve, reject) => {
    const c = spawn('curl', ['-s', '-o', '/dev/null', '-w', '%{http_code} %{time_total} %{size_download}', `http://127.0.0.1:${port}/metrics`], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    c.stdout.on('data', (d: Buffer) => (out += d.toString()));
    c.on('error', reject);
    c.on('close', () => {
      const [code, seconds, bytes] = out.trim().split(' ').map(Number);
      resolve({ status: code!, seconds: round(seconds!, 3), bytes: bytes! });
    });
  });
}

/** The client; scrape(port) asks it for one scrape. */
function startClient() {
  let child: ReturnType<typeof spawn> | undefined;
  const waiting: Array<(line: string) => void> = [];
  if (CLIENT === 'node') {
    child = spawn(process.execPath, [fileURLToPath(import.meta.url), '--as-client'], { stdio: ['pipe', 'pipe', 'inherit'] });
    createInterface({ input: child.stdout! }).on('line', (line) => waiting.shift()?.(line));
  }
  const ask = async (port: number) => {
    if (!child) return curlScrape(port);
    const answer = new Promise<string>((resolve) => waiting.push(resolve));
    child.stdin!.write(`${port}\n`);
    return JSON.parse(await answer) as { status?: number; error?: string; seconds: number; bytes: number };
  };
  return {
    async scrape(port: number): Promise<{ seconds: number; bytes: number; cpu_s: number; max_block_ms: number }> {
      const h = monitorEventLoopDelay({ resolution: 1 });
      h.enable();
      const cpu = process.cpuUsage();
      const r = (await ask(port)) as { status?: number; error?: string; seconds: number; bytes: number };
      h.disable();
      if (r.error || r.status !== 200) throw new Error(`scrape failed: ${r.error ?? r.status}`);
      return { seconds: r.seconds, cpu_s: round(cpuSeconds(process.cpuUsage(cpu)), 3), max_block_ms: round(h.max / 1e6, 1), bytes: r.bytes };
    },
    stop() {
      child?.stdin!.end();
    },
  };
}

/** A window in which the tuples `which` each had one more connection (open and close): all their series change. */
function window(agg: Aggregator, pop: Tuple[], which: (i: number) => boolean, round_: number, now: number) {
  const events: TcpEvent[] = [];
  for (let i = 0; i < pop.length; i++) {
    if (!which(i)) continue;
    const socket = round_ * 1_000_000 + i + 1;
    const t = now * 1e6 + i;
    events.push(makeEvent(pop[i]!, 'open', socket, t, { handshakeNs: 40_000 + i * 7 + round_ }));
    events.push(makeEvent(pop[i]!, 'close', socket, t + 1e6, { bytesSent: 1000 + i + round_, bytesReceived: 5000 + 3 * i, srttUs: 50 + (i % 900), durationNs: 1e6 + i * 1000 }));
  }
  agg.add(eventBatch('ebpf', events));
  return agg.flush(now);
}

async function repetition(rep: number, scraper: ReturnType<typeof startClient>) {
  const telemetry = new Telemetry();
  const aggConfig = aggregateProcessorFactory.schema.parse({ ...(aggregateProcessorFactory.createDefaultConfig() as object), keys: 'five_tuple', max_series: SERIES * 2 });
  let now = Date.now();
  const agg = new Aggregator(aggConfig, { overflow: () => undefined, evicted: () => undefined }, now - 1000);
  const pop = tuples(Math.ceil(SERIES / SERIES_PER_TUPLE), 11 + rep);
  const config = prometheusExporterFactory.schema.parse({ ...(prometheusExporterFactory.createDefaultConfig() as object), endpoint: '127.0.0.1:0', max_series: SERIES });
  const ctx: ExporterContext = { ...testContext('prometheus', 'exporter', { telemetry, pipeline: 'metrics' }), signal: 'metrics', selfMetrics: true };
  const ex = prometheusExporterFactory.create(config, ctx) as PromExporter;
  // Some of tcpotel's own series, as a running pipeline has them.
  for (const id of ['ebpf', 'filter', 'aggregate', 'prometheus']) {
    telemetry.counter('tcpotel.component.items.in', { 'tcpotel.component.id': id }).add(123_456);
    telemetry.counter('tcpotel.component.items.out', { 'tcpotel.component.id': id }).add(123_000);
  }
  ex.consume(window(agg, pop, () => true, 1, (now += 1000)));
  await ex.start();
  try {
    gc();
    const scrape = (port: number) => scraper.scrape(port);
    const first = await scrape(ex.port);
    const unchanged = await scrape(ex.port);
    ex.consume(window(agg, pop, () => true, 2, (now += 1000)));
    gc();
    const allChanged = await scrape(ex.port);
    ex.consume(window(agg, pop, (i) => i % 10 === 0, 3, (now += 1000)));
    gc();
    const tenthChanged = await scrape(ex.port);
    const mem = rssMiB();
    // Lines, counted here rather than by the client (which reads as fast as it can).
    const e = await ex.exposition();
    let lines = 0;
    for (const b of e.body('text')) for (let i = b.indexOf(10); i >= 0; i = b.indexOf(10, i + 1)) lines++;
    e.release();
    return { first, unchanged, all_changed: allChanged, tenth_changed: tenthChanged, rss_mib: mem.rss, peak_rss_mib: mem.peak, tuples: pop.length, lines };
  } finally {
    await ex.shutdown();
  }
}

async function main(): Promise<void> {
  const started = performance.now();
  const reps: Array<Awaited<ReturnType<typeof repetition>>> = [];
  const scraper = startClient();
  try {
    for (let r = 0; r < REPS; r++) {
      reps.push(await repetition(r, scraper));
      gc();
    }
  } finally {
    scraper.stop();
  }
  const median = (xs: number[]) => {
    const s = [...xs].sort((a, b) => a - b);
    return s.length % 2 ? s[s.length >> 1]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
  };
  const kinds = ['first', 'unchanged', 'all_changed', 'tenth_changed'] as const;
  const summary = Object.fromEntries(
    kinds.map((k) => [
      k,
      {
        seconds: round(median(reps.map((r) => r[k].seconds)), 3),
        cpu_s: round(median(reps.map((r) => r[k].cpu_s)), 3),
        max_block_ms: round(median(reps.map((r) => r[k].max_block_ms)), 1),
        bytes: reps[0]![k].bytes,
      },
    ]),
  );
  const result = {
    series: SERIES,
    client: CLIENT,
    tuples: reps[0]!.tuples,
    lines: reps[0]!.lines,
    reps: REPS,
    ...summary,
    peak_rss_mib: Math.max(...reps.map((r) => r.peak_rss_mib)),
    repetitions: reps,
    seconds: round((performance.now() - started) / 1000, 2),
  };
  process.stdout.write(JSON.stringify(result) + '\n');
}

if (process.argv.includes('--as-client')) client();
else void main();
