/**
 * The sockdiag receiver against the eBPF receiver, side by side on the same real loopback
 * traffic: the same connections (by socket cookie and five-tuple), the same owners, the
 * same close byte counts. And the sockdiag receiver unprivileged, as user nobody.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { startEbpf, type CollectingReceiver } from '../support/ebpf.js';
import { runClient, sleep, startPeer, startServer, waitUntil, type Peer } from '../support/peer.js';
import { testContext } from '../support/context.js';
import { SockdiagReceiver } from '../../src/receivers/sockdiag/sockdiag.js';
import { sockdiagReceiverFactory } from '../../src/receivers/sockdiag/factory.js';
import { defaultRegistry } from '../../src/components.js';
import { loadAndResolve } from '../../src/config/validate.js';
import { Service } from '../../src/pipeline/service.js';
import type { ReceiverFactory } from '../../src/core/component.js';
import { defaultSockdiagConfig, sockdiagConfigSchema } from '../../src/receivers/sockdiag/config.js';
import { decodeDump, encodeSockets, TCP } from '../../src/receivers/sockdiag/record.js';
import { loadSockdiag } from '../../src/native/addon.js';
import { FLAG } from '../../src/native/records.js';
import { unprivilegedRoot } from '../support/unprivileged.js';
import type { EventBatch, TcpEvent } from '../../src/core/events.js';

const POLL_MS = 100;

interface Sockdiag {
  rx: SockdiagReceiver;
  events: TcpEvent[];
  batches: EventBatch[];
  stop(): Promise<void>;
}

async function startSockdiag(over: Record<string, unknown> = {}): Promise<Sockdiag> {
  const config = sockdiagConfigSchema.parse({ ...defaultSockdiagConfig(), poll_interval: `${POLL_MS}ms`, ...over });
  const rx = new SockdiagReceiver(config, testContext('sockdiag', 'receiver'));
  const events: TcpEvent[] = [];
  const batches: EventBatch[] = [];
  rx.output.subscribe((b) => {
    batches.push(b);
    events.push(...b.events);
  });
  await rx.start();
  return { rx, events, batches, stop: () => rx.shutdown() };
}

/** The longest time between two consecutive sockdiag dumps, in ns. */
function maxGapNs(times: number[]): number {
  let gap = 0;
  for (let i = 1; i < times.length; i++) gap = Math.max(gap, times[i]! - times[i - 1]!);
  return gap;
}

/** Events of the connections between (addr, a) and (addr, b), either end. */
function between(evs: TcpEvent[], addr: string, a: number, b: number): TcpEvent[] {
  return evs.filter(
    (e) => e.localAddress === addr && e.remoteAddress === addr && ((e.localPort === a && e.remotePort === b) || (e.localPort === b && e.remotePort === a)),
  );
}

const tuple = (e: TcpEvent) => `${e.family} ${e.localAddress}:${e.localPort} > ${e.remoteAddress}:${e.remotePort}`;
const begins = (e: TcpEvent) => e.kind === 'open' || e.kind === 'existing';

interface Hold {
  peer: Peer;
  /** The hold's local (ephemeral) port. */
  port: number;
  name: string;
  /** Bytes it writes in its one burst (idle ones), or per tick (busy). */
  chunk: number;
  idle: boolean;
}

async function startHold(addr: string, sinkPort: number, name: string, chunk: number, extra: string[] = [], idle = true): Promise<Hold> {
  const args = ['hold', '--addr', addr, '--port', String(sinkPort), '--chunk', String(chunk), '--name', name];
  // idle: the first chunk goes out at once, the next one would in 10 minutes
  const peer = await startPeer([...args, ...(idle ? ['--send-every', '600000'] : []), ...extra]);
  const m = /^connected (\d+)/.exec(peer.firstLine);
  assert.ok(m, `hold said ${peer.firstLine}`);
  return { peer, port: Number(m[1]), name, chunk, idle };
}

