/**
 * The eBPF receiver against real kernel programs and real traffic.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { statSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { startEbpf } from '../support/ebpf.js';
import {
  NetnsPair,
  attachedLinkProgIds,
  loadedProgramIds,
  runClient,
  sleep,
  startPeer,
  startServer,
  waitUntil,
} from '../support/peer.js';
import { packageRoot } from '../../src/core/paths.js';
import { errorType, type TcpEvent } from '../../src/core/events.js';

const quiet = { snapshot: false, sample_interval: 0 };

/** N connections of K bytes out and M back: exact opens, closes, bytes, tuples and owners. */
async function exactTraffic(family: 4 | 6, addr: string, overrides: Record<string, unknown> = {}): Promise<void> {
  const N = 7;
  const K = 1234;
  const M = 56789;
  const r = await startEbpf({ ...quiet, ...overrides });
  try {
    const server = await startServer(['--addr', addr, '--port', '0', '--expect', String(K), '--reply', String(M), '--count', String(N)]);
    const client = await runClient(['--addr', addr, '--port', String(server.port), '--count', String(N), '--send', String(K), '--expect', String(M)]);
    assert.equal(client.code, 0, client.stderr);
    assert.equal((await server.done).code, 0);
    const closes = () => r.onPorts(server.port).filter((e) => e.kind === 'close');
    await waitUntil(() => closes().length >= 2 * N, 5000, `${2 * N} close events`);
    await sleep(200); // nothing more may arrive
    const evs = r.onPorts(server.port);
    const of = (kind: string, dir: string) => evs.filter((e) => e.kind === kind && e.direction === dir);

    assert.equal(of('open', 'outbound').length, N, 'client-side opens');
    assert.equal(of('open', 'inbound').length, N, 'server-side opens');
    assert.equal(of('close', 'outbound').length, N, 'client-side closes');
    assert.equal(of('close', 'inbound').length, N, 'server-side closes');
    assert.equal(evs.filter((e) => e.kind === 'failed').length, 0);

    for (const e of [...of('open', 'outbound'), ...of('close', 'outbound')]) {
      assert.equal(e.family, family);
      assert.equal(e.localAddress, addr);
      assert.equal(e.remoteAddress, addr);
      assert.equal(e.remotePort, server.port);
      assert.equal(e.pid, client.pid, `client ${e.kind} pid`);
      assert.equal(e.comm, 'tp-client');
      assert.ok(e.handshakeNs > 0, 'handshake duration');
    }
    for (const e of [...of('open', 'inbound'), ...of('close', 'inbound')]) {
      assert.equal(e.family, family);
      assert.equal(e.localAddress, addr);
      assert.equal(e.localPort, server.port);
      assert.equal(e.pid, server.pid, `server ${e.kind} pid`);
      assert.equal(e.comm, 'tp-server');
      assert.ok(e.handshakeNs > 0, 'handshake duration');
    }
    for (const e of of('close', 'outbound')) {
      assert.equal(e.bytesSent, K, 'client sent K');
      assert.equal(e.bytesReceived, M, 'client received M');
      assert.ok(e.durationNs >= e.handshakeNs, 'lifetime covers the handshake');
    }
    for (const e of of('close', 'inbound')) {
      assert.equal(e.bytesSent, M, 'server sent M');
      assert.equal(e.bytesReceived, K, 'server received K');
    }
    // Both ends of each connection: the client's local port is the server side's remote port.
    const clientPorts = of('close', 'outbound').map((e) => e.localPort).sort();
    const serverPeers = of('close', 'inbound').map((e) => e.remotePort).sort();
    assert.deepEqual(clientPorts, serverPeers);
    assert.equal(new Set(clientPorts).size, N);
    // One socket id per connection end, shared by its open and close.
    for (const c of [...of('close', 'outbound'), ...of('close', 'inbound')]) {
      assert.equal(evs.filter((e) => e.kind === 'open' && e.socketId === c.socketId).length, 1);
    }
  } finally {
    await r.stop();
  }
}

