#!/usr/bin/env node
/**
 * `make bench`: tcpotel's benchmarks, measured side by side in one run (bench/README.md).
 *
 *   1. overhead   loopback connect/accept/close load (tcppeer load) with no monitor, with
 *                 tcpotel (bench/pipelines/overhead.yaml) and with a bpftrace tcplife
 *                 (bench/peers/tcplife.bt), tcpotel with protocol detection off
 *                 (bench/pipelines/nodetect.yaml) and a logs pipeline (bench/pipelines/logs.yaml);
 *                 a fixed 10k conn/s and saturation, interleaved;
 *                 then the fixed load once more with a Prometheus scrape in the middle
 *   2. pipeline   decode -> filter -> sample -> aggregate -> no-op exporter on one core
 *                 (dist/bench/pipeline-throughput.js), with a per-stage breakdown
 *   3. memory     tcpotel's RSS and kernel map memory with 100k tracked sockets held open
 *                 (bench/peers/holder.c), live and from the start-up snapshot
 *   4. caps       1M distinct five-tuples through aggregate + the metrics accumulator
 *                 (dist/bench/memory-caps.js): peak RSS and overflow counts
 *   5. prometheus a scrape of 50k series from the Prometheus exporter, first, unchanged and
 *                 changed (dist/bench/prometheus-scrape.js)
 *
 * Prints a table with targets and PASS/FAIL, and writes bench/results/<timestamp>.json and
 * bench/results/latest.json. Needs root (BPF), a built tree (`make build`), bpftool and
 * bpftrace. Options:
 *   --only overhead,pipeline,memory,caps,prometheus   run a subset
 *   --quick                                short durations (a smoke test; figures are rough)
 *   --reps N  --load-seconds S             overhead repetitions (3) and load length (8)
 *   --rate R                               the fixed offered load (10000 conn/s)
 *   --connections N                        memory: connections held (50000 = 100k sockets)
 *   --keep-going                           do not stop at the first failed benchmark
 */
import { spawn, execFileSync } from 'node:child_process';
import { createReadStream, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { cpus, tmpdir, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const OUT = join(ROOT, 'bench', 'results');
const BIN = join(OUT, '.bin');
const TCPPEER = join(ROOT, 'bpf', '.output', 'tcppeer');
const TCPOTEL = join(ROOT, 'bin', 'tcpotel.js');
const TCPLIFE = join(ROOT, 'bench', 'peers', 'tcplife.bt');
const HOLDER_SRC = join(ROOT, 'bench', 'peers', 'holder.c');
const HOLDER = join(BIN, 'holder');
const OVERHEAD_YAML = [join(ROOT, 'pipelines', 'default.yaml'), join(ROOT, 'bench', 'pipelines', 'overhead.yaml')];
const NODETECT_YAML = [...OVERHEAD_YAML, join(ROOT, 'bench', 'pipelines', 'nodetect.yaml')];
const LOGS_YAML = join(ROOT, 'bench', 'pipelines', 'logs.yaml');
const MEMORY_YAML = join(ROOT, 'bench', 'pipelines', 'memory.yaml');
const PIPELINE_JS = join(ROOT, 'dist', 'bench', 'pipeline-throughput.js');
const CAPS_JS = join(ROOT, 'dist', 'bench', 'memory-caps.js');
const PROMETHEUS_JS = join(ROOT, 'dist', 'bench', 'prometheus-scrape.js');

// ---------------------------------------------------------------- options

const argv = process.argv.slice(2);
const flag = (name) => argv.includes(name);
const opt = (name, fallback) => {
  const i = argv.indexOf(name);
  return i >= 0 && i + 1 < argv.length ? argv[i + 1] : fallback;
};
const QUICK = flag('--quick');
const ONLY = new Set((opt('--only', 'pipeline,caps,prometheus,memory,overhead')).split(',').map((s) => s.trim()).filter(Boolean));
const REPS = Number(opt('--reps', QUICK ? '1' : '3'));
const LOAD_S = Number(opt('--load-seconds', QUICK ? '3' : '8'));
const RATE = Number(opt('--rate', '10000'));
const WORKERS = Number(opt('--workers', '2'));
const CONNECTIONS = Number(opt('--connections', QUICK ? '10000' : '50000'));
const KEEP_GOING = flag('--keep-going');

const TARGETS = {
  fixedRatio: 0.97,
  fixedDrops: 0,
  /** tcpotel's own CPU at the fixed load, CPU-seconds per 10 s. */
  fixedCpuPer10s: 0.5,
  satRatio: 0.9,
  logsSatRatio: 0.75,
  /** Protocol detection's cost at saturation, in parts of the unmonitored rate. */
  detectSatCost: 0.02,
  memoryRssMiB: 150,
  pipelineEventsPerS: 2_000_000,
  capsPeakRssMiB: 512,
  capsGrowthPct: 10,
  prometheusScrapeS: 0.5,
  prometheusRescrapeS: 0.05,
};

// ---------------------------------------------------------------- small helpers

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const t0 = Date.now();
const elapsed = () => ((Date.now() - t0) / 1000).toFixed(0).padStart(4) + 's';
const log = (msg) => process.stderr.write(`[bench ${elapsed()}] ${msg}\n`);
const round = (v, d = 0) => (v === undefined || v === null || Number.isNaN(v) ? null : Math.round(v * 10 ** d) / 10 ** d);
const median = (xs) => {
  const s = xs.filter((x) => typeof x === 'number' && !Number.isNaN(x)).sort((a, b) => a - b);
  if (!s.length) return null;
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const CLK_TCK = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;
  } catch {
    return 100;
  }
})();

/** Children we started, so that an interrupted run leaves nothing behind (by pid only). */
const children = new Set();
function track(child) {
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}
function killAll() {
  for (const c of children) {
    try {
      process.kill(c.pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
}
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    log(`${sig}: stopping the processes this run started`);
    killAll();
    process.exit(130);
  });
}
process.on('exit', killAll);