for (const [family, addr] of [
  [4, '127.0.0.1'],
  [6, '::1'],
] as const) {
  test(`IPv${family}: sockdiag and eBPF report the same connections, owners and close bytes`, { timeout: 60_000 }, async () => {
    let ebpf: CollectingReceiver | undefined;
    let sd: Sockdiag | undefined;
    const peers: Peer[] = [];
    try {
      ebpf = await startEbpf({ snapshot: true, sample_interval: 0 });
      const sink = await startPeer(['sink', '--addr', addr, '--port', '0']);
      peers.push(sink);
      const sinkPort = Number(/^ready (\d+)/.exec(sink.firstLine)![1]);

      // Open before sockdiag starts: `existing` for sockdiag, `open` for eBPF.
      const pre = await startHold(addr, sinkPort, 'tp-pre', 777);
      peers.push(pre.peer);
      await sleep(150);
      sd = await startSockdiag();
      const dumpTimes: number[] = [];
      sd.rx.output.subscribe(() => dumpTimes.push(Number(process.hrtime.bigint())));

      const holds: Hold[] = [pre];
      for (const [i, chunk] of [1000, 4321, 3 * 65536 + 5].entries()) holds.push(await startHold(addr, sinkPort, `tp-idle${i}`, chunk));
      // one burst, then it ends by itself after 1.2 s
      const timed = await startHold(addr, sinkPort, 'tp-timed', 2500, ['--duration-ms', '1200']);
      holds.push(timed);
      // sends 1000 bytes every 20 ms until killed
      const busy = await startHold(addr, sinkPort, 'tp-busy', 1000, ['--send-every', '20'], false);
      holds.push(busy);
      peers.push(...holds.slice(1).map((h) => h.peer));

      // Short connections: over before a dump shows them open; the clients close first
      // and leave TIME_WAIT sockets behind.
      const server = await startServer(['--addr', addr, '--port', '0', '--expect', '300', '--reply', '4000', '--count', '3']);
      peers.push(server);
      const client = await runClient(['--addr', addr, '--port', String(server.port), '--count', '3', '--send', '300', '--expect', '4000']);
      assert.equal(client.code, 0, client.stderr);

      await sleep(8 * POLL_MS); // every idle connection is idle for several polls
      const live = sd.batches.at(-1)!.stateCounts!;
      const counts = family === 6 ? live.v6 : live.v4;
      assert.ok((counts.established ?? 0) >= 2 * holds.length, `established ${counts.established}`);
      assert.ok((counts.listen ?? 0) >= 1);
      assert.ok((counts.time_wait ?? 0) >= 3, `time_wait ${counts.time_wait}`);

      for (const h of holds) if (h !== timed) h.peer.kill('SIGTERM');
      const sent = new Map<Hold, number>();
      for (const h of holds) {
        const r = await h.peer.done;
        assert.equal(r.code, 0, `${h.name}: ${r.stderr}`);
        sent.set(h, r.json.sent);
        if (h.idle) assert.equal(r.json.sent, h.chunk, `${h.name} sent one chunk`);
      }
      await sleep(3 * POLL_MS);
      sink.kill('SIGTERM');
      const sinkDone = await sink.done;
      assert.equal(sinkDone.json.accepted, holds.length);
      await server.done;
      const onSink = (evs: TcpEvent[]) => holds.flatMap((h) => between(evs, addr, h.port, sinkPort));
      const closes = () => onSink(ebpf!.events).filter((e) => e.kind === 'close').length;
      await waitUntil(() => closes() >= 2 * holds.length, 5000, 'eBPF closes');
      await sleep(3 * POLL_MS);
      await sd.stop();
      await ebpf.stop();

      // ---- the same connections, by cookie and by five-tuple
      const eb = onSink(ebpf.events);
      const sdAll = sd.events;
      const sdv = onSink(sdAll);
      const ebOpen = eb.filter(begins);
      const sdOpen = sdv.filter(begins);
      assert.equal(ebOpen.length, 2 * holds.length, 'eBPF: both ends of every hold');
      assert.deepEqual(new Set(sdOpen.map((e) => e.socketId)), new Set(ebOpen.map((e) => e.socketId)), 'same cookies');
      assert.deepEqual(new Set(sdOpen.map(tuple)), new Set(ebOpen.map(tuple)), 'same five-tuples');
      assert.equal(sdOpen.length, ebOpen.length, 'one open or existing per connection end');

      const gap = maxGapNs(dumpTimes);
      for (const h of holds) {
        const ends = [
          { local: h.port, remote: sinkPort, pid: h.peer.pid, comm: h.name, dir: 'outbound' },
          { local: sinkPort, remote: h.port, pid: sink.pid, comm: 'tp-sink', dir: 'inbound' },
        ];
        for (const end of ends) {
          const what = `${h.name} ${end.dir}`;
          const mine = (evs: TcpEvent[]) => evs.filter((e) => e.localPort === end.local && e.remotePort === end.remote);
          const [eo] = mine(eb).filter(begins);
          const [so, ...moreOpens] = mine(sdv).filter(begins);
          assert.ok(eo && so, `${what}: opened in both`);
          assert.equal(moreOpens.length, 0);
          assert.equal(so.socketId, eo.socketId, `${what}: cookie`);
          assert.equal(so.kind, h === pre ? 'existing' : 'open', `${what}: kind`);
          assert.equal(so.preexisting, h === pre);
          assert.equal(so.family, family);
          assert.equal(so.localAddress, addr);
          assert.equal(so.remoteAddress, addr);
          assert.equal(so.direction, end.dir, `${what}: direction`);
          assert.equal(eo.direction, end.dir);
          assert.equal(so.pid, end.pid, `${what}: pid`);
          assert.equal(eo.pid, end.pid);
          assert.equal(so.comm, end.comm);
          assert.equal(so.cgroupId, eo.cgroupId, `${what}: cgroup id`);
          assert.equal(so.netns, eo.netns, `${what}: netns`);
          assert.equal(so.handshakeNs, 0);
          if (h !== pre) {
            // the open is stamped by the first dump after it: the same clock as the kernel's
            assert.ok(so.timeNs >= eo.timeNs, `${what}: open seen after it happened`);
            assert.ok(so.timeNs - eo.timeNs <= gap + 1e9, `${what}: open seen within a poll (${(so.timeNs - eo.timeNs) / 1e6} ms)`);
          }

          const ec = mine(eb).filter((e) => e.kind === 'close');
          const sc = mine(sdv).filter((e) => e.kind === 'close');
          assert.equal(ec.length, 1, `${what}: one eBPF close`);
          assert.equal(sc.length, 1, `${what}: one sockdiag close`);
          const [e, s] = [ec[0]!, sc[0]!];
          assert.equal(s.socketId, e.socketId);
          assert.equal(s.pid, end.pid, `${what}: close pid`);
          assert.equal(s.flags & FLAG.UNTRACKED, 0);
          assert.ok(s.timeNs >= e.timeNs && s.timeNs - e.timeNs <= gap + 1e9, `${what}: close seen within a poll`);
          const appSent = sent.get(h)!;
          const expected = end.dir === 'outbound' ? { sent: appSent, received: 0 } : { sent: 0, received: appSent };
          assert.deepEqual({ sent: e.bytesSent, received: e.bytesReceived }, expected, `${what}: eBPF close bytes are the application's`);
          if (h.idle) {
            // idle for more than a poll before a clean close: exactly the eBPF counts
            assert.deepEqual({ sent: s.bytesSent, received: s.bytesReceived }, { sent: e.bytesSent, received: e.bytesReceived }, `${what}: close bytes`);
          } else {
            // still sending when killed: what it sent after the last dump is not seen
            const perGap = h.chunk * (Math.ceil(gap / 20e6) + 1);
            const [sv, ev] = end.dir === 'outbound' ? [s.bytesSent, e.bytesSent] : [s.bytesReceived, e.bytesReceived];
            assert.ok(sv <= ev && ev - sv <= perGap, `${what}: ${sv} of ${ev} bytes (at most ${perGap} missed)`);
            assert.equal(end.dir === 'outbound' ? s.bytesReceived : s.bytesSent, 0);
            const samples = mine(sdv).filter((x) => x.kind === 'sample');
            assert.ok(samples.length >= 1, `${what}: sampled while it sent`);
            const totals = samples.map((x) => x.bytesSent + x.bytesReceived);
            assert.deepEqual(totals, [...totals].sort((a, b) => a - b), 'running totals only grow');
          }
        }
      }
      for (const e of sdv) assert.notEqual(e.kind, 'failed');

      // ---- short connections: the client ends (TIME_WAIT) are still reported, by cookie
      const ebClients = ebpf.events.filter(
        (e) => e.kind === 'open' && e.direction === 'outbound' && e.remotePort === server.port && e.remoteAddress === addr && e.localAddress === addr,
      );
      assert.equal(ebClients.length, 3);
      for (const eo of ebClients) {
        const mine: TcpEvent[] = sdAll.filter((e) => e.socketId === eo.socketId);
        assert.deepEqual(mine.map((e) => e.kind), ['open', 'close'], `short connection ${tuple(eo)}`);
        assert.ok(mine.every((e) => tuple(e) === tuple(eo) && e.direction === 'outbound'));
        const c = mine[1]!;
        if (c.flags & FLAG.UNTRACKED) assert.deepEqual([c.bytesSent, c.bytesReceived], [0, 0], 'counters unknown');
        else assert.ok(c.bytesSent <= 300 && c.bytesReceived <= 4000);
      }
    } finally {
      for (const p of peers) p.kill('SIGKILL');
      await sd?.stop();
      await ebpf?.stop();
    }
  });
}

