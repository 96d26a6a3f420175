/**
 * Aggregate pushdown, end to end: the same traffic counted by the kernel (pushdown: auto)
 * and by tcpotel's process (pushdown: never), in one service fed by one receiver, must give
 * the same points, every one of them: IPv4 and IPv6, failed connects, resets, retransmits
 * (loss in a network namespace), live samples of a long-lived connection.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { NetnsPair, runClient, sleep, startPeer, startServer } from '../support/peer.js';
import { captured, capturedPoints, cumulative, startCapturing } from '../support/capture.js';
import type { MetricPoint } from '../../src/core/metrics.js';

// Below the ephemeral range (32768-60999): no client port of other traffic falls in it.
const BASE = 21000 + (process.pid % 1000) * 8;
const PORTS = `"${BASE}-${BASE + 7}"`;
const KEYSETS = {
  flows: '[five_tuple, process.pid, process.executable.name]',
  services: '[server, process.executable.name]',
  totals: 'none',
} as const;

function config(interval: string): string {
  const procs = Object.entries(KEYSETS)
    .flatMap(([name, keys]) => [
      `  aggregate/${name}_kernel: {interval: ${interval}, keys: ${keys}}`,
      `  aggregate/${name}_js: {interval: ${interval}, keys: ${keys}, pushdown: never}`,
    ])
    .join('\n');
  const exporters = Object.keys(KEYSETS)
    .flatMap((name) => [`  capture/${name}_kernel: {}`, `  capture/${name}_js: {}`])
    .join('\n');
  const pipelines = Object.keys(KEYSETS)
    .flatMap((name) =>
      ['kernel', 'js'].map((path) => `    metrics/${name}_${path}: {receivers: [ebpf], processors: [filter/ports, aggregate/${name}_${path}], exporters: [capture/${name}_${path}]}`),
    )
    .join('\n');
  return `
receivers:
  ebpf:
    snapshot: true
    sample_interval: 200ms
    sample_budget: 1
processors:
  filter/ports:
    include:
      ports: [${PORTS}]
${procs}
exporters:
${exporters}
service:
  pipelines:
${pipelines}
`;
}

/** Every kind of event the aggregate counts, on the test's ports. */
async function traffic(ns: NetnsPair): Promise<void> {
  // IPv4 and IPv6 loopback, with bytes both ways.
  for (const [addr, port] of [
    ['127.0.0.1', BASE],
    ['::1', BASE + 1],
  ] as const) {
    const server = await startServer(['--addr', addr, '--port', String(port), '--expect', '700', '--reply', '4321', '--count', '4']);
    const c = await runClient(['--addr', addr, '--port', String(port), '--count', '4', '--send', '700', '--expect', '4321']);
    assert.equal(c.code, 0, c.stderr);
    await server.done;
  }
  // Connections closed with a reset.
  const rst = await startServer(['--addr', '127.0.0.1', '--port', String(BASE + 2), '--expect', '10', '--reply', '20', '--count', '3']);
  const r = await runClient(['--addr', '127.0.0.1', '--port', String(BASE + 2), '--count', '3', '--send', '10', '--expect', '20', '--rst']);
  assert.equal(r.code, 0, r.stderr);
  await rst.done;
  // Refused connects (closed ports), over IPv4 and IPv6: failed, and the resets that answer them.
  for (const addr of ['127.0.0.1', '::1']) {
    const f = await runClient(['--addr', addr, '--port', String(BASE + 7), '--count', '2', '--send', '1']);
    assert.notEqual(f.code, 0);
  }
  // Retransmits: one data segment in four lost on its way to the server.
  ns.dropOneIn(ns.b, 4);
  await ns.transfer(1_000_000, BASE + 3);
  // A long-lived connection, seen by the live samples while it sends.
  const sink = await startPeer(['sink', '--addr', '127.0.0.1', '--port', String(BASE + 4), '--name', 'tp-sink']);
  const hold = await startPeer(['hold', '--addr', '127.0.0.1', '--port', String(BASE + 4), '--send-every', '50', '--chunk', '1000', '--name', 'tp-hold']);
  await sleep(1200);
  hold.kill('SIGTERM');
  await hold.done;
  sink.kill('SIGTERM');
  await sink.done;
  await sleep(500);
}