for (const [family, addr] of [
  [4, '127.0.0.1'],
  [6, '::1'],
] as const) {
  test(`IPv${family}: N connections of K bytes out and M back give exact opens, closes, bytes, tuples and owners`, () => exactTraffic(family, addr));
}

test('the twin programs (raw_tp state changes, accept through the raw sys_exit tracepoint) report the same', async () => {
  await exactTraffic(4, '127.0.0.1', { hooks: { state: 'raw_tp', accept: 'sys_exit' } });
  await exactTraffic(6, '::1', { hooks: { state: 'raw_tp', accept: 'sys_exit' } });
});

async function closedPort(host: string): Promise<number> {
  const s = createServer();
  await new Promise<void>((res) => s.listen(0, host, res));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((res) => s.close(() => res()));
  return port;
}

test('a connect to a closed port is a failed connect with reason refused', async () => {
  const r = await startEbpf(quiet);
  try {
    for (const addr of ['127.0.0.1', '::1']) {
      const port = await closedPort(addr);
      const client = await runClient(['--addr', addr, '--port', String(port), '--count', '2']);
      assert.equal(client.code, 1);
      assert.equal(client.json.failed, 2);
      await waitUntil(() => r.onPorts(port).filter((e) => e.kind === 'failed').length >= 2, 3000, 'failed events');
      const failed = r.onPorts(port).filter((e) => e.kind === 'failed');
      assert.equal(failed.length, 2);
      for (const f of failed) {
        assert.equal(f.errno, 111);
        assert.equal(f.remotePort, port);
        assert.equal(f.remoteAddress, addr);
        assert.equal(f.pid, client.pid);
        assert.equal(f.comm, 'tp-client');
        assert.equal(f.direction, 'outbound');
      }
      // The refusal is a reset received by the client, answering a segment no socket wanted.
      const resets = r.onPorts(port).filter((e) => e.kind === 'reset');
      assert.equal(resets.filter((e) => e.reset === 'received' && e.pid === client.pid).length, 2);
      assert.equal(resets.filter((e) => e.reset === 'sent' && e.localPort === port).length, 2);
    }
  } finally {
    await r.stop();
  }
});

test('failed connects carry their reason: timed out (SYNs lost) and host unreachable (ICMP), over IPv4 and IPv6', { timeout: 60_000 }, async () => {
  const ns = new NetnsPair('fl').setup();
  const r = await startEbpf(quiet);
  try {
    // The client gives up after one SYN retry (about 3 s); the server's side loses every
    // SYN to port 7001 and answers those to 7002 with ICMP host unreachable.
    ns.sysctl(ns.a, 'net.ipv4.tcp_syn_retries', '1');
    ns.nft(ns.b, 'table inet tcpotel_fail {\n chain in {\n  type filter hook input priority 0; policy accept;\n  tcp dport 7001 drop\n  tcp dport 7002 reject with icmpx type host-unreachable\n }\n}\n');
    const cases = [
      { addr: ns.addrB, local: ns.addrA, port: 7001, errno: 110, type: 'timed_out' },
      { addr: ns.addrB, local: ns.addrA, port: 7002, errno: 113, type: 'host_unreachable' },
      { addr: ns.addr6B, local: ns.addr6A, port: 7001, errno: 110, type: 'timed_out' },
      { addr: ns.addr6B, local: ns.addr6A, port: 7002, errno: 113, type: 'host_unreachable' },
    ];
    const clients = await Promise.all(cases.map((c) => runClient(['--addr', c.addr, '--port', String(c.port), '--count', '1'], { netns: ns.a })));
    for (const [i, c] of cases.entries()) {
      const client = clients[i]!;
      assert.equal(client.code, 1, `${c.addr}:${c.port} fails`);
      assert.equal(client.json.failed, 1);
      const mine = () => r.onPorts(c.port).filter((e) => e.remoteAddress === c.addr && e.pid === client.pid);
      await waitUntil(() => mine().some((e) => e.kind === 'failed'), 5000, `failed event for ${c.addr}:${c.port}`);
      const failed = mine().filter((e) => e.kind === 'failed');
      assert.equal(failed.length, 1, `${c.addr}:${c.port}`);
      const f = failed[0]!;
      assert.deepEqual([f.errno, errorType(f.errno)], [c.errno, c.type], `${c.addr}:${c.port}`);
      assert.deepEqual([f.localAddress, f.remotePort, f.comm, f.direction], [c.local, c.port, 'tp-client', 'outbound']);
      assert.ok(f.durationNs > 0, 'time spent trying');
      assert.equal(mine().filter((e) => e.kind === 'open').length, 0, 'never opened');
    }
  } finally {
    await r.stop();
    ns.cleanup();
  }
});