test('half-closed connections: the SYN and FIN corrections give the application bytes, as eBPF counts them', { timeout: 30_000 }, async () => {
  const ebpf = await startEbpf({ snapshot: false, sample_interval: 0 });
  const sd = await startSockdiag();
  const native = loadSockdiag();
  const server = createServer({ allowHalfOpen: true });
  // Both ends are destroyed in finally: a half-open pair left behind keeps the test process alive.
  const ends: Socket[] = [];
  try {
    const accepted = new Promise<Socket>((r) => server.once('connection', (s: Socket) => (s.resume(), r(s))));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as AddressInfo).port;
    const client = connect({ port, host: '127.0.0.1', allowHalfOpen: true });
    ends.push(client);
    client.resume();
    await new Promise<void>((r) => client.once('connect', () => r()));
    const clientPort = client.localPort!;
    const srv = await accepted;
    ends.push(srv);
    const write = (s: Socket, n: number) => new Promise<void>((r) => s.write(Buffer.alloc(n), () => r()));
    const raw = async (local: number, remote: number) =>
      decodeDump(await native.sockdiagDumpAsync([4])).find((x) => x.localPort === local && x.remotePort === remote)!;
    const ours = () => between(sd.events, '127.0.0.1', clientPort, port);

    await write(client, 1111);
    await write(srv, 2222);
    await sleep(3 * POLL_MS);
    // the client closes its half: FIN_WAIT2 (our FIN acked) and CLOSE_WAIT (their FIN received)
    const clientEnded = new Promise<void>((r) => srv.once('end', () => r()));
    client.end();
    await clientEnded;
    await sleep(3 * POLL_MS);
    const c = await raw(clientPort, port);
    const s = await raw(port, clientPort);
    assert.deepEqual([c.state, c.bytesAcked, c.bytesReceived], [TCP.FIN_WAIT2, 1 + 1111 + 1, 2222], 'kernel: SYN + data + FIN acked');
    assert.deepEqual([s.state, s.bytesAcked, s.bytesReceived], [TCP.CLOSE_WAIT, 2222, 1111 + 1], 'kernel: data + the peer FIN');
    const before = ours().length;
    await sleep(3 * POLL_MS);
    assert.equal(ours().filter((e) => e.kind === 'sample').length, 0, 'FINs are not traffic');

    // the server still sends in CLOSE_WAIT; the client receives in FIN_WAIT2
    await write(srv, 3333);
    await sleep(3 * POLL_MS);
    const samples = ours().slice(before).filter((e) => e.kind === 'sample');
    assert.deepEqual(
      samples.map((e) => [e.direction, e.oldState, e.bytesSent, e.bytesReceived]).sort(),
      [
        ['inbound', 'close_wait', 5555, 1111],
        ['outbound', 'fin_wait_2', 1111, 5555],
      ],
    );
    srv.end();
    await new Promise<void>((r) => client.once('close', () => r()));
    await sleep(3 * POLL_MS);
    await sd.stop();
    await ebpf.stop();

    const closes = (evs: TcpEvent[]) =>
      between(evs, '127.0.0.1', clientPort, port)
        .filter((e) => e.kind === 'close')
        .map((e) => ({ id: e.socketId, dir: e.direction, pid: e.pid, sent: e.bytesSent, received: e.bytesReceived }))
        .sort((a, b) => a.id - b.id);
    const expected = [
      { dir: 'outbound', pid: process.pid, sent: 1111, received: 5555 },
      { dir: 'inbound', pid: process.pid, sent: 5555, received: 1111 },
    ];
    assert.deepEqual(closes(ebpf.events).map(({ id, ...rest }) => rest).sort((a, b) => a.dir.localeCompare(b.dir)), [...expected].sort((a, b) => a.dir.localeCompare(b.dir)));
    assert.deepEqual(closes(sd.events), closes(ebpf.events));
  } finally {
    for (const e of ends) e.destroy();
    server.close();
    await sd.stop();
    await ebpf.stop();
  }
});

