/**
 * The Prometheus endpoint under hostile clients, in a real tcpotel process: 5,000 idle
 * connections and 200 clients that ask for /metrics and then hardly read, against an exposition
 * larger than what the kernel buffers for a socket. A normal scrape still answers with
 * every series; the process's descriptors stay within max_connections; its RSS stays
 * within RSS_BOUND_MIB of what it was before; every connection the endpoint closed is
 * counted, by reason, and the scrapes cut short count their data points as dropped.
 * Nothing here measures time: the test waits (generously) for what must happen.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { connect, createServer, type Socket } from 'node:net';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { packageRoot } from '../../src/core/paths.js';
import { openEvent } from '../support/events.js';
import { waitUntil } from '../support/peer.js';

/** Documented in README (Prometheus endpoint limits): what 5,200 hostile clients may add to tcpotel's RSS. */
const RSS_BOUND_MIB = 100;
const TUPLES = 2500;
const IDLE = 5000;
const SLOW = 200;
const MAX_CONNECTIONS = 64;
const LONG = 180_000;

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

function status(pid: number, key: string): number {
  const m = new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m?.[1] ?? NaN) / 1024;
}

function fds(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}

function get(port: number): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/metrics', agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (d: Buffer) => chunks.push(d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

/** Sum of a metric's samples whose labels include `match`. */
function sum(text: string, name: string, match = ''): number {
  let total = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name + '{') && !line.startsWith(name + ' ')) continue;
    if (match && !line.includes(match)) continue;
    total += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return total;
}

/** A client socket, and whether the server (not us) closed it. */
function client(port: number, onClosed: () => void): Promise<Socket> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port });
    s.on('error', () => undefined);
    s.once('close', onClosed);
    s.once('connect', () => resolve(s));
    // Refused before it even connected: closed too.
    s.once('close', () => resolve(s));
  });
}

