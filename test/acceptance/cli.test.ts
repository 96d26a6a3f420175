/**
 * The tcpotel command end to end: a YAML pipeline with the real eBPF receiver, a filter on
 * one port and an aggregate, on known loopback traffic; SIGTERM flushes and detaches; a
 * second signal forces the exit; running as an unprivileged user after attaching.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NetnsPair, loadedProgramIds, programsOf, runClient, sleep, startPeer, startServer } from '../support/peer.js';
import { startTcpotel } from '../support/tcpotel.js';
import { unprivilegedCli } from '../support/unprivileged.js';

/** Decoded OTLP/JSON lines of a file exporter. */
function jsonLines(path: string): any[] {
  if (!existsSync(path)) return [];
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l));
}

function attrs(kvs: Array<{ key: string; value: Record<string, unknown> }>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const kv of kvs) {
    const v = kv.value;
    out[kv.key] = v.stringValue ?? (v.intValue !== undefined ? Number(v.intValue) : v.doubleValue ?? v.boolValue);
  }
  return out;
}

/**
 * Data points of one metric as of the last export of a cumulative metrics file: an export
 * may span several lines (max_items_per_line), so each series' latest point counts.
 */
function lastPoints(lines: any[], name: string): Array<{ attributes: Record<string, unknown>; value: number }> {
  const latest = new Map<string, { attributes: Record<string, unknown>; value: number }>();
  for (const line of lines) {
    for (const rm of line.resourceMetrics ?? []) {
      for (const sm of rm.scopeMetrics) {
        for (const m of sm.metrics) {
          if (m.name !== name) continue;
          for (const dp of (m.sum ?? m.gauge ?? m.histogram).dataPoints) {
            const attributes = attrs(dp.attributes);
            latest.set(JSON.stringify(attributes), { attributes, value: dp.count !== undefined ? Number(dp.count) : Number(dp.asInt ?? dp.asDouble) });
          }
        }
      }
    }
  }
  return [...latest.values()];
}

function logRecords(lines: any[]): Array<{ eventName: string; attributes: Record<string, unknown> }> {
  const out = [];
  for (const req of lines) for (const rl of req.resourceLogs) for (const sl of rl.scopeLogs) for (const r of sl.logRecords) out.push({ eventName: r.eventName, attributes: attrs(r.attributes) });
  return out;
}

function configFile(dir: string, body: string): string {
  const p = join(dir, 'tcpotel.yaml');
  writeFileSync(p, body);
  return p;
}

function tcpotelPrograms(): number[] {
  return [...loadedProgramIds()];
}