test('a connect that fails before its first SYN (no route) is a failed connect with reason network unreachable, once', { timeout: 30_000 }, async () => {
  const ns = new NetnsPair('nr').setup();
  const r = await startEbpf(quiet);
  try {
    // Namespace a routes only its own /24 and /64: these destinations have no route.
    for (const addr of ['10.99.0.1', 'fd99::1']) {
      const client = await runClient(['--addr', addr, '--port', '7003', '--count', '2'], { netns: ns.a });
      assert.equal(client.code, 1);
      assert.equal(client.json.failed, 2);
      const mine = () => r.onPorts(7003).filter((e) => e.remoteAddress === addr);
      await waitUntil(() => mine().length >= 2, 5000, `failed events for ${addr}`);
      await sleep(200);
      const evs = mine();
      assert.deepEqual(evs.map((e) => e.kind), ['failed', 'failed'], 'two failed connects, nothing else');
      for (const f of evs) {
        assert.deepEqual([f.errno, errorType(f.errno)], [101, 'network_unreachable']);
        assert.deepEqual([f.remotePort, f.pid, f.comm, f.direction, f.family], [7003, client.pid, 'tp-client', 'outbound', addr.includes(':') ? 6 : 4]);
        assert.equal(f.localPort, 0, 'never bound');
      }
      assert.notEqual(evs[0]!.socketId, evs[1]!.socketId);
    }
  } finally {
    await r.stop();
    ns.cleanup();
  }
});

test('a connect with no local port left is a failed connect with reason address_not_available, once, not cancelled', { timeout: 30_000 }, async () => {
  const ns = new NetnsPair('ap').setup();
  // One local port in namespace a; a held connection takes it.
  ns.sysctl(ns.a, 'net.ipv4.ip_local_port_range', '40000 40000');
  const { sink, port, hold } = await heldConnection(ns.addrB, { server: ns.b, client: ns.a });
  const r = await startEbpf(quiet);
  try {
    const client = await runClient(['--addr', ns.addrB, '--port', String(port), '--count', '1'], { netns: ns.a });
    assert.equal(client.code, 1);
    assert.equal(client.json.failed, 1);
    const mine = () => r.onPorts(port).filter((e) => e.pid === client.pid);
    await waitUntil(() => mine().some((e) => e.kind === 'failed'), 5000, 'the failed connect');
    await sleep(200);
    const evs = mine();
    assert.deepEqual(evs.map((e) => e.kind), ['failed']);
    const f = evs[0]!;
    assert.deepEqual([f.errno, errorType(f.errno)], [99, 'address_not_available']);
    assert.deepEqual([f.remoteAddress, f.remotePort, f.comm, f.direction, f.oldState, f.newState], [ns.addrB, port, 'tp-client', 'outbound', 'syn_sent', 'closed']);
  } finally {
    await r.stop();
    hold.kill('SIGKILL');
    sink.kill('SIGKILL');
    ns.cleanup();
  }
});