/** Runs a command to completion; stdout/stderr collected. */
function run(cmd, args, { timeoutMs = 120_000, env, stdin = 'ignore' } = {}) {
  return new Promise((resolve, reject) => {
    const child = track(spawn(cmd, args, { cwd: ROOT, env: env ?? process.env, stdio: [stdin, 'pipe', 'pipe'] }));
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => {
      try {
        process.kill(child.pid, 'SIGKILL');
      } catch {
        /* gone */
      }
      reject(new Error(`${cmd} ${args.join(' ')}: timed out after ${timeoutMs} ms\n${stderr.slice(-2000)}`));
    }, timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

/** Last JSON object line of a process's stdout. */
function lastJson(text, what) {
  const lines = text.trim().split('\n').filter((l) => l.startsWith('{'));
  if (!lines.length) throw new Error(`${what}: no JSON result in its output:\n${text.slice(-2000)}`);
  return JSON.parse(lines[lines.length - 1]);
}

/** A long-running process whose output can be waited on. */
function startProcess(cmd, args, { env, stdin = 'ignore' } = {}) {
  const child = track(spawn(cmd, args, { cwd: ROOT, env: env ?? process.env, stdio: [stdin, 'pipe', 'pipe'] }));
  const p = { child, pid: child.pid, stdout: '', stderr: '', exited: false, code: null, waiters: [] };
  const check = () => {
    for (const w of [...p.waiters]) {
      const m = w.re.exec(w.stream === 'stdout' ? p.stdout : p.stderr);
      if (m) {
        p.waiters.splice(p.waiters.indexOf(w), 1);
        w.resolve(m);
      }
    }
  };
  child.stdout.on('data', (d) => {
    p.stdout += d;
    if (p.stdout.length > 4_000_000) p.stdout = p.stdout.slice(-1_000_000);
    check();
  });
  child.stderr.on('data', (d) => {
    p.stderr += d;
    if (p.stderr.length > 4_000_000) p.stderr = p.stderr.slice(-1_000_000);
    check();
  });
  p.done = new Promise((resolve) =>
    child.on('exit', (code, signal) => {
      p.exited = true;
      p.code = code ?? signal;
      for (const w of p.waiters) w.reject(new Error(`${cmd} exited (${code ?? signal}) before printing ${w.re}:\n${p.stderr.slice(-3000)}`));
      p.waiters = [];
      resolve(p.code);
    }),
  );
  p.waitFor = (re, stream, timeoutMs) =>
    new Promise((resolve, reject) => {
      const w = { re, stream, resolve, reject };
      if (p.exited) return reject(new Error(`${cmd} has exited (${p.code}):\n${p.stderr.slice(-3000)}`));
      const timer = setTimeout(() => {
        const i = p.waiters.indexOf(w);
        if (i >= 0) {
          p.waiters.splice(i, 1);
          reject(new Error(`${cmd}: no ${re} within ${timeoutMs} ms:\n${p.stderr.slice(-3000)}`));
        }
      }, timeoutMs);
      w.resolve = (m) => {
        clearTimeout(timer);
        resolve(m);
      };
      w.reject = (e) => {
        clearTimeout(timer);
        reject(e);
      };
      p.waiters.push(w);
      check();
    });
  /** SIGINT (or another signal), then SIGKILL after the grace period; resolves with the seconds it took. */
  p.stop = async (signal = 'SIGINT', graceMs = 20_000) => {
    const s = Date.now();
    if (!p.exited) {
      try {
        process.kill(p.pid, signal);
      } catch {
        /* gone */
      }
      const timer = setTimeout(() => {
        try {
          process.kill(p.pid, 'SIGKILL');
        } catch {
          /* gone */
        }
      }, graceMs);
      await p.done;
      clearTimeout(timer);
    }
    return (Date.now() - s) / 1000;
  };
  return p;
}

/** utime + stime of a live process, in seconds. */
function procCpu(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / CLK_TCK;
  } catch {
    return null;
  }
}

/** VmRSS and VmHWM of a live process, in MiB. */
function procMem(pid) {
  try {
    const text = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (k) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? NaN);
    return { rss_mib: round(kb('VmRSS') / 1024, 1), peak_rss_mib: round(kb('VmHWM') / 1024, 1) };
  } catch {
    return { rss_mib: null, peak_rss_mib: null };
  }
}

/** Busy and total jiffies of all CPUs (/proc/stat). */
function cpuTimes() {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const idle = f[3] + (f[4] ?? 0);
  const total = f.reduce((a, b) => a + b, 0);
  return { busy: total - idle, total };
}

/** Share of the machine busy over `ms` while this run has nothing going: other users' load. */
async function backgroundBusy(ms = 500) {
  const a = cpuTimes();
  await sleep(ms);
  const b = cpuTimes();
  return round(((b.busy - a.busy) / Math.max(1, b.total - a.total)) * 100, 1);
}

/** The BPF maps, programs and links a process holds (from /proc/<pid>/fdinfo). */
function bpfObjects(pid) {
  const maps = [];
  const progs = [];
  let links = 0;
  let fds = [];
  try {
    fds = readdirSync(`/proc/${pid}/fd`);
  } catch {
    return { maps, progs, links, map_bytes: 0 };
  }
  for (const fd of fds) {
    let target;
    try {
      target = readlinkSync(`/proc/${pid}/fd/${fd}`);
    } catch {
      continue;
    }
    if (!target.startsWith('anon_inode:bpf')) continue;
    let info = '';
    try {
      info = readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'utf8');
    } catch {
      continue;
    }
    const field = (k) => Number(new RegExp(`^${k}:\\s+(\\d+)`, 'm').exec(info)?.[1] ?? NaN);
    if (target === 'anon_inode:bpf-map') maps.push({ id: field('map_id'), type: field('map_type'), memlock: field('memlock'), max_entries: field('max_entries') });
    else if (target === 'anon_inode:bpf-prog') progs.push(field('prog_id'));
    else if (target === 'anon_inode:bpf_link') links++;
  }
  return { maps, progs, links, map_bytes: maps.reduce((a, m) => a + (m.memlock || 0), 0) };
}

/** Map names from bpftool, by id (for the report). */
function bpfMapNames() {
  try {
    const list = JSON.parse(execFileSync('bpftool', ['map', 'show', '--json'], { maxBuffer: 64 << 20 }).toString());
    return new Map(list.map((m) => [m.id, { name: m.name, type: m.type, bytes_memlock: m.bytes_memlock, max_entries: m.max_entries }]));
  } catch {
    return new Map();
  }
}

/** Tracing BPF programs attached on the host that are not `ownIds`: other users' monitors. */
function foreignTracers(ownIds = []) {
  try {
    const own = new Set(ownIds);
    const list = JSON.parse(execFileSync('bpftool', ['prog', 'show', '--json'], { maxBuffer: 64 << 20 }).toString());
    return list
      .filter((p) => ['tracing', 'tracepoint', 'raw_tracepoint', 'kprobe', 'perf_event'].includes(p.type) && !own.has(p.id))
      .filter((p) => !/^iter_/.test(p.name ?? '')) // iterators run only when asked
      .map((p) => `${p.name}#${p.id}`);
  } catch {
    return ['(bpftool prog show failed)'];
  }
}

/** Other tcpotel / bpftrace / tcppeer processes on the host (someone else's tests). */
function foreignProcesses(ownPids = []) {
  const own = new Set([process.pid, ...ownPids]);
  const out = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d) || own.has(Number(d))) continue;
    let cmd = '';
    try {
      cmd = readFileSync(`/proc/${d}/cmdline`, 'utf8').replace(/\0/g, ' ').trim();
    } catch {
      continue;
    }
    if (/tcpotel\.js|bpftrace|tcppeer|run-tests\.mjs/.test(cmd) && !/run-bench/.test(cmd)) out.push(`${d}: ${cmd.slice(0, 140)}`);
  }
  return out;
}

function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/**
 * GET http://127.0.0.1:port/metrics. The body can be 100+ MB (histograms of 50k series):
 * it is streamed, and only tcpotel's own metrics and the active-connection counts are
 * kept; the sample lines are counted.
 */
async function scrape(port, timeoutMs = 120_000) {
  const s = performance.now();
  const res = await fetch(`http://127.0.0.1:${port}/metrics`, { signal: AbortSignal.timeout(timeoutMs) });
  const firstByte = performance.now();
  const decoder = new TextDecoder();
  let rest = '';
  let bytes = 0;
  let samples = 0;
  const kept = [];
  const take = (line) => {
    if (!line || line[0] === '#') return;
    samples++;
    if (line.startsWith('tcpotel_') || line.startsWith('tcp_connections_active')) kept.push(line);
  };
  for await (const chunk of res.body) {
    bytes += chunk.length;
    const text = rest + decoder.decode(chunk, { stream: true });
    const lines = text.split('\n');
    rest = lines.pop();
    for (const l of lines) take(l);
  }
  take(rest);
  return {
    text: kept.join('\n'),
    samples,
    bytes,
    seconds: round((performance.now() - s) / 1000, 2),
    first_byte_s: round((firstByte - s) / 1000, 2),
  };
}

/** The receiver's kernel counters (struct tcpotel_stats, summed over CPUs), read with bpftool. */
function kernelStats(pid) {
  const own = bpfObjects(pid).maps;
  const names = bpfMapNames();
  const stats = own.find((m) => names.get(m.id)?.name === 'stats');
  if (!stats) return null;
  const dump = JSON.parse(execFileSync('bpftool', ['map', 'dump', 'id', String(stats.id), '--json'], { maxBuffer: 16 << 20 }).toString());
  const entry = dump[0];
  const perCpu = entry.values ?? entry.formatted?.values ?? [];
  let words = null;
  for (const v of perCpu) {
    const bytes = (v.value ?? []).map((b) => Number(b));
    const n = bytes.length / 8;
    words ??= new Array(n).fill(0);
    for (let i = 0; i < n; i++) {
      let w = 0;
      for (let b = 7; b >= 0; b--) w = w * 256 + bytes[i * 8 + b];
      words[i] += w;
    }
  }
  if (!words) return null;
  // produced[K], dropped[K], untracked, filtered, agg_overflow[4], agg_map_full[4] (bpf/tcpotel.h)
  const k = 9;
  const kinds = ['none', 'open', 'close', 'failed', 'retransmit', 'reset', 'state', 'existing', 'sample'];
  const by = (arr) => Object.fromEntries(arr.map((v, i) => [kinds[i] ?? `kind${i}`, v]).filter(([, v]) => v > 0));
  const produced = words.slice(0, k);
  const dropped = words.slice(k, 2 * k);
  return {
    produced: produced.reduce((a, b) => a + b, 0),
    dropped: dropped.reduce((a, b) => a + b, 0),
    untracked: words[2 * k],
    filtered: words[2 * k + 1],
    aggregate_overflow: words.slice(2 * k + 2, 2 * k + 6).reduce((a, b) => a + b, 0),
    aggregate_map_full: words.slice(2 * k + 6, 2 * k + 10).reduce((a, b) => a + b, 0),
    produced_by_kind: by(produced),
    dropped_by_kind: by(dropped),
  };
}