test('tcpotel run: filter on one port + aggregate give exact counts for that port and nothing for the other; SIGTERM flushes and detaches', { timeout: 60_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tcpotel-cli-'));
  const N = 4;
  const included = await startServer(['--addr', '127.0.0.1', '--port', '0', '--expect', '100', '--reply', '2500', '--count', String(N)]);
  const excluded = await startServer(['--addr', '127.0.0.1', '--port', '0', '--expect', '100', '--reply', '2500', '--count', '3']);
  const config = configFile(
    dir,
    `
receivers:
  ebpf:
    snapshot: false
    sample_interval: 0s
processors:
  filter/port:
    include:
      ports: [${included.port}]
  aggregate/flows:
    interval: 500ms
    keys: five_tuple
exporters:
  file/metrics:
    path: ${join(dir, 'metrics.jsonl')}
  file/logs:
    path: ${join(dir, 'logs.jsonl')}
service:
  pipelines:
    metrics/flows:
      receivers: [ebpf]
      processors: [filter/port, aggregate/flows]
      exporters: [file/metrics]
    logs:
      receivers: [ebpf]
      processors: [filter/port]
      exporters: [file/logs]
`,
  );
  const t = await startTcpotel(config);
  const ours = programsOf(t.child.pid!);
  assert.ok(ours.length >= 6, 'programs attached');
  const a = await runClient(['--addr', '127.0.0.1', '--port', String(included.port), '--count', String(N), '--send', '100', '--expect', '2500']);
  const b = await runClient(['--addr', '127.0.0.1', '--port', String(excluded.port), '--count', '3', '--send', '100', '--expect', '2500']);
  assert.equal(a.code, 0);
  assert.equal(b.code, 0);
  await sleep(700);
  t.child.kill('SIGTERM');
  assert.equal(await t.exit, 0, t.stderr());

  const metrics = jsonLines(join(dir, 'metrics.jsonl'));
  const touches = (p: { attributes: Record<string, unknown> }, port: number) => p.attributes['network.local.port'] === port || p.attributes['network.peer.port'] === port;
  const opened = lastPoints(metrics, 'tcp.connections.opened');
  const closed = lastPoints(metrics, 'tcp.connections.closed');
  const io = lastPoints(metrics, 'tcp.io');
  assert.equal(opened.filter((p) => touches(p, included.port)).reduce((s, p) => s + p.value, 0), 2 * N);
  assert.equal(closed.filter((p) => touches(p, included.port)).reduce((s, p) => s + p.value, 0), 2 * N);
  assert.equal(opened.filter((p) => touches(p, included.port)).length, 2 * N, 'one five-tuple series per connection end');
  const tx = io.filter((p) => touches(p, included.port) && p.attributes['network.io.direction'] === 'transmit');
  assert.equal(tx.reduce((s, p) => s + p.value, 0), N * (100 + 2500));
  for (const p of tx) assert.equal(p.value, p.attributes['network.local.port'] === included.port ? 2500 : 100);
  for (const name of ['tcp.connections.opened', 'tcp.connections.closed', 'tcp.io']) {
    assert.equal(lastPoints(metrics, name).filter((p) => touches(p, excluded.port)).length, 0, `nothing for the excluded port in ${name}`);
  }
  const logs = logRecords(jsonLines(join(dir, 'logs.jsonl')));
  assert.equal(logs.filter((l) => l.eventName === 'tcp.connection.open').length, 2 * N);
  assert.equal(logs.filter((l) => l.eventName === 'tcp.connection.close').length, 2 * N);
  assert.equal(logs.filter((l) => l.attributes['network.local.port'] === excluded.port || l.attributes['network.peer.port'] === excluded.port).length, 0);
  // What the filter kept out is counted and exported with the pipeline's metrics: by the
  // filter processor, or by the kernel where the filter was pushed down (the logs pipeline's
  // records, the aggregate's events).
  const drops = lastPoints(metrics, 'tcpotel.component.items.dropped').filter((p) => p.attributes['tcpotel.drop.reason'] === 'filtered');
  const inKernel = lastPoints(metrics, 'tcpotel.ebpf.events.filtered');
  assert.ok(drops.reduce((s, p) => s + p.value, 0) + inKernel.reduce((s, p) => s + p.value, 0) >= 4 * 3, 'at least the excluded port’s events were counted as filtered');

  const left = new Set(tcpotelPrograms());
  for (const id of ours) assert.ok(!left.has(id), `program ${id} detached after SIGTERM`);
});

test('a second signal forces the exit while shutdown waits for an unreachable exporter', { timeout: 60_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tcpotel-cli-'));
  const s = await startServer(['--addr', '127.0.0.1', '--port', '0', '--count', '2']);
  const config = configFile(
    dir,
    `
receivers:
  ebpf: {snapshot: false, sample_interval: 0s}
processors:
  filter: {include: {ports: [${s.port}]}}
exporters:
  otlphttp:
    endpoint: http://127.0.0.1:9
    timeout: 30s
    retry_on_failure: {initial_interval: 10s}
service:
  pipelines:
    logs: {receivers: [ebpf], processors: [filter], exporters: [otlphttp]}
`,
  );
  const t = await startTcpotel(config);
  await runClient(['--addr', '127.0.0.1', '--port', String(s.port), '--count', '2']);
  await sleep(500);
  t.child.kill('SIGTERM');
  await sleep(1000);
  assert.equal(t.child.exitCode, null, 'still flushing after the first signal');
  t.child.kill('SIGTERM');
  // 130: the second signal's exit, without waiting for the flush (which would exit 0, after
  // the 10 s back-off at least).
  assert.equal(await t.exit, 130);
});