test('an RST close is reported as a reset, on both ends, and marks the closes', async () => {
  const r = await startEbpf(quiet);
  try {
    const server = await startServer(['--addr', '127.0.0.1', '--port', '0', '--expect', '10', '--reply', '20', '--count', '3']);
    const client = await runClient(['--addr', '127.0.0.1', '--port', String(server.port), '--count', '3', '--send', '10', '--expect', '20', '--rst']);
    assert.equal(client.code, 0, client.stderr);
    await server.done;
    await waitUntil(() => r.onPorts(server.port).filter((e) => e.kind === 'close').length >= 6, 5000, 'closes');
    const evs = r.onPorts(server.port);
    const sent = evs.filter((e) => e.kind === 'reset' && e.reset === 'sent');
    const received = evs.filter((e) => e.kind === 'reset' && e.reset === 'received');
    assert.equal(sent.length, 3);
    assert.equal(received.length, 3);
    for (const e of sent) {
      assert.equal(e.pid, client.pid);
      assert.equal(e.remotePort, server.port);
    }
    for (const e of received) assert.equal(e.localPort, server.port);
    const clientCloses = evs.filter((e) => e.kind === 'close' && e.direction === 'outbound');
    const serverCloses = evs.filter((e) => e.kind === 'close' && e.direction === 'inbound');
    assert.equal(clientCloses.filter((e) => e.resetSent).length, 3);
    assert.equal(serverCloses.filter((e) => e.resetReceived).length, 3);
    for (const e of clientCloses) assert.equal(e.bytesSent, 10);
  } finally {
    await r.stop();
  }
});

test('retransmits induced by packet loss in a network namespace are reported and counted', async () => {
  const ns = new NetnsPair('rt').setup();
  const r = await startEbpf(quiet);
  try {
    // Lose one data segment in four arriving at the server (never SYN, FIN or RST). A drop
    // on the sender's own output would be a local send failure, not a loss.
    ns.dropOneIn(ns.b, 4);
    const K = 400_000;
    const flow = await ns.transfer(K);
    const mine = () => r.onPorts(flow.port).filter((e) => e.localAddress === ns.addrA);
    await waitUntil(() => mine().some((e) => e.kind === 'close'), 5000, 'client close');
    const retrans = mine().filter((e) => e.kind === 'retransmit');
    const close = mine().find((e) => e.kind === 'close')!;
    assert.ok(retrans.length > 0, 'retransmit events');
    assert.equal(close.bytesSent, K, 'every byte arrived in the end');
    // One event per retransmitted skb; the kernel counts segments (a GSO skb holds several).
    assert.ok(close.retransmits >= retrans.length, `close.retransmits ${close.retransmits} >= events ${retrans.length}`);
    assert.ok(close.bytesRetransmitted > 0);
    for (const e of retrans) {
      assert.equal(e.pid, flow.clientPid);
      assert.equal(e.remoteAddress, ns.addrB);
      assert.equal(e.socketId, close.socketId);
    }
    // The last retransmit event's running total is what the close reports at most.
    assert.ok(retrans[retrans.length - 1]!.retransmits <= close.retransmits);
  } finally {
    await r.stop();
    ns.cleanup();
  }
});

/**
 * A sink (tp-sink) and a connection to it held open (tp-hold) that sends 1000 bytes each
 * 50 ms, started before the receiver; each in namespace `netns` when given.
 */
async function heldConnection(addr: string, netns: { server?: string; client?: string } = {}) {
  const sink = await startPeer(['sink', '--addr', addr, '--port', '0', '--name', 'tp-sink'], { netns: netns.server });
  const port = Number(/ready (\d+)/.exec(sink.firstLine)![1]);
  const hold = await startPeer(['hold', '--addr', addr, '--port', String(port), '--send-every', '50', '--chunk', '1000', '--name', 'tp-hold'], { netns: netns.client });
  const holdPort = Number(/connected (\d+)/.exec(hold.firstLine)![1]);
  await sleep(300);
  return { sink, port, hold, holdPort };
}

/** Both ends of a held connection, as the receiver's snapshot reported them. */
async function existingEnds(r: Awaited<ReturnType<typeof startEbpf>>, port: number, holdPort: number) {
  const existing = () => r.onPorts(port).filter((e) => e.kind === 'existing');
  await waitUntil(() => existing().length >= 2, 3000, 'existing events for both ends');
  const client = existing().find((e) => e.localPort === holdPort)!;
  const server = existing().find((e) => e.localPort === port)!;
  assert.ok(client && server, 'both ends reported');
  return { client, server };
}