test('in a pipeline from YAML (receivers: sockdiag), with aggregate: exact connection and byte counts, sockets by state', { timeout: 30_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tcpotel-sockdiag-'));
  const sink = await startPeer(['sink', '--addr', '127.0.0.1', '--port', '0']);
  const sinkPort = Number(/^ready (\d+)/.exec(sink.firstLine)![1]);
  const file = join(dir, 'config.yaml');
  writeFileSync(
    file,
    `
receivers:
  sockdiag:
    poll_interval: ${POLL_MS}ms
processors:
  filter/port:
    include:
      ports: [${sinkPort}]
  aggregate:
    interval: 200ms
    keys: none
exporters:
  file:
    path: ${join(dir, 'metrics.jsonl')}
service:
  pipelines:
    metrics:
      receivers: [sockdiag]
      processors: [filter/port, aggregate]
      exporters: [file]
`,
  );
  // src/components.ts may not list sockdiag yet: register it here.
  const registry = defaultRegistry({ receivers: [sockdiagReceiverFactory as ReceiverFactory] });
  const service = new Service(loadAndResolve([file], registry), { logger: pino({ level: process.env.TCPOTEL_TEST_LOG ?? 'silent' }) });
  await service.start();
  try {
    const holds = [await startHold('127.0.0.1', sinkPort, 'tp-h1', 1000), await startHold('127.0.0.1', sinkPort, 'tp-h2', 2345)];
    await sleep(5 * POLL_MS);
    for (const h of holds) h.peer.kill('SIGTERM');
    for (const h of holds) assert.equal((await h.peer.done).code, 0);
    await sleep(5 * POLL_MS);
  } finally {
    await service.shutdown();
    sink.kill('SIGTERM');
    await sink.done;
  }
  const lines = readFileSync(join(dir, 'metrics.jsonl'), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
  const points = (name: string) => {
    const out: Array<{ attributes: Record<string, unknown>; value: number }> = [];
    for (const rm of lines.at(-1)?.resourceMetrics ?? [])
      for (const sm of rm.scopeMetrics)
        for (const m of sm.metrics)
          if (m.name === name)
            for (const dp of (m.sum ?? m.gauge).dataPoints) {
              const attributes: Record<string, unknown> = {};
              for (const kv of dp.attributes) attributes[kv.key] = kv.value.stringValue ?? kv.value.intValue;
              out.push({ attributes, value: Number(dp.asInt ?? dp.asDouble) });
            }
    return out;
  };
  const total = (name: string, match: Record<string, unknown> = {}) =>
    points(name)
      .filter((p) => Object.entries(match).every(([k, v]) => p.attributes[k] === v))
      .reduce((sum, p) => sum + p.value, 0);
  assert.equal(total('tcp.connections.opened'), 4, 'both ends of two connections');
  assert.equal(total('tcp.connections.closed'), 4);
  assert.equal(total('tcp.io', { 'network.io.direction': 'transmit' }), 1000 + 2345);
  assert.equal(total('tcp.io', { 'network.io.direction': 'receive' }), 1000 + 2345);
  const states = points('system.network.connection.count');
  assert.ok(states.some((p) => p.attributes['network.connection.state'] === 'listen' && p.value >= 1), 'sockets by state');
});

test('a connect that stays in SYN_SENT for a poll and then gives up is a failed connect (errno unknown)', { timeout: 30_000 }, async () => {
  // A loopback port whose SYNs are dropped (nftables, this test's own table): connect()
  // waits in SYN_SENT until the client's 700 ms timeout.
  const port = await unusedPort();
  const table = `tcpotel_sockdiag_${process.pid}`;
  const rules = `table ip ${table} {\n chain out {\n  type filter hook output priority 0; policy accept;\n  ip daddr 127.0.0.1 tcp dport ${port} drop\n }\n}\n`;
  execFileSync('nft', ['-f', '-'], { input: rules, stdio: ['pipe', 'pipe', 'pipe'] });
  const sd = await startSockdiag();
  try {
    const r = await runClient(['--addr', '127.0.0.1', '--port', String(port), '--count', '1', '--timeout-ms', '700']);
    assert.equal(r.json.failed, 1, r.stderr);
    await sleep(3 * POLL_MS);
    const evs = sd.events.filter((e) => e.remotePort === port && e.remoteAddress === '127.0.0.1');
    assert.deepEqual(evs.map((e) => [e.kind, e.errno, e.direction, e.oldState, e.newState, e.pid, e.comm]), [['failed', 0, 'outbound', 'syn_sent', 'closed', r.pid, 'tp-client']]);
    assert.ok(evs[0]!.durationNs >= 400e6 && evs[0]!.durationNs <= 700e6 + 2 * POLL_MS * 1e6 + 1e9, `${evs[0]!.durationNs / 1e6} ms`);
  } finally {
    await sd.stop();
    execFileSync('nft', ['delete', 'table', 'ip', table], { stdio: 'pipe' });
  }
});

async function unusedPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((res) => s.listen(0, '127.0.0.1', res));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((res) => s.close(() => res()));
  return port;
}