test('service::user drops root after attaching: events, counters and live samples keep flowing; SIGTERM still detaches', { timeout: 60_000 }, async (t0) => {
  // Once it is nobody, what tcpotel still reads of itself must be readable by nobody.
  const nobody = unprivilegedCli();
  if (!nobody.cli) return t0.skip(`cannot run tcpotel as nobody: ${nobody.why}`);
  const dir = mkdtempSync(join(tmpdir(), 'tcpotel-cli-'));
  chmodSync(dir, 0o777);
  // The config stays in a directory only root can write: tcpotel refuses one others could change.
  const configDir = mkdtempSync(join(tmpdir(), 'tcpotel-cli-'));
  const sink = await startPeer(['sink', '--addr', '127.0.0.1', '--port', '0']);
  const port = Number(/ready (\d+)/.exec(sink.firstLine)![1]);
  // Another network namespace with a process in it: as nobody, the samples cannot enter it.
  const ns = new NetnsPair('cu').setup();
  const other = await startPeer(['sink', '--addr', ns.addrA, '--port', '0'], { netns: ns.a });
  const config = configFile(
    configDir,
    `
receivers:
  ebpf: {snapshot: true, sample_interval: 300ms, sample_budget: 1}
processors:
  filter: {include: {ports: [${port}]}}
  aggregate: {interval: 300ms, keys: none}
exporters:
  file/logs: {path: ${join(dir, 'logs.jsonl')}}
  file/metrics: {path: ${join(dir, 'metrics.jsonl')}}
service:
  user: nobody
  pipelines:
    logs: {receivers: [ebpf], processors: [filter], exporters: [file/logs]}
    metrics: {receivers: [ebpf], processors: [filter, aggregate], exporters: [file/metrics]}
`,
  );
  const t = await startTcpotel(config, { bin: nobody.cli });
  const ours = programsOf(t.child.pid!);
  assert.ok(ours.length >= 6, 'programs attached');
  try {
    const status = readFileSync(`/proc/${t.child.pid}/status`, 'utf8');
    assert.match(status, /^Uid:\s+65534\s+65534\s+65534\s+65534$/m, 'running as nobody');
    assert.match(status, /^Groups:\s*$/m, 'no supplementary groups');
    assert.match(status, /^CapEff:\s+000000c000000000$/m, 'only CAP_BPF and CAP_PERFMON kept');
    assert.match(status, /^CapPrm:\s+000000c000000000$/m);
    assert.match(status, /^CapInh:\s+0000000000000000$/m);
    assert.match(status, /^CapBnd:\s+000000c000000000$/m, 'the bounding set cleared but for CAP_BPF and CAP_PERFMON');
    assert.match(status, /^CapAmb:\s+0000000000000000$/m);
    assert.match(status, /^NoNewPrivs:\s+1$/m, 'no execve can raise privileges again');
    const hold = await startPeer(['hold', '--addr', '127.0.0.1', '--port', String(port), '--send-every', '50', '--chunk', '500']);
    await sleep(1200);
    hold.kill('SIGTERM');
    const held = await hold.done;
    await sleep(800);
    t.child.kill('SIGTERM');
    assert.equal(await t.exit, 0, t.stderr());
    const logs = logRecords(jsonLines(join(dir, 'logs.jsonl')));
    const mine = logs.filter((l) => l.attributes['process.pid'] === hold.pid);
    assert.equal(mine.filter((l) => l.eventName === 'tcp.connection.open').length, 1);
    assert.ok(mine.filter((l) => l.eventName === 'tcp.connection.sample').length >= 2, 'live samples after dropping root');
    const close = mine.find((l) => l.eventName === 'tcp.connection.close')!;
    assert.equal(close.attributes['tcp.bytes.sent'], held.json.sent);
    const produced = lastPoints(jsonLines(join(dir, 'metrics.jsonl')), 'tcpotel.ebpf.events.produced');
    assert.ok(produced.reduce((s, p) => s + p.value, 0) > 0, 'kernel counters still readable');
    const skipped = lastPoints(jsonLines(join(dir, 'metrics.jsonl')), 'tcpotel.ebpf.namespaces.skipped');
    assert.ok(skipped.reduce((s, p) => s + p.value, 0) >= 2, 'the namespaces it cannot enter are counted');
    assert.match(t.stderr(), /cannot enter other network namespaces \(needs CAP_SYS_ADMIN\)/);
    assert.equal(t.stderr().match(/cannot enter other network namespaces/g)!.length, 1, 'said once');
    const left = new Set(tcpotelPrograms());
    for (const id of ours) assert.ok(!left.has(id), `program ${id} detached after SIGTERM`);
  } finally {
    t.child.kill('SIGKILL');
    sink.kill('SIGKILL');
    other.kill('SIGKILL');
    ns.cleanup();
  }
});
