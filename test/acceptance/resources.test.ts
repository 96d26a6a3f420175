/**
 * Pods and containers as resources: two client processes in two container-like cgroups
 * (one of them in a Kubernetes pod's slice) make known connections; the real command, with
 * the process processor, exports over OTLP to a real receiver. Each container's points and
 * log records arrive under a resource of their own carrying its container.id (and pod
 * UID), taken off the points; the server side, in no container, stays under tcpotel's.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, rmdirSync } from 'node:fs';
import { join } from 'node:path';
import { cgroup2Mount } from '../../src/processors/process/cgroup-index.js';
import { OtlpReceiver, type FlatPoint } from '../support/otlp-receiver.js';
import { peerPath, sleep, startServer } from '../support/peer.js';
import { poll, runTcpotel } from '../support/tcpotel.js';

const N = 3;
const K = 100;
const M = 200;

/** Runs `tcppeer client` inside the cgroup `dir`; resolves with its pid once it exited 0. */
function clientIn(dir: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn('sh', ['-c', `echo $$ > ${join(dir, 'cgroup.procs')} && exec ${peerPath()} client --addr 127.0.0.1 --port ${port} --count ${N} --send ${K} --expect ${M}`], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr!.on('data', (d) => (err += d));
    child.on('exit', (code) => (code === 0 ? resolve(child.pid!) : reject(new Error(`client exited ${code}: ${err}`))));
  });
}

/** The newest cumulative value of a metric per resource (by container.id, '' for none). */
function newest(points: FlatPoint[], name: string, match: (p: FlatPoint) => boolean): Map<string, FlatPoint> {
  const out = new Map<string, FlatPoint>();
  for (const p of points) {
    if (p.name !== name || !match(p)) continue;
    const key = String(p.resource['container.id'] ?? '');
    const cur = out.get(key);
    if (!cur || BigInt(p.timeUnixNano) >= BigInt(cur.timeUnixNano)) out.set(key, p);
  }
  return out;
}

