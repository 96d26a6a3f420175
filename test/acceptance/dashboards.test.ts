/**
 * The dashboard and the rules on real data: Debian's Prometheus scrapes a real
 * `tcpotel run` (and evaluates deploy/prometheus/tcpotel-rules.yaml) under known traffic:
 * connects that succeed, are refused, are reset, stay open, speak HTTP, and lose segments
 * in a network namespace; an OTLP exporter whose endpoint is down drops what it is given.
 * Every query of the dashboard returns data, with exact values where the traffic makes
 * them exact; each alert is pending where the traffic says and nowhere else; TcpotelDown
 * once tcpotel is gone.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { packageRoot } from '../../src/core/paths.js';
import { dashboardQueries } from '../../src/deploy/grafana-dashboard.js';
import { JOB, RECORDED } from '../../src/deploy/prometheus-rules.js';
import { DEPLOY_FILES } from '../../src/deploy/files.js';
import { L, M } from '../../src/deploy/promql.js';
import { NetnsPair, runClient, startPeer, startServer, type Peer } from '../support/peer.js';
import { freePort, poll, runTcpotel } from '../support/tcpotel.js';

const PROMETHEUS = '/usr/bin/prometheus';
const N = 5; // connects that succeed
const K = 100; // bytes each sends
const R = 200; // bytes each receives
const F = 3; // refused connects
const H = 2; // connections held open
const HTTP = 3; // HTTP requests, one connection each
/** Sent over the lossy link (one data packet in three dropped): enough packets that some are lost. */
const LOSSY_BYTES = 2_000_000;

interface Sample {
  metric: Record<string, string>;
  value: [number, string];
}

function prometheusClient(port: number) {
  return async (expr: string): Promise<Sample[]> => {
    const res = await fetch(`http://127.0.0.1:${port}/api/v1/query?query=${encodeURIComponent(expr)}`);
    const body = (await res.json()) as { status: string; error?: string; data: { resultType: string; result: Sample[] } };
    assert.equal(body.status, 'success', `${expr}: ${body.error}`);
    assert.equal(body.data.resultType, 'vector', expr);
    return body.data.result;
  };
}

function value(samples: Sample[], match: Record<string, string> = {}): number | undefined {
  const s = samples.find((x) => Object.entries(match).every(([k, v]) => x.metric[k] === v));
  return s ? Number(s.value[1]) : undefined;
}

/** HTTP/1.1 requests on fresh connections to a local server: network.protocol.name="http". */
async function httpTraffic(): Promise<{ port: number; close: () => void; send: (count: number) => Promise<void> }> {
  const server = createServer((_req, res) => res.end('ok'));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as { port: number }).port;
  const send = async (count: number) => {
    for (let i = 0; i < count; i++) {
      await new Promise<void>((resolve, reject) => {
        const req = request({ host: '127.0.0.1', port, path: '/', agent: false, headers: { connection: 'close' } }, (res) => {
          res.resume();
          res.on('end', () => resolve());
        });
        req.on('error', reject);
        req.end();
      });
    }
  };
  return { port, close: () => server.close(), send };
}