test('5,000 idle connections and 200 slow readers: a normal scrape answers, descriptors and RSS stay bounded, every cut is counted', { timeout: 600_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'tcpotel-prom-limits-'));
  // A recording of TUPLES connections (open and close): 8 series each with five-tuple keys, ~35 MB of exposition.
  const events = [];
  for (let i = 0; i < TUPLES; i++) {
    const t = { socketId: i + 1, localAddress: `10.0.${i >> 8}.${i & 255}`, localPort: 20000 + i, remotePort: 443 };
    events.push(openEvent({ ...t, kind: 'open', handshakeNs: 1000 + i }));
    events.push(openEvent({ ...t, kind: 'close', bytesSent: i, bytesReceived: 2 * i, srttUs: 10 + i, durationNs: 1e6 + i }));
  }
  writeFileSync(join(dir, 'rec.jsonl'), JSON.stringify({ at: 0, events }) + '\n');
  const port = await freePort();
  writeFileSync(
    join(dir, 'config.yaml'),
    `receivers:
  replay: {path: ${join(dir, 'rec.jsonl')}, speed: 0, rebase_time: true}
processors:
  aggregate: {interval: 500ms, keys: five_tuple, max_series: 100000}
exporters:
  prometheus:
    endpoint: 127.0.0.1:${port}
    max_connections: ${MAX_CONNECTIONS}
    read_header_timeout: 3s
    idle_timeout: 5s
    write_timeout: 2s
service:
  pipelines:
    metrics: {receivers: [replay], processors: [aggregate], exporters: [prometheus]}
`,
  );
  const child = spawn(process.execPath, [join(packageRoot(), 'bin', 'tcpotel.js'), 'run', '--config', join(dir, 'config.yaml')], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += d));
  const sockets: Socket[] = [];
  try {
    const pid = child.pid!;
    // Until it serves every series.
    for (;;) {
      const r = await get(port).catch(() => undefined);
      if (r?.status === 200 && sum(r.body, 'tcp_connections_opened_total') === TUPLES) break;
      assert.equal(child.exitCode, null, `tcpotel exited: ${stderr}`);
      await new Promise((res) => setTimeout(res, 200));
    }
    const rssBefore = status(pid, 'VmRSS');
    const fdsBefore = fds(pid);
    let closedByServer = 0;
    let maxFds = fdsBefore;
    const watch = setInterval(() => (maxFds = Math.max(maxFds, fds(pid))), 20);

    // 5,000 idle connections, 250 at a time.
    for (let i = 0; i < IDLE; i += 250) {
      const batch = [];
      for (let k = 0; k < 250; k++) batch.push(client(port, () => closedByServer++));
      sockets.push(...(await Promise.all(batch)));
    }
    // 200 that ask, then read one piece every 3 seconds: far slower than write_timeout allows.
    const slow = await Promise.all(Array.from({ length: SLOW }, () => client(port, () => closedByServer++)));
    for (const s of slow) {
      if (s.destroyed) continue;
      s.on('data', () => {
        s.pause();
        setTimeout(() => s.resume(), 3000).unref();
      });
      s.write('GET /metrics HTTP/1.1\r\nHost: tcpotel\r\n\r\n');
    }
    sockets.push(...slow);

    // A normal scrape, meanwhile: it answers, with every series.
    const normal = await get(port);
    assert.equal(normal.status, 200);
    assert.equal(sum(normal.body, 'tcp_connections_opened_total'), TUPLES);

    // Every hostile connection is closed by the endpoint in the end (limit, timeouts, slow readers).
    await waitUntil(() => closedByServer === IDLE + SLOW, LONG, `every hostile connection closed (${closedByServer} so far)`);
    clearInterval(watch);
    const rssAfter = status(pid, 'VmRSS');
    const peak = status(pid, 'VmHWM');

    const final = (await get(port)).body;
    const closed = sum(final, 'tcpotel_exporter_connections_closed_total');
    const byReason = Object.fromEntries(['connection_limit', 'header_timeout', 'idle_timeout', 'slow_reader'].map((r) => [r, sum(final, 'tcpotel_exporter_connections_closed_total', `tcpotel_drop_reason="${r}"`)]));
    assert.equal(closed, IDLE + SLOW, `every close counted: ${JSON.stringify(byReason)}`);
    assert.ok(byReason.connection_limit! >= IDLE - MAX_CONNECTIONS, `most idle ones went at the limit: ${JSON.stringify(byReason)}`);
    assert.ok(byReason.slow_reader! > 0, `slow readers were cut: ${JSON.stringify(byReason)}`);
    // Each cut scrape lost its data points: every series of the exposition (tcp and tcpotel's own,
    // which grew meanwhile); a histogram is one data point (its _count line).
    const points = (text: string, prefix: string) => text.split('\n').filter((l) => l.startsWith(prefix) && !/_(bucket|sum)\{/.test(l)).length;
    const dropped = sum(final, 'tcpotel_component_items_dropped_total', 'tcpotel_drop_reason="slow_reader"');
    const series = points(normal.body, 'tcp_');
    const selfSeries = points(final, 'tcpotel_');
    assert.ok(dropped >= byReason.slow_reader! * series && dropped <= byReason.slow_reader! * (series + selfSeries), `dropped ${dropped} for ${byReason.slow_reader} cut scrapes of ${series}+ series`);

    t.diagnostic(`closed ${JSON.stringify(byReason)}; dropped ${dropped} points; descriptors ${fdsBefore} -> at most ${maxFds}; RSS ${rssBefore.toFixed(0)} MiB before, ${rssAfter.toFixed(0)} after, peak ${peak.toFixed(0)}`);
    assert.ok(maxFds <= fdsBefore + MAX_CONNECTIONS + 8, `descriptors: ${maxFds} at most, ${fdsBefore} before`);
    assert.ok(peak - rssBefore <= RSS_BOUND_MIB && rssAfter - rssBefore <= RSS_BOUND_MIB, `RSS ${rssBefore.toFixed(0)} MiB before, ${rssAfter.toFixed(0)} after, peak ${peak.toFixed(0)}`);
    assert.equal(child.exitCode, null, 'tcpotel still runs');
  } finally {
    for (const s of sockets) s.destroy();
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
  }
});