test('a connection opened before the receiver started is reported as pre-existing, and its live bytes grow', async () => {
  const { sink, port, hold, holdPort } = await heldConnection('127.0.0.1');
  const r = await startEbpf({ snapshot: true, sample_interval: '250ms' });
  try {
    const { client, server } = await existingEnds(r, port, holdPort);
    assert.equal(client.preexisting, true);
    assert.equal(client.pid, hold.pid);
    assert.equal(client.comm, 'tp-hold');
    assert.equal(client.direction, 'outbound');
    assert.equal(server.pid, sink.pid);
    assert.equal(server.comm, 'tp-sink');
    assert.equal(server.direction, 'inbound');
    assert.ok(client.bytesSent > 0);

    const samples = () => r.onPorts(port).filter((e) => e.kind === 'sample' && e.localPort === holdPort);
    await waitUntil(() => samples().length >= 3, 5000, 'three live samples');
    const s = samples();
    for (let i = 1; i < s.length; i++) assert.ok(s[i]!.bytesSent > s[i - 1]!.bytesSent, 'live bytes grow');
    assert.ok(s[0]!.bytesSent > client.bytesSent);
    assert.equal(s[0]!.pid, hold.pid);
    assert.equal(s[0]!.socketId, client.socketId);
    // Socket counts by state come with the samples.
    const withCounts = r.batches.filter((b) => b.stateCounts);
    assert.ok(withCounts.length > 0);
    assert.ok((withCounts.at(-1)!.stateCounts!.v4.established ?? 0) >= 2);
    assert.ok((withCounts.at(-1)!.stateCounts!.v4.listen ?? 0) >= 1);

    hold.kill('SIGTERM');
    const held = await hold.done;
    await waitUntil(() => r.onPorts(port).some((e) => e.kind === 'close' && e.localPort === holdPort), 3000, 'close of the held connection');
    const close = r.onPorts(port).find((e) => e.kind === 'close' && e.localPort === holdPort)!;
    assert.equal(close.preexisting, true);
    assert.equal(close.bytesSent, held.json.sent, 'the close carries every byte, including those sent before the start');
  } finally {
    await r.stop();
    sink.kill('SIGKILL');
  }
});

test('connections in other network namespaces (containers) are snapshotted and sampled too; namespaces: own leaves them out', { timeout: 30_000 }, async () => {
  const ns = new NetnsPair('it').setup();
  const { sink, port, hold, holdPort } = await heldConnection(ns.addrB, { server: ns.b, client: ns.a });
  const own = await startEbpf({ snapshot: true, sample_interval: '250ms', namespaces: 'own' });
  const r = await startEbpf({ snapshot: true, sample_interval: '250ms' });
  try {
    const { client, server } = await existingEnds(r, port, holdPort);
    assert.deepEqual([client.localAddress, client.remoteAddress, client.pid, client.comm, client.direction], [ns.addrA, ns.addrB, hold.pid, 'tp-hold', 'outbound']);
    assert.deepEqual([server.localAddress, server.remoteAddress, server.pid, server.comm, server.direction], [ns.addrB, ns.addrA, sink.pid, 'tp-sink', 'inbound']);
    assert.equal(client.netns, statSync(`/run/netns/${ns.a}`).ino, "the client's namespace");
    assert.equal(server.netns, statSync(`/run/netns/${ns.b}`).ino, "the server's namespace");

    const samples = () => r.onPorts(port).filter((e) => e.kind === 'sample' && e.localPort === holdPort);
    await waitUntil(() => samples().length >= 3, 5000, 'three live samples');
    const s = samples();
    for (let i = 1; i < s.length; i++) assert.ok(s[i]!.bytesSent > s[i - 1]!.bytesSent, 'live bytes grow');
    assert.equal(s[0]!.socketId, client.socketId);

    // Our own namespace only: nothing of theirs but what the state hook sees (nothing here).
    assert.deepEqual(own.onPorts(port).filter((e) => e.kind === 'existing' || e.kind === 'sample'), []);
  } finally {
    await r.stop();
    await own.stop();
    hold.kill('SIGKILL');
    sink.kill('SIGKILL');
    ns.cleanup();
  }
});

