/**
 * SockdiagReceiver around a scripted (fake) addon: batches, state counts, telemetry,
 * shutdown, failures. And the config schema, the record codec, the /proc owner lookup.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SockdiagReceiver } from '../../../src/receivers/sockdiag/sockdiag.js';
import { sockdiagConfigSchema, defaultSockdiagConfig } from '../../../src/receivers/sockdiag/config.js';
import { sockdiagReceiverFactory } from '../../../src/receivers/sockdiag/factory.js';
import { TCP, decodeDump, encodeSockets, type DiagSocket } from '../../../src/receivers/sockdiag/record.js';
import { DIAG_FLAG, DIAG_OFFSETS, DIAG_RECORD_SIZE } from '../../../src/native/records.js';
import type { SockdiagNative } from '../../../src/native/sockdiag.js';
import { NativeError } from '../../../src/native/errors.js';
import { OwnerResolver } from '../../../src/receivers/sockdiag/owners.js';
import type { Owner } from '../../../src/receivers/sockdiag/table.js';
import { SetupError } from '../../../src/core/errors.js';
import { Telemetry } from '../../../src/core/telemetry.js';
import { SELF_METRICS_DEFS } from '../../../src/semconv/metrics.js';
import type { EventBatch } from '../../../src/core/events.js';
import { testContext } from '../../support/context.js';
import { sock } from '../../support/sockdiag.js';

/** A fake addon that serves scripted dumps (the last one repeats). */
class FakeNative implements SockdiagNative {
  calls: number[][] = [];
  lookups: number[][] = [];
  failNext?: Error;
  constructor(public dumps: DiagSocket[][]) {}
  sockdiagDump(families: number[]): Buffer {
    this.calls.push(families);
    if (this.failNext) {
      const e = this.failNext;
      this.failNext = undefined;
      throw e;
    }
    const d = this.dumps.length > 1 ? this.dumps.shift()! : this.dumps[0]!;
    return encodeSockets(d);
  }
  async sockdiagDumpAsync(families: number[]): Promise<Buffer> {
    return this.sockdiagDump(families);
  }
  sockdiagLookup(query: Buffer): Buffer {
    this.lookups.push(decodeDump(query).map((s) => s.cookie));
    return Buffer.alloc(0);
  }
  sockdiagLayout() {
    return { recordSize: DIAG_RECORD_SIZE, offsets: { ...DIAG_OFFSETS }, flags: { ...DIAG_FLAG } };
  }
}

function nativeError(code: string, errno: number): Error {
  return new NativeError({ message: `sock_diag: socket(NETLINK_SOCK_DIAG) failed: ${code}`, op: 'socket(NETLINK_SOCK_DIAG)', errno, code });
}

function make(dumps: DiagSocket[][], over: Record<string, unknown> = {}, resolver?: { resolve(i: readonly number[]): ReadonlyMap<number, Owner> }) {
  const telemetry = new Telemetry();
  const ctx = testContext('sockdiag', 'receiver', { telemetry });
  const config = sockdiagConfigSchema.parse({ ...defaultSockdiagConfig(), poll_interval: '1h', ...over });
  const native = new FakeNative(dumps);
  const rx = new SockdiagReceiver(config, ctx, { native, resolver, now: (() => { let t = 0; return () => (t += 1e9); })() });
  const batches: EventBatch[] = [];
  let completed = false;
  rx.output.subscribe({ next: (b) => batches.push(b), complete: () => (completed = true) });
  return { rx, native, batches, telemetry, completed: () => completed };
}