test('sockdiagLookup finds a live socket by tuple and cookie, and nothing for a wrong cookie', async () => {
  const sink = await startPeer(['sink', '--addr', '127.0.0.1', '--port', '0']);
  const port = Number(/^ready (\d+)/.exec(sink.firstLine)![1]);
  const hold = await startHold('127.0.0.1', port, 'tp-look', 10);
  try {
    const native = loadSockdiag();
    const find = async () => decodeDump(await native.sockdiagDumpAsync([4])).find((s) => s.localPort === hold.port && s.remotePort === port);
    let mine = await find();
    for (let i = 0; i < 100 && mine?.bytesAcked !== 11; i++) {
      await sleep(20); // the hold's first chunk is on its way
      mine = await find();
    }
    assert.ok(mine);
    assert.equal(mine.state, TCP.ESTABLISHED);
    assert.equal(mine.bytesAcked, 11, 'ten bytes and the SYN');
    const found = decodeDump(native.sockdiagLookup(encodeSockets([mine])));
    assert.deepEqual(found.map((s) => [s.cookie, s.localPort, s.remotePort, s.state]), [[mine.cookie, hold.port, port, TCP.ESTABLISHED]]);
    assert.equal(found[0]!.inode, mine.inode);
    const other = { ...mine, localAddress: mine.localAddress, remoteAddress: mine.remoteAddress, cookie: mine.cookie + 1 };
    assert.equal(native.sockdiagLookup(encodeSockets([other])).length, 0);
  } finally {
    hold.peer.kill('SIGTERM');
    await hold.peer.done;
    sink.kill('SIGTERM');
    await sink.done;
  }
});