test('the dashboard’s queries and the rules on a real Prometheus scraping a real tcpotel under known traffic', { timeout: 300_000 }, async (t) => {
  if (spawnSync(PROMETHEUS, ['--version'], { stdio: 'ignore' }).status !== 0) return t.skip(`${PROMETHEUS} is missing (scripts/setup.sh installs the prometheus package)`);
  const root = packageRoot();
  const ns = new NetnsPair('dash').setup();
  const peers: Peer[] = [];
  let tcpotel: Awaited<ReturnType<typeof runTcpotel>> | undefined;
  let prometheus: ChildProcess | undefined;
  const http = await httpTraffic();
  try {
    // The servers first: the receiver is kept to their ports in the kernel.
    const ok = await startServer(['--addr', '127.0.0.1', '--port', '0', '--expect', String(K), '--reply', String(R), '--count', String(N + 1)]);
    const rst = await startServer(['--addr', '127.0.0.1', '--port', '0', '--expect', '10', '--reply', '20', '--count', '3']);
    const sink = await startPeer(['sink', '--addr', '127.0.0.1', '--port', '0']);
    const sinkPort = Number(/ready (\d+)/.exec(sink.firstLine)![1]);
    const lossy = await startServer(['--addr', ns.addrB, '--port', '0', '--expect', String(LOSSY_BYTES), '--count', '2'], { netns: ns.b });
    const refused = await freePort();
    peers.push(ok, rst, sink, lossy);
    const ports = [ok.port, rst.port, sinkPort, lossy.port, refused, http.port];
    const promPort = await freePort();
    const deadOtlp = await freePort();
    tcpotel = await runTcpotel(`
receivers:
  ebpf: {sample_interval: 1s, filter: {ports: [${ports.join(', ')}]}}
processors:
  aggregate: {interval: 1s, keys: [server, process.executable.name, network.protocol.name]}
exporters:
  prometheus: {endpoint: "127.0.0.1:${promPort}"}
  # Its endpoint is down and it may not retry: it drops what it is given (counted).
  otlphttp: {endpoint: "http://127.0.0.1:${deadOtlp}", timeout: 1s, retry_on_failure: {enabled: false}}
service:
  pipelines:
    metrics: {receivers: [ebpf], processors: [aggregate], exporters: [prometheus]}
    logs: {receivers: [ebpf], exporters: [otlphttp]}
`);
    // Warm-up: one connection of each kind, before Prometheus' first scrape. Prometheus'
    // rate() takes a series' first sample as its baseline: a counter that appears with its
    // first increments shows no rate until it grows again. So the series exist first.
    const instance = `127.0.0.1:${promPort}`;
    const connectOk = (count: number) => runClient(['--addr', '127.0.0.1', '--port', String(ok.port), '--count', String(count), '--send', String(K), '--expect', String(R)]);
    const connectRefused = (count: number) => runClient(['--addr', '127.0.0.1', '--port', String(refused), '--count', String(count), '--send', '1']);
    const connectRst = (count: number) => runClient(['--addr', '127.0.0.1', '--port', String(rst.port), '--count', String(count), '--send', '10', '--expect', '20', '--rst']);
    const connectLossy = () => runClient(['--addr', ns.addrB, '--port', String(lossy.port), '--count', '1', '--send', String(LOSSY_BYTES)], { netns: ns.a });
    ns.dropOneIn(ns.b, 3);
    for (const run of [() => connectOk(1), () => connectRst(1), connectLossy]) {
      const w = await run();
      assert.equal(w.code, 0, w.stderr);
    }
    assert.notEqual((await connectRefused(1)).code, 0);
    await http.send(1);
    await poll('the warm-up on tcpotel’s endpoint', 30_000, async () => {
      const text = await (await fetch(`http://${instance}/metrics`)).text();
      const has = (name: string, port: number) => text.split('\n').some((l) => l.startsWith(`${name}{`) && l.includes(`${L.serverPort}="${port}"`));
      return has(M.failed, refused) && has(M.opened, ok.port) && has(M.resets, rst.port) && has(M.retransmits, lossy.port) && has(M.closed, http.port) ? true : undefined;
    });

    // Prometheus, scraping every second and evaluating the rules every second.
    const dir = mkdtempSync(join(tmpdir(), 'tcpotel-prometheus-'));
    const apiPort = await freePort();
    writeFileSync(
      join(dir, 'prometheus.yml'),
      `global: {scrape_interval: 1s, evaluation_interval: 1s}\nrule_files: ["${join(root, DEPLOY_FILES.rules)}"]\nscrape_configs:\n  - job_name: ${JOB}\n    static_configs: [{targets: ["${instance}"]}]\n`,
    );
    let promLog = '';
    prometheus = spawn(PROMETHEUS, [`--config.file=${join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${apiPort}`], { stdio: ['ignore', 'ignore', 'pipe'] });
    prometheus.stderr!.on('data', (d) => (promLog += d));
    await poll('Prometheus ready', 60_000, async () => ((await fetch(`http://127.0.0.1:${apiPort}/-/ready`).catch(() => undefined))?.status === 200 ? true : undefined), () => promLog.slice(-2000));
    const query = prometheusClient(apiPort);
    await poll('the first scrapes', 30_000, async () => ((await query(`count_over_time(${M.failed}{job="${JOB}"}[1m])`)).some((x) => Number(x.value[1]) >= 2) ? true : undefined), () => promLog.slice(-2000));

    // The traffic.
    const c = await connectOk(N);
    assert.equal(c.code, 0, c.stderr);
    assert.notEqual((await connectRefused(F)).code, 0, 'refused');
    const r = await connectRst(2);
    assert.equal(r.code, 0, r.stderr);
    for (let i = 0; i < H; i++) peers.push(await startPeer(['hold', '--addr', '127.0.0.1', '--port', String(sinkPort), '--send-every', '100', '--chunk', '100']));
    await http.send(HTTP);
    const l = await connectLossy();
    assert.equal(l.code, 0, l.stderr);

    // What Prometheus holds is what happened (the names and labels the dashboard uses).
    const sel = (name: string, m: Record<string, string | number>) => `sum(${name}{job="${JOB}", ${Object.entries(m).map(([k, v]) => `${k}="${v}"`).join(', ')}})`;
    // (Each count with the warm-up's one.)
    const exact: Array<[string, number]> = [
      [sel(M.opened, { [L.serverPort]: ok.port, [L.role]: 'client' }), N + 1],
      [sel(M.opened, { [L.serverPort]: ok.port, [L.role]: 'server' }), N + 1],
      [sel(M.io, { [L.serverPort]: ok.port, [L.role]: 'client', [L.direction]: 'transmit' }), (N + 1) * K],
      [sel(M.io, { [L.serverPort]: ok.port, [L.role]: 'client', [L.direction]: 'receive' }), (N + 1) * R],
      [sel(M.failed, { [L.serverPort]: refused, [L.errorType]: 'connection_refused' }), F + 1],
      [sel(M.resets, { [L.serverPort]: rst.port, [L.resetDirection]: 'sent' }), 3],
      [sel(M.active, { [L.serverPort]: sinkPort, [L.role]: 'client' }), H],
      [sel(M.closed, { [L.serverPort]: http.port, [L.role]: 'client', [L.protocol]: 'http' }), HTTP + 1],
    ];
    const seen = new Map<string, number | undefined>();
    await poll('Prometheus to hold the traffic', 60_000, async () => {
      for (const [expr, want] of exact) seen.set(expr, value(await query(expr)));
      return exact.every(([expr, want]) => seen.get(expr) === want) ? true : undefined;
    }, () => exact.map(([e, w]) => `${e}: ${seen.get(e)}, want ${w}`).join('\n'));
    // Retransmits happened and the drops were counted (not exact: random loss, timing).
    await poll('retransmits and drops scraped', 60_000, async () => ((value(await query(`sum(${M.retransmits}{job="${JOB}"})`)) ?? 0) > 0 && (value(await query(`sum(${M.itemsDropped}{job="${JOB}", ${L.dropReason}="retries_exhausted"})`)) ?? 0) > 0 ? true : undefined));
    // Let the rules see a few evaluations after the traffic.
    await new Promise((res) => setTimeout(res, 5000));

    // Every query of the dashboard returns data.
    const expand = (expr: string) => expr.replaceAll('$job', JOB).replaceAll('$instance', instance.replaceAll('.', '\\\\.')).replaceAll('$__rate_interval', '1m');
    const results = new Map<string, Sample[]>();
    for (const q of dashboardQueries()) {
      const v = /^label_values\((.*), (\w+)\)$/.exec(q.expr);
      const expr = v ? `group by (${v[2]}) (${expand(v[1]!)})` : expand(q.expr);
      const samples = await query(expr);
      assert.ok(samples.length > 0, `"${q.panel}" ${q.refId} returns data: ${expr}`);
      results.set(`${q.panel}/${q.refId}`, samples);
    }
    assert.ok(results.get('variable job/job')!.some((s) => s.metric.job === JOB));
    assert.ok(results.get('variable instance/instance')!.some((s) => s.metric.instance === instance));
    // Exact where the traffic makes it so.
    const panel = (title: string) => results.get(`${title}/A`)!;
    // Both ends of each held connection are on this host: the holder's and the sink's.
    assert.equal(value(panel('Active connections by server'), { [L.serverPort]: String(sinkPort) }), 2 * H);
    assert.equal(value(panel('Connection failure ratio by server'), { [L.serverPort]: String(refused) }), 1, 'every connect to the closed port failed');
    assert.equal(value(panel('Connection failure ratio by server'), { [L.serverPort]: String(ok.port) }), 0, 'none to the server');
    assert.equal(value(panel('Retransmit ratio by server'), { [L.serverPort]: String(ok.port) }), 0, 'loopback loses nothing');
    const lossRatio = value(panel('Retransmit ratio by server'), { [L.serverPort]: String(lossy.port) })!;
    assert.ok(lossRatio > 0 && lossRatio < 1, `the lossy link: ${lossRatio}`);
    t.diagnostic(`retransmit ratio on the lossy link: ${lossRatio}`);
    assert.ok(panel('Connections by protocol').some((s) => s.metric[L.protocol] === 'http'), 'the HTTP connections');
    assert.equal(value(panel('Up')), 1);
    assert.ok(panel('Data lost').some((s) => s.metric[L.component] === 'otlphttp' && s.metric[L.dropReason] === 'retries_exhausted'), 'the exporter’s drops');
    assert.ok(panel('Data lost').every((s) => !['filtered', 'sampled_out'].includes(s.metric[L.dropReason]!)), 'intended drops are no loss');
    const p99 = value(await query(`${RECORDED.handshakeP99}{${L.serverPort}="${ok.port}"}`))!;
    assert.ok(p99 > 0 && p99 < 0.5, `handshake p99 on loopback ${p99}`);

    // The alerts: pending where the traffic says (their `for` has not run out), nowhere else.
    const pending = async (alert: string) => (await query(`ALERTS{alertname="${alert}", alertstate="pending"}`)).map((s) => s.metric);
    await poll('the alerts to be pending', 30_000, async () => ((await pending('TcpotelDroppingData')).length && (await pending('TcpRetransmitRatioHigh')).length ? true : undefined));
    assert.deepEqual((await pending('TcpConnectionFailureRatioHigh')).map((m) => m[L.serverPort]), [String(refused)]);
    assert.deepEqual((await pending('TcpRetransmitRatioHigh')).map((m) => m[L.serverPort]), [String(lossy.port)]);
    assert.deepEqual(await pending('TcpHandshakeLatencyHigh'), []);
    assert.deepEqual((await pending('TcpotelDroppingData')).map((m) => m.instance), [instance]);
    assert.deepEqual(await pending('TcpotelDown'), []);
    // tcpotel goes away: up is 0 and TcpotelDown is pending.
    assert.equal(await tcpotel.stop(), 0, tcpotel.stderr());
    await poll('TcpotelDown pending', 30_000, async () => ((await pending('TcpotelDown')).some((m) => m.instance === instance) ? true : undefined));
    assert.equal(value(await query(`up{job="${JOB}"}`)), 0);
  } finally {
    tcpotel?.child.kill('SIGKILL');
    prometheus?.kill('SIGKILL');
    for (const p of peers) p.kill('SIGKILL');
    http.close();
    ns.cleanup();
  }
});