/** Waits (up to maxMs) until the machine is mostly idle; returns the last busy share and the wait. */
async function waitQuiet(maxMs = 10_000, thresholdPct = 20) {
  const s = performance.now();
  let busy = await backgroundBusy(300);
  while (busy > thresholdPct && performance.now() - s < maxMs) busy = await backgroundBusy(300);
  return { busy_pct: busy, waited_s: round((performance.now() - s) / 1000, 1) };
}

/** Sum of a Prometheus metric's samples whose labels match. */
function promSum(text, name, labels = {}) {
  let total = 0;
  let found = false;
  const re = new RegExp(`^${name}(\\{[^}]*\\})?\\s+([-+0-9.eE]+|NaN)`, 'gm');
  for (const m of text.matchAll(re)) {
    const l = m[1] ?? '';
    if (Object.entries(labels).every(([k, v]) => l.includes(`${k}="${v}"`))) {
      total += Number(m[2]);
      found = true;
    }
  }
  return found ? total : null;
}

/** Lines of a file, and the "Lost N events" bpftrace printed, streaming. */
async function countLines(file) {
  let lines = 0;
  let lost = 0;
  let tail = '';
  for await (const chunk of createReadStream(file)) {
    for (let i = 0; i < chunk.length; i++) if (chunk[i] === 10) lines++;
    const text = tail + chunk.toString('latin1');
    for (const m of text.matchAll(/Lost (\d+) events/g)) lost += Number(m[1]);
    tail = text.slice(-64);
  }
  return { lines, lost };
}