test('works unprivileged: as nobody it sees its own connections with owners, and others without', { timeout: 30_000 }, async (t) => {
  const nobody = unprivilegedRoot();
  if (!nobody.root) return t.skip(`cannot run as nobody: ${nobody.why}`);
  const sink = await startPeer(['sink', '--addr', '127.0.0.1', '--port', '0']);
  const sinkPort = Number(/^ready (\d+)/.exec(sink.firstLine)![1]);
  try {
    const script = join(nobody.root, 'dist', 'test', 'receivers', 'sockdiag', 'unprivileged.js');
    const child = spawn('setpriv', ['--reuid=nobody', '--regid=nogroup', '--clear-groups', process.execPath, script, String(sinkPort), '1500'], {
      cwd: '/',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    const code = await new Promise<number | null>((r) => child.on('close', r));
    assert.equal(code, 0, err);
    const r = JSON.parse(out.trim().split('\n').at(-1)!);
    assert.equal(r.uid, 65534);
    assert.equal(r.capEff, '0000000000000000', 'no capabilities');
    assert.deepEqual(r.lookup.found, [r.lookup.cookie]);
    assert.equal(r.lookup.wrong, 0);
    type E = { kind: string; localPort: number; remotePort: number; direction: string; pid: number; comm: string; bytesSent: number; bytesReceived: number };
    const evs = r.events as E[];
    const of = (local: number, remote: number) => evs.filter((e) => e.localPort === local && e.remotePort === remote).map((e) => [e.kind, e.direction, e.pid, e.comm, e.bytesSent, e.bytesReceived]);
    // its own client and server ends: owners known, exact bytes
    assert.deepEqual(of(r.ownPort, r.serverPort), [
      ['open', 'outbound', r.pid, 'node', 1500, 0],
      ['close', 'outbound', r.pid, 'node', 1500, 0],
    ]);
    assert.deepEqual(of(r.serverPort, r.ownPort), [
      ['open', 'inbound', r.pid, 'node', 0, 1500],
      ['close', 'inbound', r.pid, 'node', 0, 1500],
    ]);
    // to root's sink: its own end has an owner, root's end is seen but not attributed
    assert.deepEqual(of(r.toRootPort, sinkPort), [
      ['open', 'outbound', r.pid, 'node', 3000, 0],
      ['close', 'outbound', r.pid, 'node', 3000, 0],
    ]);
    assert.deepEqual(of(sinkPort, r.toRootPort), [
      ['open', 'inbound', 0, '', 0, 3000],
      ['close', 'inbound', 0, '', 0, 3000],
    ]);
  } finally {
    sink.kill('SIGTERM');
    await sink.done;
  }
});