test('under the process processor, each container’s points and logs travel under a resource with its container.id (and pod UID)', { timeout: 120_000 }, async (t) => {
  const mount = cgroup2Mount();
  if (!mount) return t.skip('no cgroup2 mount');
  const idA = 'a1'.repeat(32);
  const idB = 'b2'.repeat(32);
  const podUid = '0a1b2c3d-1111-2222-3333-444455556666';
  const parent = join(mount, `tcpotel-res-${process.pid}`);
  const dirA = join(parent, `docker-${idA}.scope`);
  const pod = join(parent, `kubepods-besteffort-pod${podUid.replaceAll('-', '_')}.slice`);
  const dirB = join(pod, `cri-containerd-${idB}.scope`);
  for (const d of [dirA, dirB]) mkdirSync(d, { recursive: true });
  const server = await startServer(['--addr', '127.0.0.1', '--port', '0', '--expect', String(K), '--reply', String(M)]);
  const receiver = await OtlpReceiver.start();
  const tcpotel = await runTcpotel(`
receivers:
  ebpf: {snapshot: false, sample_interval: 0, filter: {ports: [${server.port}]}}
processors:
  process: {}
  aggregate: {interval: 300ms, keys: [server, container.id, k8s.pod.uid]}
exporters:
  otlp: {endpoint: "${receiver.grpcEndpoint}", tls: {insecure: true}}
service:
  pipelines:
    metrics: {receivers: [ebpf], processors: [process, aggregate], exporters: [otlp]}
    logs: {receivers: [ebpf], processors: [process], exporters: [otlp]}
`);
  try {
    const [pidA, pidB] = await Promise.all([clientIn(dirA, server.port), clientIn(dirB, server.port)]);
    const isOpened = (p: FlatPoint) => p.attributes['server.port'] === server.port;
    // Wait until every connection was counted on both sides: N per container, 2N accepted.
    const opened = await poll('every connection counted', 30_000, () => {
      const byResource = newest(receiver.metricPoints(), 'tcp.connections.opened', isOpened);
      const closed = newest(receiver.metricPoints(), 'tcp.connections.closed', isOpened);
      const done = [idA, idB].every((id) => byResource.get(id)?.value === N && closed.get(id)?.value === N) && byResource.get('')?.value === 2 * N;
      return done ? byResource : undefined;
    }, () => receiver.summary());
    // Container A: its resource, its points (the client side), container.id off the points.
    for (const [id, uid] of [[idA, undefined], [idB, podUid]] as const) {
      const p = opened.get(id)!;
      assert.equal(p.resource['container.id'], id);
      assert.equal(p.resource['k8s.pod.uid'], uid);
      assert.equal(p.resource['service.name'], 'tcpotel', 'the resource keeps tcpotel’s own attributes');
      assert.deepEqual(p.attributes, { 'server.address': '127.0.0.1', 'server.port': server.port, 'network.tcp.handshake.role': 'client' });
      assert.equal(p.scope, 'tcpotel');
      const bytes = newest(receiver.metricPoints(), 'tcp.io', (q) => isOpened(q) && q.attributes['network.io.direction'] === 'transmit').get(id);
      assert.equal(bytes?.value, N * K, 'bytes the container’s client sent');
    }
    const serverSide = opened.get('')!;
    assert.equal(serverSide.attributes['network.tcp.handshake.role'], 'server');
    assert.equal(serverSide.resource['k8s.pod.uid'], undefined);
    // One export request holds the three resources: tcpotel's and one per container.
    const last = receiver.requests.filter((r) => r.signal === 'metrics').at(-1)!;
    const resources = last.body.resourceMetrics.map((rm: any) => Object.fromEntries(rm.resource.attributes.map((kv: any) => [kv.key, kv.value.stringValue])));
    assert.deepEqual(resources.map((r: Record<string, string>) => r['container.id'] ?? '').sort(), ['', idA, idB]);
    // tcpotel's own metrics stay under its own resource.
    const self = receiver.metricPoints().filter((p) => p.scope === 'tcpotel/self');
    assert.ok(self.length > 0 && self.every((p) => p.resource['container.id'] === undefined));
    // Logs: each client's open and close records under its container's resource.
    await poll('the log records of both clients', 30_000, () => {
      const logs = receiver.logRecords();
      return [pidA, pidB].every((pid) => logs.filter((l) => l.attributes['process.pid'] === pid && l.eventName === 'tcp.connection.close').length === N) ? true : undefined;
    }, () => receiver.summary());
    for (const [pid, id, uid] of [[pidA, idA, undefined], [pidB, idB, podUid]] as const) {
      const mine = receiver.logRecords().filter((l) => l.attributes['process.pid'] === pid);
      assert.deepEqual(
        [...new Set(mine.map((l) => l.eventName))].sort(),
        ['tcp.connection.close', 'tcp.connection.open'],
      );
      for (const l of mine) {
        assert.equal(l.resource['container.id'], id);
        assert.equal(l.resource['k8s.pod.uid'], uid);
        assert.equal(l.attributes['container.id'], undefined, 'moved to the resource');
      }
    }
    // The server's records (pid of the server, in no container) are under tcpotel's resource.
    const serverLogs = receiver.logRecords().filter((l) => l.attributes['process.pid'] === server.pid);
    assert.ok(serverLogs.length >= 2 * N && serverLogs.every((l) => l.resource['container.id'] === undefined));
    // One ScopeLogs per resource in a request, not one per record.
    for (const req of receiver.requests.filter((r) => r.signal === 'logs')) {
      for (const rl of req.body.resourceLogs) assert.equal(rl.scopeLogs.length, 1);
    }
    assert.equal(await tcpotel.stop(), 0, tcpotel.stderr());
  } finally {
    tcpotel.child.kill('SIGKILL');
    server.kill('SIGKILL');
    await receiver.stop();
    await sleep(100);
    for (const d of [dirA, dirB, pod, parent]) if (existsSync(d)) rmdirSync(d);
  }
});