test('a tiny ring buffer under a connection storm counts its drops: received + dropped = produced', async () => {
  const r = await startEbpf({ ...quiet, ring_buffer_size: 4096, wakeup_batch: 1024, poll_interval: '200ms' });
  const load = await startPeer(['load', '--addr', '127.0.0.1', '--port', '0', '--duration-ms', '1500', '--workers', '2'], { waitLine: false });
  const result = await load.done;
  assert.equal(result.code, 0, result.stderr);
  assert.ok(result.json.connections > 1000, `storm of ${result.json.connections}`);
  await r.stop();
  const stats = r.rx.finalStats!;
  const produced = stats.produced.reduce((a, b) => a + b, 0);
  const dropped = stats.dropped.reduce((a, b) => a + b, 0);
  assert.ok(dropped > 0, 'the ring overflowed');
  assert.equal(r.rx.recordsReceived + dropped, produced);
  assert.equal(r.events.length, r.rx.recordsReceived);
});

test('state_changes: every transition of both ends, chained, with the time spent in the previous state', async () => {
  const r = await startEbpf({ ...quiet, state_changes: true });
  try {
    const server = await startServer(['--addr', '127.0.0.1', '--port', '0', '--expect', '5', '--reply', '5', '--count', '1']);
    const client = await runClient(['--addr', '127.0.0.1', '--port', String(server.port), '--count', '1', '--send', '5', '--expect', '5']);
    assert.equal(client.code, 0);
    await server.done;
    await waitUntil(() => r.onPorts(server.port).filter((e) => e.kind === 'close').length >= 2, 3000, 'closes');
    await sleep(100);
    const states = r.onPorts(server.port).filter((e) => e.kind === 'state');
    const clientSide = states.filter((e) => e.direction === 'outbound');
    const serverSide = states.filter((e) => e.direction === 'inbound');
    const chain = (list: TcpEvent[]) => list.map((e) => `${e.oldState}>${e.newState}`);
    assert.deepEqual(chain(clientSide).slice(0, 3), ['closed>syn_sent', 'syn_sent>established', 'established>fin_wait_1']);
    assert.equal(clientSide.at(-1)!.newState, 'closed');
    assert.deepEqual(chain(serverSide).slice(0, 2), ['listen>syn_received', 'syn_received>established']);
    assert.deepEqual(chain(serverSide).slice(-3), ['established>close_wait', 'close_wait>last_ack', 'last_ack>closed']);
    for (const list of [clientSide, serverSide]) {
      for (let i = 1; i < list.length; i++) {
        assert.equal(list[i]!.oldState, list[i - 1]!.newState, 'transitions chain');
        assert.ok(list[i]!.durationNs > 0, 'time in the previous state');
        assert.equal(list[i]!.socketId, list[0]!.socketId);
      }
    }
    for (const e of clientSide) assert.equal(e.pid, client.pid);
    for (const e of serverSide) assert.equal(e.pid, server.pid);
  } finally {
    await r.stop();
  }
});

test('a busy event loop costs user-space memory, not kernel drops: records wait for JS, all arrive', async () => {
  const r = await startEbpf({ ...quiet, ring_buffer_size: '256KiB' });
  const load = await startPeer(['load', '--addr', '127.0.0.1', '--port', '0', '--duration-ms', '1500', '--workers', '1', '--rate', '8000'], { waitLine: false });
  await sleep(200);
  const until = Date.now() + 1000;
  while (Date.now() < until) {
    /* the pipeline is busy: nothing reads the ring from JS for a second */
  }
  const result = await load.done;
  assert.equal(result.code, 0, result.stderr);
  await r.stop();
  const stats = r.rx.finalStats!;
  const produced = stats.produced.reduce((a, b) => a + b, 0);
  assert.ok(produced > 10_000, `${produced} events: more than the 256 KiB ring holds`);
  assert.equal(stats.dropped.reduce((a, b) => a + b, 0), 0, 'no kernel drops');
  assert.equal(r.rx.recordsReceived, produced);
});

