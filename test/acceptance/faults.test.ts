/**
 * Fault tests: each asserts that nothing is lost without being counted, and that tcpotel
 * leaves no BPF program behind.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OtlpReceiver } from '../support/otlp-receiver.js';
import { loadedProgramIds, programsOf, runClient, sleep, startPeer, startServer, waitUntil } from '../support/peer.js';
import { startService } from '../support/service.js';
import { startEbpf } from '../support/ebpf.js';
import { cli, startTcpotel } from '../support/tcpotel.js';
import { asUser, unprivilegedCli } from '../support/unprivileged.js';

function tmpConfig(body: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'tcpotel-fault-'));
  chmodSync(dir, 0o755);
  const p = join(dir, 'config.yaml');
  writeFileSync(p, body);
  return p;
}

function logsYaml(port: number, endpoint: string, extra = ''): string {
  return `
receivers:
  ebpf: {snapshot: false, sample_interval: 0s}
processors:
  filter: {include: {ports: [${port}]}}
exporters:
  otlp:
    endpoint: ${endpoint}
    tls: {insecure: true}
${extra}
service:
  pipelines:
    logs: {receivers: [ebpf], processors: [filter], exporters: [otlp]}
`;
}

function exporterDrops(service: { telemetry: { total(n: string, m?: Record<string, unknown>): number } }, reason?: string): number {
  return service.telemetry.total('tcpotel.component.items.dropped', { 'tcpotel.component.id': 'otlp', ...(reason ? { 'tcpotel.drop.reason': reason } : {}) });
}

test('exporter endpoint returning errors: retryable ones are retried until they pass, permanent ones are dropped and counted', { timeout: 60_000 }, async () => {
  const rx = await OtlpReceiver.start();
  const s = await startServer(['--addr', '127.0.0.1', '--port', '0', '--count', '6']);
  const service = await startService(logsYaml(s.port, rx.grpcEndpoint, '    retry_on_failure: {initial_interval: 200ms, max_interval: 500ms, max_elapsed_time: 30s}'));
  try {
    rx.setFailure({ grpcCode: 14, count: 3 }); // UNAVAILABLE three times, then fine
    await runClient(['--addr', '127.0.0.1', '--port', String(s.port), '--count', '3']);
    await rx.waitFor((r) => r.logRecords().length >= 12, 20_000, 'records after retries');
    assert.equal(rx.logRecords().length, 12);
    assert.equal(exporterDrops(service), 0);
    rx.setFailure({ grpcCode: 3 }); // INVALID_ARGUMENT: permanent
    await runClient(['--addr', '127.0.0.1', '--port', String(s.port), '--count', '3']);
    await waitUntil(() => exporterDrops(service, 'export_failed') >= 12, 10_000, 'permanent failures counted');
    assert.equal(rx.logRecords().length, 12, 'nothing more arrived');
    assert.equal(exporterDrops(service, 'export_failed'), 12, 'every record counted');
  } finally {
    await service.shutdown();
    await rx.stop();
  }
});

test('exporter endpoint too slow: timeouts are retried; what cannot be sent in time is counted; sent + dropped = produced', { timeout: 90_000 }, async () => {
  const rx = await OtlpReceiver.start({ delayMs: 2500 });
  const s = await startServer(['--addr', '127.0.0.1', '--port', '0', '--count', '4']);
  const service = await startService(logsYaml(s.port, rx.grpcEndpoint, '    timeout: 1s\n    retry_on_failure: {initial_interval: 200ms, max_interval: 500ms, max_elapsed_time: 3s}'));
  try {
    await runClient(['--addr', '127.0.0.1', '--port', String(s.port), '--count', '2']);
    const produced = 8;
    await waitUntil(() => exporterDrops(service, 'retries_exhausted') > 0, 20_000, 'retries to run out');
    rx.delayMs = 0;
    await runClient(['--addr', '127.0.0.1', '--port', String(s.port), '--count', '2']);
    await rx.waitFor((r) => r.logRecords().filter((l) => l.attributes['tcp.event.kind'] !== undefined).length >= 8, 20_000, 'records once the endpoint is fast again');
    await sleep(500);
    // The slow server may have stored some of the timed-out requests: count distinct records.
    const ids = new Set(rx.logRecords().map((l) => `${l.attributes['tcp.socket.id']}/${l.eventName}`));
    const dropped = exporterDrops(service);
    assert.ok(dropped > 0);
    assert.equal(exporterDrops(service, 'retries_exhausted'), dropped, 'dropped for that reason only');
    assert.ok(ids.size + dropped >= produced + 8, `arrived (${ids.size}) + dropped (${dropped}) cover what was produced`);
  } finally {
    await service.shutdown();
    await rx.stop();
  }
});

for (const signal of ['SIGTERM', 'SIGKILL'] as const) {
  test(`${signal} under load: no BPF program left behind`, { timeout: 60_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tcpotel-fault-'));
    const t = await startTcpotel(
      tmpConfig(`
receivers:
  ebpf: {sample_interval: 200ms, sample_budget: 1}
processors:
  aggregate: {interval: 200ms}
exporters:
  file: {path: ${join(dir, 'm.jsonl')}}
service:
  pipelines:
    metrics: {receivers: [ebpf], processors: [aggregate], exporters: [file]}
`),
    );
    const ours = programsOf(t.child.pid!);
    assert.ok(ours.length >= 6);
    const load = await startPeer(['load', '--addr', '127.0.0.1', '--port', '0', '--duration-ms', '3000', '--workers', '2'], { waitLine: false });
    await sleep(1200);
    t.child.kill(signal);
    const code = await t.exit;
    if (signal === 'SIGTERM') assert.equal(code, 0, t.stderr());
    await load.done;
    await waitUntil(() => {
      const now = loadedProgramIds();
      return ours.every((id) => !now.has(id));
    }, 5000, 'every program to be gone');
  });
}

test('a very large config: 120 pipelines and 360 processors validate quickly and share one eBPF attach', { timeout: 60_000 }, async () => {
  const lines = ['receivers:', '  ebpf: {snapshot: false, sample_interval: 0s}', 'processors:'];
  for (let i = 0; i < 120; i++) {
    lines.push(`  filter/p${i}: {include: {ports: [${10000 + i}, "${20000 + i}-${20010 + i}"], not: {comms: ["x${i}*"]}}}`);
    lines.push(`  sample/p${i}: {ratio: 0.5, seed: ${i}}`);
    lines.push(`  attributes/p${i}: {actions: [{key: shard, value: "${i}", action: upsert}]}`);
  }
  lines.push('exporters:', '  debug: {verbosity: basic, output: stderr}', 'service:', '  pipelines:');
  for (let i = 0; i < 120; i++) lines.push(`    logs/p${i}: {receivers: [ebpf], processors: [filter/p${i}, sample/p${i}, attributes/p${i}], exporters: [debug]}`);
  const config = tmpConfig(lines.join('\n') + '\n');
  const v = spawnSync(process.execPath, [cli, 'validate', '--config', config], { encoding: 'utf8' });
  assert.equal(v.status, 0, v.stderr);
  assert.match(v.stdout, /configuration is valid: 120 pipelines/);
  const t = await startTcpotel(config);
  const ours = programsOf(t.child.pid!);
  assert.ok(ours.length >= 5 && ours.length <= 12, `one receiver's programs, not one set per pipeline (${ours.length})`);
  t.child.kill('SIGTERM');
  assert.equal(await t.exit, 0, t.stderr());
});

test('an invalid environment substitution at run: exit 2 with the path and line', () => {
  const config = tmpConfig(`receivers:\n  ebpf:\n    max_sockets: \${env:TCPOTEL_FAULT_UNSET}\nexporters:\n  debug:\nservice:\n  pipelines:\n    logs: {receivers: [ebpf], exporters: [debug]}\n`);
  const env = { ...process.env };
  delete env.TCPOTEL_FAULT_UNSET;
  const r = spawnSync(process.execPath, [cli, 'run', '--config', config], { encoding: 'utf8', env });
  assert.equal(r.status, 2);
  assert.ok(r.stderr.includes(`${config}:3:18: receivers::ebpf::max_sockets: environment variable TCPOTEL_FAULT_UNSET is not set`), r.stderr);
  assert.doesNotMatch(r.stderr, /\n\s+at /);
  const bad = tmpConfig(`receivers:\n  ebpf:\n    max_sockets: \${TCPOTEL_X}\nexporters:\n  debug:\nservice:\n  pipelines:\n    logs: {receivers: [ebpf], exporters: [debug]}\n`);
  const r2 = spawnSync(process.execPath, [cli, 'run', '--config', bad], { encoding: 'utf8' });
  assert.equal(r2.status, 2);
  assert.ok(r2.stderr.includes('invalid substitution "${TCPOTEL_X}"'), r2.stderr);
});

test('without privileges and fallback: none: a clear error that says what to do, exit 1, no stack trace', (t) => {
  const nobody = unprivilegedCli();
  if (!nobody.cli) return t.skip(`cannot run tcpotel as nobody: ${nobody.why}`);
  const config = tmpConfig(`receivers:\n  ebpf: {fallback: none}\nexporters:\n  debug:\nservice:\n  pipelines:\n    logs: {receivers: [ebpf], exporters: [debug]}\n`);
  const r = spawnSync('setpriv', [...asUser(), process.execPath, nobody.cli, 'run', '--config', config], { encoding: 'utf8', cwd: '/' });
  assert.equal(r.status, 1, r.stderr);
  assert.match(r.stderr, /the eBPF receiver needs privileges to load BPF programs/);
  assert.match(r.stderr, /what to do: run tcpotel as root, or give it CAP_BPF and CAP_PERFMON/);
  assert.doesNotMatch(r.stderr, /\n\s+at /);
});

test('without privileges: the eBPF receiver falls back to sockdiag, with a warning, and connections are still reported', { timeout: 60_000 }, async (t) => {
  const nobody = unprivilegedCli();
  if (!nobody.cli) return t.skip(`cannot run tcpotel as nobody: ${nobody.why}`);
  const dir = mkdtempSync(join(tmpdir(), 'tcpotel-fault-'));
  chmodSync(dir, 0o777);
  const s = await startServer(['--addr', '127.0.0.1', '--port', '0', '--expect', '100', '--count', '1']);
  const out = join(dir, 'logs.jsonl');
  const config = tmpConfig(`receivers:\n  ebpf: {sample_interval: 200ms, sample_budget: 1}\nprocessors:\n  filter: {include: {ports: [${s.port}]}}\nexporters:\n  file: {path: ${out}}\nservice:\n  pipelines:\n    logs: {receivers: [ebpf], processors: [filter], exporters: [file]}\n`);
  const child = spawn('setpriv', [...asUser(), process.execPath, nobody.cli, 'run', '--config', config, '--log-level', 'info'], { stdio: ['ignore', 'ignore', 'pipe'], cwd: '/' });
  let err = '';
  child.stderr!.on('data', (d) => (err += d));
  const exit = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  try {
    await waitUntil(() => err.includes('tcpotel is running'), 20_000, 'tcpotel to start');
    assert.match(err, /falling back to the sockdiag receiver/);
    // A connection that lives across polls: seen opening and closing.
    const hold = await startPeer(['hold', '--addr', '127.0.0.1', '--port', String(s.port), '--send-every', '50', '--chunk', '10', '--duration-ms', '900']);
    await hold.done;
    await sleep(800);
    child.kill('SIGTERM');
    assert.equal(await exit, 0, err);
    const records = readFileSync(out, 'utf8').trim().split('\n').filter(Boolean).flatMap((l) => JSON.parse(l).resourceLogs[0].scopeLogs[0].logRecords);
    const names = records.map((r: { eventName: string }) => r.eventName);
    assert.ok(names.includes('tcp.connection.open'), names.join(','));
    assert.ok(names.includes('tcp.connection.close'), names.join(','));
  } finally {
    child.kill('SIGKILL');
    s.kill('SIGKILL');
  }
});

test('a process exiting while its connections are open: the closes still arrive, with its pid and every byte', { timeout: 30_000 }, async () => {
  const sink = await startPeer(['sink', '--addr', '127.0.0.1', '--port', '0', '--name', 'tp-sink']);
  const port = Number(/ready (\d+)/.exec(sink.firstLine)![1]);
  const r = await startEbpf({ snapshot: false, sample_interval: '200ms' });
  try {
    const holds = await Promise.all([1, 2, 3].map(() => startPeer(['hold', '--addr', '127.0.0.1', '--port', String(port), '--send-every', '20', '--chunk', '700'])));
    await sleep(600);
    for (const h of holds) h.kill('SIGKILL'); // no chance to close anything itself
    await Promise.all(holds.map((h) => h.done));
    await waitUntil(() => r.onPorts(port).filter((e) => e.kind === 'close').length >= 6, 5000, 'both ends of the three connections to close');
    sink.kill('SIGTERM');
    const received = (await sink.done).json.received as number;
    const closes = r.onPorts(port).filter((e) => e.kind === 'close');
    const clientCloses = closes.filter((e) => e.direction === 'outbound');
    assert.deepEqual(clientCloses.map((e) => e.pid).sort(), holds.map((h) => h.pid).sort(), 'each close carries its dead owner');
    for (const e of clientCloses) assert.equal(e.comm, 'tp-hold');
    assert.equal(clientCloses.reduce((s, e) => s + e.bytesSent, 0), received, 'every byte the sink got');
    assert.equal(closes.filter((e) => e.direction === 'inbound').reduce((s, e) => s + e.bytesReceived, 0), received);
  } finally {
    await r.stop();
    sink.kill('SIGKILL');
  }
});