describe('SockdiagReceiver', () => {
  it('emits one batch per poll, with state counts; the first reports what exists; shutdown polls once more and completes', async () => {
    const a = sock({ cookie: 1, bytesAcked: 101, bytesReceived: 7 });
    const l = sock({ cookie: 2, state: TCP.LISTEN, localPort: 8080, remotePort: 0 });
    const { rx, native, batches, telemetry, completed } = make([
      [a, l],
      [sock({ cookie: 1, bytesAcked: 201, bytesReceived: 7 }), l, sock({ cookie: 3, localPort: 8080, remotePort: 40003, bytesReceived: 9 })],
      [l],
    ]);
    await rx.start();
    assert.deepEqual(native.calls, [[4, 6]]);
    assert.equal(batches.length, 1);
    assert.equal(batches[0]!.receiver, 'sockdiag');
    assert.deepEqual(batches[0]!.stateCounts, { v4: { established: 1, listen: 1 }, v6: {} });
    assert.deepEqual(batches[0]!.events.map((e) => [e.kind, e.socketId, e.bytesSent, e.bytesReceived, e.timeNs]), [['existing', 1, 100, 7, 1e9]]);
    await rx.pollNow();
    assert.deepEqual(batches[1]!.events.map((e) => [e.kind, e.socketId, e.direction, e.bytesSent, e.bytesReceived]), [
      ['sample', 1, 'outbound', 200, 7],
      ['open', 3, 'inbound', 0, 9],
    ]);
    assert.equal(rx.trackedSockets, 2);
    await rx.shutdown();
    assert.ok(completed());
    assert.equal(batches.length, 3);
    assert.deepEqual(batches[2]!.events.map((e) => [e.kind, e.socketId, e.bytesSent, e.bytesReceived]), [
      ['close', 1, 200, 7],
      ['close', 3, 0, 9],
    ]);
    assert.deepEqual(native.lookups, [[1, 3]], 'missing sockets are looked up before they are closed');
    const base = { 'tcpotel.component.id': 'sockdiag' };
    assert.equal(telemetry.total(SELF_METRICS_DEFS.itemsIn.name, base), 5);
    assert.equal(telemetry.total(SELF_METRICS_DEFS.itemsOut.name, base), 5);
    assert.equal(telemetry.total('tcpotel.sockdiag.polls', base), 3);
    await rx.shutdown(); // twice is fine
  });

  it('dumps only the configured families', async () => {
    const { rx, native } = make([[]], { families: ['ipv6'] });
    await rx.start();
    await rx.shutdown();
    assert.deepEqual(native.calls, [[6], [6]]);
  });

  it('fills pid and comm from the resolver, unless resolve_processes is off', async () => {
    const dumps = () => [[sock({ cookie: 1, inode: 77 })]];
    const asked: number[][] = [];
    const resolver = { resolve: (i: readonly number[]) => (asked.push([...i]), new Map([[77, { pid: 5, comm: 'curl', cgroupId: 3 }]])) };
    let m = make(dumps(), {}, resolver);
    await m.rx.start();
    await m.rx.shutdown();
    assert.deepEqual(asked, [[77]]);
    assert.deepEqual(m.batches[0]!.events.map((e) => [e.pid, e.comm, e.cgroupId]), [[5, 'curl', 3]]);
    m = make(dumps(), { resolve_processes: false }, resolver);
    await m.rx.start();
    await m.rx.shutdown();
    assert.equal(asked.length, 1);
    assert.deepEqual(m.batches[0]!.events.map((e) => [e.pid, e.comm]), [[0, '']]);
  });

  it('counts sockets beyond max_tracked as dropped (tracking_cap)', async () => {
    const many = Array.from({ length: 20 }, (_, i) => sock({ cookie: i + 1 }));
    const { rx, batches, telemetry } = make([many], { max_tracked: 16 });
    await rx.start();
    await rx.pollNow();
    await rx.shutdown();
    assert.equal(batches[0]!.events.length, 16);
    assert.equal(telemetry.total(SELF_METRICS_DEFS.itemsDropped.name, { 'tcpotel.drop.reason': 'tracking_cap' }), 4);
  });

  it('fails to start with a SetupError that says what to do; later failures are logged and counted', async () => {
    let m = make([[]]);
    m.native.failNext = nativeError('EPROTONOSUPPORT', 93);
    await assert.rejects(m.rx.start(), (err: unknown) => {
      assert.ok(err instanceof SetupError);
      assert.match(err.message, /sock_diag/);
      assert.match(err.hint ?? '', /modprobe inet_diag tcp_diag/);
      return true;
    });
    m = make([[]]);
    m.native.failNext = nativeError('EACCES', 13);
    await assert.rejects(m.rx.start(), (err: unknown) => err instanceof SetupError && /NETLINK_SOCK_DIAG/.test(err.hint ?? ''));

    m = make([[sock({ cookie: 1 })]]);
    await m.rx.start();
    m.native.failNext = nativeError('ENOBUFS', 105);
    await m.rx.pollNow();
    await m.rx.pollNow();
    await m.rx.shutdown();
    assert.equal(m.batches.length, 3, 'the failed poll emits nothing; polling goes on');
    assert.equal(m.telemetry.total('tcpotel.sockdiag.polls.failed'), 1);
  });

  it('polls at poll_interval', async () => {
    const { rx, native } = make([[]], { poll_interval: '20ms' });
    await rx.start();
    // Polls go on by themselves (how fast depends on the machine: wait, generously, for four).
    const deadline = Date.now() + 60_000;
    while (native.calls.length < 4 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    await rx.shutdown();
    assert.ok(native.calls.length >= 4, `${native.calls.length} polls`);
    const n = native.calls.length;
    await new Promise((r) => setTimeout(r, 60));
    assert.equal(native.calls.length, n, 'no polls after shutdown');
  });
});

describe('sockdiag config', () => {
  it('has complete defaults', () => {
    assert.deepEqual(sockdiagConfigSchema.parse(defaultSockdiagConfig()), {
      poll_interval: 1000,
      families: ['ipv4', 'ipv6'],
      resolve_processes: true,
      max_tracked: 262144,
    });
    assert.equal(sockdiagReceiverFactory.type, 'sockdiag');
    assert.equal(sockdiagReceiverFactory.kind, 'receiver');
    assert.deepEqual(sockdiagReceiverFactory.createDefaultConfig(), defaultSockdiagConfig());
  });

  it('rejects what makes no sense', () => {
    const bad = (over: Record<string, unknown>) => sockdiagConfigSchema.safeParse({ ...defaultSockdiagConfig(), ...over }).success;
    assert.equal(bad({ poll_interval: '250ms' }), true);
    assert.equal(bad({ poll_interval: '1ms' }), false);
    assert.equal(bad({ poll_interval: 'often' }), false);
    assert.equal(bad({ families: [] }), false);
    assert.equal(bad({ families: ['ipv4', 'ipv4'] }), false);
    assert.equal(bad({ families: ['ipx'] }), false);
    assert.equal(bad({ max_tracked: 0 }), false);
    assert.equal(bad({ max_tracked: 1.5 }), false);
    assert.equal(bad({ poll: '1s' }), false, 'unknown keys');
  });
});

describe('sockdiag records', () => {
  it('encodes and decodes every field, 64-bit cookies and counters included', () => {
    const s = [
      sock({ cookie: 2 ** 52 + 3, family: 6, localAddress: 'fd77::1', remoteAddress: '::ffff:10.0.0.1', localPort: 65535, remotePort: 1, inode: 4294967295, uid: 65534, bytesAcked: 2 ** 40 + 1, bytesReceived: 2 ** 33, bytesRetrans: 5, segsIn: 6, segsOut: 7, totalRetrans: 8, rttUs: 9, state: TCP.CLOSE_WAIT }),
      sock({ cookie: 1, state: TCP.TIME_WAIT, hasInfo: false, localAddress: '10.1.2.3', remoteAddress: '192.168.0.255' }),
    ];
    const back = decodeDump(encodeSockets(s)).map((d) => ({ ...d, localAddress: d.localAddress, remoteAddress: d.remoteAddress }));
    assert.deepEqual(
      back.map(({ local, remote, buf, off, ...rest }: any) => rest),
      s.map((x) => ({ ...x })),
    );
  });
});

describe('OwnerResolver', () => {
  it('maps socket inodes to processes through fd links, looking at recent owners first', () => {
    const root = mkdtempSync(join(tmpdir(), 'sockdiag-proc-'));
    const cg = join(root, 'cgroup');
    mkdirSync(join(cg, 'app.slice'), { recursive: true });
    const proc = join(root, 'proc');
    const fake = (pid: number, comm: string, links: string[]) => {
      mkdirSync(join(proc, String(pid), 'fd'), { recursive: true });
      writeFileSync(join(proc, String(pid), 'comm'), comm + '\n');
      writeFileSync(join(proc, String(pid), 'cgroup'), '0::/app.slice\n');
      links.forEach((l, i) => symlinkSync(l, join(proc, String(pid), 'fd', String(i))));
    };
    fake(100, 'server', ['/dev/null', 'socket:[1000]', 'socket:[1001]', 'pipe:[5]']);
    fake(200, 'client', ['socket:[2000]', 'anon_inode:[eventfd]']);
    mkdirSync(join(proc, 'self'), { recursive: true });
    const r = new OwnerResolver({ procRoot: proc, cgroupRoot: cg });
    const cgroupId = statSync(join(cg, 'app.slice')).ino;
    let got = r.resolve([1001, 2000, 3000]);
    assert.deepEqual([...got].sort(([a], [b]) => a - b), [
      [1001, { pid: 100, comm: 'server', cgroupId }],
      [2000, { pid: 200, comm: 'client', cgroupId }],
    ]);
    assert.equal(r.stats.scans, 1);
    // a new socket of a recent owner: found without a full scan
    symlinkSync('socket:[1002]', join(proc, '100', 'fd', '9'));
    got = r.resolve([1002]);
    assert.equal(got.get(1002)?.pid, 100);
    assert.equal(r.stats.scans, 1);
    assert.deepEqual(r.resolve([]), new Map());
  });
});