/** The same series with the same totals (histogram sums added over differently cut windows: to 1e-9). */
function assertSame(kernel: MetricPoint[], js: MetricPoint[], what: string): void {
  const k = cumulative(kernel);
  const j = cumulative(js);
  assert.ok(j.size > 0, `${what}: the JS path has points`);
  assert.deepEqual([...k.keys()].sort(), [...j.keys()].sort(), `${what}: the same series`);
  for (const [key, v] of j) {
    const w = k.get(key)!;
    assert.ok(Math.abs(w.sum - v.sum) <= 1e-9 * Math.max(1, Math.abs(v.sum)), `${what}: ${key}: sum ${w.sum} vs ${v.sum}`);
    assert.deepEqual({ ...w, sum: 0 }, { ...v, sum: 0 }, `${what}: ${key}`);
  }
}

function total(points: MetricPoint[], name: string, match: Record<string, unknown> = {}): number {
  return points
    .filter((p) => p.name === name && Object.entries(match).every(([a, v]) => p.attributes[a] === v))
    .reduce((n, p) => n + (p.type === 'histogram' ? p.count : p.value), 0);
}

for (const [label, interval] of [
  ['one window: every point identical', '1h'],
  ['windows of 300 ms: the same totals per series', '300ms'],
] as const) {
  test(`aggregate pushdown: the kernel and tcpotel's process count the same traffic alike (${label})`, { timeout: 120_000 }, async () => {
    captured.clear();
    const ns = new NetnsPair('pd').setup();
    const service = await startCapturing(config(interval));
    try {
      const plan = service.plan.aggregates;
      for (const name of Object.keys(KEYSETS)) {
        assert.equal(plan.find((a) => a.processor === `aggregate/${name}_kernel`)?.kernel, true, `${name}: pushed down`);
        const js = plan.find((a) => a.processor === `aggregate/${name}_js`)!;
        assert.equal(js.kernel, false);
        assert.match(js.reason ?? '', /pushdown is never/);
      }
      await traffic(ns);
    } finally {
      await service.shutdown();
      ns.cleanup();
    }
    for (const name of Object.keys(KEYSETS)) {
      const kernel = capturedPoints(`capture/${name}_kernel`);
      const js = capturedPoints(`capture/${name}_js`);
      if (interval === '1h') {
        const byKey = (ps: MetricPoint[]) => new Map(ps.filter((p) => p.type !== 'gauge').map((p) => [`${p.name} ${JSON.stringify(Object.entries(p.attributes).sort(([a], [b]) => (a < b ? -1 : 1)))}`, p]));
        const k = byKey(kernel);
        const j = byKey(js);
        const onlyK = [...k.keys()].filter((x) => !j.has(x));
        const onlyJ = [...j.keys()].filter((x) => !k.has(x));
        assert.equal(k.size, j.size, `${name}: as many points; only in the kernel's: ${onlyK.join('\n')}; only in the JS path's: ${onlyJ.join('\n')}`);
        for (const [key, p] of j) {
          const q = k.get(key);
          assert.ok(q, `${name}: kernel has ${key}`);
          const { seriesKey: _a, ...pv } = p;
          const { seriesKey: _b, ...qv } = q;
          assert.deepEqual(qv, pv, `${name}: ${key}`);
        }
      }
      assertSame(kernel, js, name);
    }
    // And the counts are the traffic's: both ends of 4 + 4 + 3 + 1 + 1 connections.
    const totals = capturedPoints('capture/totals_kernel');
    assert.equal(total(totals, 'tcp.connections.opened'), 26);
    assert.equal(total(totals, 'tcp.connections.closed'), 26);
    assert.equal(total(totals, 'tcp.connections.failed', { 'error.type': 'connection_refused' }), 4);
    assert.ok(total(totals, 'tcp.retransmits') > 0, 'retransmits');
    assert.ok(total(totals, 'tcp.resets') >= 3, 'resets');
    assert.ok(total(totals, 'tcp.rtt') > 26, 'rtt observed at closes and samples');
    assert.equal(total(totals, 'tcp.io', { 'network.io.direction': 'transmit' }), total(totals, 'tcp.io', { 'network.io.direction': 'receive' }), 'what one end sent the other received');
  });
}