function machine() {
  const cpuinfo = readFileSync('/proc/cpuinfo', 'utf8');
  const model = /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1] ?? 'unknown';
  const mem = /^MemTotal:\s+(\d+) kB/m.exec(readFileSync('/proc/meminfo', 'utf8'))?.[1];
  let osRelease = '';
  try {
    osRelease = /^PRETTY_NAME="?([^"\n]+)/m.exec(readFileSync('/etc/os-release', 'utf8'))?.[1] ?? '';
  } catch {
    /* none */
  }
  const version = (cmd, args) => {
    try {
      return execFileSync(cmd, args, { stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim().split('\n')[0];
    } catch {
      return null;
    }
  };
  return {
    cpu_model: model,
    nproc: cpus().length,
    kernel: readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim(),
    os: osRelease,
    memory_gib: round(Number(mem ?? totalmem() / 1024) / 1024 / 1024, 1),
    node: process.version,
    bpftrace: version('bpftrace', ['--version']),
    bpftool: version('bpftool', ['version']),
    loadavg: readFileSync('/proc/loadavg', 'utf8').trim(),
  };
}

// ---------------------------------------------------------------- preflight

function preflight() {
  const missing = [];
  if (process.getuid?.() !== 0) missing.push('root (the eBPF receiver and bpftrace need it)');
  for (const [what, file] of [
    ['tcppeer (make peers)', TCPPEER],
    ['dist/bench (make ts)', PIPELINE_JS],
    ['dist/bench (make ts)', CAPS_JS],
    ['the CLI build (make ts)', join(ROOT, 'dist', 'src', 'cli', 'main.js')],
    ['the addon (make addon)', join(ROOT, 'build', 'Release', 'tcpotel.node')],
  ]) {
    if (!existsSync(file)) missing.push(`${what}: ${file}`);
  }
  for (const tool of ['bpftool', 'bpftrace', 'cc']) {
    try {
      execFileSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' });
    } catch {
      missing.push(tool);
    }
  }
  if (missing.length) {
    process.stderr.write(`bench: cannot run; missing:\n  ${missing.join('\n  ')}\n`);
    process.exit(2);
  }
  mkdirSync(BIN, { recursive: true });
  if (!existsSync(HOLDER) || statSync(HOLDER).mtimeMs < statSync(HOLDER_SRC).mtimeMs) {
    execFileSync('cc', ['-O2', '-Wall', '-o', HOLDER, HOLDER_SRC], { stdio: 'inherit' });
  }
}

// ---------------------------------------------------------------- monitors

async function startTcpotel(config, port, label, attempt = 1) {
  const started = performance.now();
  const configs = (Array.isArray(config) ? config : [config]).flatMap((c) => ['--config', c]);
  const p = startProcess('node', [TCPOTEL, 'run', ...configs, '--log-level', 'info'], {
    env: { ...process.env, TCPOTEL_BENCH_PROM_PORT: String(port) },
  });
  try {
    await p.waitFor(/tcpotel is running/, 'stderr', 60_000);
  } catch (err) {
    await p.stop('SIGKILL');
    // The verifier gives up with EAGAIN when a signal arrives while it works: try again.
    if (attempt < 3 && /Resource temporarily unavailable|EAGAIN/.test(p.stderr)) {
      log(`${label}: tcpotel failed to load its programs (EAGAIN), retrying`);
      return startTcpotel(config, port, label, attempt + 1);
    }
    throw err;
  }
  p.startSeconds = round((performance.now() - started) / 1000, 2);
  p.bpf = bpfObjects(p.pid);
  if (!p.bpf.links) throw new Error(`${label}: tcpotel says it is running but holds no BPF links`);
  return p;
}

async function startBpftrace(outFile) {
  const started = performance.now();
  const p = startProcess('bpftrace', ['-o', outFile, TCPLIFE]);
  // bpftrace writes "Attaching N probes..." to its output file once attached.
  for (;;) {
    if (p.exited) throw new Error(`bpftrace exited (${p.code}):\n${p.stderr}`);
    try {
      if (readFileSync(outFile, 'latin1').includes('Attaching')) break;
    } catch {
      /* not yet */
    }
    if (performance.now() - started > 60_000) throw new Error(`bpftrace did not attach within 60 s:\n${p.stderr}`);
    await sleep(50);
  }
  p.startSeconds = round((performance.now() - started) / 1000, 2);
  p.bpf = bpfObjects(p.pid);
  return p;
}

/** The ebpf receiver's kernel counters and pipeline counts, from a Prometheus scrape. */
function tcpotelCounters(text) {
  return {
    produced: promSum(text, 'tcpotel_ebpf_events_produced_total'),
    dropped: promSum(text, 'tcpotel_ebpf_events_dropped_total'),
    untracked: promSum(text, 'tcpotel_ebpf_sockets_untracked_total'),
    received: promSum(text, 'tcpotel_component_items_out_total', { tcpotel_component_id: 'ebpf' }),
    aggregated: promSum(text, 'tcpotel_component_items_in_total', { tcpotel_component_id: 'aggregate' }),
    series_overflow: promSum(text, 'tcpotel_aggregate_series_overflow_total', { tcpotel_component_id: 'aggregate' }),
    exporter_series_overflow: promSum(text, 'tcpotel_aggregate_series_overflow_total', { tcpotel_component_id: 'prometheus' }),
    opened_events: promSum(text, 'tcpotel_ebpf_events_produced_total', { tcp_event_kind: 'open' }),
    existing_events: promSum(text, 'tcpotel_ebpf_events_produced_total', { tcp_event_kind: 'existing' }),
    sample_events: promSum(text, 'tcpotel_ebpf_events_produced_total', { tcp_event_kind: 'sample' }),
    active_connections: promSum(text, 'tcp_connections_active'),
  };
}

// ---------------------------------------------------------------- 1. overhead

async function overheadTrial(condition, load, tmp) {
  // Other users of the machine (tests, other monitors) skew every figure: wait for a lull.
  const quiet = await waitQuiet();
  let mon;
  let outFile;
  let port;
  let logFile;
  if (condition === 'tcpotel' || condition === 'logs' || condition === 'nodetect') {
    port = await freePort();
    logFile = join(tmp, `logs-${Date.now()}.jsonl`);
    process.env.TCPOTEL_BENCH_LOG_FILE = logFile;
    mon = await startTcpotel(condition === 'logs' ? LOGS_YAML : condition === 'nodetect' ? NODETECT_YAML : OVERHEAD_YAML, port, `overhead ${condition}`);
    await sleep(1000); // the snapshot and the first window settle
  } else if (condition === 'bpftrace') {
    outFile = join(tmp, `tcplife-${Date.now()}.out`);
    mon = await startBpftrace(outFile);
    await sleep(500);
  }
  const foreign = foreignTracers(mon?.bpf.progs ?? []);
  const cpu0 = mon ? procCpu(mon.pid) : null;
  const sys0 = cpuTimes();
  const args = ['load', '--addr', '127.0.0.1', '--port', '0', '--duration-ms', String(LOAD_S * 1000), '--workers', String(WORKERS)];
  if (load === 'fixed') args.push('--rate', String(RATE));
  // One small HTTP request and response per connection: a first payload each way, which
  // is what protocol detection classifies.
  if (load === 'saturation_http') args.push('--http');
  const r = await run(TCPPEER, args, { timeoutMs: LOAD_S * 1000 + 60_000 });
  const sys1 = cpuTimes();
  const cpu1 = mon ? procCpu(mon.pid) : null;
  const foreignAfter = foreignTracers(mon?.bpf.progs ?? []);
  if (r.code !== 0) throw new Error(`tcppeer load failed (${r.code}): ${r.stderr}`);
  const res = lastJson(r.stdout, 'tcppeer load');
  const trial = {
    condition,
    load,
    connections: res.connections,
    errors: res.errors,
    rate: res.rate,
    duration_s: res.duration_s,
    monitor_cpu_s: mon ? round(cpu1 - cpu0, 2) : null,
    monitor_cpu_s_per_10s: mon ? round(((cpu1 - cpu0) / res.duration_s) * 10, 3) : null,
    monitor_cpu_pct_of_one_core: mon ? round(((cpu1 - cpu0) / res.duration_s) * 100, 1) : null,
    machine_busy_pct: round(((sys1.busy - sys0.busy) / Math.max(1, sys1.total - sys0.total)) * 100, 1),
    background_busy_pct: quiet.busy_pct,
    waited_for_quiet_s: quiet.waited_s,
    foreign_tracing_programs: Math.max(foreign.length, foreignAfter.length),
    // Someone else's BPF monitor was attached, or the machine never went quiet: this
    // trial measured their cost too.
    noisy: foreign.length > 0 || foreignAfter.length > 0 || quiet.busy_pct > 20,
  };
  if (condition === 'tcpotel' || condition === 'logs' || condition === 'nodetect') {
    await sleep(1500); // one aggregate window and a poll: everything produced has been read
    const rss = procMem(mon.pid);
    const kernel = kernelStats(mon.pid);
    let endpoint = {};
    try {
      const s = await scrape(port);
      endpoint = { ...tcpotelCounters(s.text), scrape_s: s.seconds, scrape_samples: s.samples, scrape_bytes: s.bytes };
    } catch (err) {
      endpoint = { scrape_error: String(err.message ?? err) };
    }
    trial.tcpotel = {
      // The kernel's own counters are authoritative; the endpoint's copy is checked against them.
      dropped: kernel?.dropped ?? endpoint.dropped ?? null,
      produced: kernel?.produced ?? endpoint.produced ?? null,
      kernel,
      endpoint,
      // The scrape's own connection (and other traffic on the host) adds a few events
      // between the two reads.
      endpoint_matches_kernel:
        kernel && endpoint.produced != null
          ? Math.abs(endpoint.produced - kernel.produced) <= Math.max(50, kernel.produced * 0.001) && endpoint.dropped === kernel.dropped
          : false,
      events_per_connection: kernel ? round(kernel.produced / Math.max(1, res.connections), 2) : null,
      start_s: mon.startSeconds,
      ...rss,
      rss_after_scrape_mib: procMem(mon.pid).rss_mib,
      stop_s: round(await mon.stop('SIGINT'), 2),
    };
    if (condition === 'logs') {
      // Every open and close a log line: what reached the file, and what was dropped on the way.
      const { lines } = await countLines(logFile);
      trial.tcpotel.log_lines = lines;
      rmSync(logFile, { force: true });
    }
  } else if (condition === 'bpftrace') {
    await sleep(500);
    trial.bpftrace = { start_s: mon.startSeconds, ...procMem(mon.pid), stop_s: round(await mon.stop('SIGINT'), 2) };
    const { lines, lost } = await countLines(outFile);
    // The header and "Attaching N probes..." are not connections; both ends of each close.
    const closes = Math.max(0, lines - 2);
    trial.bpftrace.lines = closes;
    trial.bpftrace.lost_events = lost;
    trial.bpftrace.lines_per_connection = round(closes / Math.max(1, res.connections), 2);
    rmSync(outFile, { force: true });
  }
  return trial;
}

/**
 * The fixed load again, with one Prometheus scrape in the middle of it, as a server
 * scraping every 15-60 s would do: a scrape that blocks the event loop for longer than
 * the ring buffer (and the consumer's queue) can hold makes the kernel drop events.
 */
async function scrapeUnderLoad() {
  const quiet = await waitQuiet();
  const port = await freePort();
  const mon = await startTcpotel(OVERHEAD_YAML, port, 'scrape under load');
  await sleep(1000);
  const seconds = LOAD_S + 4;
  const load = run(TCPPEER, ['load', '--addr', '127.0.0.1', '--port', '0', '--duration-ms', String(seconds * 1000), '--workers', String(WORKERS), '--rate', String(RATE)], { timeoutMs: seconds * 1000 + 60_000 });
  await sleep(Math.min(4, seconds / 2) * 1000);
  let scraped = {};
  try {
    const s = await scrape(port);
    scraped = { scrape_s: s.seconds, scrape_first_byte_s: s.first_byte_s, scrape_bytes: s.bytes, scrape_samples: s.samples };
  } catch (err) {
    scraped = { scrape_error: String(err.message ?? err) };
  }
  const r = await load;
  await sleep(1500);
  const res = lastJson(r.stdout, 'tcppeer load');
  const kernel = kernelStats(mon.pid);
  const out = {
    offered_rate: RATE,
    rate: res.rate,
    load_seconds: seconds,
    ...scraped,
    produced: kernel?.produced ?? null,
    dropped: kernel?.dropped ?? null,
    dropped_pct: kernel ? round((kernel.dropped / Math.max(1, kernel.produced)) * 100, 2) : null,
    kernel,
    background_busy_pct: quiet.busy_pct,
    ...procMem(mon.pid),
  };
  out.stop_s = round(await mon.stop('SIGINT'), 2);
  log(`overhead: fixed ${RATE} conn/s with a scrape at 4 s: scrape ${out.scrape_s}s (${round((out.scrape_bytes ?? 0) / 1e6, 1)} MB), dropped ${out.dropped} of ${out.produced} events`);
  return out;
}

/** run_cnt and run_time_ns of BPF programs by id (bpftool; with kernel.bpf_stats_enabled=1). */
function programStats(ids) {
  const want = new Set(ids);
  const list = JSON.parse(execFileSync('bpftool', ['prog', 'show', '--json'], { maxBuffer: 64 << 20 }).toString());
  return list.filter((p) => want.has(p.id)).map((p) => ({ id: p.id, name: p.name, run_cnt: p.run_cnt ?? 0, run_time_ns: p.run_time_ns ?? 0, recursion_misses: p.recursion_misses ?? 0 }));
}

/**
 * Kernel time per connection, per program: the fixed load once more under tcpotel (and
 * under the bpftrace peer), with the kernel's BPF run-time statistics on for that run only
 * (they add two clock reads to every run).
 */
async function kernelCost() {
  const out = {};
  const sysctl = (v) => execFileSync('sysctl', ['-q', '-w', `kernel.bpf_stats_enabled=${v}`]);
  for (const condition of ['tcpotel', 'bpftrace']) {
    const tmp = mkdtempSync(join(tmpdir(), 'tcpotel-bench-'));
    let mon;
    try {
      if (condition === 'tcpotel') {
        mon = await startTcpotel(OVERHEAD_YAML, await freePort(), 'kernel cost');
        await sleep(1000);
      } else {
        mon = await startBpftrace(join(tmp, 'tcplife.out'));
        await sleep(500);
      }
      const ids = bpfObjects(mon.pid).progs;
      sysctl(1);
      const before = programStats(ids);
      const r = await run(TCPPEER, ['load', '--addr', '127.0.0.1', '--port', '0', '--duration-ms', String(LOAD_S * 1000), '--workers', String(WORKERS), '--rate', String(RATE)], { timeoutMs: LOAD_S * 1000 + 60_000 });
      const after = programStats(ids);
      sysctl(0);
      const res = lastJson(r.stdout, 'tcppeer load');
      const programs = after
        .map((a) => {
          const b = before.find((x) => x.id === a.id) ?? { run_cnt: 0, run_time_ns: 0, recursion_misses: 0 };
          const runs = a.run_cnt - b.run_cnt;
          const ns = a.run_time_ns - b.run_time_ns;
          return { name: a.name, runs_per_connection: round(runs / res.connections, 2), ns_per_run: runs ? round(ns / runs) : 0, ns_per_connection: round(ns / res.connections), recursion_misses: a.recursion_misses - b.recursion_misses };
        })
        .filter((p) => p.runs_per_connection > 0)
        .sort((x, y) => y.ns_per_connection - x.ns_per_connection);
      out[condition] = { connections: res.connections, ns_per_connection: programs.reduce((n, p) => n + p.ns_per_connection, 0), programs };
      log(`kernel cost ${condition}: ${out[condition].ns_per_connection} ns per connection (${programs.map((p) => `${p.name} ${p.ns_per_connection}`).join(', ')})`);
    } finally {
      try {
        sysctl(0);
      } catch {
        /* not root: nothing was enabled */
      }
      if (mon) await mon.stop('SIGINT');
      rmSync(tmp, { recursive: true, force: true });
    }
  }
  return out;
}

async function overhead() {
  const tmp = mkdtempSync(join(tmpdir(), 'tcpotel-bench-'));
  const trials = [];
  const conditions = ['none', 'tcpotel', 'nodetect', 'logs', 'bpftrace'];
  try {
    for (let rep = 0; rep < REPS; rep++) {
      for (const load of ['fixed', 'saturation', 'saturation_http']) {
        // Detection on and off, with a payload each way: only what that comparison needs.
        const these = load === 'saturation_http' ? ['none', 'tcpotel', 'nodetect'] : conditions;
        // Rotate the order each repetition, so that no condition always runs first.
        const order = these.map((_, i) => these[(i + rep) % these.length]);
        for (const condition of order) {
          const t = await overheadTrial(condition, load, tmp);
          t.rep = rep + 1;
          trials.push(t);
          const extra =
            condition === 'tcpotel' || condition === 'logs' || condition === 'nodetect'
              ? ` cpu ${t.monitor_cpu_s}s dropped ${t.tcpotel.dropped} ev/conn ${t.tcpotel.events_per_connection} scrape ${t.tcpotel.endpoint.scrape_s}s (${t.tcpotel.endpoint.scrape_samples} samples, endpoint ${t.tcpotel.endpoint_matches_kernel ? 'matches' : 'DOES NOT match'} kernel counters)`
              : condition === 'bpftrace'
                ? ` cpu ${t.monitor_cpu_s}s lines/conn ${t.bpftrace.lines_per_connection} lost ${t.bpftrace.lost_events}`
                : '';
          log(`overhead rep ${rep + 1} ${load.padEnd(10)} ${condition.padEnd(8)} ${String(Math.round(t.rate)).padStart(6)} conn/s (machine ${t.background_busy_pct}% busy before, waited ${t.waited_for_quiet_s}s; ${t.foreign_tracing_programs} foreign progs${t.noisy ? '; NOISY' : ''})${extra}`);
        }
      }
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  const summary = {};
  for (const load of ['fixed', 'saturation', 'saturation_http']) {
    // Medians over the clean trials of a condition when it has any, else over all of them.
    const by = (c) => {
      const all = trials.filter((t) => t.load === load && t.condition === c);
      const clean = all.filter((t) => !t.noisy);
      return clean.length ? clean : all;
    };
    const rate = (c) => median(by(c).map((t) => t.rate));
    const none = rate('none');
    const tcp = rate('tcpotel');
    const logs = rate('logs');
    const nodetect = rate('nodetect');
    const bt = rate('bpftrace');
    // Ratios per repetition too (conditions of one repetition ran back to back).
    const paired = (c) =>
      [...new Set(trials.map((t) => t.rep))].map((rep) => {
        const a = trials.find((t) => t.rep === rep && t.load === load && t.condition === c);
        const b = trials.find((t) => t.rep === rep && t.load === load && t.condition === 'none');
        return a && b && !a.noisy && !b.noisy ? round(a.rate / b.rate, 3) : null;
      });
    summary[load] = {
      offered_rate: load === 'fixed' ? RATE : null,
      rate_median: { none: round(none), tcpotel: round(tcp), nodetect: round(nodetect), logs: round(logs), bpftrace: round(bt) },
      ratio: {
        tcpotel_vs_none: round(tcp / none, 3),
        nodetect_vs_none: round(nodetect / none, 3),
        // What protocol detection costs, in parts of the unmonitored rate.
        detect_cost: round((nodetect - tcp) / none, 3),
        logs_vs_none: round(logs / none, 3),
        bpftrace_vs_none: round(bt / none, 3),
        tcpotel_vs_bpftrace: round(tcp / bt, 3),
      },
      ratio_per_rep: { tcpotel_vs_none: paired('tcpotel'), nodetect_vs_none: paired('nodetect'), logs_vs_none: paired('logs'), bpftrace_vs_none: paired('bpftrace') },
      monitor_cpu_s_median: {
        tcpotel: round(median(by('tcpotel').map((t) => t.monitor_cpu_s)), 2),
        logs: round(median(by('logs').map((t) => t.monitor_cpu_s)), 2),
        bpftrace: round(median(by('bpftrace').map((t) => t.monitor_cpu_s)), 2),
      },
      monitor_cpu_s_per_10s_median: {
        tcpotel: round(median(by('tcpotel').map((t) => t.monitor_cpu_s_per_10s)), 3),
        logs: round(median(by('logs').map((t) => t.monitor_cpu_s_per_10s)), 3),
        bpftrace: round(median(by('bpftrace').map((t) => t.monitor_cpu_s_per_10s)), 3),
      },
      logs_dropped_max: Math.max(...by('logs').map((t) => t.tcpotel?.dropped ?? Infinity)),
      logs_produced_median: round(median(by('logs').map((t) => t.tcpotel?.produced))),
      logs_lines_median: round(median(by('logs').map((t) => t.tcpotel?.log_lines))),
      logs_accounted: by('logs').every((t) => t.tcpotel && t.tcpotel.endpoint_matches_kernel),
      monitor_cpu_pct_of_one_core_median: {
        tcpotel: round(median(by('tcpotel').map((t) => t.monitor_cpu_pct_of_one_core)), 1),
        bpftrace: round(median(by('bpftrace').map((t) => t.monitor_cpu_pct_of_one_core)), 1),
      },
      tcpotel_dropped_max: Math.max(...by('tcpotel').map((t) => t.tcpotel?.dropped ?? Infinity)),
      tcpotel_dropped_total: by('tcpotel').reduce((a, t) => a + (t.tcpotel?.dropped ?? 0), 0),
      tcpotel_events_per_connection_median: round(median(by('tcpotel').map((t) => t.tcpotel?.events_per_connection)), 2),
      tcpotel_scrape_s_median: round(median(by('tcpotel').map((t) => t.tcpotel?.endpoint?.scrape_s)), 2),
      tcpotel_scrape_mb_median: round(median(by('tcpotel').map((t) => t.tcpotel?.endpoint?.scrape_bytes / 1e6)), 1),
      tcpotel_endpoint_matches_kernel: by('tcpotel').every((t) => t.tcpotel?.endpoint_matches_kernel === true),
      tcpotel_rss_mib_median: round(median(by('tcpotel').map((t) => t.tcpotel?.rss_mib)), 1),
      tcpotel_rss_after_scrape_mib_median: round(median(by('tcpotel').map((t) => t.tcpotel?.rss_after_scrape_mib)), 1),
      background_busy_pct_median: round(median(trials.filter((t) => t.load === load).map((t) => t.background_busy_pct)), 1),
      noisy_trials: trials.filter((t) => t.load === load && t.noisy).map((t) => `rep ${t.rep} ${t.condition}`),
      bpftrace_lines_per_connection_median: round(median(by('bpftrace').map((t) => t.bpftrace?.lines_per_connection)), 2),
      bpftrace_lost_events_total: by('bpftrace').reduce((a, t) => a + (t.bpftrace?.lost_events ?? 0), 0),
    };
  }
  let scrape_under_load;
  try {
    scrape_under_load = await scrapeUnderLoad();
  } catch (err) {
    scrape_under_load = { error: String(err?.stack ?? err) };
  }
  let kernel_cost;
  try {
    kernel_cost = await kernelCost();
  } catch (err) {
    kernel_cost = { error: String(err?.stack ?? err) };
  }
  return { load_seconds: LOAD_S, repetitions: REPS, workers: WORKERS, summary, scrape_under_load, kernel_cost, trials };
}

// ---------------------------------------------------------------- 2. pipeline

async function pipeline() {
  const args = [];
  // One core: pinned to the last CPU (GC helper threads included), when taskset exists.
  let cmd = 'node';
  const nodeArgs = ['--expose-gc', PIPELINE_JS, ...(QUICK ? ['--seconds', '2', '--rounds', '1', '--warmup', '1'] : [])];
  let pinned = null;
  try {
    execFileSync('sh', ['-c', 'command -v taskset'], { stdio: 'ignore' });
    pinned = cpus().length - 1;
    cmd = 'taskset';
    args.push('-c', String(pinned), 'node', ...nodeArgs);
  } catch {
    args.push(...nodeArgs);
  }
  const background_busy_pct = await backgroundBusy(500);
  const r = await run(cmd, args, { timeoutMs: 180_000 });
  if (r.code !== 0) throw new Error(`pipeline benchmark failed (${r.code}):\n${r.stderr.slice(-3000)}`);
  const res = lastJson(r.stdout, 'pipeline-throughput');
  return { pinned_cpu: pinned, background_busy_pct, ...res };
}

// ---------------------------------------------------------------- 4. caps

async function caps() {
  const args = ['--expose-gc', CAPS_JS, ...(QUICK ? ['--tuples', '200000', '--window-tuples', '20000'] : [])];
  const r = await run('node', args, { timeoutMs: 300_000 });
  if (r.code !== 0) throw new Error(`memory-caps benchmark failed (${r.code}):\n${r.stderr.slice(-3000)}`);
  return lastJson(r.stdout, 'memory-caps');
}

// ---------------------------------------------------------------- 5. prometheus

/** A scrape of 50k series (the exporter's max_series), in process, to a client in another process. */
async function prometheus() {
  const args = ['--expose-gc', PROMETHEUS_JS, ...(QUICK ? ['--reps', '1'] : [])];
  const background_busy_pct = await backgroundBusy(500);
  const r = await run('node', args, { timeoutMs: 300_000 });
  if (r.code !== 0) throw new Error(`prometheus-scrape benchmark failed (${r.code}):\n${r.stderr.slice(-3000)}`);
  return { background_busy_pct, ...lastJson(r.stdout, 'prometheus-scrape') };
}

// ---------------------------------------------------------------- 3. memory

function hardNoFile() {
  try {
    return Number(execFileSync('sh', ['-c', 'ulimit -Hn']).toString().trim()) || 1024;
  } catch {
    return 1024;
  }
}

async function startHolders(connections) {
  // One holder needs 2 descriptors a connection; without CAP_SYS_RESOURCE the hard
  // RLIMIT_NOFILE cannot be raised, so split the connections over several holders.
  const perHolder = Math.max(100, Math.min(connections, Math.floor((hardNoFile() - 200) / 2)));
  const holders = [];
  let left = connections;
  while (left > 0) {
    const n = Math.min(perHolder, left);
    left -= n;
    holders.push(startProcess(HOLDER, ['--connections', String(n), '--listeners', '8', '--send', '1000'], { stdin: 'pipe' }));
  }
  const started = performance.now();
  const ready = await Promise.all(holders.map((h) => h.waitFor(/\{"ready":true[^\n]*\}/, 'stdout', 120_000).then((m) => JSON.parse(m[0]))));
  return {
    holders,
    open_s: round((performance.now() - started) / 1000, 2),
    connections: ready.reduce((a, r) => a + r.connections, 0),
    sockets: ready.reduce((a, r) => a + r.sockets, 0),
    failed: ready.reduce((a, r) => a + r.failed, 0),
    processes: holders.length,
  };
}

async function stopHolders(holders) {
  for (const h of holders) h.child.stdin.end();
  await Promise.all(holders.map((h) => h.stop('SIGTERM', 20_000)));
}

async function memorySnapshot(p, port, label) {
  const mem = procMem(p.pid);
  const bpf = bpfObjects(p.pid);
  const names = bpfMapNames();
  const maps = bpf.maps.map((m) => ({ ...m, name: names.get(m.id)?.name ?? null }));
  const out = { label, ...mem, cpu_s: round(procCpu(p.pid), 2), kernel_map_bytes: bpf.map_bytes, kernel_maps: maps, kernel: kernelStats(p.pid) };
  try {
    const s = await scrape(port, 120_000);
    Object.assign(out, tcpotelCounters(s.text), { scrape_s: s.seconds, scrape_samples: s.samples, scrape_bytes: s.bytes });
    const after = procMem(p.pid);
    out.rss_after_scrape_mib = after.rss_mib;
    out.peak_rss_mib = after.peak_rss_mib;
  } catch (err) {
    out.scrape_error = String(err.message ?? err);
  }
  return out;
}

async function memory() {
  const sampleWaitMs = 2 * 2000 + 1500; // two sample intervals (memory.yaml: 2s) and a window
  const port = await freePort();
  const result = { connections_requested: CONNECTIONS };
  let holders = [];
  let p;
  try {
    // The default pipelines (make run's): tcpotel first, then the connections open under it.
    {
      const dport = await freePort();
      const d = await startTcpotel(OVERHEAD_YAML, dport, 'memory default');
      await sleep(3000);
      const idle = procMem(d.pid);
      const h = await startHolders(CONNECTIONS);
      await sleep(sampleWaitMs);
      const live = procMem(d.pid);
      result.default_pipelines = { idle_rss_mib: idle.rss_mib, live_rss_mib: live.rss_mib, peak_rss_mib: live.peak_rss_mib, sockets: h.sockets };
      log(`memory: default pipelines, ${h.sockets} sockets open: RSS ${idle.rss_mib} -> ${live.rss_mib} MiB`);
      await d.stop('SIGINT');
      await stopHolders(h.holders);
    }
    // Five-tuple keys to Prometheus (memory.yaml): the worst case for the exporter.
    p = await startTcpotel(MEMORY_YAML, port, 'memory');
    result.start_s = p.startSeconds;
    await sleep(3000);
    result.idle = await memorySnapshot(p, port, 'idle');
    log(`memory: tcpotel idle RSS ${result.idle.rss_mib} MiB, kernel maps ${round(result.idle.kernel_map_bytes / 2 ** 20, 1)} MiB`);
    const h = await startHolders(CONNECTIONS);
    holders = h.holders;
    result.holders = { connections: h.connections, sockets: h.sockets, failed: h.failed, processes: h.processes, open_s: h.open_s };
    log(`memory: ${h.sockets} sockets open (${h.connections} connections, ${h.processes} holder processes, ${h.open_s}s)`);
    await sleep(sampleWaitMs);
    result.live = await memorySnapshot(p, port, 'live');
    log(`memory: with ${h.sockets} sockets (live opens): RSS ${result.live.rss_mib} MiB, ${result.live.rss_after_scrape_mib} MiB after a scrape (${result.live.scrape_s}s, ${round(result.live.scrape_bytes / 1e6, 1)} MB), peak ${result.live.peak_rss_mib} MiB`);
    result.live.stop_s = round(await p.stop('SIGINT'), 2);
    // Snapshot: tcpotel starts while they are open, and reports them as existing.
    const port2 = await freePort();
    p = await startTcpotel(MEMORY_YAML, port2, 'memory snapshot');
    result.snapshot_start_s = p.startSeconds;
    // The snapshot is emitted during start: what the receiver has passed on by now is it.
    try {
      const s = await scrape(port2);
      result.snapshot_reported = promSum(s.text, 'tcpotel_component_items_out_total', { tcpotel_component_id: 'ebpf' });
    } catch (err) {
      result.snapshot_reported = null;
      result.snapshot_scrape_error = String(err.message ?? err);
    }
    await sleep(sampleWaitMs);
    result.snapshot = await memorySnapshot(p, port2, 'snapshot');
    log(`memory: started over ${h.sockets} open sockets (snapshot): RSS ${result.snapshot.rss_mib} MiB (peak ${result.snapshot.peak_rss_mib}), start ${p.startSeconds}s`);
    result.snapshot.stop_s = round(await p.stop('SIGINT'), 2);
    p = undefined;
  } finally {
    if (p) await p.stop('SIGINT');
    await stopHolders(holders);
  }
  const sockets = result.holders?.sockets ?? 0;
  result.rss_delta_mib = round(result.live.rss_mib - result.idle.rss_mib, 1);
  result.rss_bytes_per_socket = sockets ? Math.round(((result.live.rss_mib - result.idle.rss_mib) * 2 ** 20) / sockets) : null;
  return result;
}

// ---------------------------------------------------------------- report

function pass(ok) {
  return ok === null || ok === undefined ? 'info' : ok ? 'PASS' : 'FAIL';
}

function table(results) {
  const rows = [];
  const add = (bench, metric, value, target = '', ok = null) => rows.push([bench, metric, value === null || value === undefined ? 'n/a' : String(value), target, pass(ok)]);
  const fmt = (v, d = 0) => (v === null || v === undefined ? null : Number(v).toLocaleString('en-US', { maximumFractionDigits: d }));
  const o = results.overhead;
  if (o?.summary) {
    const f = o.summary.fixed;
    add('overhead fixed', 'offered load', `${fmt(RATE)} conn/s`);
    add('overhead fixed', 'rate none / tcpotel / bpftrace', `${fmt(f.rate_median.none)} / ${fmt(f.rate_median.tcpotel)} / ${fmt(f.rate_median.bpftrace)}`);
    add('overhead fixed', 'tcpotel / none', f.ratio.tcpotel_vs_none, `>= ${TARGETS.fixedRatio}`, f.ratio.tcpotel_vs_none >= TARGETS.fixedRatio);
    add('overhead fixed', 'bpftrace / none', f.ratio.bpftrace_vs_none);
    add('overhead fixed', 'tcpotel dropped events (max of runs)', f.tcpotel_dropped_max, `= ${TARGETS.fixedDrops}`, f.tcpotel_dropped_max === TARGETS.fixedDrops);
    add('overhead fixed', 'tcpotel CPU per 10 s (user + system)', `${f.monitor_cpu_s_per_10s_median.tcpotel} CPU-s`, `<= ${TARGETS.fixedCpuPer10s}`, f.monitor_cpu_s_per_10s_median.tcpotel <= TARGETS.fixedCpuPer10s);
    add('overhead fixed', 'CPU per 10 s: logs pipeline / bpftrace', `${f.monitor_cpu_s_per_10s_median.logs} / ${f.monitor_cpu_s_per_10s_median.bpftrace} CPU-s`);
    add('overhead fixed', 'logs pipeline / none', f.ratio.logs_vs_none);
    add('overhead fixed', 'tcpotel events/conn, bpftrace lines/conn', `${f.tcpotel_events_per_connection_median} / ${f.bpftrace_lines_per_connection_median}`);
    const s = o.summary.saturation;
    add('overhead saturation', 'rate none / tcpotel / logs / bpftrace', `${fmt(s.rate_median.none)} / ${fmt(s.rate_median.tcpotel)} / ${fmt(s.rate_median.logs)} / ${fmt(s.rate_median.bpftrace)}`);
    add('overhead saturation', 'tcpotel / none (default pipelines)', s.ratio.tcpotel_vs_none, `>= ${TARGETS.satRatio}`, s.ratio.tcpotel_vs_none >= TARGETS.satRatio);
    add('overhead saturation', 'tcpotel detection off / none', s.ratio.nodetect_vs_none);
    add('overhead saturation', 'protocol detection: (detection off - on) / none', s.ratio.detect_cost);
    const h = o.summary.saturation_http;
    if (h) {
      add('overhead saturation, 1 HTTP request each', 'rate none / tcpotel / detection off', `${fmt(h.rate_median.none)} / ${fmt(h.rate_median.tcpotel)} / ${fmt(h.rate_median.nodetect)}`);
      add('overhead saturation, 1 HTTP request each', 'tcpotel / none, detection off / none', `${h.ratio.tcpotel_vs_none} / ${h.ratio.nodetect_vs_none}`);
      add('overhead saturation, 1 HTTP request each', 'protocol detection: (detection off - on) / none', h.ratio.detect_cost, `< ${TARGETS.detectSatCost}`, h.ratio.detect_cost < TARGETS.detectSatCost);
    }
    add('overhead saturation', 'logs pipeline / none (every open and close to a file)', s.ratio.logs_vs_none, `>= ${TARGETS.logsSatRatio}`, s.ratio.logs_vs_none >= TARGETS.logsSatRatio);
    add('overhead saturation', 'logs pipeline: produced, dropped (kernel), lines written', `${fmt(s.logs_produced_median)}, ${fmt(s.logs_dropped_max)}, ${fmt(s.logs_lines_median)}`, 'drops counted', s.logs_accounted);
    add('overhead saturation', 'bpftrace / none', s.ratio.bpftrace_vs_none);
    add('overhead saturation', 'tcpotel / bpftrace', s.ratio.tcpotel_vs_bpftrace);
    add('overhead saturation', 'CPU per 10 s tcpotel / logs / bpftrace', `${s.monitor_cpu_s_per_10s_median.tcpotel} / ${s.monitor_cpu_s_per_10s_median.logs} / ${s.monitor_cpu_s_per_10s_median.bpftrace} CPU-s`);
    add('overhead saturation', 'tcpotel dropped events (max of runs)', fmt(s.tcpotel_dropped_max));
    add('overhead saturation', 'tcpotel events/conn, bpftrace lines/conn', `${s.tcpotel_events_per_connection_median} / ${s.bpftrace_lines_per_connection_median}`);
    add('overhead saturation', 'tcpotel RSS, after a scrape (median)', `${s.tcpotel_rss_mib_median} MiB, ${s.tcpotel_rss_after_scrape_mib_median} MiB`);
    add('overhead saturation', 'tcpotel scrape time, size (median)', `${s.tcpotel_scrape_s_median} s, ${s.tcpotel_scrape_mb_median} MB`);
    const su = o.scrape_under_load;
    if (su && !su.error) add('overhead fixed + 1 scrape', 'dropped events (scrape mid-load)', `${fmt(su.dropped)} of ${fmt(su.produced)} (${su.dropped_pct}%), scrape ${su.scrape_s}s`, '= 0', su.dropped === 0);
    else if (su?.error) add('overhead fixed + 1 scrape', 'error', su.error.split('\n')[0], '', false);
    const kc = o.kernel_cost;
    if (kc?.tcpotel) {
      add('kernel cost (bpf_stats, fixed load)', 'tcpotel ns per connection, all programs', fmt(kc.tcpotel.ns_per_connection));
      for (const p of kc.tcpotel.programs) add('kernel cost (bpf_stats, fixed load)', `  ${p.name}`, `${fmt(p.ns_per_connection)} ns/conn (${p.runs_per_connection} runs x ${fmt(p.ns_per_run)} ns; ${p.recursion_misses} recursion misses)`);
      if (kc.bpftrace) add('kernel cost (bpf_stats, fixed load)', 'bpftrace peer ns per connection', fmt(kc.bpftrace.ns_per_connection));
    } else if (kc?.error) add('kernel cost', 'error', kc.error.split('\n')[0], '', false);
    add('overhead', 'endpoint drop/produced counters = kernel', `${f.tcpotel_endpoint_matches_kernel && s.tcpotel_endpoint_matches_kernel}`, 'true', f.tcpotel_endpoint_matches_kernel && s.tcpotel_endpoint_matches_kernel);
    add('overhead', 'machine busy before trials (median)', `${f.background_busy_pct_median}% / ${s.background_busy_pct_median}%`);
    const noisy = [...f.noisy_trials.map((n) => `fixed ${n}`), ...s.noisy_trials.map((n) => `saturation ${n}`)];
    add('overhead', 'noisy trials (left out of the medians)', noisy.length ? noisy.join(', ') : 'none');
  } else if (o?.error) add('overhead', 'error', o.error.split('\n')[0], '', false);
  const p = results.pipeline;
  if (p?.stages) {
    const full = p.stages[p.stages.length - 1];
    add('pipeline (1 core)', 'full pipeline events/s (per CPU-second)', fmt(full.events_per_cpu_s), `>= ${fmt(TARGETS.pipelineEventsPerS)}`, full.events_per_cpu_s >= TARGETS.pipelineEventsPerS);
    add('pipeline (1 core)', 'full pipeline events/s (wall)', fmt(full.events_per_s));
    for (const s of p.stages) add('pipeline (1 core)', `  ${s.stage}`, `${fmt(s.events_per_s)} ev/s, ${s.ns_per_event} ns/ev`);
    for (const b of p.breakdown) add('pipeline (1 core)', `  cost of ${b.stage}`, `${b.ns_per_event} ns/event`);
  } else if (p?.error) add('pipeline', 'error', p.error.split('\n')[0], '', false);
  const m = results.memory;
  if (m?.live) {
    add('memory 100k sockets', 'sockets held', `${fmt(m.holders.sockets)} (${fmt(m.holders.connections)} connections)`);
    const d = m.default_pipelines;
    if (d) add('memory 100k sockets', 'default pipelines: RSS idle -> live (peak)', `${d.idle_rss_mib} -> ${d.live_rss_mib} MiB (${d.peak_rss_mib})`, `<= ${TARGETS.memoryRssMiB} MiB`, d.live_rss_mib <= TARGETS.memoryRssMiB);
    add('memory 100k sockets', 'five-tuple keys to Prometheus: RSS idle -> live', `${m.idle.rss_mib} -> ${m.live.rss_mib} MiB`);
    add('memory 100k sockets', 'RSS per socket', `${fmt(m.rss_bytes_per_socket)} B`);
    add('memory 100k sockets', 'RSS after one scrape, peak', `${m.live.rss_after_scrape_mib} MiB, ${m.live.peak_rss_mib} MiB (scrape ${m.live.scrape_s}s, ${fmt(m.live.scrape_bytes / 1e6, 1)} MB)`);
    add('memory 100k sockets', 'snapshot start: reported, RSS, peak', `${fmt(m.snapshot_reported)} existing, ${m.snapshot.rss_mib} MiB, ${m.snapshot.peak_rss_mib} MiB`);
    add('memory 100k sockets', 'kernel map memory (memlock)', `${fmt(m.live.kernel_map_bytes / 2 ** 20, 1)} MiB`);
    add('memory 100k sockets', 'dropped / untracked (kernel, live)', `${m.live.kernel?.dropped} / ${m.live.kernel?.untracked}`, '= 0', m.live.kernel?.dropped === 0);
  } else if (m?.error) add('memory', 'error', m.error.split('\n')[0], '', false);
  const c = results.caps;
  if (c?.checkpoints) {
    add('caps 1M five-tuples', 'peak RSS', `${c.peak_rss_mib} MiB`, `<= ${TARGETS.capsPeakRssMiB} MiB`, c.peak_rss_mib <= TARGETS.capsPeakRssMiB);
    add('caps 1M five-tuples', 'heap growth once all caps are full', `${c.heap_growth_after_caps_full_pct}% (caps full at ${fmt(c.caps_full_at_tuples)} tuples)`, `<= ${TARGETS.capsGrowthPct}%`, c.heap_growth_after_caps_full_pct !== null && c.heap_growth_after_caps_full_pct <= TARGETS.capsGrowthPct);
    add('caps 1M five-tuples', 'RSS growth once all caps are full, 2nd half', `${c.rss_growth_after_caps_full_pct}%, ${c.rss_growth_second_half_pct}%`);
    add('caps 1M five-tuples', 'aggregate overflow / evicted', `${fmt(c.overflow.aggregate_series_overflow)} / ${fmt(c.overflow.aggregate_connections_evicted)}`);
    add('caps 1M five-tuples', 'accumulator series / overflow', `${fmt(c.accumulator_series)} / ${fmt(c.overflow.accumulator_series_overflow)}`);
    add('caps 1M five-tuples', 'time', `${c.seconds} s`);
  } else if (c?.error) add('caps', 'error', c.error.split('\n')[0], '', false);
  const pr = results.prometheus;
  if (pr?.first) {
    const b = `prometheus ${fmt(pr.series)} series`;
    const row = (x) => `${x.seconds} s (CPU ${x.cpu_s} s, longest block ${x.max_block_ms} ms)`;
    add(b, 'scrape, every series changed', row(pr.all_changed), `< ${TARGETS.prometheusScrapeS} s`, pr.all_changed.seconds < TARGETS.prometheusScrapeS);
    add(b, 're-scrape, nothing changed', row(pr.unchanged), `< ${TARGETS.prometheusRescrapeS} s`, pr.unchanged.seconds < TARGETS.prometheusRescrapeS);
    add(b, 'first scrape / one tuple in ten changed', `${row(pr.first)} / ${row(pr.tenth_changed)}`);
    add(b, 'size, peak RSS', `${fmt(pr.first.bytes / 1e6, 1)} MB (${fmt(pr.lines)} lines), ${pr.peak_rss_mib} MiB`);
  } else if (pr?.error) add('prometheus', 'error', pr.error.split('\n')[0], '', false);

  const widths = [0, 1, 2, 3, 4].map((i) => Math.max(...rows.map((r) => r[i].length), ['benchmark', 'metric', 'value', 'target', ''][i].length));
  const line = (r) => r.map((v, i) => v.padEnd(widths[i])).join('  ').trimEnd();
  return [line(['benchmark', 'metric', 'value', 'target', 'status']), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

// ---------------------------------------------------------------- main

async function main() {
  preflight();
  const started = new Date();
  const results = {
    started: started.toISOString(),
    options: { quick: QUICK, reps: REPS, load_seconds: LOAD_S, rate: RATE, workers: WORKERS, connections: CONNECTIONS, only: [...ONLY] },
    targets: TARGETS,
    machine: machine(),
    noise_at_start: { foreign_tracing_programs: foreignTracers(), foreign_processes: foreignProcesses() },
  };
  if (results.noise_at_start.foreign_tracing_programs.length || results.noise_at_start.foreign_processes.length) {
    log(`note: other monitors are running on this host (their cost is in every condition): ${results.noise_at_start.foreign_tracing_programs.length} tracing programs; processes:\n    ${results.noise_at_start.foreign_processes.join('\n    ') || '(none)'}`);
  }
  // In-process benchmarks first, then the real-connection ones (the overhead runs leave
  // TIME_WAIT sockets behind for a minute).
  const steps = [
    ['pipeline', pipeline],
    ['caps', caps],
    ['prometheus', prometheus],
    ['memory', memory],
    ['overhead', overhead],
  ];
  let failed = false;
  for (const [name, fn] of steps) {
    if (!ONLY.has(name)) continue;
    if (failed && !KEEP_GOING) break;
    log(`${name}: start`);
    const s = performance.now();
    try {
      results[name] = await fn();
    } catch (err) {
      failed = true;
      results[name] = { error: String(err?.stack ?? err) };
      log(`${name}: FAILED: ${err?.message ?? err}`);
    }
    results[name].seconds_total = round((performance.now() - s) / 1000, 1);
    log(`${name}: done in ${results[name].seconds_total}s`);
  }
  results.finished = new Date().toISOString();
  results.duration_s = round((Date.now() - t0) / 1000, 1);
  const text = table(results);
  results.table = text.split('\n');
  mkdirSync(OUT, { recursive: true });
  const stamp = started.toISOString().replace(/[:.]/g, '-');
  const file = join(OUT, `${stamp}.json`);
  writeFileSync(file, JSON.stringify(results, null, 2) + '\n');
  writeFileSync(join(OUT, 'latest.json'), JSON.stringify(results, null, 2) + '\n');
  process.stdout.write(`\ntcpotel benchmarks (${results.machine.cpu_model}, ${results.machine.nproc} CPUs, Linux ${results.machine.kernel})\n\n${text}\n\n`);
  process.stdout.write(`total ${results.duration_s}s; results: ${file} (and bench/results/latest.json)\n`);
  if (failed) process.exitCode = 1;
}

main().catch((err) => {
  process.stderr.write(`bench: ${err?.stack ?? err}\n`);
  killAll();
  process.exit(1);
});