test('close() detaches every program and link', async () => {
  const r = await startEbpf({ snapshot: true, sample_interval: '1s' });
  const ids = r.rx.programs().map((p) => p.id!);
  assert.ok(ids.length >= 6);
  const loaded = loadedProgramIds();
  for (const id of ids) assert.ok(loaded.has(id), `program ${id} loaded`);
  await r.stop();
  const after = loadedProgramIds();
  const links = attachedLinkProgIds();
  for (const id of ids) {
    assert.ok(!after.has(id), `program ${id} unloaded`);
    assert.ok(!links.has(id), `no link to program ${id}`);
  }
});

test('a ring poll error stops the receiver with an error that says so, and detaches its programs', async () => {
  const r = await startEbpf(quiet);
  const ids = r.rx.programs().map((p) => p.id!);
  // The consumer thread's next poll fails as a broken ring would (EBADF).
  (r.rx as unknown as { tracer: { injectPollError(errno: number): void } }).tracer.injectPollError(9);
  await waitUntil(() => r.errors.length > 0, 10_000, 'the receiver to fail');
  assert.equal(r.errors.length, 1);
  assert.match(r.errors[0]!.message, /^ebpf receiver stopped: ring_buffer__poll failed: Bad file descriptor; no more events would arrive/);
  const loaded = loadedProgramIds();
  for (const id of ids) assert.ok(!loaded.has(id), `program ${id} unloaded`);
  await r.stop(); // a no-op now, and no second error
  assert.equal(r.errors.length, 1);
});

test('two stop() calls while the ring drains share one promise, and both resolve', async () => {
  const r = await startEbpf(quiet);
  const tracer = (r.rx as unknown as { tracer: { stop(): Promise<void> } }).tracer;
  const first = tracer.stop();
  const second = tracer.stop();
  assert.equal(first, second);
  await Promise.all([first, second]);
  await tracer.stop(); // after the drain: resolves at once
  await r.stop();
});

test('an exception while handling records is not uncaught: the receiver stops with it', async () => {
  const r = await startEbpf(quiet);
  const ids = r.rx.programs().map((p) => p.id!);
  (r.rx as unknown as { onRecords(b: Buffer): void }).onRecords = () => {
    throw new Error('boom');
  };
  const server = await startServer(['--addr', '127.0.0.1', '--port', '0', '--count', '1']);
  const client = await runClient(['--addr', '127.0.0.1', '--port', String(server.port), '--count', '1']);
  assert.equal(client.code, 0, client.stderr);
  await server.done;
  await waitUntil(() => r.errors.length > 0, 10_000, 'the receiver to fail');
  assert.match(r.errors[0]!.message, /^ebpf receiver stopped: the records callback threw: boom;/);
  assert.equal((r.errors[0]!.cause as Error & { cause?: Error }).cause?.message, 'boom');
  const loaded = loadedProgramIds();
  for (const id of ids) assert.ok(!loaded.has(id), `program ${id} unloaded`);
  await r.stop();
});

for (const signal of ['SIGTERM', 'SIGKILL'] as const) {
  test(`after ${signal} to a process running the receiver, none of its programs remain`, async () => {
    const script = join(packageRoot(), 'dist', 'test', 'support', 'run-receiver.js');
    const child = spawn(process.execPath, [script], { stdio: ['ignore', 'pipe', 'inherit'] });
    const lines = createInterface({ input: child.stdout! });
    const first = await new Promise<string>((res) => lines.once('line', res));
    const ids = JSON.parse(first).programs as number[];
    assert.ok(ids.length >= 6);
    const exited = new Promise<number | null>((res) => child.on('exit', (code) => res(code)));
    child.kill(signal);
    const code = await exited;
    if (signal === 'SIGTERM') assert.equal(code, 0);
    await waitUntil(() => {
      const loaded = loadedProgramIds();
      return ids.every((id) => !loaded.has(id));
    }, 5000, 'programs to be unloaded');
  });
}

export type { TcpEvent };
